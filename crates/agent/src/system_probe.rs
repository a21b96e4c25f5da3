//! Live numbers of the machine a real agent runs on: CPU load, memory,
//! free storage where the data dir lives, temperature and battery where the
//! OS exposes them.

use crate::error::AgentError;
use edgefleet_core::wire::Metrics;
use std::path::{Path, PathBuf};
use sysinfo::{Components, Disks, System};

const MB: u64 = 1024 * 1024;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// sysinfo handles kept between samples: CPU load is a difference between
/// two refreshes, so the `System` must live as long as the agent.
pub struct SystemProbe {
    sys: System,
    disks: Disks,
    components: Option<Components>,
    data_dir: PathBuf,
}

impl std::fmt::Debug for SystemProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemProbe").field("data_dir", &self.data_dir).finish()
    }
}

impl SystemProbe {
    pub fn new(data_dir: &Path) -> Result<Self, AgentError> {
        let mut sys = System::new().map_err(|e| AgentError::System(e.to_string()))?;
        // The first CPU refresh sets the baseline the next sample diffs against.
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let disks = Disks::new_with_refreshed_list().map_err(|e| AgentError::System(e.to_string()))?;
        // Containers often expose no sensors; temperature is then simply absent.
        let components = Components::new_with_refreshed_list().ok();
        Ok(SystemProbe { sys, disks, components, data_dir: data_dir.to_path_buf() })
    }

    /// Total memory in MB.
    pub fn memory_total_mb(&self) -> u64 {
        self.sys.total_memory() / MB
    }

    /// Size and free space (GB) of the disk holding the data dir.
    pub fn data_disk_gb(&self) -> Option<(f64, f64)> {
        let dir = self.data_dir.canonicalize().unwrap_or_else(|_| self.data_dir.clone());
        self.disks
            .iter()
            .filter(|d| dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map(|d| (d.total_space() as f64 / GB, d.available_space() as f64 / GB))
    }

    /// Take a sample now. CPU load is the average since the previous call.
    pub fn sample(&mut self, uptime_s: u64, timestamp_ms: u64) -> Metrics {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.disks.refresh(false);
        let temperature_c = self.components.as_mut().and_then(|c| {
            c.refresh(false);
            c.iter().filter_map(|c| c.temperature()).filter(|t| t.is_finite()).map(f64::from).reduce(f64::max)
        });
        let total = self.sys.total_memory();
        Metrics {
            timestamp_ms,
            cpu_load: (f64::from(self.sys.global_cpu_usage()) / 100.0).clamp(0.0, 1.0),
            memory_used_mb: total.saturating_sub(self.sys.available_memory()) / MB,
            memory_total_mb: total / MB,
            storage_free_gb: self.data_disk_gb().map(|(_, free)| free).unwrap_or(0.0),
            temperature_c,
            battery_percent: battery_percent(),
            uptime_s,
            models: Vec::new(),
        }
    }
}

/// Battery charge from Linux's power-supply class, when there is a battery.
fn battery_percent() -> Option<f64> {
    let entries = std::fs::read_dir("/sys/class/power_supply").ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = std::fs::read_to_string(path.join("type")).unwrap_or_default();
        if kind.trim() == "Battery"
            && let Ok(capacity) = std::fs::read_to_string(path.join("capacity"))
            && let Ok(percent) = capacity.trim().parse::<f64>()
        {
            return Some(percent.clamp(0.0, 100.0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sample_has_real_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut probe = SystemProbe::new(dir.path()).unwrap();
        let m = probe.sample(1, 0);
        assert!(m.memory_total_mb > 0);
        assert!(m.memory_used_mb <= m.memory_total_mb);
        assert!((0.0..=1.0).contains(&m.cpu_load));
        assert!(m.storage_free_gb > 0.0, "the temp dir is on some disk");
    }
}
