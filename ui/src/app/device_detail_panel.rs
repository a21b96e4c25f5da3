//! The selected device in detail: spec, live numbers, installed models.

use crate::app::fleet_model::DeviceEntry;
use crate::app::style::type_icon;
use crate::map::status_color;
use egui::{RichText, Ui};

pub fn device_detail_ui(ui: &mut Ui, entry: Option<&DeviceEntry>) {
    let Some(e) = entry else {
        ui.weak("Select a device in the list or on the map.");
        return;
    };
    let d = &e.device;
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{} {}", type_icon(d.device_type), d.display_name())).heading());
        ui.label(RichText::new(d.status.as_str()).color(status_color(d.status)).strong());
    });
    ui.weak(format!("{} · {}{}", d.device_id, d.device_type.label(), if d.simulated { " · simulated" } else { "" }));
    ui.add_space(4.0);
    egui::Grid::new("device-detail").num_columns(2).spacing([12.0, 3.0]).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.weak(k);
            ui.label(v);
            ui.end_row();
        };
        row("Address", e.addr.map_or_else(|| "—".into(), |a| a.to_string()));
        row("Paired", if e.paired { "yes".into() } else { "no (no valid token)".into() });
        row(
            "CPU",
            format!("{} cores{}", d.cpu_cores, d.gflops.map(|g| format!(" · {g:.1} GFLOP/s")).unwrap_or_default()),
        );
        row("Memory", format!("{} MB", d.memory_mb));
        row("Storage", format!("{:.1} GB", d.storage_gb));
        row("Network", format!("{:.0} Mbit/s", d.network_bandwidth_mbps));
        if let Some(loc) = d.location {
            row("Location", format!("{:.4}, {:.4}", loc.latitude, loc.longitude));
        }
        if let Some(m) = &e.metrics {
            row("Load", format!("{:.0}%", m.cpu_load * 100.0));
            row("Memory used", format!("{} / {} MB", m.memory_used_mb, m.memory_total_mb));
            row("Storage free", format!("{:.1} GB", m.storage_free_gb));
            if let Some(t) = m.temperature_c {
                row("Temperature", format!("{t:.0} °C"));
            }
            if let Some(b) = m.battery_percent {
                row("Battery", format!("{b:.0}%"));
            }
            row("Uptime", format!("{} s", m.uptime_s));
        } else {
            row("Live", "no metrics yet".into());
        }
    });
    ui.add_space(6.0);
    ui.label(RichText::new("Installed models").strong());
    if e.models.is_empty() {
        ui.weak("none");
    }
    for m in &e.models {
        let stats =
            e.metrics.as_ref().and_then(|x| x.models.iter().find(|s| s.name == m.name && s.version == m.version));
        let live = stats
            .map(|s| {
                let upstream =
                    if s.offloaded > 0 { format!(" · {} sent upstream", s.offloaded) } else { String::new() };
                format!(" · {:.1} qps · p50 {:.2} ms{upstream}", s.qps, s.p50_ms)
            })
            .unwrap_or_default();
        let tag = if m.active {
            " (active)"
        } else if m.previous {
            " (previous)"
        } else {
            ""
        };
        let text = format!("{} v{}{tag}{live}", m.name, m.version);
        if m.active {
            ui.label(RichText::new(text).strong())
        } else {
            ui.label(text)
        };
    }
}
