//! Where each device is and how to talk to it: a shared, cheaply cloned map
//! from device id to address, token and route (its HTTP API, or commands
//! through the MQTT broker it was found on). The engine keeps one current
//! and hands it to jobs; the CLI and the gateway build one from the store
//! without any engine.

use crate::broker_link::BrokerLink;
use crate::client::AgentClient;
use crate::device_link::DeviceLink;
use crate::model_signing::ModelSigner;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// How the console reaches a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// Its HTTP API, at its address.
    #[default]
    Http,
    /// Commands on its topics through the broker (it was found there; the
    /// console may have no route to its address).
    Broker,
}

/// A device's address, the token to use with it, and the route.
type Endpoint = (SocketAddr, Option<String>, Route);

/// Where each device is and how to talk to it; clones share one map.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<HashMap<String, Endpoint>>>,
    http: Option<reqwest::Client>,
    /// The broker connection devices on [`Route::Broker`] are reached through.
    broker: Arc<RwLock<Option<BrokerLink>>>,
    /// Key fingerprints pinned at pairing: these devices are reached only
    /// over TLS with exactly that key.
    pins: Arc<RwLock<HashMap<String, String>>>,
    /// Signs what this console deploys (see `model_signing`).
    signer: Arc<RwLock<Option<Arc<ModelSigner>>>>,
}

impl Directory {
    /// An empty directory whose clients use `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Directory {
            inner: Arc::default(),
            http: Some(http),
            broker: Arc::default(),
            pins: Arc::default(),
            signer: Arc::default(),
        }
    }

    /// A directory of known endpoints, for callers without an engine (the
    /// CLI builds one from the store).
    pub fn from_entries(
        http: reqwest::Client,
        entries: impl IntoIterator<Item = (String, SocketAddr, Option<String>)>,
    ) -> Self {
        let map = entries.into_iter().map(|(id, addr, token)| (id, (addr, token, Route::Http))).collect();
        Directory {
            inner: Arc::new(RwLock::new(map)),
            http: Some(http),
            broker: Arc::default(),
            pins: Arc::default(),
            signer: Arc::default(),
        }
    }

    /// Add or replace one device's endpoint, keeping its route.
    pub fn insert(&self, device_id: &str, addr: SocketAddr, token: Option<String>) {
        // A poisoned lock means a writer panicked mid-insert; the map itself
        // is still whole, so keep serving it rather than losing the fleet.
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let route = map.get(device_id).map(|e| e.2).unwrap_or_default();
        map.insert(device_id.to_owned(), (addr, token, route));
    }

    /// Add or replace one device's endpoint and route.
    pub fn insert_route(&self, device_id: &str, addr: SocketAddr, token: Option<String>, route: Route) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.insert(device_id.to_owned(), (addr, token, route));
    }

    /// The broker connection [`Route::Broker`] devices are reached through
    /// (`None`: none; those devices are then tried over HTTP).
    pub fn set_broker_link(&self, link: Option<BrokerLink>) {
        *self.broker.write().unwrap_or_else(|e| e.into_inner()) = link;
    }

    /// The broker connection, when one is set.
    pub fn broker_link(&self) -> Option<BrokerLink> {
        self.broker.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How `device_id` is reached, when it is known.
    pub fn route(&self, device_id: &str) -> Option<Route> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).get(device_id).map(|e| e.2)
    }

    /// A client for a known device's HTTP API.
    pub fn client(&self, device_id: &str) -> Option<AgentClient> {
        let http = self.http.clone()?;
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (addr, token, _) = map.get(device_id)?;
        let pins = self.pins.read().unwrap_or_else(|e| e.into_inner());
        let signer = self.signer.read().unwrap_or_else(|e| e.into_inner()).clone();
        Some(
            AgentClient::for_device(http, *addr, pins.get(device_id).map(String::as_str), token.clone())
                .with_signer(signer),
        )
    }

    /// Sign what its clients deploy with `signer`.
    pub fn set_signer(&self, signer: Option<Arc<ModelSigner>>) {
        *self.signer.write().unwrap_or_else(|e| e.into_inner()) = signer;
    }

    /// Pin a device's key: its clients speak TLS and accept only that key.
    pub fn pin(&self, device_id: &str, fingerprint: &str) {
        let mut pins = self.pins.write().unwrap_or_else(|e| e.into_inner());
        pins.insert(device_id.to_owned(), fingerprint.to_owned());
    }

    /// Forget a device's pinned key (unpairing).
    pub fn unpin(&self, device_id: &str) {
        self.pins.write().unwrap_or_else(|e| e.into_inner()).remove(device_id);
    }

    /// The key pinned for a device.
    pub fn pinned(&self, device_id: &str) -> Option<String> {
        self.pins.read().unwrap_or_else(|e| e.into_inner()).get(device_id).cloned()
    }

    /// How to talk to a known device: through the broker when it was found
    /// there and a broker connection is set, else over HTTP.
    pub fn link(&self, device_id: &str) -> Option<DeviceLink> {
        let (route, token) = {
            let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
            let (_, token, route) = map.get(device_id)?;
            (*route, token.clone())
        };
        match (route, self.broker_link()) {
            (Route::Broker, Some(link)) => {
                let signer = self.signer.read().unwrap_or_else(|e| e.into_inner()).clone();
                Some(DeviceLink::broker(link, device_id, token, signer))
            }
            _ => self.client(device_id).map(DeviceLink::Http),
        }
    }

    /// Ids of every known device.
    pub fn device_ids(&self) -> Vec<String> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// The HTTP client its device clients use (none for a default directory).
    pub fn http(&self) -> Option<&reqwest::Client> {
        self.http.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_map() {
        let dir = Directory::new(crate::client::http_client().unwrap());
        let other = dir.clone();
        let addr: SocketAddr = "127.0.0.1:8470".parse().unwrap();
        other.insert("dev-1", addr, Some("t".into()));
        assert_eq!(dir.device_ids(), vec!["dev-1".to_owned()]);
        assert!(dir.client("dev-1").is_some());
        assert!(dir.client("dev-2").is_none());
        assert!(Directory::default().client("dev-1").is_none(), "no http client, no device client");
        dir.pin("dev-1", "ABCD-EFGH");
        assert!(dir.client("dev-1").unwrap().base().starts_with("https://abcdefgh."), "a pinned device is TLS only");
    }
}
