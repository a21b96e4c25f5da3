//! One whole app frame — logic (event drain, fleet sample), layout of every
//! panel (`Context::run_ui`) and tessellation — with 0 (the app's own
//! overhead), 100, 1,000 and 10,000 synthetic devices, on the list + Map tab and the list + Charts tab.
//! No network: the fleet model is filled directly and the engine runs with
//! mDNS off. The reference is an empty frame measured in the same run.
//!
//! `cargo bench -p edgefleet --bench frame` (goal: ≤ 8 ms median at 10,000).

#[path = "support/frame_fixture.rs"]
mod frame_fixture;

use edgefleet_ui::app::Tab;
use frame_fixture::{app_with, median_ms};
use std::hint::black_box;

/// Seconds of metrics per device (the charts draw them).
const HISTORY_S: u64 = 60;

fn main() {
    let ctx = egui::Context::default();
    let empty = median_ms(&ctx, |ui| {
        black_box(ui);
    });
    println!("reference: empty frame {empty:.3} ms median");
    println!("{:>7} {:>8} {:>10} {:>9}", "devices", "tab", "median ms", "× empty");
    for n in [0, 100, 1_000, 10_000] {
        let mut app = app_with(n, HISTORY_S);
        for tab in [Tab::Map, Tab::Charts] {
            app.state.tab = tab;
            // A fresh context per case: no layout cache carried between cases.
            let ctx = egui::Context::default();
            let ms = median_ms(&ctx, |ui| app.frame_ui(ui));
            println!("{n:>7} {:>8} {ms:>10.3} {:>9.1}", tab.label(), ms / empty.max(1e-6));
        }
    }
}
