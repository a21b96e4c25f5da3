//! Energy per inference and battery life.
//!
//! energy per inference = compute power × compute time
//!                      + radio energy per byte × bytes sent and received
//!                      + idle power × the time between inferences (idle share)
//!
//! battery life (h) = capacity (mAh × V / 1000 = Wh) / average power (W),
//! with average power = energy per inference × inference rate.
//!
//! Units: W × ms = mJ, which is why most figures here are in mJ and ms.

use crate::device::DeviceType;
use serde::{Deserialize, Serialize};

/// Power figures of one kind of device.
///
/// `compute_w` is the power drawn *above idle* while the CPU runs inference
/// flat out; `idle_w` is drawn all the time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerProfile {
    pub idle_w: f64,
    pub compute_w: f64,
    /// Radio energy per byte sent or received, in nanojoules.
    pub radio_nj_per_byte: f64,
    /// Nominal battery voltage (for mAh → Wh).
    pub battery_voltage_v: f64,
}

/// The default power figure per device type. Order-of-magnitude values for
/// typical hardware of each kind; replace them with measurements when you
/// have them (they are plain data in [`crate::fit::FitConfig`]).
///
/// | type | idle W | compute W | radio nJ/B | battery V | typical part, link |
/// |---|---|---|---|---|---|
/// | mobile_phone | 0.3 | 2.5 | 600 | 3.85 | phone SoC big cores; LTE ≈ 1 W at ≈ 13 Mbit/s |
/// | iot_sensor | 0.02 | 0.25 | 2000 | 3.7 | Cortex-M/ESP32-class MCU; 802.15.4/BLE ≈ 60 mW at 250 kbit/s |
/// | edge_server | 60 | 150 | 10 | 12 | x86 server; wired Ethernet |
/// | embedded_device | 2.5 | 4.0 | 150 | 5 | Raspberry-Pi-class board; Wi-Fi ≈ 1 W at 50 Mbit/s |
/// | smart_camera | 3.0 | 4.0 | 150 | 12 | camera SoC; Wi-Fi |
/// | autonomous_vehicle | 15 | 45 | 100 | 12 | Jetson-class compute; automotive Ethernet/5G |
pub const fn default_power_profile(device_type: DeviceType) -> PowerProfile {
    let (idle_w, compute_w, radio_nj_per_byte, battery_voltage_v) = match device_type {
        DeviceType::MobilePhone => (0.3, 2.5, 600.0, 3.85),
        DeviceType::IotSensor => (0.02, 0.25, 2000.0, 3.7),
        DeviceType::EdgeServer => (60.0, 150.0, 10.0, 12.0),
        DeviceType::EmbeddedDevice => (2.5, 4.0, 150.0, 5.0),
        DeviceType::SmartCamera => (3.0, 4.0, 150.0, 12.0),
        DeviceType::AutonomousVehicle => (15.0, 45.0, 100.0, 12.0),
    };
    PowerProfile { idle_w, compute_w, radio_nj_per_byte, battery_voltage_v }
}

/// Power figures for every device type, indexed like [`DeviceType::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerTable(pub [PowerProfile; 6]);

impl Default for PowerTable {
    fn default() -> Self {
        PowerTable(DeviceType::ALL.map(default_power_profile))
    }
}

impl PowerTable {
    pub fn get(&self, device_type: DeviceType) -> PowerProfile {
        self.0[device_type as usize]
    }
}

/// Why an energy figure cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnergyError {
    #[error("`{field}` must be a finite number ≥ 0, got {value}")]
    Negative { field: &'static str, value: f64 },
    #[error("`{field}` must be a finite number > 0, got {value}")]
    NotPositive { field: &'static str, value: f64 },
}

/// One inference workload on one device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyInputs {
    /// Compute time of one inference.
    pub compute_ms: f64,
    /// Bytes sent plus received over the radio per inference.
    pub radio_bytes: f64,
    /// Inferences per second on average (sets the idle share).
    pub inferences_per_s: f64,
}

/// Energy of one inference, split by where it goes (all mJ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    pub compute_mj: f64,
    pub radio_mj: f64,
    pub idle_share_mj: f64,
    pub total_mj: f64,
    /// Average power drawn at this inference rate.
    pub average_power_w: f64,
}

fn non_negative(field: &'static str, value: f64) -> Result<f64, EnergyError> {
    if value.is_finite() && value >= 0.0 { Ok(value) } else { Err(EnergyError::Negative { field, value }) }
}

fn positive(field: &'static str, value: f64) -> Result<f64, EnergyError> {
    if value.is_finite() && value > 0.0 { Ok(value) } else { Err(EnergyError::NotPositive { field, value }) }
}

fn check_profile(p: &PowerProfile) -> Result<(), EnergyError> {
    non_negative("idle_w", p.idle_w)?;
    non_negative("compute_w", p.compute_w)?;
    non_negative("radio_nj_per_byte", p.radio_nj_per_byte)?;
    Ok(())
}

/// Energy per inference at a steady inference rate.
pub fn energy_per_inference(power: &PowerProfile, inputs: &EnergyInputs) -> Result<EnergyBreakdown, EnergyError> {
    check_profile(power)?;
    let compute_ms = non_negative("compute_ms", inputs.compute_ms)?;
    let radio_bytes = non_negative("radio_bytes", inputs.radio_bytes)?;
    let rate = positive("inferences_per_s", inputs.inferences_per_s)?;
    let compute_mj = power.compute_w * compute_ms;
    // nJ → mJ is 1e-6.
    let radio_mj = power.radio_nj_per_byte * radio_bytes * 1e-6;
    // The device idles for the whole period between inferences; each
    // inference carries that period's idle energy.
    let period_ms = 1000.0 / rate;
    let idle_share_mj = power.idle_w * period_ms;
    let total_mj = compute_mj + radio_mj + idle_share_mj;
    Ok(EnergyBreakdown { compute_mj, radio_mj, idle_share_mj, total_mj, average_power_w: total_mj * rate / 1000.0 })
}

/// Hours a battery of `capacity_mah` at `voltage_v` lasts at `average_power_w`.
pub fn battery_life_hours(capacity_mah: f64, voltage_v: f64, average_power_w: f64) -> Result<f64, EnergyError> {
    let capacity_mah = positive("capacity_mah", capacity_mah)?;
    let voltage_v = positive("voltage_v", voltage_v)?;
    let average_power_w = positive("average_power_w", average_power_w)?;
    let capacity_wh = capacity_mah * voltage_v / 1000.0;
    Ok(capacity_wh / average_power_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_entry_per_type_in_all_order() {
        let t = PowerTable::default();
        for ty in DeviceType::ALL {
            assert_eq!(t.get(ty), default_power_profile(ty));
        }
        assert!(t.get(DeviceType::IotSensor).compute_w < t.get(DeviceType::EdgeServer).compute_w);
    }

    #[test]
    fn energy_adds_compute_radio_and_idle_share() {
        let p = PowerProfile { idle_w: 0.5, compute_w: 2.0, radio_nj_per_byte: 100.0, battery_voltage_v: 3.7 };
        let e =
            energy_per_inference(&p, &EnergyInputs { compute_ms: 10.0, radio_bytes: 10_000.0, inferences_per_s: 10.0 })
                .unwrap();
        assert!((e.compute_mj - 20.0).abs() < 1e-9);
        assert!((e.radio_mj - 1.0).abs() < 1e-9);
        // 100 ms between inferences at 0.5 W.
        assert!((e.idle_share_mj - 50.0).abs() < 1e-9);
        assert!((e.total_mj - 71.0).abs() < 1e-9);
        assert!((e.average_power_w - 0.71).abs() < 1e-9);
    }

    #[test]
    fn battery_life_is_capacity_over_power() {
        // 3000 mAh × 3.7 V = 11.1 Wh; at 1.11 W that is 10 h.
        assert!((battery_life_hours(3000.0, 3.7, 1.11).unwrap() - 10.0).abs() < 1e-9);
        let e = energy_per_inference(
            &default_power_profile(DeviceType::IotSensor),
            &EnergyInputs { compute_ms: 50.0, radio_bytes: 300.0, inferences_per_s: 0.1 },
        )
        .unwrap();
        let h = battery_life_hours(2000.0, 3.7, e.average_power_w).unwrap();
        assert!(h > 100.0 && h < 1000.0, "{h}");
    }

    #[test]
    fn bad_inputs_are_named() {
        let p = default_power_profile(DeviceType::MobilePhone);
        let err = energy_per_inference(&p, &EnergyInputs { compute_ms: -1.0, radio_bytes: 0.0, inferences_per_s: 1.0 });
        assert_eq!(err, Err(EnergyError::Negative { field: "compute_ms", value: -1.0 }));
        let err = energy_per_inference(&p, &EnergyInputs { compute_ms: 1.0, radio_bytes: 0.0, inferences_per_s: 0.0 });
        assert!(err.unwrap_err().to_string().contains("inferences_per_s"));
        assert!(battery_life_hours(1000.0, 3.7, 0.0).is_err());
        assert!(battery_life_hours(f64::NAN, 3.7, 1.0).is_err());
    }
}
