//! What panels ask the app to do. Panels never touch the engine, the store
//! or the disk themselves: they push a [`UiCommand`], and the app executes
//! the queue once per frame, after drawing (rerun's command pattern;
//! executed in `command_handling.rs`).

use crate::app::app_state::{Tab, Theme};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    /// Select a device (shared by the list, the map and the charts).
    SelectDevice(String),
    ClearSelection,
    SetTab(Tab),
    /// Import an ONNX file into the library (read and profiled off the UI thread).
    ImportModel(PathBuf),
    /// A model card was dropped on a device: estimate and open the fit panel.
    OpenFit {
        card_id: i64,
        device_id: String,
    },
    CloseFit,
    /// Search for an optimized variant of a model for one device, checked
    /// on the evaluation data set for that model.
    Optimize {
        card_id: i64,
        device_id: String,
    },
    /// Train a small student of a model that fits one device (knowledge
    /// distillation with an architecture search), on its evaluation data.
    Distill {
        card_id: i64,
        device_id: String,
    },
    /// Stop a cancellable job (a distillation) at its next check.
    CancelJob(edgefleet_fleet::JobId),
    /// Upload and activate a model on one device.
    Deploy {
        card_id: i64,
        device_id: String,
    },
    /// Poll telemetry at this interval from now on.
    SetPollInterval {
        ms: u64,
    },
    /// Browse mDNS on these interfaces from now on (empty = all).
    SetInterfaces {
        interfaces: Vec<String>,
    },
    SetTheme(Theme),
    /// Use this broker from now on (an empty URL: none); saved when applied.
    SetBroker(crate::app::broker_settings::BrokerSettings),
    /// Register a device by `host:port`.
    AddDevice {
        addr: String,
    },
    ClearLog,
    /// Ctrl-click: add or remove a device from the selection.
    ToggleSelect(String),
    /// Shift-click: select from the last clicked device to this one, in
    /// the list's order.
    SelectRange(String),
    /// Select every device the list shows (the filter's matches).
    SelectAllShown,
    /// Replace the selection (a box drawn on the map).
    SelectMany(Vec<String>),
    /// A model card dropped on a selection: the group fit summary.
    OpenGroupFit {
        card_id: i64,
        device_ids: Vec<String>,
    },
    CloseGroupFit,
    /// Roll a model out to devices with a plan (`edgefleet deploy`'s rollout).
    RollOut {
        card_id: i64,
        targets: Vec<String>,
        plan: edgefleet_fleet::RolloutPlan,
    },
    PauseRollout(u64),
    ResumeRollout(u64),
    AbortRollout(u64),
    /// Put a finished rollout's devices back on their previous version.
    RollBackRollout(u64),
    /// Roll one device's model back to the version it ran before.
    RollBackModel {
        device_id: String,
        name: String,
    },
    /// Make an installed version the active one on a device.
    ActivateModel {
        device_id: String,
        name: String,
        version: String,
    },
    /// Probe `CIDR:PORTS` for agents (the engine's unicast sweep).
    Sweep {
        spec: String,
    },
    /// Store a token for devices (one device's own, or a lab-wide one).
    Pair {
        device_ids: Vec<String>,
        token: String,
    },
    /// Forget a device's token (it shows as unpaired until paired again).
    Unpair {
        device_id: String,
    },
    /// Give a paired device a new token; the old one stops working
    /// (`edgefleet rotate-token`).
    RotateToken {
        device_id: String,
    },
    /// Remove a model from the library (its file stays on disk).
    RemoveModel {
        card_id: i64,
    },
    /// Show the folder holding a model's file in the file manager.
    RevealModel {
        card_id: i64,
    },
    /// Compare a model's variants side by side.
    OpenCompare {
        card_id: i64,
    },
    CloseCompare,
    /// Benchmark the open fit panel's model on its device, keep the results
    /// and calibrate (`fleet::measure_on_device`).
    MeasureOnDevice {
        card_id: i64,
        device_id: String,
    },
    /// The request rate the fit panel's total latency and energy are for.
    SetFitRequestRate(f64),
    /// The fit panel's "Optimize for this device" objective: the fastest
    /// variant that keeps the accuracy limit (true) or the smallest.
    SetOptimizeFastest(bool),
    OpenPlacement,
    ClosePlacement,
    /// Plan where the chosen (card id, priority) models go, on every device
    /// or only the selected ones.
    PlanPlacement {
        models: Vec<(i64, f64)>,
        selection_only: bool,
    },
    /// Start the rollouts of the placement window's plan.
    DeployPlacement,
}
