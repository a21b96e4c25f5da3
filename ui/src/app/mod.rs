//! The edgefleet desktop app: an eframe [`App`] over the fleet engine.
//!
//! `App` (in `app.rs`) owns the resources — engine, store, basemap, demo
//! fleet, channels — and executes the [`UiCommand`]s the panels push, once
//! per frame. [`AppState`] is the part that persists between runs. Each
//! panel lives in a file of its own and draws with a `*_ui` function.

// The layout (`app/app.rs` holds `App`) is the one the project asked for.
#[allow(clippy::module_inception)]
mod app;
mod app_state;
mod charts_tab;
mod command;
mod demo;
mod deployments_tab;
mod device_detail_panel;
mod device_list_panel;
mod event_log_panel;
mod fit_panel;
mod fleet_model;
mod library_panel;
mod map_tab;
mod settings_panel;

pub use app::{App, AppConfig, run_gui};
pub use app_state::{AppState, ChartWindow, SortColumn, Tab, Theme};
pub use command::UiCommand;
pub use demo::{DemoFleet, DemoOptions};
pub use fit_panel::FitView;
pub use fleet_model::{DeviceEntry, DeviceHistory, FleetModel, SeriesBuffer};
pub use library_panel::{Library, ModelCard, ModelDrag};
