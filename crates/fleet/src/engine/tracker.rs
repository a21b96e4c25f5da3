//! Each device's liveness as a state machine: Online → Stale → Offline as
//! heartbeats (successful polls) stop, Offline at once on an mDNS goodbye,
//! Online again when a heartbeat comes back. Nothing is ever deleted. Pure:
//! no IO and no clock reads — the engine passes the time in — so every rule
//! is tested here. The thresholds themselves are [`LivenessPolicy`]'s.

use crate::liveness::LivenessPolicy;
use edgefleet_core::DeviceStatus;
use std::collections::HashMap;

/// Why a device's status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A heartbeat arrived.
    Heartbeat,
    /// Time passed without one.
    Silence,
    /// The device said goodbye (mDNS).
    Goodbye,
    /// The broker published the device's last will (or its goodbye) on its state topic.
    LastWill,
}

/// One device's status changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub device_id: String,
    pub from: DeviceStatus,
    pub to: DeviceStatus,
    pub cause: Cause,
}

#[derive(Debug, Clone)]
struct Liveness {
    last_heartbeat_ms: Option<u64>,
    /// Offline until the next heartbeat, however recent the last one was.
    said_goodbye: bool,
    status: DeviceStatus,
}

/// The liveness of every known device.
#[derive(Debug, Clone, Default)]
pub struct LivenessTracker {
    policy: LivenessPolicy,
    devices: HashMap<String, Liveness>,
}

impl LivenessTracker {
    pub fn new(policy: LivenessPolicy) -> Self {
        LivenessTracker { policy, devices: HashMap::new() }
    }

    /// New thresholds (the poll interval changed); they apply from the next
    /// [`LivenessTracker::tick`].
    pub fn set_policy(&mut self, policy: LivenessPolicy) {
        self.policy = policy;
    }

    /// Start tracking a device, or take a fresh description of a known one
    /// (a confirmation): its status is `status` now, with no transition
    /// reported, because the caller announces the device itself.
    pub fn track(&mut self, device_id: &str, status: DeviceStatus, last_heartbeat_ms: Option<u64>) {
        let liveness = Liveness { last_heartbeat_ms, said_goodbye: false, status };
        self.devices.insert(device_id.to_owned(), liveness);
    }

    /// A device's status, if it is tracked.
    pub fn status(&self, device_id: &str) -> Option<DeviceStatus> {
        self.devices.get(device_id).map(|l| l.status)
    }

    /// A heartbeat from `device_id` at `now_ms`: it is Online, whatever it
    /// was (a goodbye is forgotten: the device is back).
    pub fn heartbeat(&mut self, device_id: &str, now_ms: u64) -> Option<Transition> {
        let policy = self.policy;
        let l = self.devices.get_mut(device_id)?;
        l.last_heartbeat_ms = Some(now_ms);
        l.said_goodbye = false;
        set_status(device_id, l, policy.status_at(l.last_heartbeat_ms, now_ms), Cause::Heartbeat)
    }

    /// `device_id` said goodbye: Offline at once, and until a heartbeat.
    pub fn goodbye(&mut self, device_id: &str) -> Option<Transition> {
        let l = self.devices.get_mut(device_id)?;
        l.said_goodbye = true;
        set_status(device_id, l, DeviceStatus::Offline, Cause::Goodbye)
    }

    /// Re-evaluate every device at `now_ms`: those silent too long go Stale,
    /// then Offline. The changes, in device id order.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Transition> {
        let policy = self.policy;
        let mut out: Vec<Transition> = self
            .devices
            .iter_mut()
            .filter_map(|(id, l)| {
                let status =
                    if l.said_goodbye { DeviceStatus::Offline } else { policy.status_at(l.last_heartbeat_ms, now_ms) };
                set_status(id, l, status, Cause::Silence)
            })
            .collect();
        out.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        out
    }
}

fn set_status(device_id: &str, l: &mut Liveness, to: DeviceStatus, cause: Cause) -> Option<Transition> {
    let from = std::mem::replace(&mut l.status, to);
    (from != to).then(|| Transition { device_id: device_id.to_owned(), from, to, cause })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceStatus::{Offline, Online, Stale};

    const POLICY: LivenessPolicy = LivenessPolicy { stale_after_ms: 3_000, offline_after_ms: 8_000 };

    fn tracker_with(id: &str, at_ms: u64) -> LivenessTracker {
        let mut t = LivenessTracker::new(POLICY);
        t.track(id, Online, Some(at_ms));
        t
    }

    fn change(id: &str, from: DeviceStatus, to: DeviceStatus, cause: Cause) -> Transition {
        Transition { device_id: id.into(), from, to, cause }
    }

    #[test]
    fn heartbeats_keep_a_device_online() {
        let mut t = tracker_with("a", 0);
        for now in (1_000..60_000).step_by(1_000) {
            assert_eq!(t.heartbeat("a", now), None);
            assert_eq!(t.tick(now + 500), vec![]);
        }
        assert_eq!(t.status("a"), Some(Online));
    }

    #[test]
    fn missed_polls_make_it_stale_then_offline_per_the_policy() {
        let mut t = tracker_with("a", 10_000);
        assert_eq!(t.tick(12_999), vec![]);
        assert_eq!(t.tick(13_000), vec![change("a", Online, Stale, Cause::Silence)]);
        assert_eq!(t.tick(17_999), vec![]);
        assert_eq!(t.tick(18_000), vec![change("a", Stale, Offline, Cause::Silence)]);
        assert_eq!(t.tick(99_000), vec![], "one transition each, not one a tick");
    }

    #[test]
    fn the_policy_follows_the_poll_interval() {
        let mut t = tracker_with("a", 0);
        t.set_policy(LivenessPolicy { stale_after_ms: 100, offline_after_ms: 300 });
        assert_eq!(t.tick(150), vec![change("a", Online, Stale, Cause::Silence)]);
    }

    #[test]
    fn a_goodbye_is_offline_at_once_and_stays_so_until_a_heartbeat() {
        let mut t = tracker_with("a", 10_000);
        assert_eq!(t.goodbye("a"), Some(change("a", Online, Offline, Cause::Goodbye)));
        assert_eq!(t.goodbye("a"), None, "a repeated goodbye changes nothing");
        // The last heartbeat is recent, yet the device stays Offline.
        assert_eq!(t.tick(10_001), vec![]);
        assert_eq!(t.status("a"), Some(Offline));
        assert_eq!(t.heartbeat("a", 10_500), Some(change("a", Offline, Online, Cause::Heartbeat)));
        assert_eq!(t.tick(10_600), vec![]);
    }

    #[test]
    fn a_device_that_comes_back_is_online_and_nothing_is_ever_deleted() {
        let mut t = tracker_with("a", 0);
        t.track("b", Offline, None);
        assert_eq!(t.tick(1_000_000), vec![change("a", Online, Offline, Cause::Silence)]);
        assert_eq!((t.status("a"), t.status("b")), (Some(Offline), Some(Offline)));
        assert_eq!(t.heartbeat("a", 1_000_001), Some(change("a", Offline, Online, Cause::Heartbeat)));
        assert_eq!(t.heartbeat("b", 1_000_001), Some(change("b", Offline, Online, Cause::Heartbeat)));
        // A stale device answering is Online again too.
        assert_eq!(t.tick(1_004_000).len(), 2);
        assert_eq!(t.heartbeat("a", 1_004_001), Some(change("a", Stale, Online, Cause::Heartbeat)));
    }

    #[test]
    fn a_device_never_heard_from_is_offline_and_unknown_ids_are_ignored() {
        let mut t = LivenessTracker::new(POLICY);
        t.track("a", Online, None);
        assert_eq!(t.tick(0), vec![change("a", Online, Offline, Cause::Silence)]);
        assert_eq!(t.heartbeat("nobody", 0), None);
        assert_eq!(t.goodbye("nobody"), None);
        assert_eq!(t.status("nobody"), None);
    }

    #[test]
    fn changes_come_in_device_id_order() {
        let mut t = LivenessTracker::new(POLICY);
        for id in ["c", "a", "b"] {
            t.track(id, Online, Some(0));
        }
        let ids: Vec<String> = t.tick(3_000).into_iter().map(|c| c.device_id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
