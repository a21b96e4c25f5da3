//! Executing the [`UiCommand`]s the panels pushed, once per frame after
//! drawing: selection and tabs, imports, the fit panel, optimize and deploy
//! jobs on the engine (tracked by [`JobId`]), and live settings.

use crate::app::App;
use crate::app::background::{self, BgEvent};
use crate::app::command::UiCommand;
use crate::app::fit_view::FitView;
use crate::app::library::ModelCard;
use edgefleet_fleet::{
    Command, JobFn, JobId, LogLevel, OptimizeChoice, RolloutPlan, RolloutRequest, VariantRequest, optimize_for_device,
    rollout_job,
};
use std::path::{Path, PathBuf};

/// The shipped demo models, whose evaluation data ships with them.
const SHIPPED_DIGITS_MODELS: [&str; 2] = ["mlp_digits.onnx", "cnn_digits.onnx"];
const SHIPPED_DIGITS_EVAL: &str = "digits_eval.csv";

impl App {
    /// Execute the commands the panels pushed this frame.
    pub fn execute_commands(&mut self) {
        for command in std::mem::take(&mut self.commands) {
            self.execute(command);
        }
    }

    fn execute(&mut self, command: UiCommand) {
        match command {
            UiCommand::SetTab(tab) => self.state.tab = tab,
            UiCommand::ImportModel(path) => {
                let store = self.store.clone();
                self.spawn_bg("import", move || background::import(&store, path));
            }
            UiCommand::OpenFit { card_id, device_id } => self.open_fit(card_id, device_id),
            UiCommand::CloseFit => self.state.fit = None,
            UiCommand::Optimize { card_id, device_id } => self.start_optimize(card_id, &device_id),
            UiCommand::Deploy { card_id, device_id } => self.start_deploy(card_id, &device_id),
            UiCommand::Distill { card_id, device_id } => self.start_distill(card_id, &device_id),
            UiCommand::CancelJob(id) => self.cancel_job(id),
            UiCommand::RemoveModel { card_id } => {
                let store = self.store.clone();
                self.spawn_bg("remove model", move || {
                    BgEvent::ModelRemoved(edgefleet_fleet::remove_model(&store, card_id).map(Box::new))
                });
            }
            UiCommand::RevealModel { card_id } => self.reveal_model(card_id),
            UiCommand::SetPollInterval { ms } => {
                self.config.engine.poll_interval_ms = ms;
                self.send(Command::SetPollInterval { ms });
            }
            UiCommand::SetInterfaces { interfaces } => self.set_interfaces(interfaces),
            UiCommand::SetTheme(theme) => self.state.theme = theme,
            UiCommand::SetBroker(settings) => self.set_broker(settings),
            UiCommand::AddDevice { addr } => self.send(Command::AddManual { addr, token: None }),
            UiCommand::ClearLog => self.state.log.lines.clear(),
            // Measure, request rate, placement: fit_commands.rs.
            c @ (UiCommand::MeasureOnDevice { .. }
            | UiCommand::SetFitRequestRate(_)
            | UiCommand::SetOptimizeFastest(_)
            | UiCommand::OpenPlacement
            | UiCommand::ClosePlacement
            | UiCommand::PlanPlacement { .. }
            | UiCommand::DeployPlacement) => self.execute_fit(c),
            // Selection, group fit, rollouts, sweep, pairing: group_commands.rs.
            other => self.execute_group(other),
        }
    }

    pub(super) fn send(&mut self, command: Command) {
        if let Err(e) = self.engine.send(command) {
            self.state.report(LogLevel::Error, format!("the fleet engine stopped: {e}"));
        }
    }

    /// Find devices through this broker from now on: the engine drops its
    /// broker link and starts a new one. Bad settings are reported and
    /// change nothing.
    fn set_broker(&mut self, settings: crate::app::broker_settings::BrokerSettings) {
        if self.demo.is_some() {
            return self.state.report(LogLevel::Warn, "a demo stays on loopback: it uses no broker");
        }
        match settings.spec() {
            Ok(spec) => {
                self.state.broker = settings;
                self.state.broker_edit = None;
                self.config.engine.broker = spec.clone();
                self.send(Command::SetBroker { broker: spec });
            }
            Err(e) => self.state.report(LogLevel::Error, format!("broker settings not applied: {e}")),
        }
    }

    /// Browse mDNS on other interfaces from now on (a demo stays on `lo`).
    fn set_interfaces(&mut self, interfaces: Vec<String>) {
        if self.demo.is_some() {
            return self.state.report(LogLevel::Warn, "a demo stays on loopback: its interfaces cannot change");
        }
        self.config.engine.interfaces = interfaces.clone();
        self.send(Command::SetInterfaces { interfaces });
    }

    fn open_fit(&mut self, card_id: i64, device_id: String) {
        let Some(card) = self.state.library.get(card_id) else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(profile) = card.profile.clone() else {
            return self.state.report(LogLevel::Warn, format!("{} has no profile to estimate with", card.title()));
        };
        let Some(entry) = self.state.fleet.get(&device_id) else {
            return self.state.report(LogLevel::Warn, format!("device {device_id} is not known"));
        };
        let rate = entry.metrics.as_ref().map_or(0.0, |m| m.models.iter().map(|s| s.qps).sum::<f64>() + 0.0);
        let view = FitView::new(card_id, profile, entry.live_device(), entry.rtt_ms, rate);
        if !card.is_profile_only()
            && !self.state.eval_data.contains_key(&card.name)
            && let Some(path) = self.shipped_eval_data(card)
        {
            self.state.eval_data.insert(card.name.clone(), path.display().to_string());
        }
        self.state.selected = Some(device_id.clone());
        self.state.fit = Some(view);
        self.refresh_calibrated_fit();
    }

    /// The shipped digits data, for the shipped digits models and the
    /// variants made from them; no other model gets a default.
    fn shipped_eval_data(&self, card: &ModelCard) -> Option<PathBuf> {
        let root = self.state.library.root_of(card);
        let path = root.path.as_deref()?;
        let shipped = path.parent().is_some_and(|dir| Some(dir) == self.shipped_models_dir.as_deref())
            && path.file_name().and_then(|f| f.to_str()).is_some_and(|f| SHIPPED_DIGITS_MODELS.contains(&f));
        let data = self.shipped_models_dir.as_deref()?.join(SHIPPED_DIGITS_EVAL);
        (shipped && data.is_file()).then_some(data)
    }

    fn start_optimize(&mut self, card_id: i64, device_id: &str) {
        let (Some(card), Some(entry)) = (self.state.library.get(card_id).cloned(), self.state.fleet.get(device_id))
        else {
            return self.state.report(LogLevel::Warn, "pick a model and a device first");
        };
        let Some(path) = card.path.clone() else {
            return self
                .state
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to optimize", card.title()));
        };
        // Without labelled data a variant's accuracy cannot be checked, and an
        // int8 or pruned model that answers wrong must not pass as better.
        let Some(eval_data) =
            self.state.eval_data.get(&card.name).map(|p| p.trim()).filter(|p| !p.is_empty()).map(PathBuf::from)
        else {
            return self.state.report(
                LogLevel::Warn,
                format!(
                    "{}: give evaluation data (a CSV of labelled samples) in the fit panel first; \
                     without it a variant's accuracy cannot be checked",
                    card.title()
                ),
            );
        };
        let device = entry.live_device();
        // The fit panel's objective: the smallest (or the fastest) variant
        // that keeps accuracy; the answer says why it won, or why the
        // original stays.
        let fastest = self
            .state
            .fit
            .as_ref()
            .is_some_and(|f| f.card_id == card_id && f.device_id == device_id && f.optimize_fastest);
        let objective =
            if fastest { edgefleet_optimize::Objective::Latency } else { edgefleet_optimize::Objective::Size };
        let title = format!("Optimize {} for {device_id}", card.title());
        let out_dir = self.variants_dir();
        let store = self.store.clone();
        let ticket = self.bg.ticket("optimize");
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let progress_ctx = ctx.clone();
                let work = move || {
                    let mut progress = |done: usize, total: usize, what: &str| {
                        progress_ctx.progress(Some(done as f32 / total.max(1) as f32), format!("trying {what}"));
                    };
                    let req = VariantRequest {
                        parent_id: card.id,
                        name: &card.name,
                        model_path: &path,
                        device: &device,
                        eval_data: &eval_data,
                        out_dir: &out_dir,
                        objective,
                    };
                    optimize_for_device(&req, &store, &mut progress)
                };
                // The engine logs the job's end (done or failed); the ticket
                // only brings a new variant to the library.
                match tokio::task::spawn_blocking(work).await {
                    Ok(Ok(OptimizeChoice { variant: Some(record), why })) => {
                        let message = format!("made {} v{} — {why}", record.name, record.version);
                        ticket.finish(Some(BgEvent::ModelAdded(Ok(Box::new(record)))));
                        Ok(message)
                    }
                    Ok(Ok(OptimizeChoice { variant: None, why })) => {
                        ticket.finish(None);
                        Ok(format!("kept the original — {why}"))
                    }
                    Ok(Err(e)) => {
                        ticket.finish(None);
                        Err(e.to_string())
                    }
                    Err(e) => {
                        ticket.finish(None);
                        Err(format!("the optimizer crashed: {e}"))
                    }
                }
            })
        });
        let id = self.engine.start_job(title, run);
        self.remember_fit_job(id, |fit| &mut fit.optimize_job);
    }

    fn start_deploy(&mut self, card_id: i64, device_id: &str) {
        let Some(card) = self.state.library.get(card_id).cloned() else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(path) = card.path.clone() else {
            return self
                .state
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to deploy", card.title()));
        };
        let title = format!("Deploy {} to {device_id}", card.title());
        let req = RolloutRequest {
            model_path: path,
            name: card.name.clone(),
            version: card.version.clone(),
            targets: vec![device_id.to_owned()],
            plan: RolloutPlan::default(),
        };
        let id = self.engine.start_job(title, rollout_job(req));
        self.refresh_after.insert(id, device_id.to_owned());
        self.remember_fit_job(id, |fit| &mut fit.deploy_job);
    }

    /// Show a job's progress in the open fit panel.
    fn remember_fit_job(&mut self, id: JobId, slot: impl FnOnce(&mut FitView) -> &mut Option<JobId>) {
        if let Some(fit) = self.state.fit.as_mut() {
            *slot(fit) = Some(id);
        }
    }

    /// Where optimized variants are written: next to the registry.
    pub(super) fn variants_dir(&self) -> PathBuf {
        let base = match (&self.demo, &self.config.db_path) {
            (Some(d), _) => d.dir().to_path_buf(),
            (None, Some(db)) => db.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            (None, None) => std::env::temp_dir().join(format!("edgefleet-{}", std::process::id())),
        };
        base.join("models")
    }
}
