//! The hardware description of the machine a real agent runs on.

use crate::error::AgentError;
use crate::system_probe::SystemProbe;
use edgefleet_core::{Device, DeviceType};
use std::path::Path;

/// Describe this machine: cores, memory, the disk holding `data_dir`.
pub fn detect_device(device_id: &str, device_type: DeviceType, data_dir: &Path) -> Result<Device, AgentError> {
    let probe = SystemProbe::new(data_dir)?;
    let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let storage_gb = probe.data_disk_gb().map(|(total, _)| total).filter(|t| *t > 0.0).unwrap_or(1.0);
    let memory_mb = probe.memory_total_mb().max(1);
    let mut device = Device::new(device_id, device_type, cores, memory_mb, (storage_gb * 10.0).round() / 10.0);
    device.capabilities = vec![std::env::consts::ARCH.to_owned()];
    device.cache_kb = l2_cache_kb();
    Ok(device)
}

/// The per-core (L2) cache of CPU 0 in KiB, from Linux's sysfs; `None`
/// where it does not say. The fit estimator reads weights that fit it
/// faster than the probe's 4 MiB layer.
pub fn l2_cache_kb() -> Option<u32> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    (0..8).find_map(|i| {
        let dir = base.join(format!("index{i}"));
        let level = std::fs::read_to_string(dir.join("level")).ok()?;
        let kind = std::fs::read_to_string(dir.join("type")).ok()?;
        if level.trim() != "2" || kind.trim() == "Instruction" {
            return None;
        }
        parse_cache_size(&std::fs::read_to_string(dir.join("size")).ok()?)
    })
}

/// `2048K` / `2M` / `512` (bytes) → KiB.
fn parse_cache_size(text: &str) -> Option<u32> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u32 = digits.parse().ok()?;
    match unit {
        "K" | "k" => Some(n),
        "M" | "m" => n.checked_mul(1024),
        "" => Some(n / 1024),
        _ => None,
    }
}

#[cfg(test)]
mod cache_tests {
    use super::parse_cache_size;

    #[test]
    fn cache_sizes_parse_in_every_unit() {
        assert_eq!(parse_cache_size("2048K\n"), Some(2048));
        assert_eq!(parse_cache_size("2M"), Some(2048));
        assert_eq!(parse_cache_size("524288"), Some(512));
        assert_eq!(parse_cache_size("lots"), None);
    }
}
