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
    Ok(device)
}
