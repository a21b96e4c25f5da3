//! The app state that outlives a run (stored with eframe's storage): which
//! tab, which device, filter and sort, chart window, theme, map view. It
//! holds no resources, so it can be serialized and defaulted freely.

use crate::map::MapState;
use serde::{Deserialize, Serialize};

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

/// Device list columns that can be sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SortColumn {
    #[default]
    Name,
    Status,
    Load,
    Memory,
    Model,
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

/// Everything the user would expect to find as they left it.
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
    pub poll_interval_ms: u64,
    /// mDNS interfaces for the next start (empty = all).
    pub interfaces: Vec<String>,
    pub map: MapState,
    pub show_settings: bool,
    /// The text in the library's import box.
    pub import_path: String,
    /// The text in the settings' add-device box.
    pub add_device_addr: String,
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
        }
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
    fn tabs_parse_from_flags() {
        assert_eq!(Tab::parse("charts"), Some(Tab::Charts));
        assert_eq!(Tab::parse(" MAP "), Some(Tab::Map));
        assert_eq!(Tab::parse("nope"), None);
    }
}
