//! Any bytes as the rdata of an mDNS TXT record (length-prefixed
//! `key=value` strings, RFC 6763 §6), split by the console's TXT reader and
//! turned into a device: an error or a valid device, never a panic.
#![no_main]

use edgefleet_fleet::discovery::{device_from_txt, one_shot::txt_entries};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let props: HashMap<String, String> = txt_entries(data).into_iter().collect();
    if let Ok(device) = device_from_txt(&props) {
        device.validate().expect("a device built from TXT is valid");
    }
});
