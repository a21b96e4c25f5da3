//! edgefleet: the desktop console and its command line, over
//! `edgefleet-fleet`. The binary in `main.rs` only parses arguments.

pub mod app;
pub mod cli;
pub mod map;
