//! "Distill for this device" in the fit panel: an engine job over
//! `fleet::distill::distill_for_device` (what `edgefleet distill --search
//! --device-id ID` runs), trained on the model's evaluation data, with a
//! Cancel that stops training at its next epoch and writes nothing.

use crate::app::App;
use crate::app::background::BgEvent;
use edgefleet_fleet::distill::{DistillJobError, ForDevice, distill_for_device};
use edgefleet_fleet::{JobFn, JobId, LogLevel};
use edgefleet_optimize::distill::{DEFAULT_SEARCH_BUDGET, DistillError, Progress, Stage};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

impl App {
    /// Search for a small student of the model that fits the device.
    pub(super) fn start_distill(&mut self, card_id: i64, device_id: &str) {
        let Some(card) = self.state.library.get(card_id).cloned() else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(teacher_path) = card.path.clone() else {
            return self
                .state
                .report(LogLevel::Warn, format!("{} is a profile only: there is no teacher to distill", card.title()));
        };
        let Some(entry) = self.state.fleet.get(device_id) else {
            return self.state.report(LogLevel::Warn, format!("{device_id} is no longer known"));
        };
        let Some(data) =
            self.state.eval_data.get(&card.name).map(|p| p.trim()).filter(|p| !p.is_empty()).map(PathBuf::from)
        else {
            return self.state.report(
                LogLevel::Warn,
                format!(
                    "{}: give evaluation data (labelled rows) in the fit panel first: the student learns on them",
                    card.title()
                ),
            );
        };
        let device = entry.live_device();
        let title = format!("Distill {} for {device_id}", card.title());
        let (out_dir, store, ticket) = (self.variants_dir(), self.store.clone(), self.bg.ticket("distill"));
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let work = move || {
                    let mut progress = |p: &Progress| ctx.progress(Some(p.fraction as f32), progress_line(p));
                    let job = ForDevice {
                        teacher_path: &teacher_path,
                        device: &device,
                        data_path: &data,
                        out_dir: &out_dir,
                        time_budget: DEFAULT_SEARCH_BUDGET,
                    };
                    distill_for_device(&store, &job, &flag, &mut progress)
                };
                match tokio::task::spawn_blocking(work).await {
                    Ok(Ok((student, report))) => {
                        let message = format!(
                            "made {} v{} ({}, agreement {:.1}%)",
                            student.name,
                            student.version,
                            report.recipe.summary(),
                            report.agreement.value * 100.0
                        );
                        ticket.finish(Some(BgEvent::ModelAdded(Ok(Box::new(student)))));
                        Ok(message)
                    }
                    Ok(Err(DistillJobError::Distill(DistillError::Cancelled))) => {
                        ticket.finish(None);
                        Err("cancelled: nothing written".to_owned())
                    }
                    Ok(Err(e)) => {
                        ticket.finish(None);
                        Err(e.to_string())
                    }
                    Err(e) => {
                        ticket.finish(None);
                        Err(format!("the distiller crashed: {e}"))
                    }
                }
            })
        });
        let id = self.engine.start_job(title, run);
        self.cancels.insert(id, cancel);
        if let Some(fit) = self.state.fit.as_mut() {
            fit.distill_job = Some(id);
        }
    }

    /// Ask a cancellable job to stop at its next check.
    pub(super) fn cancel_job(&mut self, id: JobId) {
        if let Some(flag) = self.cancels.get(&id) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Forget cancel flags of jobs that have ended.
    pub(super) fn forget_cancel(&mut self, id: JobId) {
        self.cancels.remove(&id);
    }
}

/// One line of progress: the stage, the candidate and the best so far.
fn progress_line(p: &Progress) -> String {
    let what = match p.stage {
        Stage::Teacher => "running the teacher".to_owned(),
        Stage::Screening | Stage::Measuring => format!("measuring {}", p.arch),
        Stage::Training => format!("training {} (epoch {})", p.arch, p.epoch),
        Stage::Int8 => "int8".to_owned(),
        Stage::Done => "done".to_owned(),
    };
    let candidate = p.candidate.map(|(k, n)| format!("candidate {k}/{n}: ")).unwrap_or_default();
    let best = p.best.as_ref().map(|(a, g)| format!(" — best so far {a}, {:.1}%", g * 100.0)).unwrap_or_default();
    format!("{candidate}{what}{best}")
}
