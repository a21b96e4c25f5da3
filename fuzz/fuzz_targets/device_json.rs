//! Any bytes as a device JSON file (`--profile`, `edgefleet estimate`):
//! parsed into a valid device or refused, never a panic; a parsed device
//! survives a round trip.
#![no_main]

use edgefleet_core::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(device) = Device::from_json(text) {
        device.validate().expect("a parsed device is valid");
        let again = serde_json::to_string(&device).expect("a device serializes");
        let back = Device::from_json(&again).expect("a serialized device parses");
        assert_eq!(back.device_id, device.device_id);
    }
});
