//! Where each device is and how to talk to it: a shared, cheaply cloned map
//! from device id to address and token. The engine keeps one current and
//! hands it to jobs; the CLI and the gateway build one from the store
//! without any engine.

use crate::client::AgentClient;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// A device's address and the token to use with it.
type Endpoint = (SocketAddr, Option<String>);

/// Where each device is and how to talk to it; clones share one map.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<HashMap<String, Endpoint>>>,
    http: Option<reqwest::Client>,
}

impl Directory {
    /// An empty directory whose clients use `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Directory { inner: Arc::default(), http: Some(http) }
    }

    /// A directory of known endpoints, for callers without an engine (the
    /// CLI builds one from the store).
    pub fn from_entries(
        http: reqwest::Client,
        entries: impl IntoIterator<Item = (String, SocketAddr, Option<String>)>,
    ) -> Self {
        let map = entries.into_iter().map(|(id, addr, token)| (id, (addr, token))).collect();
        Directory { inner: Arc::new(RwLock::new(map)), http: Some(http) }
    }

    /// Add or replace one device's endpoint.
    pub fn insert(&self, device_id: &str, addr: SocketAddr, token: Option<String>) {
        // A poisoned lock means a writer panicked mid-insert; the map itself
        // is still whole, so keep serving it rather than losing the fleet.
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.insert(device_id.to_owned(), (addr, token));
    }

    /// A client for a known device.
    pub fn client(&self, device_id: &str) -> Option<AgentClient> {
        let http = self.http.clone()?;
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (addr, token) = map.get(device_id)?;
        Some(AgentClient::new(http, *addr, token.clone()))
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
        let dir = Directory::new(reqwest::Client::new());
        let other = dir.clone();
        let addr: SocketAddr = "127.0.0.1:8470".parse().unwrap();
        other.insert("dev-1", addr, Some("t".into()));
        assert_eq!(dir.device_ids(), vec!["dev-1".to_owned()]);
        assert!(dir.client("dev-1").is_some());
        assert!(dir.client("dev-2").is_none());
        assert!(Directory::default().client("dev-1").is_none(), "no http client, no device client");
    }
}
