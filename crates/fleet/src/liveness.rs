//! Heartbeat liveness: Online → Stale → Offline as heartbeats are missed.
//! Nothing is ever deleted; a device that answers again is Online again.

use edgefleet_core::DeviceStatus;

/// How long without a heartbeat makes a device Stale, then Offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessPolicy {
    pub stale_after_ms: u64,
    pub offline_after_ms: u64,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        LivenessPolicy { stale_after_ms: 5_000, offline_after_ms: 15_000 }
    }
}

impl LivenessPolicy {
    /// A policy scaled to the poll interval: stale after 3 missed polls,
    /// offline after 8 (at least 2 s / 5 s, so a jittery LAN does not flap).
    pub fn for_poll_interval(poll_ms: u64) -> Self {
        LivenessPolicy { stale_after_ms: (poll_ms * 3).max(2_000), offline_after_ms: (poll_ms * 8).max(5_000) }
    }

    /// Status of a device last heard from at `last_heartbeat_ms`.
    pub fn status_at(&self, last_heartbeat_ms: Option<u64>, now_ms: u64) -> DeviceStatus {
        match last_heartbeat_ms {
            None => DeviceStatus::Offline,
            Some(last) => {
                let silent = now_ms.saturating_sub(last);
                if silent >= self.offline_after_ms {
                    DeviceStatus::Offline
                } else if silent >= self.stale_after_ms {
                    DeviceStatus::Stale
                } else {
                    DeviceStatus::Online
                }
            }
        }
    }
}

/// Unix time now, in milliseconds (one clock for the whole project).
pub use edgefleet_core::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_drive_status() {
        let p = LivenessPolicy { stale_after_ms: 100, offline_after_ms: 300 };
        assert_eq!(p.status_at(Some(1_000), 1_050), DeviceStatus::Online);
        assert_eq!(p.status_at(Some(1_000), 1_100), DeviceStatus::Stale);
        assert_eq!(p.status_at(Some(1_000), 1_300), DeviceStatus::Offline);
        assert_eq!(p.status_at(None, 1_000), DeviceStatus::Offline);
        // A clock that went backwards counts as just heard.
        assert_eq!(p.status_at(Some(2_000), 1_000), DeviceStatus::Online);
    }
}
