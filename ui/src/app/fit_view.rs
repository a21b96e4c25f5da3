//! An open fit panel: which model on which device, the estimate (plain and,
//! once the device's stored benchmarks are read, calibrated), what was
//! measured, the device's state for the total latency and energy (RTT,
//! request rate), and the jobs started from it (by [`JobId`], so their
//! progress shows there).

use edgefleet_core::fit::DeviceCalibration;
use edgefleet_core::{Device, Fit, FitConfig, ModelProfile, estimate_fit};
use edgefleet_fleet::{JobId, OperatingPoint, operating_point};
use std::collections::BTreeMap;

/// An open fit panel.
#[derive(Debug, Clone, PartialEq)]
pub struct FitView {
    pub card_id: i64,
    pub device_id: String,
    /// The estimate shown: calibrated when the device has benchmarks kept.
    pub fit: Fit,
    /// The plain estimate, shown next to the calibrated one and the
    /// measurement so the difference can be seen.
    pub estimated: Fit,
    /// What the device's kept benchmarks taught (none yet: uncalibrated).
    pub calibration: Option<DeviceCalibration>,
    /// What this model took on the device per batch, MB (from its kept
    /// benchmarks), and how it was measured ("heap" or "RSS").
    pub measured_peak_mb: BTreeMap<u32, f64>,
    pub measured_memory_source: Option<&'static str>,
    pub profile: ModelProfile,
    /// The device as it was last seen (live free memory and load).
    pub device: Device,
    /// The console's last measured round-trip time to the device.
    pub rtt_ms: Option<f64>,
    /// Requests per second for queuing, energy and battery life (starts at
    /// the device's current rate).
    pub request_rate_per_s: f64,
    /// The jobs started from this panel.
    pub optimize_job: Option<JobId>,
    pub deploy_job: Option<JobId>,
    pub measure_job: Option<JobId>,
    pub distill_job: Option<JobId>,
    /// "Optimize for this device" looks for the fastest variant that keeps
    /// the accuracy limit (else the smallest; `edgefleet optimize
    /// --objective latency|size`).
    pub optimize_fastest: bool,
}

impl FitView {
    /// A panel with the plain estimate; [`FitView::set_calibrated`] replaces
    /// it once the device's kept benchmarks are read.
    pub fn new(
        card_id: i64,
        profile: ModelProfile,
        device: Device,
        rtt_ms: Option<f64>,
        request_rate_per_s: f64,
    ) -> FitView {
        let estimated = estimate_fit(&profile, &device, &FitConfig::default());
        FitView {
            card_id,
            device_id: device.device_id.clone(),
            fit: estimated.clone(),
            estimated,
            calibration: None,
            measured_peak_mb: BTreeMap::new(),
            measured_memory_source: None,
            profile,
            device,
            rtt_ms,
            request_rate_per_s,
            optimize_job: None,
            deploy_job: None,
            measure_job: None,
            distill_job: None,
            optimize_fastest: false,
        }
    }

    /// The estimate calibrated from the device's kept benchmarks (or the
    /// plain one again when there are none).
    pub fn set_calibrated(&mut self, c: CalibratedFit) {
        self.fit = c.fit;
        self.calibration = c.calibration;
        self.measured_peak_mb = c.measured_peak_mb;
        self.measured_memory_source = c.measured_memory_source;
    }

    /// True when the figures next to the estimate came from a simulated
    /// device: they follow its synthetic speed and are not measurements.
    pub fn synthetic(&self) -> bool {
        self.calibration.as_ref().is_some_and(|c| c.synthetic) || self.device.simulated
    }

    /// "calibrated from N runs of models X, Y", or why not.
    pub fn calibration_source(&self) -> String {
        match &self.calibration {
            Some(c) => {
                let what = if c.synthetic { "synthetic benchmark runs" } else { "runs" };
                format!("Calibrated from {} {what} of models {}", c.runs, c.models.join(", "))
            }
            None => "Not calibrated: no benchmark kept for this device yet (Measure on device)".to_owned(),
        }
    }

    /// Total latency, energy and battery at the chosen request rate.
    pub fn operating_point(&self) -> Result<OperatingPoint, String> {
        operating_point(
            &self.fit,
            &self.profile,
            &self.device,
            &FitConfig::default(),
            self.rtt_ms,
            self.request_rate_per_s,
        )
        .map_err(|e| e.to_string())
    }

    /// The plain estimate's latency range at a batch size.
    pub fn estimated_at(&self, batch: u32) -> Option<edgefleet_core::fit::Range> {
        self.estimated.at_batch(batch).map(|b| b.latency_ms)
    }
}

/// A calibrated estimate read for an open fit panel (off the UI thread).
#[derive(Debug)]
pub struct CalibratedFit {
    pub card_id: i64,
    pub device_id: String,
    pub fit: Fit,
    pub calibration: Option<DeviceCalibration>,
    /// This model's measured peak memory per batch, MB, and how it was
    /// measured ("heap" or "RSS").
    pub measured_peak_mb: BTreeMap<u32, f64>,
    pub measured_memory_source: Option<&'static str>,
}
