//! Pinning device keys: at pairing (the fingerprint the user accepted), on
//! the first authenticated contact with a device that has a token but no
//! pin yet (trust on first use, made explicit in the log), and from the
//! store at start. A pin lives in the directory (clients of that device
//! speak TLS with that key only) and in the store.

use super::Engine;
use super::events::LogLevel;
use crate::scan::Found;

impl Engine {
    /// Pin `fingerprint` for `device_id`, in the directory and the store.
    pub(super) fn pin_key(&mut self, device_id: &str, fingerprint: &str) {
        self.directory.pin(device_id, fingerprint);
        if let Some(w) = &self.writer {
            let (id, fp) = (device_id.to_owned(), fingerprint.to_owned());
            w.submit(move |s| s.set_key_fingerprint(&id, &fp));
        }
        self.sink.log(LogLevel::Info, format!("{device_id}: key {fingerprint} pinned"));
    }

    /// At pairing: pin the key the user accepted (if any) and this
    /// console's signing key on the device.
    pub(super) fn pair_keys(&mut self, device_id: &str, fingerprint: Option<&str>, token: &str) {
        if let Some(fp) = fingerprint {
            self.pin_key(device_id, fp);
        }
        self.spawn_trust(device_id, token);
    }

    /// Forget a device's pinned key (unpairing).
    pub(super) fn unpin_key(&mut self, device_id: &str) {
        if self.directory.pinned(device_id).is_none() {
            return;
        }
        self.directory.unpin(device_id);
        if let Some(w) = &self.writer {
            let id = device_id.to_owned();
            w.submit(move |s| s.clear_key_fingerprint(&id));
        }
    }

    /// A device that accepted our token over TLS and has no pin yet gets
    /// the key it proved pinned.
    pub(super) fn pin_on_first_use(&mut self, found: &Found, token: Option<&str>) {
        let id = &found.device.device_id;
        if !found.confirmed || token.is_none() || self.directory.pinned(id).is_some() {
            return;
        }
        if let Some(fp) = found.device.key_fingerprint.clone() {
            self.pin_key(id, &fp);
        }
    }

    /// Pin this console's model-signing key on a device just paired (with
    /// `token`, over its pinned key, or through the broker for a device
    /// found there); the outcome goes to the log.
    pub(super) fn spawn_trust(&self, device_id: &str, token: &str) {
        let Some(link) = self.directory.link(device_id) else { return };
        if self.config.signer.is_none() {
            return;
        }
        let client = link.with_token(Some(token.to_owned()));
        let (sink, id) = (self.sink.clone(), device_id.to_owned());
        tokio::spawn(async move {
            match client.trust(false).await {
                Ok(r) if r.require_signed => sink.log(
                    LogLevel::Info,
                    format!("{id}: pinned this console's key; it now runs only models signed by it"),
                ),
                Ok(_) => {
                    sink.log(LogLevel::Info, format!("{id}: pinned this console's key (it allows unsigned models)"))
                }
                Err(e) => sink.log(LogLevel::Warn, format!("{id}: cannot pin this console's model-signing key: {e}")),
            }
        });
    }

    /// The pins kept in the store.
    pub(super) fn load_pins(&mut self) {
        let Some(store) = self.config.store.clone() else { return };
        let pins = match store.lock() {
            Ok(s) => s.key_fingerprints(),
            Err(_) => {
                return self.sink.log(LogLevel::Error, "the fleet store is unusable: a thread panicked".to_owned());
            }
        };
        match pins {
            Ok(pins) => pins.iter().for_each(|(id, fp)| self.directory.pin(id, fp)),
            Err(e) => self.sink.log(LogLevel::Error, format!("cannot read the pinned device keys: {e}")),
        }
    }
}
