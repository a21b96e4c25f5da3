//! How to start the app: engine settings, which registry, demo options and
//! the screenshot switches, and where the shipped assets are.

use crate::app::app_state::Tab;
use crate::app::demo::DemoOptions;
use edgefleet_fleet::EngineConfig;
use std::path::PathBuf;

/// How to start the app.
#[derive(Clone)]
pub struct AppConfig {
    /// The engine's settings. Empty `interfaces` (no `--interface` flag) lets
    /// the interfaces saved in the settings apply.
    pub engine: EngineConfig,
    /// The registry; `None` keeps everything in memory.
    pub db_path: Option<PathBuf>,
    pub demo: Option<DemoOptions>,
    pub start_tab: Option<Tab>,
    /// Open a fit panel as soon as a model and a device are known (screenshots).
    pub demo_fit: bool,
    /// With `demo_fit`: also deploy that model and close the panel (screenshots).
    pub demo_deploy: bool,
    /// With `demo_fit`: also measure that model on the device (screenshots).
    pub demo_measure: bool,
    /// Make three variants of the demo MLP and open their comparison (screenshots).
    pub demo_compare: bool,
    /// `assets/` (demo models, evaluation data).
    pub assets_dir: PathBuf,
    /// Import the demo models when the library is empty.
    pub seed_library: bool,
    /// The program that shows a model's folder ("Reveal file") instead of
    /// the platform's opener; `$EDGEFLEET_OPENER`, read once at start.
    pub opener: Option<String>,
}

impl AppConfig {
    /// Defaults for the user's own fleet: mDNS on all interfaces, the
    /// default registry.
    pub fn new(engine: EngineConfig, db_path: Option<PathBuf>) -> Self {
        AppConfig {
            engine,
            db_path,
            demo: None,
            start_tab: None,
            demo_fit: false,
            demo_deploy: false,
            demo_measure: false,
            demo_compare: false,
            assets_dir: default_assets_dir(),
            seed_library: true,
            opener: std::env::var(crate::app::reveal::OPENER_ENV).ok().filter(|o| !o.trim().is_empty()),
        }
    }

    /// A demo of `count` simulated agents on loopback.
    pub fn demo(count: usize) -> Self {
        let engine = EngineConfig { interfaces: vec!["lo".into()], ..EngineConfig::default() };
        AppConfig { demo: Some(DemoOptions::new(count)), ..AppConfig::new(engine, None) }
    }
}

/// `$EDGEFLEET_ASSETS`, else the source tree's `assets/`, else `assets/`
/// next to the executable.
pub fn default_assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDGEFLEET_ASSETS") {
        return PathBuf::from(dir);
    }
    let source = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets"));
    if source.is_dir() {
        return source;
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("assets")))
        .unwrap_or_else(|| PathBuf::from("assets"))
}
