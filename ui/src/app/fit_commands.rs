//! The fit panel's and the placement window's commands: reading the
//! calibrated estimate (the device's kept benchmarks, off the UI thread),
//! "Measure on device" as an engine job over `fleet::measure_on_device`
//! (the code `edgefleet estimate --device-id ID --measure` runs), the
//! request rate, and planning and deploying a placement over
//! `fleet::plan_placement` / `fleet::deploy_plan` (`edgefleet place`).

use crate::app::App;
use crate::app::background::BgEvent;
use crate::app::command::UiCommand;
use crate::app::fit_view::CalibratedFit;
use crate::app::group_fit_view::GroupFitView;
use crate::app::placement_view::PlacementView;
use edgefleet_core::fit::BenchmarkRun;
use edgefleet_core::{Device, FitConfig, ModelProfile};
use edgefleet_fleet::measure::{DEFAULT_ITERATIONS, stored_runs};
use edgefleet_fleet::rollout::ProgressFn;
use edgefleet_fleet::{
    Command, JobFn, JobId, LogLevel, MeasureRequest, PlacementPlan, PlanModel, PlanSettings, RolloutPlan,
    calibrated_fit, deploy_plan, lock_store, measure_on_device,
};
use std::sync::Arc;

impl App {
    /// Execute one of the fit panel's or the placement window's commands.
    pub(super) fn execute_fit(&mut self, command: UiCommand) {
        match command {
            UiCommand::MeasureOnDevice { card_id, device_id } => self.start_measure(card_id, device_id),
            UiCommand::SetFitRequestRate(rate) => {
                if let Some(fit) = self.state.fit.as_mut()
                    && rate.is_finite()
                    && rate >= 0.0
                {
                    fit.request_rate_per_s = rate;
                }
            }
            UiCommand::SetOptimizeFastest(fastest) => {
                if let Some(fit) = self.state.fit.as_mut() {
                    fit.optimize_fastest = fastest;
                }
            }
            UiCommand::OpenPlacement => {
                self.state.placement.get_or_insert_with(PlacementView::default);
            }
            UiCommand::ClosePlacement => self.state.placement = None,
            UiCommand::PlanPlacement { models, selection_only } => self.plan_placement(models, selection_only),
            UiCommand::DeployPlacement => self.deploy_placement(),
            _ => {}
        }
    }

    /// Read the device's kept benchmarks and replace the open panel's
    /// estimate with the calibrated one (off the UI thread).
    pub(super) fn refresh_calibrated_fit(&mut self) {
        let Some(view) = self.state.fit.as_ref() else { return };
        let (card_id, device_id, profile, device) =
            (view.card_id, view.device_id.clone(), view.profile.clone(), view.device.clone());
        let store = self.store.clone();
        self.spawn_bg("calibration", move || {
            let read = lock_store(&store).map_err(|e| e.to_string()).and_then(|s| {
                let (fit, calibration) =
                    calibrated_fit(&s, &profile, &device, &FitConfig::default()).map_err(|e| e.to_string())?;
                let runs = stored_runs(&s, &device).map_err(|e| e.to_string())?;
                Ok((fit, calibration, runs))
            });
            match read {
                Ok((fit, calibration, runs)) => {
                    // This model's own runs, the latest answer per batch.
                    let measured_peak_mb = runs
                        .iter()
                        .filter(|r| r.model == profile.name)
                        .flat_map(|r| r.results.iter())
                        .filter_map(|b| b.peak_mb.map(|mb| (b.batch, mb)))
                        .collect();
                    let measured_memory_source = runs
                        .iter()
                        .filter(|r| r.model == profile.name)
                        .filter_map(|r| r.memory.as_ref())
                        .next_back()
                        .map(|m| m.source());
                    BgEvent::CalibratedFit(Box::new(CalibratedFit {
                        card_id,
                        device_id,
                        fit,
                        calibration,
                        measured_peak_mb,
                        measured_memory_source,
                    }))
                }
                Err(e) => {
                    BgEvent::Log(LogLevel::Error, format!("cannot read the benchmarks kept for {device_id}: {e}"))
                }
            }
        });
    }

    /// Read every device's kept benchmark runs (off the UI thread) when the
    /// fleet's device count changed since the last read, or a measurement
    /// added runs: the group fit, the comparison and the drag highlight
    /// are calibrated by them.
    pub(super) fn benchmark_runs_step(&mut self) {
        let count = self.state.fleet.entries().len();
        if count == 0 || self.state.benchmark_runs_read_for == Some(count) {
            return;
        }
        self.state.benchmark_runs_read_for = Some(count);
        let devices: Vec<Device> = self.state.fleet.entries().iter().map(|e| e.live_device()).collect();
        let store = self.store.clone();
        self.spawn_bg("benchmark runs", move || {
            let read = lock_store(&store).map_err(|e| e.to_string()).and_then(|s| {
                let mut runs = std::collections::HashMap::new();
                for d in &devices {
                    let kept = stored_runs(&s, d).map_err(|e| e.to_string())?;
                    if !kept.is_empty() {
                        runs.insert(d.device_id.clone(), kept);
                    }
                }
                Ok(runs)
            });
            match read {
                Ok(runs) => BgEvent::BenchmarkRuns(runs),
                Err(e) => BgEvent::Log(LogLevel::Error, format!("cannot read the kept benchmarks: {e}")),
            }
        });
    }

    pub(super) fn apply_benchmark_runs(&mut self, runs: std::collections::HashMap<String, Vec<BenchmarkRun>>) {
        self.state.fleet.set_benchmark_runs(runs);
        // Estimates made before the runs arrived are remade.
        self.state.drag_fits = None;
        if let Some(view) = self.state.group_fit.as_ref() {
            let (card_id, ids) = (view.card_id, view.device_ids());
            if let Some(profile) = self.state.library.get(card_id).and_then(|c| c.profile.clone()) {
                let planning = view.planning;
                let mut fresh = GroupFitView::estimate(card_id, &profile, &ids, &self.state.fleet);
                fresh.planning = planning;
                self.state.group_fit = Some(fresh);
            }
        }
    }

    /// A calibrated estimate arrived: show it if its panel is still open.
    pub(super) fn apply_calibrated_fit(&mut self, c: CalibratedFit) {
        // A measurement may have added runs: read them again.
        self.state.benchmark_runs_read_for = None;
        if let Some(view) = self.state.fit.as_mut()
            && view.card_id == c.card_id
            && view.device_id == c.device_id
        {
            view.set_calibrated(c);
        }
    }

    /// "Measure on device": the fleet's measurement as an engine job; when
    /// it ends the panel shows the calibrated estimate and the measurement.
    fn start_measure(&mut self, card_id: i64, device_id: String) {
        let Some(card) = self.state.library.get(card_id).cloned() else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(path) = card.path.clone() else {
            return self
                .state
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to measure", card.title()));
        };
        let title = format!("Measure {} on {device_id}", card.title());
        let req = MeasureRequest {
            device_id: device_id.clone(),
            model_path: path,
            name: Some(card.name.clone()),
            version: Some(card.version.clone()),
            iterations: DEFAULT_ITERATIONS,
        };
        let ticket = self.bg.ticket("measure");
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let (Some(client), Some(store)) = (ctx.directory.client(&req.device_id), ctx.store.clone()) else {
                    ticket.finish(None);
                    return Err(format!("{} is not reachable from the console", req.device_id));
                };
                let progress_ctx = ctx.clone();
                let progress = move |f: f32, msg: String| progress_ctx.progress(Some(f), msg);
                match measure_on_device(&client, &store, &req, &FitConfig::default(), &progress).await {
                    Ok(outcome) => {
                        let what = if outcome.synthetic { "synthetic (simulated device)" } else { "measured" };
                        let message = format!(
                            "{} batch size(s) {what}; {} run(s) of {} now calibrate this device",
                            outcome.per_batch.len(),
                            outcome.calibration.runs,
                            outcome.calibration.models.join(", ")
                        );
                        let measured_peak_mb = outcome
                            .per_batch
                            .iter()
                            .filter_map(|b| b.measured_peak_mb.map(|mb| (b.batch, mb)))
                            .collect();
                        ticket.finish(Some(BgEvent::CalibratedFit(Box::new(CalibratedFit {
                            card_id,
                            device_id: outcome.device_id.clone(),
                            fit: outcome.fit,
                            calibration: Some(outcome.calibration),
                            measured_peak_mb,
                            measured_memory_source: outcome.memory_source,
                        }))));
                        Ok(message)
                    }
                    Err(e) => {
                        ticket.finish(None);
                        Err(e.to_string())
                    }
                }
            })
        });
        let id = self.engine.start_job(title, run);
        if let Some(fit) = self.state.fit.as_mut() {
            fit.measure_job = Some(id);
        }
    }

    /// Plan a placement of the chosen cards on all devices or the selection
    /// (off the UI thread: calibrations are read from the store).
    fn plan_placement(&mut self, chosen: Vec<(i64, f64)>, selection_only: bool) {
        let mut models = Vec::new();
        for (card_id, priority) in chosen {
            let Some(card) = self.state.library.get(card_id) else { continue };
            let (Some(profile), Some(path)) = (card.profile.clone(), card.path.clone()) else {
                return self.set_plan(Err(format!("{} has no file to deploy: it cannot be placed", card.title())));
            };
            let rate_per_s = self.state.placement.as_ref().map_or(0.0, |v| v.rate_of(card_id));
            models.push(PlanModel {
                name: card.name.clone(),
                version: card.version.clone(),
                path,
                priority,
                profile: ModelProfile { name: card.name.clone(), ..profile },
                rate_per_s,
            });
        }
        let entries: Vec<_> = self
            .state
            .fleet
            .entries()
            .iter()
            .filter(|e| !selection_only || self.state.selection.contains(e.id()))
            .collect();
        let devices: Vec<Device> = entries.iter().map(|e| e.live_device()).collect();
        // What the devices already serve, from their live metrics.
        let base_utilisation =
            entries.iter().map(|e| e.metrics.as_ref().map_or(0.0, edgefleet_fleet::base_utilisation)).collect();
        let view = self.state.placement.as_ref();
        let settings = PlanSettings {
            energy_price_per_kwh: view.map_or(0.0, |v| v.energy_price_per_kwh),
            device_cost_per_hour: entries
                .iter()
                .map(|e| view.and_then(|v| v.device_cost_per_hour.get(e.id()).copied()).unwrap_or(0.0))
                .collect(),
            base_utilisation,
        };
        let store = self.store.clone();
        self.spawn_bg("placement", move || {
            let plan = lock_store(&store).map_err(|e| e.to_string()).and_then(|s| {
                edgefleet_fleet::plan_placement(Some(&s), &models, &devices, &settings, &FitConfig::default())
                    .map_err(|e| e.to_string())
            });
            BgEvent::Placement(plan.map(Box::new))
        });
    }

    /// A plan (or why there is none) for the placement window.
    pub(super) fn set_plan(&mut self, plan: Result<PlacementPlan, String>) {
        if let Some(view) = self.state.placement.as_mut() {
            view.set_plan(plan);
        }
    }

    /// The plan's rollouts ended: the devices it touched run something else
    /// now, so ask them for their models again.
    pub(super) fn placement_job_ended(&mut self, job: JobId) {
        let Some(view) = self.state.placement.as_ref().filter(|v| v.deploy_job == Some(job)) else { return };
        let devices: Vec<String> =
            view.plan.iter().flat_map(|p| p.choices.iter().map(|c| c.device_id.clone())).collect();
        for device_id in devices {
            self.send(Command::RefreshModels { device_id });
        }
        self.refresh_history();
    }

    /// "Deploy this plan": one rollout per placed model, as an engine job.
    fn deploy_placement(&mut self) {
        let Some(plan) = self.state.placement.as_ref().and_then(|v| v.plan.clone()) else { return };
        let store = self.store.clone();
        let title = format!("Deploy a placement of {} model(s)", plan.choices.len());
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let progress_ctx = ctx.clone();
                let progress: ProgressFn =
                    Arc::new(move |p| progress_ctx.progress(None, format!("{}: {}", p.device_id, p.state)));
                let results = deploy_plan(store, ctx.directory.clone(), &plan, RolloutPlan::default(), progress).await;
                let failed: Vec<String> = results
                    .iter()
                    .filter_map(|(m, r)| match r {
                        Ok(o) if o.state == "done" => None,
                        Ok(o) => Some(format!("{m}: {}", o.state)),
                        Err(e) => Some(format!("{m}: {e}")),
                    })
                    .collect();
                if failed.is_empty() {
                    Ok(format!("{} rollout(s) done", results.len()))
                } else {
                    Err(failed.join("; "))
                }
            })
        });
        let id = self.engine.start_job(title, run);
        if let Some(view) = self.state.placement.as_mut() {
            view.deploy_job = Some(id);
        }
    }
}
