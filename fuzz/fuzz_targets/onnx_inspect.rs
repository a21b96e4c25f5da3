//! Any bytes as an ONNX file: decoding and inspecting never panic, and a
//! profile that comes out is internally consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(profile) = edgefleet_optimize::inspect_bytes(data, "fuzz") {
        assert_eq!(profile.file_bytes, data.len() as u64);
    }
});
