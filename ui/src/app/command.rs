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
}
