//! The app: owns the fleet engine, the store, the basemap, the demo fleet
//! and the channels; drains events in `logic`, draws the panels in `ui`,
//! then executes the commands the panels pushed. Disk, network and
//! optimization never run on the UI thread: they are engine jobs or
//! background threads that answer through a channel.

use crate::app::app_state::{AppState, Tab, Theme};
use crate::app::charts_tab::charts_tab_ui;
use crate::app::command::UiCommand;
use crate::app::demo::{DemoFleet, DemoOptions};
use crate::app::deployments_tab::{Jobs, deployments_tab_ui};
use crate::app::device_detail_panel::device_detail_ui;
use crate::app::device_list_panel::{DeviceListView, device_list_ui};
use crate::app::event_log_panel::{EventLog, event_log_ui, level_color};
use crate::app::fit_panel::{FitView, deploy_title, fit_panel_ui, optimize_title};
use crate::app::fleet_model::{DeviceEntry, FleetModel};
use crate::app::library_panel::{Library, ModelCard, ModelDrag, library_ui};
use crate::app::map_tab::{MapView, map_tab_ui};
use crate::app::settings_panel::settings_ui;
use anyhow::Context as _;
use edgefleet_core::{Device, FitConfig, ModelProfile, estimate_fit};
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine, JobState, LogLevel, now_ms};
use edgefleet_store::{DeploymentRecord, ModelRecord, NewModel, Store};
use egui::{RichText, Ui};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;

/// The sample profile of a model too big for small devices (no ONNX file
/// ships for it: the card is labelled profile-only).
const BIG_DETECTOR_PROFILE: &str = include_str!("../../../assets/profiles/big_detector.json");
const BIG_DETECTOR_CARD_ID: i64 = -1;

/// How to start the app.
#[derive(Clone)]
pub struct AppConfig {
    pub engine: EngineConfig,
    /// The registry; `None` keeps everything in memory.
    pub db_path: Option<PathBuf>,
    pub demo: Option<DemoOptions>,
    pub start_tab: Option<Tab>,
    /// Open a fit panel as soon as a model and a device are known (screenshots).
    pub demo_fit: bool,
    /// With `demo_fit`: also deploy that model and close the panel (screenshots).
    pub demo_deploy: bool,
    /// `assets/` (demo models, evaluation data).
    pub assets_dir: PathBuf,
    /// Import the demo models when the library is empty.
    pub seed_library: bool,
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
            assets_dir: default_assets_dir(),
            seed_library: true,
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

/// Results of background work, answered to the UI thread.
enum BgEvent {
    Library(Result<Vec<ModelRecord>, String>),
    ModelAdded(Result<Box<ModelRecord>, String>),
    Deployments(Vec<DeploymentRecord>),
    Log(LogLevel, String),
}

/// Wakes the UI from other threads once it has a context.
#[derive(Clone, Default)]
struct Notifier(Arc<OnceLock<egui::Context>>);

impl Notifier {
    fn notify(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint();
        }
    }
}

/// The desktop app.
pub struct App {
    pub state: AppState,
    pub fleet: FleetModel,
    pub library: Library,
    pub jobs: Jobs,
    pub log: EventLog,
    pub fit: Option<FitView>,
    engine: FleetEngine,
    store: Arc<Mutex<Store>>,
    basemap: Option<crate::map::Basemap>,
    demo: Option<DemoFleet>,
    config: AppConfig,
    notifier: Notifier,
    bg_tx: mpsc::Sender<BgEvent>,
    bg_rx: mpsc::Receiver<BgEvent>,
    bg_busy: usize,
    commands: Vec<UiCommand>,
    list_view: DeviceListView,
    map_view: MapView,
    history: Vec<DeploymentRecord>,
    /// While a card is dragged: (card, fleet version) and device → fits.
    drag_fits: Option<((i64, u64), HashMap<String, bool>)>,
    /// Engine jobs whose end should refresh a device's models, by title.
    refresh_after: HashMap<String, String>,
    /// The last warning or error, for the status line.
    status_line: Option<(LogLevel, String)>,
    applied_theme: Option<Theme>,
    demo_fit_pending: bool,
    /// Agents on `lo` that are not part of the demo (other programs'): their
    /// devices and log lines are left out of a demo.
    foreign: std::collections::HashSet<String>,
    started: Instant,
}

impl App {
    /// Build the app from eframe's creation context (restores the saved state).
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> anyhow::Result<App> {
        let saved = if config.demo.is_none() {
            cc.storage.and_then(|s| eframe::get_value::<AppState>(s, eframe::APP_KEY))
        } else {
            None
        };
        let app = App::build(config, saved.unwrap_or_default())?;
        app.notifier.0.get_or_init(|| cc.egui_ctx.clone());
        Ok(app)
    }

    /// Build the app without eframe (tests, benchmarks).
    pub fn new_for_test(config: AppConfig) -> anyhow::Result<App> {
        App::build(config, AppState::default())
    }

    fn build(mut config: AppConfig, mut state: AppState) -> anyhow::Result<App> {
        let demo = match &config.demo {
            Some(opts) => {
                let mut opts = opts.clone();
                opts.traffic_csv.get_or_insert_with(|| config.assets_dir.join("models/digits_eval.csv"));
                Some(DemoFleet::start(&opts)?)
            }
            None => None,
        };
        let mut log = EventLog::default();
        let store = match (&demo, &config.db_path) {
            // The demo gets a database of its own, never the user's registry.
            (Some(d), _) => Store::open(&d.dir().join("demo.db")),
            (None, Some(path)) => Store::open(path),
            (None, None) => Store::open_in_memory(),
        }
        .context("cannot open the registry")?;
        let store = Arc::new(Mutex::new(store));
        if let Some(d) = &demo {
            config.engine.interfaces = vec!["lo".into()];
            config.engine.default_token = Some(d.token().to_owned());
            log.push(
                now_ms(),
                LogLevel::Info,
                format!("demo: {} simulated agents on 127.0.0.1, mDNS on lo only", d.agents().len()),
            );
        }
        config.engine.store = Some(store.clone());
        config.engine.poll_interval_ms = config.engine.poll_interval_ms.max(100);
        state.poll_interval_ms = config.engine.poll_interval_ms;
        if let Some(tab) = config.start_tab {
            state.tab = tab;
        }
        if demo.is_some() {
            // A fresh demo has seconds of history: show them at a readable scale.
            state.chart_window = crate::app::app_state::ChartWindow::OneMinute;
        }
        let notifier = Notifier::default();
        let n = notifier.clone();
        let engine =
            FleetEngine::start(config.engine.clone(), move || n.notify()).context("cannot start the fleet engine")?;
        let basemap = match crate::map::Basemap::embedded() {
            Ok(b) => Some(b),
            Err(e) => {
                log.push(now_ms(), LogLevel::Error, format!("the basemap could not be loaded: {e}"));
                None
            }
        };
        let (bg_tx, bg_rx) = mpsc::channel();
        let mut library = Library::default();
        match serde_json::from_str::<ModelProfile>(BIG_DETECTOR_PROFILE) {
            Ok(p) => library.upsert(ModelCard::profile_only(BIG_DETECTOR_CARD_ID, p)),
            Err(e) => {
                log.push(now_ms(), LogLevel::Warn, format!("sample profile big_detector.json is unreadable: {e}"))
            }
        }
        let mut app = App {
            state,
            fleet: FleetModel::default(),
            library,
            jobs: Jobs::default(),
            log,
            fit: None,
            engine,
            store,
            basemap,
            demo_fit_pending: config.demo_fit,
            demo,
            config,
            notifier,
            bg_tx,
            bg_rx,
            bg_busy: 0,
            commands: Vec::new(),
            list_view: DeviceListView::default(),
            map_view: MapView::default(),
            history: Vec::new(),
            drag_fits: None,
            refresh_after: HashMap::new(),
            foreign: Default::default(),
            status_line: None,
            applied_theme: None,
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

    /// Whether background work (imports, library loading) is in flight.
    pub fn busy(&self) -> bool {
        self.bg_busy > 0 || self.jobs.running() > 0
    }

    /// Queue a command as a panel would.
    pub fn push_command(&mut self, command: UiCommand) {
        self.commands.push(command);
    }

    /// Seconds on the chart clock.
    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Run `work` on a background thread; its answer arrives in `logic`.
    fn spawn_bg(&mut self, name: &str, work: impl FnOnce() -> BgEvent + Send + 'static) {
        let tx = self.bg_tx.clone();
        let notifier = self.notifier.clone();
        let spawned = std::thread::Builder::new().name(format!("edgefleet-{name}")).spawn(move || {
            // The receiver gone means the app closed: nobody to tell.
            let _ = tx.send(work());
            notifier.notify();
        });
        match spawned {
            Ok(_) => self.bg_busy += 1,
            Err(e) => self.report(LogLevel::Error, format!("cannot start background work ({name}): {e}")),
        }
    }

    fn load_library(&mut self) {
        let store = self.store.clone();
        let seed = self.config.seed_library.then(|| self.config.assets_dir.join("models"));
        self.spawn_bg("library", move || {
            let result = (|| {
                let existing = lock(&store)?.list_models().map_err(|e| e.to_string())?;
                if !existing.is_empty() {
                    return Ok(existing);
                }
                let Some(dir) = seed else { return Ok(existing) };
                for name in ["mlp_digits.onnx", "cnn_digits.onnx"] {
                    let path = dir.join(name);
                    if path.is_file() {
                        import_model(&store, &path)?;
                    }
                }
                lock(&store)?.list_models().map_err(|e| e.to_string())
            })();
            BgEvent::Library(result)
        });
    }

    fn refresh_history(&mut self) {
        let store = self.store.clone();
        self.spawn_bg("history", move || {
            match lock(&store).and_then(|s| s.list_deployments().map_err(|e| e.to_string())) {
                Ok(mut list) => {
                    // Newest first from the store: keep the newest 50, show them oldest first.
                    list.truncate(50);
                    list.reverse();
                    BgEvent::Deployments(list)
                }
                Err(e) => BgEvent::Log(LogLevel::Warn, format!("cannot read the deployment history: {e}")),
            }
        });
    }

    /// Log a line and, for warnings and errors, show it in the status line.
    fn report(&mut self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        if level != LogLevel::Info {
            self.status_line = Some((level, message.clone()));
        }
        self.log.push(now_ms(), level, message);
    }

    /// Everything that happens once per frame before drawing.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        let _ = self.notifier.0.get_or_init(|| ctx.clone());
        if self.applied_theme.is_none() {
            ctx.set_fonts(fonts());
        }
        if self.applied_theme != Some(self.state.theme) {
            ctx.set_visuals(match self.state.theme {
                Theme::Dark => egui::Visuals::dark(),
                Theme::Light => egui::Visuals::light(),
            });
            self.applied_theme = Some(self.state.theme);
        }
        self.drain_engine();
        self.drain_bg();
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            let path = file.path();
            if path.as_os_str().is_empty() {
                self.report(LogLevel::Warn, "a dropped file came without a path; import it by path instead");
            } else {
                self.commands.push(UiCommand::ImportModel(path.to_path_buf()));
            }
        }
        self.fleet.sample_fleet(self.now_s());
        self.update_drag_fits(ctx);
        if self.demo_fit_pending {
            self.open_demo_fit();
        }
    }

    fn drain_engine(&mut self) {
        let now = self.now_s();
        // Bounded, so a flood of events never stalls a frame.
        for _ in 0..20_000 {
            let Some(event) = self.engine.try_recv() else { break };
            match event {
                Event::Device(snap) => {
                    // Other programs' agents on `lo` are not part of the demo.
                    if self
                        .demo
                        .as_ref()
                        .is_none_or(|d| d.agents().iter().any(|a| a.device_id == snap.device.device_id))
                    {
                        self.fleet.apply_snapshot(snap);
                    }
                }
                Event::Status { device_id, status } => self.fleet.set_status(&device_id, status),
                Event::Metrics { device_id, metrics } => self.fleet.set_metrics(&device_id, metrics, now),
                Event::Models { device_id, models } => self.fleet.set_models(&device_id, models),
                Event::Log(entry) => {
                    let first = entry.message.split([':', ' ']).next().unwrap_or_default();
                    if self.foreign.contains(first)
                        || self.foreign.iter().any(|f| entry.message.starts_with(f.as_str()))
                    {
                        continue;
                    }
                    if entry.level == LogLevel::Error {
                        self.status_line = Some((entry.level, entry.message.clone()));
                    }
                    self.log.push(entry.at_ms, entry.level, entry.message);
                }
                Event::Job(update) => {
                    let ended = update.state != JobState::Running;
                    if ended && let Some(device_id) = self.refresh_after.remove(&update.title) {
                        self.send(Command::RefreshModels { device_id });
                        self.refresh_history();
                    }
                    if let JobState::Failed(msg) = &update.state {
                        self.status_line = Some((LogLevel::Error, format!("{}: {msg}", update.title)));
                    }
                    self.jobs.apply(update);
                }
            }
        }
    }

    fn drain_bg(&mut self) {
        while let Ok(event) = self.bg_rx.try_recv() {
            self.bg_busy = self.bg_busy.saturating_sub(1);
            match event {
                BgEvent::Library(Ok(records)) => {
                    for r in records {
                        self.library.upsert(ModelCard::from_record(r));
                    }
                }
                BgEvent::Library(Err(e)) => self.report(LogLevel::Error, format!("cannot load the model library: {e}")),
                BgEvent::ModelAdded(Ok(r)) => {
                    let what = if r.parent_id.is_some() { "optimized variant" } else { "model" };
                    self.report(LogLevel::Info, format!("added {what} {} v{}", r.name, r.version));
                    self.library.upsert(ModelCard::from_record(*r));
                }
                BgEvent::ModelAdded(Err(e)) => self.report(LogLevel::Error, e),
                BgEvent::Deployments(list) => self.history = list,
                BgEvent::Log(level, msg) => self.report(level, msg),
            }
        }
    }

    /// While a model card is dragged, which devices it fits (computed once
    /// per card and fleet version).
    fn update_drag_fits(&mut self, ctx: &egui::Context) {
        let Some(drag) = egui::DragAndDrop::payload::<ModelDrag>(ctx) else {
            self.drag_fits = None;
            return;
        };
        let key = (drag.card_id, self.fleet.version());
        if self.drag_fits.as_ref().is_some_and(|(k, _)| *k == key) {
            return;
        }
        let Some(profile) = self.library.get(drag.card_id).and_then(|c| c.profile.clone()) else {
            self.drag_fits = None;
            return;
        };
        let cfg = FitConfig::default();
        let fits = self
            .fleet
            .entries()
            .iter()
            .map(|e| (e.id().to_owned(), estimate_fit(&profile, &live_device(e), &cfg).compatible))
            .collect();
        self.drag_fits = Some((key, fits));
    }

    fn open_demo_fit(&mut self) {
        let Some(card) = self.library.cards.iter().find(|c| c.name == "cnn_digits" && c.parent_id.is_none()) else {
            return;
        };
        let Some(entry) = self
            .fleet
            .entries()
            .iter()
            .filter(|e| e.metrics.is_some() && e.device.device_type == edgefleet_core::DeviceType::SmartCamera)
            .min_by(|a, b| a.id().cmp(b.id()))
        else {
            return;
        };
        let (card_id, device_id) = (card.id, entry.id().to_owned());
        self.demo_fit_pending = false;
        self.state.selected = Some(device_id.clone());
        self.commands.push(UiCommand::OpenFit { card_id, device_id: device_id.clone() });
        if self.config.demo_deploy {
            self.commands.push(UiCommand::Deploy { card_id, device_id });
            self.commands.push(UiCommand::CloseFit);
        }
    }

    fn send(&mut self, command: Command) {
        if let Err(e) = self.engine.send(command) {
            self.report(LogLevel::Error, format!("the fleet engine stopped: {e}"));
        }
    }

    /// Execute the commands the panels pushed this frame.
    pub fn execute_commands(&mut self) {
        for command in std::mem::take(&mut self.commands) {
            self.execute(command);
        }
    }

    fn execute(&mut self, command: UiCommand) {
        match command {
            UiCommand::SelectDevice(id) => self.state.selected = Some(id),
            UiCommand::ClearSelection => self.state.selected = None,
            UiCommand::SetTab(tab) => self.state.tab = tab,
            UiCommand::ImportModel(path) => {
                let store = self.store.clone();
                self.spawn_bg("import", move || BgEvent::ModelAdded(import_model(&store, &path).map(Box::new)));
            }
            UiCommand::OpenFit { card_id, device_id } => self.open_fit(card_id, device_id),
            UiCommand::CloseFit => self.fit = None,
            UiCommand::Optimize { card_id, device_id } => self.start_optimize(card_id, &device_id),
            UiCommand::Deploy { card_id, device_id } => self.start_deploy(card_id, &device_id),
            UiCommand::SetPollInterval { ms } => self.send(Command::SetPollInterval { ms }),
            UiCommand::SetTheme(theme) => self.state.theme = theme,
            UiCommand::AddDevice { addr } => self.send(Command::AddManual { addr, token: None }),
            UiCommand::ClearLog => self.log.lines.clear(),
        }
    }

    fn open_fit(&mut self, card_id: i64, device_id: String) {
        let Some(card) = self.library.get(card_id) else {
            return self.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(profile) = card.profile.clone() else {
            return self.report(LogLevel::Warn, format!("{} has no profile to estimate with", card.title()));
        };
        let Some(entry) = self.fleet.get(&device_id) else {
            return self.report(LogLevel::Warn, format!("device {device_id} is not known"));
        };
        let fit = estimate_fit(&profile, &live_device(entry), &FitConfig::default());
        self.state.selected = Some(device_id.clone());
        self.fit = Some(FitView { card_id, device_id, fit, optimize_job: None, deploy_job: None });
    }

    fn start_optimize(&mut self, card_id: i64, device_id: &str) {
        let (Some(card), Some(entry)) = (self.library.get(card_id).cloned(), self.fleet.get(device_id)) else {
            return self.report(LogLevel::Warn, "pick a model and a device first");
        };
        let Some(path) = card.path.clone() else {
            return self
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to optimize", card.title()));
        };
        let device = live_device(entry);
        let title = optimize_title(&card, device_id);
        if let Some(fit) = self.fit.as_mut() {
            fit.optimize_job = Some(title.clone());
        }
        let eval_path = self.config.assets_dir.join("models/digits_eval.csv");
        let out_dir = self.variants_dir();
        let store = self.store.clone();
        let tx = self.bg_tx.clone();
        let notifier = self.notifier.clone();
        self.bg_busy += 1;
        let run: edgefleet_fleet::JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let progress_ctx = ctx.clone();
                let work = move || {
                    let mut progress = |done: usize, total: usize, what: &str| {
                        progress_ctx.progress(Some(done as f32 / total.max(1) as f32), format!("trying {what}"));
                    };
                    optimize_for_device(&card, &path, &device, &eval_path, &out_dir, &store, &mut progress)
                };
                let result =
                    tokio::task::spawn_blocking(work).await.map_err(|e| format!("the optimizer crashed: {e}"))?;
                let (message, event) = match result {
                    Ok(Some(record)) => (
                        format!(
                            "made {} v{} ({})",
                            record.name,
                            record.version,
                            record.recipe.clone().unwrap_or_default()
                        ),
                        BgEvent::ModelAdded(Ok(Box::new(record))),
                    ),
                    Ok(None) => {
                        let msg =
                            "no recipe beat the original on this device within a 1-point accuracy loss".to_owned();
                        (msg.clone(), BgEvent::Log(LogLevel::Info, msg))
                    }
                    Err(e) => {
                        let _ = tx.send(BgEvent::Log(LogLevel::Error, format!("optimize: {e}")));
                        notifier.notify();
                        return Err(e);
                    }
                };
                let _ = tx.send(event);
                notifier.notify();
                Ok(message)
            })
        });
        self.send(Command::Job { title, run });
    }

    fn start_deploy(&mut self, card_id: i64, device_id: &str) {
        let Some(card) = self.library.get(card_id).cloned() else {
            return self.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(path) = card.path.clone() else {
            return self
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to deploy", card.title()));
        };
        let title = deploy_title(&card, device_id);
        if let Some(fit) = self.fit.as_mut() {
            fit.deploy_job = Some(title.clone());
        }
        let req = edgefleet_fleet::RolloutRequest {
            model_path: path,
            name: card.name.clone(),
            version: card.version.clone(),
            targets: vec![device_id.to_owned()],
            plan: edgefleet_fleet::RolloutPlan::default(),
        };
        self.refresh_after.insert(title.clone(), device_id.to_owned());
        self.send(Command::Job { title, run: edgefleet_fleet::rollout_job(req) });
    }

    /// Where optimized variants are written: next to the registry.
    fn variants_dir(&self) -> PathBuf {
        let base = match (&self.demo, &self.config.db_path) {
            (Some(d), _) => d.dir().to_path_buf(),
            (None, Some(db)) => db.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            (None, None) => std::env::temp_dir().join(format!("edgefleet-{}", std::process::id())),
        };
        base.join("models")
    }

    /// Logic, then drawing, then commands: one whole frame (tests, bench).
    pub fn frame_ui(&mut self, ui: &mut Ui) {
        self.logic_step(&ui.ctx().clone());
        self.draw_ui(ui);
    }

    /// Draw every panel, then execute what they asked for.
    pub fn draw_ui(&mut self, ui: &mut Ui) {
        let mut commands = std::mem::take(&mut self.commands);
        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui, &mut commands));
        egui::Panel::bottom("event-log")
            .resizable(true)
            .default_size(130.0)
            .show(ui, |ui| event_log_ui(ui, &self.log, &mut commands));
        let fits = self.drag_fits.as_ref().map(|(_, f)| f);
        egui::Panel::left("devices").resizable(true).default_size(430.0).min_size(300.0).show(ui, |ui| {
            egui::Panel::bottom("device-detail").resizable(true).default_size(300.0).show(ui, |ui| {
                egui::ScrollArea::vertical().id_salt("detail-scroll").show(ui, |ui| {
                    device_detail_ui(ui, self.state.selected.as_deref().and_then(|id| self.fleet.get(id)));
                });
            });
            device_list_ui(ui, &self.fleet, &mut self.list_view, &mut self.state, fits, &mut commands);
        });
        egui::Panel::right("library").resizable(true).default_size(280.0).min_size(220.0).show(ui, |ui| {
            library_ui(ui, &self.library, &mut self.state.import_path, self.bg_busy > 0, &mut commands);
        });
        let now_s = self.now_s();
        egui::CentralPanel::default().show(ui, |ui| match self.state.tab {
            Tab::Map => map_tab_ui(
                ui,
                &mut self.state,
                &mut self.map_view,
                self.basemap.as_ref(),
                &self.fleet,
                fits,
                &mut commands,
            ),
            Tab::Charts => {
                charts_tab_ui(ui, &self.fleet, self.state.selected.as_deref(), &mut self.state.chart_window, now_s)
            }
            Tab::Deployments => deployments_tab_ui(ui, &self.jobs, &self.history),
        });
        if let Some(view) = &self.fit {
            let card = self.library.get(view.card_id);
            let device_name =
                self.fleet.get(&view.device_id).map_or(view.device_id.as_str(), |e| e.device.display_name());
            let mut open = true;
            egui::Window::new("Model fit")
                .open(&mut open)
                .collapsible(false)
                .resizable(false)
                .default_width(560.0)
                .pivot(egui::Align2::CENTER_CENTER)
                .default_pos(ui.ctx().content_rect().center())
                .show(ui.ctx(), |ui| fit_panel_ui(ui, view, card, device_name, &self.jobs, &mut commands));
            if !open {
                commands.push(UiCommand::CloseFit);
            }
        }
        if self.state.show_settings {
            let mut open = true;
            let interfaces = self.config.engine.interfaces.clone();
            egui::Window::new("Settings")
                .open(&mut open)
                .collapsible(false)
                .resizable(false)
                .show(ui.ctx(), |ui| settings_ui(ui, &mut self.state, &interfaces, &mut commands));
            self.state.show_settings = open;
        }
        self.commands = commands;
        self.execute_commands();
    }

    fn top_bar_ui(&mut self, ui: &mut Ui, commands: &mut Vec<UiCommand>) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("edgefleet").strong().size(16.0));
            if self.demo.is_some() {
                ui.label(
                    RichText::new(" DEMO ")
                        .small()
                        .strong()
                        .background_color(egui::Color32::from_rgb(60, 90, 140))
                        .color(egui::Color32::WHITE),
                );
            }
            ui.separator();
            for tab in Tab::ALL {
                if ui.selectable_label(self.state.tab == tab, tab.label()).clicked() {
                    commands.push(UiCommand::SetTab(tab));
                }
            }
            ui.separator();
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("⚙ Settings").clicked() {
                    self.state.show_settings = !self.state.show_settings;
                }
                let running = self.jobs.running();
                if running > 0 {
                    ui.spinner();
                    ui.label(format!("{running} job(s) running"));
                }
                if let Some((level, msg)) = &self.status_line {
                    let mut dismiss = false;
                    if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                        dismiss = true;
                    }
                    let icon = if *level == LogLevel::Error { "⚠" } else { "ℹ" };
                    ui.add(
                        egui::Label::new(RichText::new(format!("{icon} {msg}")).color(level_color(*level))).truncate(),
                    );
                    if dismiss {
                        self.status_line = None;
                    }
                }
            });
        });
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.draw_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // A demo must not overwrite the user's own layout and selection.
        if self.demo.is_none() {
            eframe::set_value(storage, eframe::APP_KEY, &self.state);
        }
    }
}

/// egui's fonts with the monospace font as a last fallback of the
/// proportional family: engine messages use arrows (→) that Ubuntu-Light lacks.
fn fonts() -> egui::FontDefinitions {
    let mut defs = egui::FontDefinitions::default();
    if defs.font_data.contains_key("Hack")
        && let Some(family) = defs.families.get_mut(&egui::FontFamily::Proportional)
        && !family.iter().any(|f| f == "Hack")
    {
        family.push("Hack".to_owned());
    }
    defs
}

fn lock(store: &Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>, String> {
    store.lock().map_err(|_| "the registry lock is poisoned (an earlier task panicked)".to_owned())
}

/// The device with its live free memory and storage, for estimates.
pub fn live_device(entry: &DeviceEntry) -> Device {
    let mut d = entry.device.clone();
    if let Some(m) = &entry.metrics {
        let total = m.memory_total_mb.min(d.memory_mb.max(1));
        d.free_memory_mb = Some(total.saturating_sub(m.memory_used_mb));
        if m.storage_free_gb.is_finite() && m.storage_free_gb >= 0.0 {
            d.free_storage_gb = Some(m.storage_free_gb.min(d.storage_gb));
        }
    }
    d
}

/// Profile an ONNX file and add it to the library (background thread).
fn import_model(store: &Mutex<Store>, path: &Path) -> Result<ModelRecord, String> {
    let shown = path.display();
    if path.extension().and_then(|e| e.to_str()).is_none_or(|e| !e.eq_ignore_ascii_case("onnx")) {
        return Err(format!("{shown}: not an .onnx file"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let profile = edgefleet_optimize::inspect_bytes(&bytes, &name)
        .map_err(|e| format!("{shown} is not a usable ONNX model: {e}"))?;
    let sha256 = sha256_hex(&bytes);
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let store = lock(store)?;
    let existing = store.list_models().map_err(|e| e.to_string())?;
    if let Some(same) = existing.iter().find(|m| m.sha256 == sha256) {
        return Err(format!("{shown} is already in the library as {} v{}", same.name, same.version));
    }
    let version = (existing.iter().filter(|m| m.name == name && m.parent_id.is_none()).count() + 1).to_string();
    let new = NewModel {
        name: name.clone(),
        version,
        path: absolute.display().to_string(),
        sha256,
        size_bytes: bytes.len() as u64,
        profile: Some(profile),
        parent_id: None,
        recipe: None,
        metrics: None,
        created_ms: now_ms(),
    };
    let id = store.add_model(&new).map_err(|e| format!("cannot add {name} to the library: {e}"))?;
    store.get_model(id).map_err(|e| e.to_string())?.ok_or_else(|| format!("{name} vanished from the library"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Run the recipe search for `device`; write the chosen variant next to the
/// registry and add it to the library as a child of `card`. `Ok(None)` when
/// the original stays the best choice.
fn optimize_for_device(
    card: &ModelCard,
    path: &Path,
    device: &Device,
    eval_path: &Path,
    out_dir: &Path,
    store: &Mutex<Store>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Option<ModelRecord>, String> {
    use edgefleet_optimize::{EvalConfig, EvalData, Objective, SearchLimits, SearchTarget, encode_model, search};
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let data = EvalData::from_path(eval_path)
        .map_err(|e| format!("no evaluation data to check accuracy ({}): {e}", eval_path.display()))?;
    let target = SearchTarget { device: device.clone(), limits: SearchLimits::default(), objective: Objective::Size };
    let cfg = EvalConfig { warmup_runs: 2, timed_runs: 10, large_batch: 8, zstd_level: 3 };
    let (result, model) =
        search(&bytes, &card.name, &target, &data, &cfg, progress).map_err(|e| format!("the search failed: {e}"))?;
    let (Some(i), Some(model)) = (result.chosen, model) else {
        let why: Vec<String> =
            result.candidates.iter().flat_map(|c| c.rejected_because.iter().cloned()).take(3).collect();
        return Err(format!("no recipe meets the limits on {}: {}", device.display_name(), why.join("; ")));
    };
    let report = &result.candidates[i].report;
    if report.recipe.is_empty() {
        return Ok(None);
    }
    let recipe = report.recipe.join(",");
    let slug: String = recipe.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let out = encode_model(&model);
    let sha256 = sha256_hex(&out);
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let file = out_dir.join(format!("{}-{}-{}.onnx", card.name, slug, &sha256[..8]));
    std::fs::write(&file, &out).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let profile = edgefleet_optimize::inspect_model(&model, &card.name).ok();
    let mut metrics = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if let Some(obj) = metrics.as_object_mut() {
        obj.insert("target_device".into(), serde_json::Value::String(device.device_id.clone()));
    }
    let new = NewModel {
        name: card.name.clone(),
        version: format!("{}-{}", card.version, slug),
        path: file.display().to_string(),
        sha256,
        size_bytes: out.len() as u64,
        profile,
        parent_id: Some(card.id),
        recipe: Some(recipe),
        metrics: Some(metrics),
        created_ms: now_ms(),
    };
    let store = lock(store)?;
    if let Some(existing) = store.find_model(&new.name, &new.version).map_err(|e| e.to_string())? {
        return Ok(Some(existing));
    }
    let id = store.add_model(&new).map_err(|e| format!("cannot add the variant to the library: {e}"))?;
    store.get_model(id).map_err(|e| e.to_string())
}

/// `edgefleet` with no subcommand: open the window.
pub fn run_gui(config: AppConfig) -> anyhow::Result<()> {
    let title = if config.demo.is_some() { "edgefleet — demo" } else { "edgefleet" };
    let app = App::build(config, AppState::default())?;
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(title)
        .with_app_id("edgefleet")
        .with_inner_size([1440.0, 900.0])
        .with_min_inner_size([960.0, 600.0])
        .with_drag_and_drop(true);
    if let Some(icon) = app_icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions { viewport, ..Default::default() };
    let mut app = Some(app);
    eframe::run_native(
        "edgefleet",
        options,
        Box::new(move |cc| {
            let mut app = app.take().ok_or("the app was already created")?;
            if app.demo.is_none()
                && let Some(saved) = cc.storage.and_then(|s| eframe::get_value::<AppState>(s, eframe::APP_KEY))
            {
                let tab = app.state.tab;
                app.state = AppState { poll_interval_ms: app.state.poll_interval_ms, ..saved };
                if app.config.start_tab.is_some() {
                    app.state.tab = tab;
                }
            }
            let _ = app.notifier.0.get_or_init(|| cc.egui_ctx.clone());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// The window icon, decoded from the 64×64 RGBA bytes shipped in `icons/`.
fn app_icon() -> Option<egui::IconData> {
    let rgba = include_bytes!("../../../icons/edgefleet-64.rgba");
    (rgba.len() == 64 * 64 * 4).then(|| egui::IconData { rgba: rgba.to_vec(), width: 64, height: 64 })
}
