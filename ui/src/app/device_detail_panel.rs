//! The selected device in detail: spec, live numbers, pairing (its token,
//! or a lab-wide one for every unpaired device selected), installed models
//! with Activate / Roll back, rows sent upstream, and its recent events.

use crate::app::command::UiCommand;
use crate::app::event_log::{EventLog, clock};
use crate::app::fleet_model::DeviceEntry;
use crate::app::library::Library;
use crate::app::style::{level_color, type_icon};
use crate::map::status_color;
use egui::{RichText, Ui};

/// Recent events of the device shown at most.
const EVENTS_SHOWN: usize = 8;

/// What the detail view needs besides the device.
pub struct DetailContext<'a> {
    pub log: &'a EventLog,
    /// The token typed in the Pair box.
    pub pair_token: &'a mut String,
    /// Other selected devices without a valid token (a lab-wide Pair).
    pub unpaired_selected: Vec<String>,
    /// The library: an installed model with a card there can be measured.
    pub library: &'a Library,
}

pub fn device_detail_ui(
    ui: &mut Ui,
    entry: Option<&DeviceEntry>,
    cx: DetailContext<'_>,
    commands: &mut Vec<UiCommand>,
) {
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
    if !e.paired {
        pair_ui(ui, e, cx.pair_token, &cx.unpaired_selected, commands);
    }
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
                // Rows, as the offload rule counts them (older agents: requests offloaded).
                let sent = s.sent_upstream.max(s.offloaded);
                let upstream = if sent > 0 || s.answered_locally > 0 {
                    format!(" · rows: {} local, {sent} sent upstream", s.answered_locally)
                } else {
                    String::new()
                };
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
        // The text wraps on its own line; the actions go below it, so they
        // are never pushed out of a narrow panel.
        if m.active {
            ui.label(RichText::new(text).strong());
        } else {
            ui.label(text);
        }
        ui.horizontal(|ui| {
            ui.add_space(12.0);
            if m.active {
                let has_previous = e.models.iter().any(|x| x.name == m.name && x.previous);
                if has_previous
                    && ui.small_button("↩ Roll back").on_hover_text("Back to the previous version").clicked()
                {
                    commands.push(UiCommand::RollBackModel { device_id: e.id().to_owned(), name: m.name.clone() });
                }
            } else {
                if ui.small_button("Activate").clicked() {
                    commands.push(UiCommand::ActivateModel {
                        device_id: e.id().to_owned(),
                        name: m.name.clone(),
                        version: m.version.clone(),
                    });
                }
            }
            // The same file in the library: benchmark it on the device (its
            // runs then calibrate the fit here).
            let card =
                cx.library.cards.iter().find(|c| c.name == m.name && (c.version == m.version || c.sha256 == m.sha256));
            if let Some(card) = card.filter(|c| !c.is_profile_only())
                && ui.small_button("Measure").on_hover_text("Benchmark this model on the device").clicked()
            {
                commands.push(UiCommand::MeasureOnDevice { card_id: card.id, device_id: e.id().to_owned() });
            }
        });
    }
    for m in e.models.iter().filter(|m| m.active) {
        let threshold = m
            .offload_threshold
            .map_or_else(|| "the agent's default confidence".to_owned(), |t| format!("confidence {t:.2}"));
        let sla = m.offload_sla_ms.map(|ms| format!(", latency SLA {ms} ms")).unwrap_or_default();
        ui.weak(format!("{}: rows below {threshold} go upstream{sla}", m.name));
    }
    if e.paired
        && ui
            .small_button("Unpair")
            .on_hover_text("Forget this device's token: the console stops sending it until it is paired again")
            .clicked()
    {
        commands.push(UiCommand::Unpair { device_id: e.id().to_owned() });
    }
    if e.paired
        && ui
            .small_button("Rotate token")
            .on_hover_text("Give the device a new token; the old one stops working (edgefleet rotate-token)")
            .clicked()
    {
        commands.push(UiCommand::RotateToken { device_id: e.id().to_owned() });
    }
    // The spec and live numbers below the actions.
    ui.add_space(4.0);
    egui::Grid::new("device-detail").num_columns(2).spacing([12.0, 3.0]).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.weak(k);
            ui.label(v);
            ui.end_row();
        };
        row("Address", e.addr.map_or_else(|| "—".into(), |a| a.to_string()));
        row("Paired", if e.paired { "yes".into() } else { "no (no valid token)".into() });
        row("Key", key_text(d.key_fingerprint.as_deref()));
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
    events_ui(ui, e.id(), cx.log);
}

/// How the device's key reads in the detail: the full fingerprint it proved
/// over TLS, a short one from its mDNS record, or none (plain HTTP).
fn key_text(fingerprint: Option<&str>) -> String {
    match fingerprint {
        Some(fp) if fp.contains('-') => fp.to_owned(),
        Some(short) => format!("{short}… (from mDNS; not yet proven over TLS)"),
        None => "none: plain HTTP (--insecure-http)".to_owned(),
    }
}

/// The token of an unpaired device, or a lab-wide one for all selected. The
/// key fingerprint is shown first: pairing pins it.
fn pair_ui(ui: &mut Ui, e: &DeviceEntry, token: &mut String, unpaired: &[String], commands: &mut Vec<UiCommand>) {
    ui.add_space(6.0);
    ui.label(RichText::new("Not paired: the console has no valid token for it").strong());
    ui.label(format!("Device key: {}", key_text(e.device.key_fingerprint.as_deref())));
    ui.weak("Compare it with the fingerprint the agent printed when it started; pairing pins this key.");
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(token).hint_text("token (the agent prints it)").desired_width(220.0));
        let ready = !token.trim().is_empty();
        if ui.add_enabled(ready, egui::Button::new("Pair")).clicked() {
            commands.push(UiCommand::Pair { device_ids: vec![e.id().to_owned()], token: token.trim().to_owned() });
            token.clear();
        }
    });
    if unpaired.len() > 1 {
        let ready = !token.trim().is_empty();
        let label = format!("Pair all {} unpaired selected devices with this token", unpaired.len());
        if ui.add_enabled(ready, egui::Button::new(label)).clicked() {
            commands.push(UiCommand::Pair { device_ids: unpaired.to_vec(), token: token.trim().to_owned() });
            token.clear();
        }
    }
}

/// The newest log lines that name this device.
fn events_ui(ui: &mut Ui, device_id: &str, log: &EventLog) {
    let lines: Vec<_> = log.lines.iter().rev().filter(|l| l.message.contains(device_id)).take(EVENTS_SHOWN).collect();
    if lines.is_empty() {
        return;
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Recent events").strong());
    for l in lines {
        ui.horizontal_wrapped(|ui| {
            ui.weak(clock(l.at_ms));
            ui.label(RichText::new(&l.message).color(level_color(l.level)));
        });
    }
}
