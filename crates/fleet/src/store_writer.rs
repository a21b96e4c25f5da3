//! Store writes off the async runtime: a thread that applies queued writes
//! to the shared [`Store`], so telemetry from hundreds of devices never
//! blocks the engine's workers on SQLite.

use edgefleet_store::{Store, StoreError};
use std::sync::{Arc, Mutex, mpsc};

type Write = Box<dyn FnOnce(&Store) -> Result<(), StoreError> + Send>;

/// Queue of writes applied in order by a background thread.
pub struct StoreWriter {
    tx: mpsc::Sender<Write>,
}

impl StoreWriter {
    pub fn start(store: Arc<Mutex<Store>>) -> StoreWriter {
        let (tx, rx) = mpsc::channel::<Write>();
        // The thread ends when every sender is dropped.
        let spawned = std::thread::Builder::new().name("edgefleet-store".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let Ok(store) = store.lock() else {
                    tracing::error!("store lock poisoned; dropping writes");
                    return;
                };
                // Apply everything queued so far under one lock.
                for w in std::iter::once(first).chain(rx.try_iter()) {
                    if let Err(e) = w(&store) {
                        tracing::error!("store write failed: {e}");
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the store thread: {e}; writes will be dropped");
        }
        StoreWriter { tx }
    }

    /// Queue a write.
    pub fn submit(&self, write: impl FnOnce(&Store) -> Result<(), StoreError> + Send + 'static) {
        if self.tx.send(Box::new(write)).is_err() {
            tracing::error!("store thread is gone; a write was dropped");
        }
    }
}
