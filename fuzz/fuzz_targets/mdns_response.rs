//! Any bytes as an mDNS answer packet, read as the console's one-shot query
//! reads what comes back (records with name compression, then the agents
//! they describe): an error or devices, never a panic or a hang.
#![no_main]

use edgefleet_fleet::discovery::one_shot::{discovered_in, parse_response};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = parse_response(data) {
        for d in discovered_in(&records, IpAddr::V4(Ipv4Addr::LOCALHOST)) {
            d.device.validate().expect("a discovered device is valid");
        }
    }
});
