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
    /// Compare a model's variants side by side.
    OpenCompare {
        card_id: i64,
    },
    CloseCompare,
}
