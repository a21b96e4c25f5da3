//! Long jobs on the engine's runtime: what a job gets ([`JobContext`]: its
//! id, the device directory, the store, a way to report), and running one
//! from its first progress update to its final Done or Failed.

use super::events::{Event, EventSink, JobId, JobState, JobUpdate, LogLevel};
use crate::directory::Directory;
use edgefleet_store::Store;
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// A long-running job's future: gets a context, ends with a message.
pub type JobFn = Box<dyn FnOnce(JobContext) -> BoxFuture<'static, std::result::Result<String, String>> + Send>;

/// Handed to a job: report progress, reach devices.
#[derive(Clone)]
pub struct JobContext {
    pub id: JobId,
    pub title: String,
    pub directory: Directory,
    pub store: Option<Arc<Mutex<Store>>>,
    sink: EventSink,
}

impl JobContext {
    /// Report progress (0..=1) with a short message.
    pub fn progress(&self, fraction: Option<f32>, message: impl Into<String>) {
        self.sink.send(Event::Job(JobUpdate {
            id: self.id,
            title: self.title.clone(),
            progress: fraction.map(|f| f.clamp(0.0, 1.0)),
            message: message.into(),
            state: JobState::Running,
        }));
    }

    /// Write a line to the event log.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.sink.log(level, message);
    }
}

/// What a job needs from the engine besides its own id, title and code.
pub(crate) struct JobEnv {
    pub directory: Directory,
    pub store: Option<Arc<Mutex<Store>>>,
    pub sink: EventSink,
}

/// Run `run` as job `id` on the current runtime: a "started" update first,
/// then whatever the job reports, then one final update (Done or Failed,
/// progress 1) and a log line with its message.
pub(crate) fn spawn_job(id: JobId, title: String, run: JobFn, env: JobEnv) {
    let JobEnv { directory, store, sink } = env;
    let ctx = JobContext { id, title: title.clone(), directory, store, sink: sink.clone() };
    tokio::spawn(async move {
        ctx.progress(Some(0.0), "started");
        let (state, message) = match run(ctx).await {
            Ok(msg) => (JobState::Done(msg.clone()), msg),
            Err(msg) => (JobState::Failed(msg.clone()), msg),
        };
        let level = if matches!(state, JobState::Failed(_)) { LogLevel::Error } else { LogLevel::Info };
        sink.log(level, format!("{title}: {message}"));
        sink.send(Event::Job(JobUpdate { id, title, progress: Some(1.0), message, state }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn updates(rx: &mpsc::Receiver<Event>) -> Vec<JobUpdate> {
        rx.try_iter()
            .filter_map(|e| match e {
                Event::Job(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_job_reports_start_progress_and_end_under_its_id() {
        let (tx, rx) = mpsc::channel();
        let sink = EventSink::new(tx, Arc::new(|| {}));
        let env = || JobEnv { directory: Directory::default(), store: None, sink: sink.clone() };
        let run: JobFn = Box::new(|ctx: JobContext| {
            Box::pin(async move {
                ctx.progress(Some(2.0), "half");
                Ok("all done".to_owned())
            })
        });
        spawn_job(JobId(7), "same title".into(), run, env());
        // The same title twice: the ids keep the two jobs apart.
        let failing: JobFn = Box::new(|_| Box::pin(async { Err("no".to_owned()) }));
        spawn_job(JobId(8), "same title".into(), failing, env());

        let mut all = Vec::new();
        let ended = |all: &[JobUpdate]| all.iter().filter(|u| u.state != JobState::Running).count() == 2;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !ended(&all) {
            assert!(tokio::time::Instant::now() < deadline, "jobs did not end: {all:?}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            all.extend(updates(&rx));
        }
        let of = |id| all.iter().filter(|u| u.id == JobId(id)).cloned().collect::<Vec<_>>();
        let seven = of(7);
        assert_eq!(seven.first().map(|u| u.message.as_str()), Some("started"));
        assert_eq!(seven[1].progress, Some(1.0), "progress is clamped to 0..=1");
        assert_eq!(seven.last().map(|u| &u.state), Some(&JobState::Done("all done".into())));
        assert_eq!(of(8).last().map(|u| &u.state), Some(&JobState::Failed("no".into())));
    }
}
