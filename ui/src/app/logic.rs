//! Once per frame, before drawing: apply the theme, drain the engine's and
//! the background's events into the models, take OS file drops, sample the
//! fleet series and work out which devices a dragged card fits.

use crate::app::App;
use crate::app::app_state::Theme;
use crate::app::background::{self, BgEvent};
use crate::app::command::UiCommand;
use crate::app::library::{DragFits, ModelCard, ModelDrag};
use crate::app::native::fonts;
use edgefleet_core::{DeviceType, FitConfig, fit_matrix};
use edgefleet_fleet::{Command, Event, JobState, LogLevel};

/// Engine events handled per frame at most, so a flood never stalls one.
const MAX_EVENTS_PER_FRAME: usize = 20_000;

impl App {
    /// Everything that happens once per frame before drawing.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        self.notifier.set_context(ctx);
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
        self.keyboard_step(ctx);
        self.drain_engine();
        self.drain_background();
        self.benchmark_runs_step();
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            let path = file.path();
            if path.as_os_str().is_empty() {
                self.state.report(LogLevel::Warn, "a dropped file came without a path; import it by path instead");
            } else {
                self.commands.push(UiCommand::ImportModel(path.to_path_buf()));
            }
        }
        self.state.fleet.sample_fleet(self.now_s());
        self.update_drag_fits(ctx);
        if self.demo_fit_pending {
            self.open_demo_fit();
        }
        self.demo_compare_step();
    }

    fn drain_engine(&mut self) {
        let now = self.now_s();
        for _ in 0..MAX_EVENTS_PER_FRAME {
            let Some(event) = self.engine.try_recv() else { break };
            match event {
                Event::Device(snap) => {
                    // Other programs' agents on `lo` are not part of the demo.
                    let id = &snap.device.device_id;
                    if self.demo.as_ref().is_some_and(|d| d.agents().iter().all(|a| &a.device_id != id)) {
                        self.foreign.insert(id.clone());
                    } else {
                        // A demo agent just joined: pair it as a user would.
                        let pair = snap.paired.then(|| self.demo.as_mut().and_then(|d| d.pairing_for(id))).flatten();
                        self.state.fleet.apply_snapshot(*snap);
                        if let Some(pair) = pair {
                            self.send(pair);
                        }
                    }
                }
                Event::Status { device_id, status } => self.state.fleet.set_status(&device_id, status),
                Event::Metrics { device_id, metrics, rtt_ms } => {
                    // NaN: the metrics came through a broker, no round trip measured.
                    if rtt_ms.is_finite() {
                        self.state.fleet.set_rtt(&device_id, rtt_ms);
                    }
                    self.state.fleet.set_metrics(&device_id, metrics, now);
                }
                Event::Models { device_id, models } => self.state.fleet.set_models(&device_id, models),
                Event::Sweep { progress, finished } => self.state.find.progress = Some((progress, finished)),
                Event::Broker(status) => self.state.broker_status = status,
                // Another console's rollout moved: the history shows it.
                Event::RemoteRollout { .. } => self.refresh_history(),
                Event::Log(entry) => {
                    let first = entry.message.split([':', ' ']).next().unwrap_or_default();
                    if self.foreign.contains(first)
                        || self.foreign.iter().any(|f| entry.message.starts_with(f.as_str()))
                    {
                        continue;
                    }
                    if entry.level == LogLevel::Error {
                        self.state.status_line = Some((entry.level, entry.message.clone()));
                    }
                    self.state.log.push(entry.at_ms, entry.level, entry.message);
                }
                Event::Job(update) => {
                    let ended = update.state != JobState::Running;
                    if ended {
                        self.forget_cancel(update.id);
                        self.placement_job_ended(update.id);
                        self.rotation_ended(update.id, matches!(update.state, JobState::Done(_)));
                    }
                    if ended && let Some(device_id) = self.refresh_after.remove(&update.id) {
                        self.send(Command::RefreshModels { device_id });
                        self.refresh_history();
                    }
                    if let JobState::Failed(msg) = &update.state {
                        self.state.status_line = Some((LogLevel::Error, format!("{}: {msg}", update.title)));
                        self.state.toasts.push(&format!("{}: {msg}", update.title), now);
                    }
                    match &update.state {
                        JobState::Done(msg) => self.rollout_job_ended(update.id, true, msg),
                        JobState::Failed(msg) => self.rollout_job_ended(update.id, false, msg),
                        JobState::Running => {}
                    }
                    self.state.jobs.apply(update);
                }
            }
        }
    }

    fn drain_background(&mut self) {
        for event in self.bg.drain() {
            match event {
                BgEvent::Library(Ok(records)) => {
                    for r in records {
                        self.state.library.upsert(ModelCard::from_record(r));
                    }
                }
                BgEvent::Library(Err(e)) => {
                    self.state.report(LogLevel::Error, format!("cannot load the model library: {e}"))
                }
                BgEvent::ModelAdded(Ok(r)) => {
                    let what = if r.parent_id.is_some() { "optimized variant" } else { "model" };
                    self.state.report(LogLevel::Info, format!("added {what} {} v{}", r.name, r.version));
                    self.state.library.upsert(ModelCard::from_record(*r));
                }
                BgEvent::ModelAdded(Err(e)) => self.state.report(LogLevel::Error, e.to_string()),
                BgEvent::ModelRemoved(Ok(r)) => {
                    self.state.report(
                        LogLevel::Info,
                        format!("removed {} v{} from the library; its file stays at {}", r.name, r.version, r.path),
                    );
                    self.state.library.cards.retain(|c| c.id != r.id);
                    if self.state.fit.as_ref().is_some_and(|f| f.card_id == r.id) {
                        self.state.fit = None;
                    }
                }
                BgEvent::ModelRemoved(Err(e)) => self.state.report(LogLevel::Warn, e.to_string()),
                BgEvent::Deployments(list) => self.state.history = list,
                BgEvent::Log(level, msg) => self.state.report(level, msg),
                BgEvent::Toast(msg) => {
                    self.state.toasts.push(&msg, self.now_s());
                    self.state.report(LogLevel::Warn, msg);
                }
                BgEvent::CalibratedFit(c) => self.apply_calibrated_fit(*c),
                BgEvent::Placement(plan) => self.set_plan(plan.map(|p| *p)),
                BgEvent::BenchmarkRuns(runs) => self.apply_benchmark_runs(runs),
            }
        }
    }

    /// Run `work` on a background thread; its answer arrives in `logic_step`.
    pub(super) fn spawn_bg(&mut self, name: &str, work: impl FnOnce() -> BgEvent + Send + 'static) {
        if let Err(e) = self.bg.spawn(name, work) {
            self.state.report(LogLevel::Error, format!("cannot start background work ({name}): {e}"));
        }
    }

    /// Load the library (seeded with the demo models when empty).
    pub(super) fn load_library(&mut self) {
        let store = self.store.clone();
        let seed = self.config.seed_library.then(|| self.config.assets_dir.join("models"));
        self.spawn_bg("library", move || background::load_library(&store, seed.as_deref()));
    }

    /// Reload the deployment history from the registry.
    pub(super) fn refresh_history(&mut self) {
        let store = self.store.clone();
        self.spawn_bg("history", move || background::deployment_history(&store));
    }

    /// While a model card is dragged, which devices it fits: one row of the
    /// fleet-wide fit matrix, computed once per drag (a new drag, or another
    /// card, computes it again; the frames in between reuse it).
    fn update_drag_fits(&mut self, ctx: &egui::Context) {
        let Some(drag) = egui::DragAndDrop::payload::<ModelDrag>(ctx) else {
            self.state.drag_fits = None;
            return;
        };
        if self.state.drag_fits.as_ref().is_some_and(|d| d.key.0 == drag.card_id) {
            return;
        }
        let key = (drag.card_id, self.state.fleet.version());
        let Some(profile) = self.state.library.get(drag.card_id).and_then(|c| c.profile.clone()) else {
            self.state.drag_fits = None;
            return;
        };
        let entries = self.state.fleet.entries();
        let devices: Vec<_> = entries.iter().map(|e| e.live_device()).collect();
        let cfg = FitConfig::default();
        let matrix = fit_matrix(std::slice::from_ref(&profile), &devices, &cfg);
        // A device with kept benchmarks answers with its calibrated estimate
        // (its measured memory factors), the rest from the matrix.
        let fits = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let fits = if e.benchmark_runs.is_empty() {
                    matrix.get(0, i).is_some_and(|s| s.compatible)
                } else {
                    e.fit(&profile, &cfg).0.compatible
                };
                (e.id().to_owned(), fits)
            })
            .collect();
        self.state.drag_fits = Some(DragFits { key, fits });
    }

    /// `--demo-fit`: open the CNN's fit on the first camera with metrics
    /// (and with `--demo-deploy`, deploy it), for screenshots.
    fn open_demo_fit(&mut self) {
        let Some(card) = self.state.library.cards.iter().find(|c| c.name == "cnn_digits" && c.parent_id.is_none())
        else {
            return;
        };
        let Some(entry) = self
            .state
            .fleet
            .entries()
            .iter()
            .filter(|e| e.metrics.is_some() && e.device.device_type == DeviceType::SmartCamera)
            .min_by(|a, b| a.id().cmp(b.id()))
        else {
            return;
        };
        let (card_id, device_id) = (card.id, entry.id().to_owned());
        self.demo_fit_pending = false;
        self.state.selected = Some(device_id.clone());
        self.commands.push(UiCommand::OpenFit { card_id, device_id: device_id.clone() });
        if self.config.demo_measure {
            self.commands.push(UiCommand::MeasureOnDevice { card_id, device_id: device_id.clone() });
        }
        if self.config.demo_deploy {
            self.commands.push(UiCommand::Deploy { card_id, device_id });
            self.commands.push(UiCommand::CloseFit);
        }
    }
}
