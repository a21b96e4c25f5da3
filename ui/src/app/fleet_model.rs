//! The UI's copy of the fleet: one entry per device with its last metrics,
//! installed models and history ring buffers for the charts, plus the
//! fleet-wide series. Filled from engine events in `app/logic.rs` (or
//! directly, by tests and the frame bench). Version counters let views
//! cache what they derive (sorted rows, map markers).

use edgefleet_core::fit::BenchmarkRun;
use edgefleet_core::wire::{Metrics, ModelEntry};
use edgefleet_core::{Device, DeviceStatus, Fit, FitConfig, ModelProfile};
use edgefleet_fleet::{DeviceSnapshot, calibrated_fit_from_runs};
use egui_plot::PlotPoint;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Samples kept per series: 15 minutes at one sample a second.
pub const HISTORY_CAP: usize = 900;

/// A sliding window of points kept contiguous, so a plot can borrow it as
/// one slice: it holds up to twice `cap` and drops the oldest `cap` at once
/// (amortised O(1) per push, no copy per frame).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesBuffer {
    points: Vec<PlotPoint>,
    cap: usize,
}

impl SeriesBuffer {
    pub fn new(cap: usize) -> Self {
        SeriesBuffer { points: Vec::with_capacity(cap.max(1) * 2), cap: cap.max(1) }
    }

    /// Append a point; `x` must not go backwards (older points are ignored).
    pub fn push(&mut self, x: f64, y: f64) {
        if !(x.is_finite() && y.is_finite()) || self.points.last().is_some_and(|p| p.x > x) {
            return;
        }
        if self.points.len() >= self.cap * 2 {
            self.points.drain(..self.cap);
        }
        self.points.push(PlotPoint::new(x, y));
    }

    /// The newest `cap` points (or fewer), oldest first.
    pub fn points(&self) -> &[PlotPoint] {
        let start = self.points.len().saturating_sub(self.cap);
        &self.points[start..]
    }

    /// The points with `x >= since`.
    pub fn since(&self, since: f64) -> &[PlotPoint] {
        let pts = self.points();
        &pts[pts.partition_point(|p| p.x < since)..]
    }

    pub fn last(&self) -> Option<PlotPoint> {
        self.points.last().copied()
    }

    pub fn len(&self) -> usize {
        self.points().len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The four charted series of one device (or of the whole fleet).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceHistory {
    pub cpu_pct: SeriesBuffer,
    pub mem_pct: SeriesBuffer,
    pub latency_ms: SeriesBuffer,
    pub qps: SeriesBuffer,
}

impl Default for DeviceHistory {
    fn default() -> Self {
        DeviceHistory {
            cpu_pct: SeriesBuffer::new(HISTORY_CAP),
            mem_pct: SeriesBuffer::new(HISTORY_CAP),
            latency_ms: SeriesBuffer::new(HISTORY_CAP),
            qps: SeriesBuffer::new(HISTORY_CAP),
        }
    }
}

/// One device as the UI shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEntry {
    pub device: Device,
    pub addr: Option<SocketAddr>,
    pub paired: bool,
    pub metrics: Option<Metrics>,
    pub models: Vec<ModelEntry>,
    pub history: DeviceHistory,
    /// Round-trip time of the last metrics poll, ms.
    pub rtt_ms: Option<f64>,
    /// The benchmark runs kept for this device (read from the store off the
    /// UI thread): they calibrate every estimate made for it.
    pub benchmark_runs: Vec<BenchmarkRun>,
}

impl DeviceEntry {
    pub fn new(device: Device) -> Self {
        DeviceEntry {
            device,
            addr: None,
            paired: true,
            metrics: None,
            models: Vec::new(),
            history: DeviceHistory::default(),
            rtt_ms: None,
            benchmark_runs: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.device.device_id
    }

    pub fn status(&self) -> DeviceStatus {
        self.device.status
    }

    /// CPU load 0..=1: live when known, else the device's last report.
    pub fn load(&self) -> f32 {
        self.metrics.as_ref().map_or(self.device.current_load, |m| m.cpu_load).clamp(0.0, 1.0) as f32
    }

    /// (used, total) memory in MB.
    pub fn memory_mb(&self) -> (u64, u64) {
        match &self.metrics {
            Some(m) => (m.memory_used_mb, m.memory_total_mb.max(1)),
            None => {
                let total = self.device.memory_mb.max(1);
                (total.saturating_sub(self.device.effective_free_memory_mb()), total)
            }
        }
    }

    /// The active model, `name vversion`.
    pub fn active_model(&self) -> Option<String> {
        self.models.iter().find(|m| m.active).map(|m| format!("{} v{}", m.name, m.version))
    }

    /// The estimate of `profile` here: calibrated by the kept benchmark runs
    /// when there are any (the single-device fit panel's calibration), plain
    /// otherwise. The bool says whether it is calibrated.
    pub fn fit(&self, profile: &ModelProfile, cfg: &FitConfig) -> (Fit, bool) {
        let (fit, cal) = calibrated_fit_from_runs(&self.benchmark_runs, profile, &self.live_device(), cfg);
        (fit, cal.is_some())
    }

    /// The device with its live free memory and storage, for estimates.
    pub fn live_device(&self) -> Device {
        match &self.metrics {
            Some(m) => edgefleet_fleet::with_live_metrics(&self.device, m),
            None => self.device.clone(),
        }
    }
}

/// The fleet as the UI knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetModel {
    entries: Vec<DeviceEntry>,
    index: HashMap<String, usize>,
    pub fleet: DeviceHistory,
    /// Bumped when a device joins or changes status, description or models.
    version: u64,
    /// Bumped on every metrics sample.
    live_version: u64,
    last_fleet_sample_s: f64,
}

impl Default for FleetModel {
    fn default() -> Self {
        FleetModel {
            entries: Vec::new(),
            index: HashMap::new(),
            fleet: DeviceHistory::default(),
            version: 0,
            live_version: 0,
            last_fleet_sample_s: f64::NEG_INFINITY,
        }
    }
}

impl FleetModel {
    pub fn entries(&self) -> &[DeviceEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn live_version(&self) -> u64 {
        self.live_version
    }

    pub fn get(&self, device_id: &str) -> Option<&DeviceEntry> {
        self.index.get(device_id).map(|&i| &self.entries[i])
    }

    /// Keep the benchmark runs read for each device (devices not listed
    /// have none); the estimates made from now on are calibrated by them.
    pub fn set_benchmark_runs(&mut self, mut runs: HashMap<String, Vec<BenchmarkRun>>) {
        for e in &mut self.entries {
            e.benchmark_runs = runs.remove(e.device.device_id.as_str()).unwrap_or_default();
        }
        self.version += 1;
    }

    /// Devices whose estimates are calibrated.
    pub fn calibrated_count(&self) -> usize {
        self.entries.iter().filter(|e| !e.benchmark_runs.is_empty()).count()
    }

    pub fn position(&self, device_id: &str) -> Option<usize> {
        self.index.get(device_id).copied()
    }

    /// Add or replace a device's description. Returns true when it is new.
    pub fn upsert_device(&mut self, device: Device) -> bool {
        self.version += 1;
        match self.index.get(&device.device_id) {
            Some(&i) => {
                self.entries[i].device = device;
                false
            }
            None => {
                self.index.insert(device.device_id.clone(), self.entries.len());
                self.entries.push(DeviceEntry::new(device));
                true
            }
        }
    }

    /// Apply an engine snapshot. Returns true when the device is new.
    pub fn apply_snapshot(&mut self, snap: DeviceSnapshot) -> bool {
        let id = snap.device.device_id.clone();
        let is_new = self.upsert_device(snap.device);
        if let Some(&i) = self.index.get(&id) {
            self.entries[i].addr = Some(snap.addr);
            self.entries[i].paired = snap.paired;
        }
        is_new
    }

    pub fn set_status(&mut self, device_id: &str, status: DeviceStatus) {
        if let Some(&i) = self.index.get(device_id)
            && self.entries[i].device.status != status
        {
            self.entries[i].device.status = status;
            self.version += 1;
        }
    }

    pub fn set_models(&mut self, device_id: &str, models: Vec<ModelEntry>) {
        if let Some(&i) = self.index.get(device_id) {
            self.entries[i].models = models;
            self.version += 1;
        }
    }

    /// Record a metrics sample taken at `t_s` (seconds on the chart clock).
    /// Keep the round-trip time the engine measured on its last poll.
    pub fn set_rtt(&mut self, device_id: &str, rtt_ms: f64) {
        if let Some(&i) = self.index.get(device_id) {
            self.entries[i].rtt_ms = Some(rtt_ms);
        }
    }

    pub fn set_metrics(&mut self, device_id: &str, metrics: Metrics, t_s: f64) {
        let Some(&i) = self.index.get(device_id) else { return };
        let e = &mut self.entries[i];
        let h = &mut e.history;
        h.cpu_pct.push(t_s, metrics.cpu_load * 100.0);
        h.mem_pct.push(t_s, 100.0 * metrics.memory_used_mb as f64 / metrics.memory_total_mb.max(1) as f64);
        if let Some(p50) = busiest_p50_ms(&metrics) {
            h.latency_ms.push(t_s, p50);
        }
        h.qps.push(t_s, metrics.models.iter().map(|m| m.qps).sum());
        e.device.current_load = metrics.cpu_load.clamp(0.0, 1.0);
        e.metrics = Some(metrics);
        self.live_version += 1;
    }

    /// Add one fleet-wide sample (mean CPU and memory, mean latency, total
    /// qps over devices with metrics) at most once a second.
    pub fn sample_fleet(&mut self, t_s: f64) {
        if t_s - self.last_fleet_sample_s < 1.0 {
            return;
        }
        let mut n = 0.0;
        let (mut cpu, mut mem, mut qps, mut lat, mut lat_n) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for e in &self.entries {
            let Some(m) = &e.metrics else { continue };
            if e.device.status == DeviceStatus::Offline {
                continue;
            }
            n += 1.0;
            cpu += m.cpu_load * 100.0;
            mem += 100.0 * m.memory_used_mb as f64 / m.memory_total_mb.max(1) as f64;
            qps += m.models.iter().map(|s| s.qps).sum::<f64>();
            if let Some(p) = busiest_p50_ms(m) {
                lat += p;
                lat_n += 1.0;
            }
        }
        if n == 0.0 {
            return;
        }
        self.last_fleet_sample_s = t_s;
        self.fleet.cpu_pct.push(t_s, cpu / n);
        self.fleet.mem_pct.push(t_s, mem / n);
        self.fleet.qps.push(t_s, qps);
        if lat_n > 0.0 {
            self.fleet.latency_ms.push(t_s, lat / lat_n);
        }
    }

    /// Counts of (online, stale, offline) devices.
    pub fn status_counts(&self) -> (usize, usize, usize) {
        self.entries.iter().fold((0, 0, 0), |(on, st, off), e| match e.device.status {
            DeviceStatus::Online => (on + 1, st, off),
            DeviceStatus::Stale => (on, st + 1, off),
            DeviceStatus::Offline => (on, st, off + 1),
        })
    }
}

/// p50 latency of the model serving the most requests.
fn busiest_p50_ms(m: &Metrics) -> Option<f64> {
    m.models.iter().filter(|s| s.requests > 0).max_by(|a, b| a.qps.total_cmp(&b.qps)).map(|s| s.p50_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::DeviceType;

    #[test]
    fn series_buffer_keeps_the_newest_cap_points_contiguous() {
        let mut b = SeriesBuffer::new(3);
        for i in 0..10 {
            b.push(i as f64, i as f64 * 2.0);
        }
        let xs: Vec<f64> = b.points().iter().map(|p| p.x).collect();
        assert_eq!(xs, vec![7.0, 8.0, 9.0]);
        assert_eq!(b.since(8.5).len(), 1);
        // Time going backwards and NaN are refused, not stored.
        b.push(1.0, 1.0);
        b.push(11.0, f64::NAN);
        assert_eq!(b.last().map(|p| p.x), Some(9.0));
    }

    fn metrics(cpu: f64) -> Metrics {
        Metrics {
            timestamp_ms: 0,
            cpu_load: cpu,
            memory_used_mb: 256,
            memory_total_mb: 1024,
            storage_free_gb: 1.0,
            temperature_c: None,
            battery_percent: None,
            uptime_s: 1,
            models: Vec::new(),
        }
    }

    #[test]
    fn metrics_feed_device_and_fleet_series() {
        let mut f = FleetModel::default();
        assert!(f.upsert_device(Device::new("a", DeviceType::SmartCamera, 4, 1024, 8.0)));
        assert!(f.upsert_device(Device::new("b", DeviceType::IotSensor, 1, 512, 1.0)));
        assert!(!f.upsert_device(Device::new("a", DeviceType::SmartCamera, 4, 1024, 8.0)));
        f.set_metrics("a", metrics(0.5), 1.0);
        f.set_metrics("b", metrics(0.1), 1.0);
        f.set_metrics("nobody", metrics(0.9), 1.0);
        f.sample_fleet(1.0);
        f.sample_fleet(1.5); // too soon: ignored
        assert_eq!(f.fleet.cpu_pct.len(), 1);
        assert!((f.fleet.cpu_pct.points()[0].y - 30.0).abs() < 1e-9);
        let a = f.get("a").unwrap();
        assert_eq!(a.memory_mb(), (256, 1024));
        assert!((a.load() - 0.5).abs() < 1e-6);
        f.set_status("b", DeviceStatus::Offline);
        assert_eq!(f.status_counts(), (1, 0, 1));
    }
}
