//! The engine's mDNS browse as a task that can be stopped and started again
//! (on other interfaces, or after mDNS was turned off) while the engine and
//! its known devices carry on.

use super::events::{EventSink, LogLevel};
use crate::discovery::{BrowseEvent, Browser};
use crate::error::Result;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running browse: forwards what it hears to the engine's loop.
pub(super) struct BrowseTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl BrowseTask {
    /// Browse on `interfaces` (all when empty), handing each event to
    /// `forward`; errors that end the browse go to the event log.
    pub(super) fn start(
        interfaces: &[String],
        forward: impl Fn(BrowseEvent) + Send + 'static,
        sink: EventSink,
    ) -> Result<Self> {
        let browser = Browser::start(interfaces)?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    ev = browser.next(Duration::from_secs(3600)) => match ev {
                        Ok(Some(e)) => forward(e),
                        Ok(None) => {}
                        Err(e) => { sink.log(LogLevel::Error, format!("mDNS browse stopped: {e}")); break; }
                    }
                }
            }
            browser.shutdown();
        });
        Ok(BrowseTask { stop, task })
    }

    /// Stop browsing and wait until the mDNS daemon is told to shut down.
    pub(super) async fn stop(self) {
        // Either side gone means the task has already ended.
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
