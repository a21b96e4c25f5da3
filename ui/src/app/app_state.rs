//! What the panels show and edit (rerun's `AppState`): the settings that
//! outlive a run — tab, selection, filter and sort, chart window, theme,
//! poll interval, interfaces, map view, evaluation data per model — stored
//! with eframe's storage, and the runtime-only models the panels draw from
//! (fleet, library, jobs, history, event log, the open fit panel, cached
//! views), which are never serialized. It holds no resources (engine,
//! store, threads: those are the `App`'s), so it can be defaulted freely.

use crate::app::device_list_view::{DeviceListView, SortColumn};
use crate::app::event_log::EventLog;
use crate::app::find_devices::FindDevices;
use crate::app::fit_view::FitView;
use crate::app::fleet_model::FleetModel;
use crate::app::group_fit_view::GroupFitView;
use crate::app::jobs::Jobs;
use crate::app::library::{DragFits, Library};
use crate::app::map_view::MapView;
use crate::app::placement_view::PlacementView;
use crate::app::selection::Selection;
use crate::app::toasts::Toasts;
use crate::map::MapState;
use edgefleet_fleet::LogLevel;
use edgefleet_store::DeploymentRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The central tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Tab {
    #[default]
    Map,
    Charts,
    Deployments,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Map, Tab::Charts, Tab::Deployments];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Map => "Map",
            Tab::Charts => "Charts",
            Tab::Deployments => "Deployments",
        }
    }

    /// Parse `map`, `charts` or `deployments` (the `--start-tab` flag).
    pub fn parse(text: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.label().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

/// How much history the charts show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ChartWindow {
    OneMinute,
    #[default]
    FiveMinutes,
    FifteenMinutes,
}

impl ChartWindow {
    pub const ALL: [ChartWindow; 3] = [ChartWindow::OneMinute, ChartWindow::FiveMinutes, ChartWindow::FifteenMinutes];

    pub fn seconds(self) -> f64 {
        match self {
            ChartWindow::OneMinute => 60.0,
            ChartWindow::FiveMinutes => 300.0,
            ChartWindow::FifteenMinutes => 900.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ChartWindow::OneMinute => "1 min",
            ChartWindow::FiveMinutes => "5 min",
            ChartWindow::FifteenMinutes => "15 min",
        }
    }
}

/// Everything the user would expect to find as they left it, and the
/// models the panels draw (those last ones are `#[serde(skip)]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    pub tab: Tab,
    pub selected: Option<String>,
    pub filter: String,
    pub sort: SortColumn,
    pub sort_ascending: bool,
    pub chart_window: ChartWindow,
    pub theme: Theme,
    /// Telemetry poll interval; a change applies at once.
    pub poll_interval_ms: u64,
    /// mDNS interfaces (empty = all); a change restarts the browser at once.
    pub interfaces: Vec<String>,
    pub map: MapState,
    pub show_settings: bool,
    /// The text in the library's import box.
    pub import_path: String,
    /// The text in the settings' add-device box.
    pub add_device_addr: String,
    /// Evaluation data (a CSV path) per model name, for Optimize: the data a
    /// variant's accuracy is checked on.
    pub eval_data: BTreeMap<String, String>,
    /// The MQTT broker the app also finds devices through (Settings).
    pub broker: crate::app::broker_settings::BrokerSettings,

    /// The devices as the engine reports them.
    #[serde(skip)]
    pub fleet: FleetModel,
    /// The model library (right panel).
    #[serde(skip)]
    pub library: Library,
    /// Jobs of this session (Deployments tab, fit panel).
    #[serde(skip)]
    pub jobs: Jobs,
    /// Deployments from the registry (Deployments tab).
    #[serde(skip)]
    pub history: Vec<DeploymentRecord>,
    #[serde(skip)]
    pub log: EventLog,
    /// The last warning or error, for the status line.
    #[serde(skip)]
    pub status_line: Option<(LogLevel, String)>,
    /// The open fit panel.
    #[serde(skip)]
    pub fit: Option<FitView>,
    /// While a card is dragged: the devices it fits.
    #[serde(skip)]
    pub drag_fits: Option<DragFits>,
    /// The fleet's device count when the kept benchmark runs were last read
    /// (`None`: read them again).
    #[serde(skip)]
    pub benchmark_runs_read_for: Option<usize>,
    #[serde(skip)]
    pub list_view: DeviceListView,
    #[serde(skip)]
    pub map_view: MapView,
    /// The interfaces text while the user edits it (applied when done).
    #[serde(skip)]
    pub interfaces_edit: Option<String>,
    /// The selected devices (list, map and charts); `selected` is the one
    /// the detail view shows.
    #[serde(skip)]
    pub selection: Selection,
    /// The open group fit panel (a model dropped on a selection).
    #[serde(skip)]
    pub group_fit: Option<GroupFitView>,
    /// The Find devices dialog.
    #[serde(skip)]
    pub find: FindDevices,
    /// The card whose variants are compared, when that window is open.
    #[serde(skip)]
    pub compare: Option<i64>,
    /// The token typed in the Pair box.
    #[serde(skip)]
    pub pair_token: String,
    #[serde(skip)]
    pub toasts: Toasts,
    /// Ctrl+F: focus the filter box on the next frame.
    #[serde(skip)]
    pub focus_filter: bool,
    /// Enter on the list: the device detail in a window of its own.
    #[serde(skip)]
    pub detail_window_open: bool,
    /// The open "Plan placement" window.
    #[serde(skip)]
    pub placement: Option<PlacementView>,
    /// The broker connection as the engine last reported it (`None`: no
    /// broker set).
    #[serde(skip)]
    pub broker_status: Option<edgefleet_fleet::broker_link::BrokerStatus>,
    /// The broker fields while the user edits them (applied with Apply).
    #[serde(skip)]
    pub broker_edit: Option<crate::app::broker_settings::BrokerSettings>,
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            tab: Tab::Map,
            selected: None,
            filter: String::new(),
            sort: SortColumn::Name,
            sort_ascending: true,
            chart_window: ChartWindow::FiveMinutes,
            theme: Theme::Dark,
            poll_interval_ms: 1_000,
            interfaces: Vec::new(),
            map: MapState::default(),
            show_settings: false,
            import_path: String::new(),
            add_device_addr: String::new(),
            eval_data: BTreeMap::new(),
            broker: Default::default(),
            fleet: FleetModel::default(),
            library: Library::default(),
            jobs: Jobs::default(),
            history: Vec::new(),
            log: EventLog::default(),
            status_line: None,
            fit: None,
            drag_fits: None,
            benchmark_runs_read_for: None,
            list_view: DeviceListView::default(),
            map_view: MapView::default(),
            interfaces_edit: None,
            selection: Selection::default(),
            group_fit: None,
            find: FindDevices::default(),
            compare: None,
            pair_token: String::new(),
            toasts: Toasts::default(),
            focus_filter: false,
            detail_window_open: false,
            placement: None,
            broker_status: None,
            broker_edit: None,
        }
    }
}

impl AppState {
    /// Log a line and, for warnings and errors, show it in the status line.
    pub fn report(&mut self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        if level != LogLevel::Info {
            self.status_line = Some((level, message.clone()));
        }
        self.log.push(edgefleet_core::now_ms(), level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_tolerates_missing_fields() {
        let mut s = AppState { tab: Tab::Charts, filter: "cam".into(), ..AppState::default() };
        s.selected = Some("dev-1".into());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<AppState>(&text).unwrap(), s);
        // An older file without most fields still loads, with defaults.
        let old: AppState = serde_json::from_str(r#"{"tab":"Deployments"}"#).unwrap();
        assert_eq!(old.tab, Tab::Deployments);
        assert_eq!(old.poll_interval_ms, 1_000);
    }

    #[test]
    fn runtime_models_are_not_saved() {
        let mut s = AppState::default();
        s.report(LogLevel::Warn, "something happened");
        s.eval_data.insert("mlp".into(), "/data/eval.csv".into());
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("something happened") && !text.contains("\"fleet\""), "{text}");
        let back: AppState = serde_json::from_str(&text).unwrap();
        assert!(back.log.lines.is_empty() && back.status_line.is_none());
        assert_eq!(back.eval_data.get("mlp").map(String::as_str), Some("/data/eval.csv"));
    }

    #[test]
    fn tabs_parse_from_flags() {
        assert_eq!(Tab::parse("charts"), Some(Tab::Charts));
        assert_eq!(Tab::parse(" MAP "), Some(Tab::Map));
        assert_eq!(Tab::parse("nope"), None);
    }
}
