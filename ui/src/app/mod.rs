//! The edgefleet desktop app: an eframe app over the fleet engine, laid out
//! like rerun's `re_viewer/src/app/`.
//!
//! - [`App`] (this file) owns the resources: the fleet engine, the registry,
//!   the basemap, the demo fleet, the background channels and the config.
//!   [`AppState`] (`app_state.rs`) owns what the panels show and edit; its
//!   settings persist between runs.
//! - Each frame, `logic.rs` drains the engine's and the background's events
//!   into the models, `ui.rs` lays the panels out, and the [`UiCommand`]s the
//!   panels pushed are executed after drawing by `command_handling.rs`.
//! - `native.rs` opens the window ([`run_gui`]) and is the `eframe::App`
//!   glue; `config.rs` says how to start; `background.rs` runs work off the
//!   UI thread; `demo.rs` runs a simulated fleet in-process.
//! - Models live in files of their own (`fleet_model`, `library`, `jobs`,
//!   `event_log`, `device_list_view`, `map_view`, `fit_view`). Panels
//!   (`*_panel.rs`, `*_tab.rs`) draw with `*_ui` functions and depend on
//!   models and `style.rs`, never on each other.

mod app_state;
mod background;
mod broker_settings;
mod broker_settings_panel;
mod charts_tab;
mod command;
mod command_handling;
mod compare_panel;
mod config;
mod demo;
mod demo_compare;
mod deployments_tab;
mod detail_window;
mod device_detail_panel;
mod device_list_panel;
mod device_list_view;
mod distill_commands;
mod event_log;
mod event_log_panel;
mod find_devices;
mod find_devices_panel;
mod fit_commands;
mod fit_panel;
mod fit_view;
mod fleet_model;
mod group_commands;
mod group_fit_panel;
mod group_fit_view;
mod group_windows;
mod jobs;
mod keyboard;
mod library;
mod library_panel;
mod logic;
mod map_tab;
mod map_view;
mod native;
mod placement_view;
mod placement_window;
mod reveal;
mod rollout_commands;
mod rollouts;
mod selection;
mod settings_panel;
mod style;
mod toasts;
mod ui;

pub use app_state::{AppState, ChartWindow, Tab, Theme};
pub use broker_settings::BrokerSettings;
pub use command::UiCommand;
pub use config::{AppConfig, default_assets_dir};
pub use demo::{DemoFleet, DemoOptions};
pub use device_list_view::{DeviceListView, SortColumn};
pub use event_log::{EventLog, LogLine};
pub use fit_view::FitView;
pub use fleet_model::{DeviceEntry, DeviceHistory, FleetModel, SeriesBuffer};
pub use jobs::{JobView, Jobs};
pub use library::{DragFits, Library, ModelCard, ModelDrag};
pub use map_view::MapView;
pub use native::run_gui;
pub use reveal::{OPENER_ENV, reveal_command};
pub use rollouts::{Phase, RolloutView, Rollouts, SharedSteps, StepTable, lock_steps, readable_detail};
pub use selection::Selection;

use crate::app::background::{Background, Notifier};
use anyhow::Context as _;
use edgefleet_core::{ModelProfile, now_ms};
use edgefleet_fleet::{FleetEngine, JobId, LogLevel};
use edgefleet_store::Store;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The sample profile of a model too big for small devices (no ONNX file
/// ships for it: the card is labelled profile-only).
const BIG_DETECTOR_PROFILE: &str = include_str!("../../../assets/profiles/big_detector.json");
const BIG_DETECTOR_CARD_ID: i64 = -1;

/// The desktop app.
pub struct App {
    /// What the panels show and edit.
    pub state: AppState,
    engine: FleetEngine,
    store: Arc<Mutex<Store>>,
    basemap: Option<crate::map::Basemap>,
    demo: Option<DemoFleet>,
    config: AppConfig,
    notifier: Notifier,
    bg: Background,
    /// Commands pushed this frame, executed after drawing.
    commands: Vec<UiCommand>,
    /// Deploy jobs whose end should refresh a device's models.
    refresh_after: HashMap<JobId, String>,
    /// Token rotations in progress: the device and its new token, stored
    /// (the engine's Pair) once the job says the device took it.
    rotations: HashMap<JobId, (String, String)>,
    /// Cancel flags of the jobs that can be stopped (distillations).
    cancels: HashMap<JobId, Arc<std::sync::atomic::AtomicBool>>,
    /// Rollouts started from the app (Deployments tab).
    rollouts: Rollouts,
    applied_theme: Option<Theme>,
    demo_fit_pending: bool,
    /// `--demo-compare` (screenshots): variants made, then the comparison.
    demo_compare: demo_compare::DemoCompare,
    /// Agents on `lo` that are not part of the demo (other programs'): their
    /// devices and log lines are left out of a demo.
    foreign: HashSet<String>,
    /// The shipped demo models' folder (their evaluation data is known).
    shipped_models_dir: Option<PathBuf>,
    started: Instant,
}

impl App {
    /// Build the app from eframe's creation context: the saved state is
    /// restored first, so the engine starts with the saved interfaces and
    /// poll interval. A demo neither reads nor writes the user's state.
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> anyhow::Result<App> {
        let saved = if config.demo.is_none() {
            cc.storage.and_then(|s| eframe::get_value::<AppState>(s, eframe::APP_KEY))
        } else {
            None
        };
        let app = App::build(config, saved)?;
        app.notifier.set_context(&cc.egui_ctx);
        Ok(app)
    }

    /// Build the app without eframe (tests, benchmarks).
    pub fn new_for_test(config: AppConfig) -> anyhow::Result<App> {
        App::build(config, None)
    }

    /// Build the app as if `saved` had been restored from eframe's storage.
    pub fn restore(config: AppConfig, saved: AppState) -> anyhow::Result<App> {
        App::build(config, Some(saved))
    }

    fn build(mut config: AppConfig, saved: Option<AppState>) -> anyhow::Result<App> {
        let demo = match &config.demo {
            Some(opts) => {
                let mut opts = opts.clone();
                opts.traffic_csv.get_or_insert_with(|| config.assets_dir.join("models/digits_eval.csv"));
                Some(DemoFleet::start(&opts)?)
            }
            None => None,
        };
        let restored = saved.is_some();
        let mut state = saved.unwrap_or_default();
        let store = match (&demo, &config.db_path) {
            // The demo gets a database of its own, never the user's registry.
            (Some(d), _) => Store::open(&d.dir().join("demo.db")),
            (None, Some(path)) => Store::open(path),
            (None, None) => Store::open_in_memory(),
        }
        .context("cannot open the registry")?;
        let store = Arc::new(Mutex::new(store));
        // Saved settings apply from the first poll; a --interface flag wins
        // for this run (without changing what is saved).
        if restored {
            config.engine.poll_interval_ms = state.poll_interval_ms;
            if config.engine.interfaces.is_empty() {
                config.engine.interfaces = state.interfaces.clone();
            }
            // The saved broker, unless --broker named one for this run.
            if config.engine.broker.is_none() && config.demo.is_none() {
                match state.broker.spec() {
                    Ok(spec) => config.engine.broker = spec,
                    Err(e) => state.report(LogLevel::Warn, format!("the saved broker settings are not used: {e}")),
                }
            }
        }
        if let Some(d) = &demo {
            config.engine.interfaces = vec!["lo".into()];
            config.engine.default_token = Some(d.token().to_owned());
            // A signing key of its own, beside the demo database (as the
            // CLI keeps one beside the registry): pairing pins it on each
            // agent, which then runs only models this demo signed.
            let key = edgefleet_fleet::model_signing::signing_key_path(&d.dir().join("demo.db"));
            config.engine.signer = Some(
                edgefleet_fleet::model_signing::ModelSigner::load_or_create(&key)
                    .context("cannot make the demo's model-signing key")?,
            );
            // The demo adds its own agents by address instead of browsing:
            // other programs' agents on lo (other demos use the same device
            // ids) would otherwise join its list and log, and take over its
            // ids. Its agents still advertise on lo, for `edgefleet scan`.
            config.engine.mdns = false;
            state.log.push(
                now_ms(),
                LogLevel::Info,
                format!(
                    "demo: {} simulated agents on 127.0.0.1 {}, added by address (they advertise on lo only)",
                    d.agents().len(),
                    if d.agents().iter().all(|a| a.tls) {
                        "over HTTPS, each with its own key (pinned at pairing)"
                    } else {
                        "over plain HTTP"
                    }
                ),
            );
            // A fresh demo has seconds of history: show them at a readable scale.
            state.chart_window = ChartWindow::OneMinute;
        }
        config.engine.store = Some(store.clone());
        config.engine.poll_interval_ms = config.engine.poll_interval_ms.max(100);
        state.poll_interval_ms = config.engine.poll_interval_ms;
        if let Some(tab) = config.start_tab {
            state.tab = tab;
        }
        let notifier = Notifier::default();
        let n = notifier.clone();
        let engine =
            FleetEngine::start(config.engine.clone(), move || n.notify()).context("cannot start the fleet engine")?;
        if let Some(d) = &demo {
            for a in d.agents() {
                // The key it serves with, pinned before the first contact:
                // the token goes only to that key. The engine's Pair follows
                // once it joined (drain_engine).
                if let Some(fp) = demo::pinned_key(a) {
                    engine.directory().pin(&a.device_id, &fp);
                }
                let add =
                    edgefleet_fleet::Command::AddManual { addr: a.addr.to_string(), token: Some(a.token.clone()) };
                engine.send(add).context("the fleet engine stopped at once")?;
            }
        }
        let basemap = match crate::map::Basemap::embedded() {
            Ok(b) => Some(b),
            Err(e) => {
                state.log.push(now_ms(), LogLevel::Error, format!("the basemap could not be loaded: {e}"));
                None
            }
        };
        match serde_json::from_str::<ModelProfile>(BIG_DETECTOR_PROFILE) {
            Ok(p) => state.library.upsert(ModelCard::profile_only(BIG_DETECTOR_CARD_ID, p)),
            Err(e) => {
                state.log.push(now_ms(), LogLevel::Warn, format!("sample profile big_detector.json is unreadable: {e}"))
            }
        }
        let mut app = App {
            state,
            engine,
            store,
            basemap,
            demo_fit_pending: config.demo_fit,
            demo_compare: if config.demo_compare && demo.is_some() {
                demo_compare::DemoCompare::Waiting
            } else {
                demo_compare::DemoCompare::Off
            },
            demo,
            shipped_models_dir: std::fs::canonicalize(config.assets_dir.join("models")).ok(),
            config,
            bg: Background::new(notifier.clone()),
            notifier,
            commands: Vec::new(),
            refresh_after: HashMap::new(),
            rotations: HashMap::new(),
            cancels: HashMap::new(),
            rollouts: Rollouts::default(),
            applied_theme: None,
            foreign: HashSet::new(),
            started: Instant::now(),
        };
        app.load_library();
        app.refresh_history();
        Ok(app)
    }

    /// The demo agents, when running a demo.
    pub fn demo(&self) -> Option<&DemoFleet> {
        self.demo.as_ref()
    }

    pub fn engine(&self) -> &FleetEngine {
        &self.engine
    }

    /// How the app was started, with the settings changed since (interfaces,
    /// poll interval) as the engine runs them now.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Whether background work (imports, library loading, optimizations,
    /// deploys) is in flight.
    pub fn busy(&self) -> bool {
        self.bg.busy() || self.state.jobs.running() > 0
    }

    /// Rollouts started from the app.
    pub fn rollouts(&self) -> &Rollouts {
        &self.rollouts
    }

    /// Rollouts started from the app, to add one by hand (benchmarks).
    pub fn rollouts_mut(&mut self) -> &mut Rollouts {
        &mut self.rollouts
    }

    /// Queue a command as a panel would.
    pub fn push_command(&mut self, command: UiCommand) {
        self.commands.push(command);
    }

    /// Seconds on the chart clock.
    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
