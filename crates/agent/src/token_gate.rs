//! The state of one agent's token check: the SHA-256 of the token (the
//! token itself is never kept), where a rotated token's hash goes, and the
//! wrong tokens seen per peer address. Compared in constant time.
//!
//! Only *different* wrong tokens count: guessing needs new guesses, while a
//! console that keeps presenting the one token it has (a lab-wide token
//! tried on a device paired otherwise, another console on the same host)
//! must not lock everyone on its address out.

use crate::identity::token_sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Different wrong tokens one peer address may present per window before
/// it is refused unchecked, by default.
pub const MAX_FAILURES_PER_WINDOW: u32 = 10;
/// The window failed attempts are counted over.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Peers tracked at most; beyond, expired windows are dropped first.
const MAX_TRACKED_PEERS: usize = 4096;

#[derive(Debug, Clone)]
struct FailWindow {
    started: Instant,
    /// Prefixes of the SHA-256 of the different wrong tokens seen.
    wrong: Vec<[u8; 8]>,
}

/// The token check of one agent.
#[derive(Debug)]
pub(crate) struct TokenGate {
    hash: RwLock<[u8; 32]>,
    /// The data dir a rotated token's hash is written to; `None` when the
    /// token came from the command line (its owner changes it there).
    rotate_into: Option<PathBuf>,
    /// Different wrong tokens a peer may present per window.
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, FailWindow>>,
    /// Numbers the failures recorded without a token hash.
    anonymous: std::sync::atomic::AtomicU64,
}

impl TokenGate {
    pub fn new(hash: [u8; 32], rotate_into: Option<PathBuf>, max_failures: u32) -> TokenGate {
        TokenGate {
            hash: RwLock::new(hash),
            rotate_into,
            max_failures,
            failures: Mutex::new(HashMap::new()),
            anonymous: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether `presented` is the token.
    pub fn matches(&self, presented: &str) -> bool {
        self.check(presented).0
    }

    /// Whether `presented` is the token; its hash comes back for
    /// [`Self::record_wrong_token`].
    pub fn check(&self, presented: &str) -> (bool, [u8; 32]) {
        let want = match self.hash.read() {
            Ok(h) => *h,
            Err(poisoned) => *poisoned.into_inner(),
        };
        let got = token_sha256(presented);
        (constant_time_eq(&got, &want), got)
    }

    /// Failed attempts a peer may make per window.
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// Where a rotated token's hash is stored; `None`: rotation is refused.
    pub fn rotate_into(&self) -> Option<&Path> {
        self.rotate_into.as_deref()
    }

    /// Check against `hash` from now on.
    pub fn replace(&self, hash: [u8; 32]) {
        match self.hash.write() {
            Ok(mut h) => *h = hash,
            Err(poisoned) => *poisoned.into_inner() = hash,
        }
    }

    /// True when `peer` has used up its failed attempts for this window.
    pub fn blocked(&self, peer: IpAddr) -> bool {
        let Ok(map) = self.failures.lock() else { return false };
        map.get(&peer)
            .is_some_and(|w| w.started.elapsed() < FAILURE_WINDOW && w.wrong.len() >= self.max_failures as usize)
    }

    /// Count a failed attempt of `peer` whose token is not known here (each
    /// call counts, as if a different token).
    pub fn record_failure(&self, peer: IpAddr) {
        let n = self.anonymous.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pseudo = [0xffu8; 32];
        pseudo[..8].copy_from_slice(&n.to_le_bytes());
        self.record_wrong_token(peer, &pseudo);
    }

    /// Count the wrong token whose SHA-256 is `presented` against `peer`
    /// (once per different token and window).
    pub fn record_wrong_token(&self, peer: IpAddr, presented: &[u8; 32]) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= MAX_TRACKED_PEERS && !map.contains_key(&peer) {
            map.retain(|_, w| w.started.elapsed() < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED_PEERS {
                // Thousands of peers failing at once: forget the oldest rather than grow.
                if let Some(oldest) = map.iter().min_by_key(|(_, w)| w.started).map(|(ip, _)| *ip) {
                    map.remove(&oldest);
                }
            }
        }
        let now = Instant::now();
        let w = map.entry(peer).or_insert_with(|| FailWindow { started: now, wrong: Vec::new() });
        if w.started.elapsed() >= FAILURE_WINDOW {
            *w = FailWindow { started: now, wrong: Vec::new() };
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&presented[..8]);
        if !w.wrong.contains(&prefix) && w.wrong.len() < self.max_failures as usize {
            w.wrong.push(prefix);
        }
    }
}

/// Compare without an early exit on the first differing byte. Only the
/// length can leak, and hashes have a fixed length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn a_peer_is_blocked_after_its_different_wrong_tokens_and_others_are_not() {
        let gate = TokenGate::new(token_sha256("right"), None, MAX_FAILURES_PER_WINDOW);
        assert!(gate.check("right").0 && !gate.check("wrong").0);
        let (bad, good) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        // The same wrong token again and again counts once.
        for _ in 0..100 {
            gate.record_wrong_token(good, &token_sha256("a lab-wide token"));
        }
        assert!(!gate.blocked(good));
        for i in 0..MAX_FAILURES_PER_WINDOW - 1 {
            gate.record_wrong_token(bad, &token_sha256(&format!("guess {i}")));
        }
        assert!(!gate.blocked(bad));
        gate.record_wrong_token(bad, &token_sha256("one guess too many"));
        assert!(gate.blocked(bad));
        assert!(!gate.blocked(good));
    }
}
