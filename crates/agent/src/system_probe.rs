//! Live numbers of the machine a real agent runs on: CPU load, memory,
//! free storage where the data dir lives, temperature and battery where the
//! OS exposes them.
//!
//! CPU load is the load of *other* work: the agent's own CPU time (its
//! start-up probe, benchmarks, inferences) is taken out, because the fit
//! asks how much of the machine a new inference gets, and the agent's own
//! past work does not compete with it.

use crate::error::AgentError;
use edgefleet_core::wire::Metrics;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sysinfo::{Components, Disks, System};

/// Below this interval a CPU figure is mostly noise: the previous one is kept
/// (and the very first sample waits until this much time has passed).
const MIN_CPU_INTERVAL: Duration = Duration::from_millis(250);
/// Linux reports process CPU times in clock ticks of 1/100 s (`USER_HZ`,
/// fixed at 100 on every architecture the kernel exposes to user space).
const TICKS_PER_S: f64 = 100.0;

const MB: u64 = 1024 * 1024;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// sysinfo handles kept between samples: CPU load is a difference between
/// two refreshes, so the `System` must live as long as the agent.
pub struct SystemProbe {
    sys: System,
    disks: Disks,
    components: Option<Components>,
    data_dir: PathBuf,
    /// When the CPU figures were last refreshed, and this process's CPU
    /// seconds then.
    cpu_at: Instant,
    self_cpu_s: Option<f64>,
    /// The last load computed (kept for samples closer than `MIN_CPU_INTERVAL`).
    last_load: Option<f64>,
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
        Ok(SystemProbe {
            sys,
            disks,
            components,
            data_dir: data_dir.to_path_buf(),
            cpu_at: Instant::now(),
            self_cpu_s: self_cpu_seconds(),
            last_load: None,
        })
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
        let cpu_load = self.other_load();
        self.sys.refresh_memory();
        self.disks.refresh(false);
        let temperature_c = self.components.as_mut().and_then(|c| {
            c.refresh(false);
            c.iter().filter_map(|c| c.temperature()).filter(|t| t.is_finite()).map(f64::from).reduce(f64::max)
        });
        let total = self.sys.total_memory();
        Metrics {
            timestamp_ms,
            cpu_load,
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

impl SystemProbe {
    /// CPU load of everything but this process, 0..=1, since the previous
    /// refresh.
    fn other_load(&mut self) -> f64 {
        let since = self.cpu_at.elapsed();
        match self.last_load {
            Some(load) if since < MIN_CPU_INTERVAL => return load,
            // The first sample of a fresh agent waits for a meaningful interval.
            None if since < MIN_CPU_INTERVAL => std::thread::sleep(MIN_CPU_INTERVAL - since),
            _ => {}
        }
        self.sys.refresh_cpu_usage();
        let interval_s = self.cpu_at.elapsed().as_secs_f64().max(1e-3);
        self.cpu_at = Instant::now();
        let global = (f64::from(self.sys.global_cpu_usage()) / 100.0).clamp(0.0, 1.0);
        let now_cpu = self_cpu_seconds();
        let own_s = match (self.self_cpu_s, now_cpu) {
            (Some(before), Some(now)) => now - before,
            _ => 0.0,
        };
        self.self_cpu_s = now_cpu;
        let load = load_of_others(global, own_s, interval_s, self.sys.cpus().len());
        self.last_load = Some(load);
        load
    }
}

/// The machine's load `global` (0..=1 over `cores`) without the `own_s`
/// CPU seconds this process used in `interval_s`.
fn load_of_others(global: f64, own_s: f64, interval_s: f64, cores: usize) -> f64 {
    let own = own_s.max(0.0) / (interval_s.max(1e-3) * cores.max(1) as f64);
    (global - own).clamp(0.0, 1.0)
}

/// CPU seconds (user + system, all threads) this process has used, from
/// `/proc/self/stat`; `None` off Linux.
fn self_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
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

    #[test]
    fn the_agents_own_work_is_not_counted_as_load() {
        // One core of two busy for the whole second with our own work, the
        // machine 60% busy: others use 10%.
        assert!((load_of_others(0.6, 1.0, 1.0, 2) - 0.1).abs() < 1e-12);
        assert_eq!(load_of_others(0.3, 2.0, 1.0, 2), 0.0);
        // Our CPU time is really read from /proc.
        let before = self_cpu_seconds().unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = self_cpu_seconds().unwrap() - before;
        assert!(used > 0.02 && used < 1.0, "{used} CPU s for 0.3 s of spinning");
    }
}
