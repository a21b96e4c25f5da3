//! Synthetic hardware for simulated agents: plausible specs per device type
//! and a load that drifts smoothly over time, both derived from a seed so a
//! demo fleet is the same every run.

use edgefleet_core::wire::Metrics;
use edgefleet_core::{Device, DeviceType, Location};

/// Per-call overhead of a simulated device's runtime, ms.
const SIM_CALL_OVERHEAD_MS: f64 = 0.05;

/// Spec ranges of one device type (inclusive).
struct TypeProfile {
    cores: (u32, u32),
    mem_mb: (u64, u64),
    storage_gb: (f64, f64),
    bw_mbps: (f64, f64),
    battery_mah: Option<(u32, u32)>,
    /// Single-core GFLOP/s; the device total scales with cores.
    gflops_per_core: (f64, f64),
    /// Typical CPU load around which the synthetic load drifts.
    base_load: (f64, f64),
    capabilities: &'static [&'static str],
}

fn profile(t: DeviceType) -> TypeProfile {
    match t {
        DeviceType::IotSensor => TypeProfile {
            cores: (1, 1),
            mem_mb: (64, 512),
            storage_gb: (0.5, 4.0),
            bw_mbps: (0.25, 10.0),
            battery_mah: Some((1_000, 5_000)),
            gflops_per_core: (0.2, 1.0),
            base_load: (0.05, 0.3),
            capabilities: &["int8"],
        },
        DeviceType::MobilePhone => TypeProfile {
            cores: (4, 8),
            mem_mb: (3_072, 12_288),
            storage_gb: (32.0, 256.0),
            bw_mbps: (20.0, 300.0),
            battery_mah: Some((3_000, 5_500)),
            gflops_per_core: (4.0, 15.0),
            base_load: (0.1, 0.5),
            capabilities: &["int8", "fp16"],
        },
        DeviceType::EdgeServer => TypeProfile {
            cores: (16, 64),
            mem_mb: (32_768, 262_144),
            storage_gb: (512.0, 4_096.0),
            bw_mbps: (1_000.0, 10_000.0),
            battery_mah: None,
            gflops_per_core: (20.0, 50.0),
            base_load: (0.2, 0.6),
            capabilities: &["int8", "fp16", "gpu"],
        },
        DeviceType::EmbeddedDevice => TypeProfile {
            cores: (2, 4),
            mem_mb: (512, 4_096),
            storage_gb: (4.0, 64.0),
            bw_mbps: (10.0, 100.0),
            battery_mah: None,
            gflops_per_core: (1.5, 8.0),
            base_load: (0.1, 0.5),
            capabilities: &["int8"],
        },
        DeviceType::SmartCamera => TypeProfile {
            cores: (2, 4),
            mem_mb: (512, 2_048),
            storage_gb: (8.0, 64.0),
            bw_mbps: (10.0, 100.0),
            battery_mah: None,
            gflops_per_core: (2.0, 6.0),
            base_load: (0.3, 0.7),
            capabilities: &["int8", "npu"],
        },
        DeviceType::AutonomousVehicle => TypeProfile {
            cores: (8, 16),
            mem_mb: (8_192, 32_768),
            storage_gb: (256.0, 1_024.0),
            bw_mbps: (50.0, 1_000.0),
            battery_mah: Some((50_000, 120_000)),
            gflops_per_core: (10.0, 30.0),
            base_load: (0.3, 0.7),
            capabilities: &["int8", "fp16", "gpu"],
        },
    }
}

fn rng_for(index: usize, seed: u64) -> fastrand::Rng {
    // Mix index and seed so neighbouring indices get unrelated streams.
    fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn pick_u64(rng: &mut fastrand::Rng, (lo, hi): (u64, u64)) -> u64 {
    rng.u64(lo..=hi)
}

fn pick_f64(rng: &mut fastrand::Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + rng.f64() * (hi - lo)
}

/// Round to a power-of-two-ish size real boards ship with (multiples of 64 MB).
fn round_mem(mb: u64) -> u64 {
    (mb / 64).max(1) * 64
}

/// A plausible simulated device: type `index % 6`, specs drawn from that
/// type's ranges, a location within about 15 km of `center`.
pub fn synthetic_device(index: usize, seed: u64, center: (f64, f64)) -> Device {
    let device_type = DeviceType::ALL[index % DeviceType::ALL.len()];
    let p = profile(device_type);
    let mut rng = rng_for(index, seed);
    let cores = rng.u32(p.cores.0..=p.cores.1);
    let memory_mb = round_mem(pick_u64(&mut rng, p.mem_mb));
    let storage_gb = (pick_f64(&mut rng, p.storage_gb) * 10.0).round() / 10.0;
    let id = format!("sim-{}-{index:04}-{:06x}", short_type(device_type), rng.u32(..) & 0x00ff_ffff);
    let mut device = Device::new(id, device_type, cores, memory_mb, storage_gb.max(0.1));
    device.name = Some(format!("{} {}", device_type.label(), index + 1));
    device.network_bandwidth_mbps = (pick_f64(&mut rng, p.bw_mbps) * 10.0).round() / 10.0;
    device.battery_capacity_mah = p.battery_mah.map(|(lo, hi)| rng.u32(lo..=hi));
    // ~0.15° is about 15 km: a city-sized spread around the centre.
    let lat = (center.0 + (rng.f64() * 2.0 - 1.0) * 0.15).clamp(-90.0, 90.0);
    let lon = (center.1 + (rng.f64() * 2.0 - 1.0) * 0.15).clamp(-180.0, 180.0);
    device.location = Some(Location { latitude: lat, longitude: lon });
    device.capabilities = p.capabilities.iter().map(|c| (*c).to_owned()).collect();
    let per_core = (pick_f64(&mut rng, p.gflops_per_core) * 100.0).round() / 100.0;
    device.gflops = Some((per_core * f64::from(cores) * 100.0).round() / 100.0);
    // One inference thread runs at one core's speed; the per-call cost is
    // that of a small board's runtime dispatch. Simulated calls are paced to
    // these (see `AppState::simulated_call_ms`).
    device.gflops_per_thread = Some(per_core);
    device.call_overhead_ms = Some(SIM_CALL_OVERHEAD_MS);
    device.current_load = pick_f64(&mut rng, p.base_load);
    device.simulated = true;
    device
}

fn short_type(t: DeviceType) -> &'static str {
    match t {
        DeviceType::MobilePhone => "phone",
        DeviceType::IotSensor => "sensor",
        DeviceType::EdgeServer => "server",
        DeviceType::EmbeddedDevice => "board",
        DeviceType::SmartCamera => "camera",
        DeviceType::AutonomousVehicle => "vehicle",
    }
}

/// A load that drifts smoothly: a base level plus three slow sine waves
/// with seeded periods and phases.
#[derive(Debug, Clone)]
pub struct SyntheticLoad {
    base: f64,
    waves: [(f64, f64, f64); 3], // (amplitude, period_s, phase)
    mem_base: f64,
    storage_free_fraction: f64,
    battery_drain_per_hour: f64,
    battery_start: f64,
}

impl SyntheticLoad {
    pub fn new(device: &Device, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0xA5A5_5A5A_DEAD_BEEF);
        let waves = [
            (0.08 + rng.f64() * 0.07, 20.0 + rng.f64() * 40.0, rng.f64() * std::f64::consts::TAU),
            (0.05 + rng.f64() * 0.05, 90.0 + rng.f64() * 120.0, rng.f64() * std::f64::consts::TAU),
            (0.02 + rng.f64() * 0.03, 5.0 + rng.f64() * 5.0, rng.f64() * std::f64::consts::TAU),
        ];
        SyntheticLoad {
            base: device.current_load.clamp(0.05, 0.9),
            waves,
            mem_base: 0.2 + rng.f64() * 0.3,
            storage_free_fraction: 0.3 + rng.f64() * 0.6,
            battery_drain_per_hour: 5.0 + rng.f64() * 15.0,
            battery_start: 60.0 + rng.f64() * 40.0,
        }
    }

    /// CPU load in 0..=1 at `t_s` seconds since the agent started.
    pub fn load_at(&self, t_s: f64) -> f64 {
        let wave: f64 =
            self.waves.iter().map(|(a, period, phase)| a * (std::f64::consts::TAU * t_s / period + phase).sin()).sum();
        (self.base + wave).clamp(0.01, 0.99)
    }

    /// A full metrics sample for `device` at `t_s` (models filled in by the caller).
    pub fn sample(&self, device: &Device, t_s: f64, timestamp_ms: u64) -> Metrics {
        let load = self.load_at(t_s);
        let mem_fraction = (self.mem_base + 0.3 * load).min(0.95);
        let battery_percent = device.battery_capacity_mah.map(|_| {
            // Drains while running, recharged (sawtooth) once it reaches 15 %.
            let drained = self.battery_drain_per_hour * t_s / 3600.0;
            let span = self.battery_start - 15.0;
            (self.battery_start - drained % span.max(1.0)).clamp(0.0, 100.0)
        });
        Metrics {
            timestamp_ms,
            cpu_load: load,
            memory_used_mb: (device.memory_mb as f64 * mem_fraction) as u64,
            memory_total_mb: device.memory_mb,
            storage_free_gb: device.storage_gb * self.storage_free_fraction,
            temperature_c: Some(35.0 + 40.0 * load),
            battery_percent,
            uptime_s: t_s as u64,
            models: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_plausible_and_valid_for_every_type() {
        for i in 0..120 {
            let d = synthetic_device(i, 7, (48.85, 2.35));
            d.validate().unwrap();
            assert!(d.simulated);
            match d.device_type {
                DeviceType::IotSensor => {
                    assert_eq!(d.cpu_cores, 1);
                    assert!((64..=512).contains(&d.memory_mb), "{}", d.memory_mb);
                }
                DeviceType::EdgeServer => {
                    assert!((16..=64).contains(&d.cpu_cores));
                    assert!((32_768..=262_144).contains(&d.memory_mb));
                }
                _ => {}
            }
            let loc = d.location.unwrap();
            assert!((loc.latitude - 48.85).abs() <= 0.15 && (loc.longitude - 2.35).abs() <= 0.15);
        }
    }

    #[test]
    fn same_seed_same_device_other_seed_differs() {
        assert_eq!(synthetic_device(3, 1, (0.0, 0.0)), synthetic_device(3, 1, (0.0, 0.0)));
        assert_ne!(synthetic_device(3, 1, (0.0, 0.0)).device_id, synthetic_device(3, 2, (0.0, 0.0)).device_id);
    }

    #[test]
    fn load_drifts_smoothly_and_stays_in_range() {
        let d = synthetic_device(2, 9, (0.0, 0.0));
        let load = SyntheticLoad::new(&d, 9);
        let mut prev = load.load_at(0.0);
        let mut moved = 0.0;
        for step in 1..600 {
            let now = load.load_at(f64::from(step));
            assert!((0.0..=1.0).contains(&now));
            assert!((now - prev).abs() < 0.1, "jump {prev} -> {now}");
            moved += (now - prev).abs();
            prev = now;
        }
        assert!(moved > 0.1, "the load should drift, moved {moved}");
    }
}
