//! Work off the UI thread that is not an engine job: loading the library,
//! imports, reading the deployment history. Each task runs on a thread of
//! its own and answers through one channel, drained once per frame.
//!
//! The busy count is kept by a [`WorkTicket`]: it reports the end of its
//! work when dropped, however the work ends — answered, failed, panicked or
//! never started — so a failing task can never leave the app "busy".

use crate::app::fit_view::CalibratedFit;
use edgefleet_fleet::{LibraryError, LogLevel, PlacementPlan, import_model, lock_store};
use edgefleet_store::{DeploymentRecord, ModelRecord, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

/// Results of background work, answered to the UI thread.
#[derive(Debug)]
pub enum BgEvent {
    Library(Result<Vec<ModelRecord>, LibraryError>),
    ModelAdded(Result<Box<ModelRecord>, LibraryError>),
    ModelRemoved(Result<Box<ModelRecord>, LibraryError>),
    Deployments(Vec<DeploymentRecord>),
    Log(LogLevel, String),
    /// The open fit panel's estimate, calibrated from the kept benchmarks.
    CalibratedFit(Box<CalibratedFit>),
    /// A placement plan, or why there is none.
    Placement(Result<Box<PlacementPlan>, String>),
    /// The benchmark runs kept per device (they calibrate its estimates).
    BenchmarkRuns(std::collections::HashMap<String, Vec<edgefleet_core::fit::BenchmarkRun>>),
    /// Something the user asked for failed: a toast as well as a log line.
    Toast(String),
}

/// What travels on the channel: answers, and the end of each task.
enum BgMessage {
    Event(BgEvent),
    Ended { name: String, answered: bool },
}

/// Wakes the UI from other threads once it has a context.
#[derive(Clone, Default)]
pub struct Notifier(Arc<OnceLock<egui::Context>>);

impl Notifier {
    /// Remember the context to wake (the first one given stays).
    pub fn set_context(&self, ctx: &egui::Context) {
        let _ = self.0.get_or_init(|| ctx.clone());
    }

    pub fn notify(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint();
        }
    }
}

/// One task in flight. Dropping it tells the app the task ended; a ticket
/// dropped without [`WorkTicket::finish`] (a panic, a job the engine never
/// ran) is reported as an error.
pub struct WorkTicket {
    tx: mpsc::Sender<BgMessage>,
    notifier: Notifier,
    name: String,
    answered: bool,
}

impl WorkTicket {
    /// The task's answer (if it has one for the app); ends the task.
    pub fn finish(mut self, event: Option<BgEvent>) {
        if let Some(event) = event {
            // The receiver gone means the app closed: nobody to tell.
            let _ = self.tx.send(BgMessage::Event(event));
        }
        self.answered = true;
    }
}

impl Drop for WorkTicket {
    fn drop(&mut self) {
        let _ = self.tx.send(BgMessage::Ended { name: std::mem::take(&mut self.name), answered: self.answered });
        self.notifier.notify();
    }
}

/// The background tasks of one app.
pub struct Background {
    tx: mpsc::Sender<BgMessage>,
    rx: mpsc::Receiver<BgMessage>,
    notifier: Notifier,
    in_flight: usize,
}

impl Background {
    pub fn new(notifier: Notifier) -> Self {
        let (tx, rx) = mpsc::channel();
        Background { tx, rx, notifier, in_flight: 0 }
    }

    /// Whether any task is still running.
    pub fn busy(&self) -> bool {
        self.in_flight > 0
    }

    /// A ticket for work that runs elsewhere (an engine job): the app counts
    /// as busy until the ticket is finished or dropped.
    pub fn ticket(&mut self, name: &str) -> WorkTicket {
        self.in_flight += 1;
        WorkTicket { tx: self.tx.clone(), notifier: self.notifier.clone(), name: name.to_owned(), answered: false }
    }

    /// Run `work` on a thread of its own; its answer arrives in [`Background::drain`].
    pub fn spawn(&mut self, name: &str, work: impl FnOnce() -> BgEvent + Send + 'static) -> std::io::Result<()> {
        let (tx, notifier, task) = (self.tx.clone(), self.notifier.clone(), name.to_owned());
        std::thread::Builder::new().name(format!("edgefleet-{name}")).spawn(move || {
            // Made on the thread: if the thread never starts, no end is reported
            // for a task that was never counted.
            let ticket = WorkTicket { tx, notifier, name: task, answered: false };
            let event = work();
            ticket.finish(Some(event));
        })?;
        self.in_flight += 1;
        Ok(())
    }

    /// The answers that arrived, plus an error for each task that ended
    /// without one.
    pub fn drain(&mut self) -> Vec<BgEvent> {
        let mut events = Vec::new();
        while let Ok(message) = self.rx.try_recv() {
            match message {
                BgMessage::Event(event) => events.push(event),
                BgMessage::Ended { name, answered } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    if !answered {
                        events.push(BgEvent::Log(
                            LogLevel::Error,
                            format!("background work ({name}) stopped without an answer"),
                        ));
                    }
                }
            }
        }
        events
    }
}

/// The library from the registry; an empty one is seeded with the demo
/// models found in `seed_dir`.
pub fn load_library(store: &Mutex<Store>, seed_dir: Option<&Path>) -> BgEvent {
    let result = (|| {
        let existing = lock_store(store)?.list_models()?;
        let Some(dir) = seed_dir.filter(|_| existing.is_empty()) else { return Ok(existing) };
        for name in ["mlp_digits.onnx", "cnn_digits.onnx"] {
            let path = dir.join(name);
            if path.is_file() {
                import_model(store, &path)?;
            }
        }
        Ok(lock_store(store)?.list_models()?)
    })();
    BgEvent::Library(result)
}

/// Import one ONNX file into the library.
pub fn import(store: &Mutex<Store>, path: PathBuf) -> BgEvent {
    BgEvent::ModelAdded(import_model(store, &path).map(Box::new))
}

/// Deployments from the registry: the newest 50, oldest first.
pub fn deployment_history(store: &Mutex<Store>) -> BgEvent {
    match lock_store(store).and_then(|s| Ok(s.list_deployments()?)) {
        Ok(mut list) => {
            list.truncate(50);
            list.reverse();
            BgEvent::Deployments(list)
        }
        Err(e) => BgEvent::Log(LogLevel::Warn, format!("cannot read the deployment history: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Drain until idle (or fail after a few seconds).
    fn drain_until_idle(bg: &mut Background) -> Vec<BgEvent> {
        let start = Instant::now();
        let mut events = Vec::new();
        while bg.busy() {
            assert!(start.elapsed() < Duration::from_secs(10), "background work never ended");
            events.extend(bg.drain());
            std::thread::sleep(Duration::from_millis(5));
        }
        events
    }

    #[test]
    fn an_answer_arrives_and_the_app_is_idle_again() {
        let mut bg = Background::new(Notifier::default());
        bg.spawn("ok", || BgEvent::Log(LogLevel::Info, "done".into())).unwrap();
        assert!(bg.busy());
        let events = drain_until_idle(&mut bg);
        assert!(matches!(events.as_slice(), [BgEvent::Log(LogLevel::Info, m)] if m == "done"));
    }

    #[test]
    fn a_panicking_task_still_ends_and_is_reported() {
        let mut bg = Background::new(Notifier::default());
        bg.spawn("boom", || panic!("deliberate test panic")).unwrap();
        let events = drain_until_idle(&mut bg);
        assert!(!bg.busy());
        assert!(matches!(events.as_slice(), [BgEvent::Log(LogLevel::Error, m)] if m.contains("boom")), "{events:?}");
    }

    #[test]
    fn a_ticket_dropped_unfinished_ends_the_work_too() {
        let mut bg = Background::new(Notifier::default());
        let ticket = bg.ticket("job");
        assert!(bg.busy());
        drop(ticket);
        assert_eq!(drain_until_idle(&mut bg).len(), 1);
        bg.ticket("job").finish(None);
        assert!(drain_until_idle(&mut bg).is_empty(), "a finished ticket reports nothing");
    }
}
