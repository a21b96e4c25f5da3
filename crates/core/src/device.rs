//! Devices: the hardware spec and live state of one edge device, and the
//! device JSON format shared by files, the CLI and the agent.
//!
//! The file format keeps the seed's `EdgeDevice` field names (`device_id`,
//! `device_type`, `cpu_cores`, `memory_mb`, …) so existing fleet files load
//! unchanged. Unknown fields are ignored; missing required fields and
//! impossible values are reported by [`Device::from_json`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kind of device; decides plausible specs and model targeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    MobilePhone,
    IotSensor,
    EdgeServer,
    EmbeddedDevice,
    SmartCamera,
    AutonomousVehicle,
}

impl DeviceType {
    /// Every device type, in a stable order.
    pub const ALL: [DeviceType; 6] = [
        DeviceType::MobilePhone,
        DeviceType::IotSensor,
        DeviceType::EdgeServer,
        DeviceType::EmbeddedDevice,
        DeviceType::SmartCamera,
        DeviceType::AutonomousVehicle,
    ];

    /// The wire / file name (`iot_sensor`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::MobilePhone => "mobile_phone",
            DeviceType::IotSensor => "iot_sensor",
            DeviceType::EdgeServer => "edge_server",
            DeviceType::EmbeddedDevice => "embedded_device",
            DeviceType::SmartCamera => "smart_camera",
            DeviceType::AutonomousVehicle => "autonomous_vehicle",
        }
    }

    /// A human label ("IoT sensor").
    pub fn label(self) -> &'static str {
        match self {
            DeviceType::MobilePhone => "Mobile phone",
            DeviceType::IotSensor => "IoT sensor",
            DeviceType::EdgeServer => "Edge server",
            DeviceType::EmbeddedDevice => "Embedded board",
            DeviceType::SmartCamera => "Smart camera",
            DeviceType::AutonomousVehicle => "Autonomous vehicle",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceType {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DeviceError::UnknownDeviceType(s.to_owned()))
    }
}

/// Liveness as seen by the console: heartbeats drive Online → Stale → Offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    #[default]
    Online,
    Stale,
    Offline,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Online => "online",
            DeviceStatus::Stale => "stale",
            DeviceStatus::Offline => "offline",
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceStatus {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(DeviceStatus::Online),
            "stale" => Ok(DeviceStatus::Stale),
            "offline" => Ok(DeviceStatus::Offline),
            other => Err(DeviceError::Invalid { field: "status", reason: format!("unknown status `{other}`") }),
        }
    }
}

/// A point on the map, in degrees (WGS84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// One edge device: hardware spec plus the live state last seen.
///
/// Optional live fields (`free_memory_mb`, `free_storage_gb`, `gflops`, …)
/// are `None` until a device reports them; estimators fall back to the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub device_type: DeviceType,
    pub cpu_cores: u32,
    pub memory_mb: u64,
    pub storage_gb: f64,
    pub network_bandwidth_mbps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_capacity_mah: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Free-form capability tags (`"int8"`, `"fp16"`, `"gpu"`, …).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// CPU load in 0..=1.
    #[serde(default)]
    pub current_load: f64,
    /// Compute speed of the whole device, all cores (GFLOP/s): measured by
    /// the agent's start-up probe, or a simulated device's synthetic figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// GFLOP/s one inference thread reaches (the agent's start-up probe: a
    /// GEMM of inference shape run through its runtime on one thread);
    /// absent on older agents, then `gflops / cpu_cores` is assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gflops_per_thread: Option<f64>,
    /// Fixed cost of one inference call through the runtime, ms, measured
    /// by the start-up probe on a near-empty model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_overhead_ms: Option<f64>,
    /// GB/s at which one inference thread streams a layer's weights (the
    /// probe's batch-1 call of a 4 MiB layer): a small batch costs at least
    /// reading every weight once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_read_gbps: Option<f64>,
    /// Cache per core, KiB (the agent reads its CPU's L2 size): weights
    /// that fit it are read several times faster than the probe's 4 MiB
    /// layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_kb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_memory_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_storage_gb: Option<f64>,
    /// ONNX op types the device's runtime runs; `None` means the default
    /// runtime (tract-onnx), see [`crate::ops::DEFAULT_RUNTIME_OPS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_ops: Option<Vec<String>>,
    /// The inference runtime and its version (`tract 0.23.9`,
    /// `ort 1.32.0`); `None` means the default runtime (tract). The fit's
    /// figures and op checks are for this runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<f64>,
    /// Unix time (ms) of the last heartbeat the console saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_ms: Option<u64>,
    #[serde(default)]
    pub status: DeviceStatus,
    /// True for agents started by `edgefleet-agent simulate`: the hardware
    /// profile is synthetic.
    #[serde(default)]
    pub simulated: bool,
    /// Fingerprint of the device's identity key (`XXXX-XXXX-…`, see the
    /// agent's `device_key`); from an mDNS TXT record only its short form.
    /// `None` for agents without a key (older ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

/// Why a device description was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceError {
    #[error("device JSON is malformed: {0}")]
    Malformed(String),
    #[error(
        "unknown device type `{0}` (expected one of mobile_phone, iot_sensor, edge_server, embedded_device, smart_camera, autonomous_vehicle)"
    )]
    UnknownDeviceType(String),
    #[error("device field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Device {
    /// A device with the given spec and no live state.
    pub fn new(
        device_id: impl Into<String>,
        device_type: DeviceType,
        cpu_cores: u32,
        memory_mb: u64,
        storage_gb: f64,
    ) -> Self {
        Device {
            device_id: device_id.into(),
            name: None,
            device_type,
            cpu_cores,
            memory_mb,
            storage_gb,
            network_bandwidth_mbps: 100.0,
            battery_capacity_mah: None,
            location: None,
            capabilities: Vec::new(),
            current_load: 0.0,
            gflops: None,
            gflops_per_thread: None,
            call_overhead_ms: None,
            weight_read_gbps: None,
            cache_kb: None,
            free_memory_mb: None,
            free_storage_gb: None,
            runtime_ops: None,
            runtime: None,
            battery_percent: None,
            last_heartbeat_ms: None,
            status: DeviceStatus::Online,
            simulated: false,
            key_fingerprint: None,
        }
    }

    /// Parse and validate one device from the device JSON format.
    pub fn from_json(text: &str) -> Result<Device, DeviceError> {
        let device: Device = serde_json::from_str(text).map_err(|e| DeviceError::Malformed(e.to_string()))?;
        device.validate()?;
        Ok(device)
    }

    /// Parse a JSON array of devices (a fleet file); the first bad entry is
    /// reported with its index.
    pub fn list_from_json(text: &str) -> Result<Vec<Device>, DeviceError> {
        let devices: Vec<Device> = serde_json::from_str(text).map_err(|e| DeviceError::Malformed(e.to_string()))?;
        for (i, d) in devices.iter().enumerate() {
            d.validate().map_err(|e| DeviceError::Malformed(format!("device #{i}: {e}")))?;
        }
        Ok(devices)
    }

    /// Check every value is physically possible.
    pub fn validate(&self) -> Result<(), DeviceError> {
        let bad = |field: &'static str, reason: String| Err(DeviceError::Invalid { field, reason });
        if self.device_id.trim().is_empty() {
            return bad("device_id", "must not be empty".into());
        }
        if self.device_id.len() > 128 {
            return bad("device_id", "must be at most 128 characters".into());
        }
        if self.cpu_cores == 0 {
            return bad("cpu_cores", "must be at least 1".into());
        }
        if self.memory_mb == 0 {
            return bad("memory_mb", "must be at least 1".into());
        }
        if !(self.storage_gb.is_finite() && self.storage_gb > 0.0) {
            return bad("storage_gb", format!("must be a positive number, got {}", self.storage_gb));
        }
        if !(self.network_bandwidth_mbps.is_finite() && self.network_bandwidth_mbps > 0.0) {
            return bad(
                "network_bandwidth_mbps",
                format!("must be a positive number, got {}", self.network_bandwidth_mbps),
            );
        }
        if !(self.current_load.is_finite() && (0.0..=1.0).contains(&self.current_load)) {
            return bad("current_load", format!("must be between 0 and 1, got {}", self.current_load));
        }
        if let Some(loc) = self.location {
            if !(loc.latitude.is_finite() && (-90.0..=90.0).contains(&loc.latitude)) {
                return bad("location.latitude", format!("must be between -90 and 90, got {}", loc.latitude));
            }
            if !(loc.longitude.is_finite() && (-180.0..=180.0).contains(&loc.longitude)) {
                return bad("location.longitude", format!("must be between -180 and 180, got {}", loc.longitude));
            }
        }
        if let Some(g) = self.gflops
            && !(g.is_finite() && g > 0.0)
        {
            return bad("gflops", format!("must be a positive number, got {g}"));
        }
        if let Some(g) = self.gflops_per_thread
            && !(g.is_finite() && g > 0.0)
        {
            return bad("gflops_per_thread", format!("must be a positive number, got {g}"));
        }
        if let Some(g) = self.weight_read_gbps
            && !(g.is_finite() && g > 0.0)
        {
            return bad("weight_read_gbps", format!("must be a positive number, got {g}"));
        }
        if let Some(ms) = self.call_overhead_ms
            && !(ms.is_finite() && ms >= 0.0)
        {
            return bad("call_overhead_ms", format!("must be a number ≥ 0, got {ms}"));
        }
        if let Some(free) = self.free_memory_mb
            && free > self.memory_mb
        {
            return bad("free_memory_mb", format!("{free} MB free exceeds the {} MB installed", self.memory_mb));
        }
        if let Some(free) = self.free_storage_gb
            && !(free.is_finite() && free >= 0.0 && free <= self.storage_gb * 1.0001)
        {
            return bad(
                "free_storage_gb",
                format!("must be between 0 and storage_gb ({}), got {free}", self.storage_gb),
            );
        }
        if let Some(b) = self.battery_percent
            && !(b.is_finite() && (0.0..=100.0).contains(&b))
        {
            return bad("battery_percent", format!("must be between 0 and 100, got {b}"));
        }
        Ok(())
    }

    /// The name to show: `name`, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.device_id)
    }

    /// Free memory to plan with: live when known, else the spec.
    pub fn effective_free_memory_mb(&self) -> u64 {
        self.free_memory_mb.unwrap_or(self.memory_mb)
    }

    /// Free storage to plan with: live when known, else the spec.
    pub fn effective_free_storage_gb(&self) -> f64 {
        self.free_storage_gb.unwrap_or(self.storage_gb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{
        "device_id": "cam-01", "device_type": "smart_camera", "cpu_cores": 4,
        "memory_mb": 2048, "storage_gb": 32, "network_bandwidth_mbps": 100,
        "location": {"latitude": 48.85, "longitude": 2.35},
        "capabilities": ["int8"], "current_load": 0.3, "firmware": "ignored"
    }"#;

    #[test]
    fn seed_format_parses_and_ignores_unknown_fields() {
        let d = Device::from_json(SEED).unwrap();
        assert_eq!(d.device_type, DeviceType::SmartCamera);
        assert_eq!(d.memory_mb, 2048);
        assert_eq!(d.effective_free_memory_mb(), 2048);
        assert_eq!(d.status, DeviceStatus::Online);
    }

    #[test]
    fn missing_field_is_a_clear_error() {
        let err = Device::from_json(r#"{"device_id":"x","device_type":"iot_sensor"}"#).unwrap_err();
        assert!(err.to_string().contains("cpu_cores"), "{err}");
    }

    #[test]
    fn impossible_values_are_refused() {
        let lat = SEED.replace("48.85", "200");
        assert!(matches!(Device::from_json(&lat), Err(DeviceError::Invalid { field: "location.latitude", .. })));
        let mem = SEED.replace("2048", "-5");
        assert!(Device::from_json(&mem).is_err());
        let load = SEED.replace("0.3", "1.5");
        assert!(matches!(Device::from_json(&load), Err(DeviceError::Invalid { field: "current_load", .. })));
        let ty = SEED.replace("smart_camera", "toaster");
        assert!(Device::from_json(&ty).unwrap_err().to_string().contains("toaster"));
    }

    #[test]
    fn type_round_trips_through_str() {
        for t in DeviceType::ALL {
            assert_eq!(t.as_str().parse::<DeviceType>().unwrap(), t);
        }
    }
}
