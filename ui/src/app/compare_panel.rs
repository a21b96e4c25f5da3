//! Compare a model's variants side by side: the import and every variant
//! made from it (indented as a lineage tree), with size, parameters,
//! accuracy with its 95 % interval, the latency the optimizer measured on
//! its runtime, and the estimated latency and fit on the selected device.

use crate::app::command::UiCommand;
use crate::app::fleet_model::DeviceEntry;
use crate::app::library::{Library, ModelCard};
use crate::app::style::{MISFIT_COLOR, OK_COLOR};
use edgefleet_core::{FitConfig, estimate_fit};
use egui::{RichText, Ui};

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub depth: usize,
    pub card_id: i64,
    pub title: String,
    pub recipe: String,
    pub size_bytes: u64,
    pub params: Option<u64>,
    /// Accuracy and its Wilson 95 % interval (when the sample count is known).
    pub accuracy: Option<(f64, Option<(f64, f64)>)>,
    /// Measured latency at the optimizer's batch, and on which runtime.
    pub measured_latency: Option<(f64, String)>,
    /// Estimated batch-1 latency range on the selected device, and whether it fits.
    pub on_device: Option<(f64, f64, bool)>,
}

/// The lineage of `card_id`'s root: the root, then its variants, depth first.
pub fn compare_rows(library: &Library, card_id: i64, device: Option<&DeviceEntry>) -> Vec<CompareRow> {
    let Some(card) = library.get(card_id) else { return Vec::new() };
    let root = library.root_of(card).id;
    let live = device.map(DeviceEntry::live_device);
    let cfg = FitConfig::default();
    let mut rows = Vec::new();
    let mut in_tree = false;
    for (depth, c) in library.ordered() {
        if depth == 0 {
            in_tree = c.id == root;
        }
        if !in_tree {
            continue;
        }
        let on_device = match (&live, &c.profile) {
            (Some(d), Some(p)) => {
                let fit = estimate_fit(p, d, &cfg);
                fit.per_batch.first().map(|b| (b.latency_ms.low, b.latency_ms.high, fit.compatible))
            }
            _ => None,
        };
        rows.push(CompareRow {
            depth,
            card_id: c.id,
            title: c.title(),
            recipe: c.recipe.clone().unwrap_or_else(|| if depth == 0 { "original".into() } else { "—".into() }),
            size_bytes: c.size_bytes,
            params: c.profile.as_ref().map(|p| p.params),
            accuracy: accuracy_of(c),
            measured_latency: measured_latency(c),
            on_device,
        });
    }
    rows
}

fn accuracy_of(c: &ModelCard) -> Option<(f64, Option<(f64, f64)>)> {
    let acc = c.accuracy.or_else(|| c.profile.as_ref().and_then(|p| p.accuracy))?;
    let n = c.metrics.as_ref().and_then(|m| m.get("eval_samples")).and_then(|v| v.as_u64()).filter(|n| *n > 0);
    let interval = n.map(|n| {
        let k = (acc * n as f64).round() as usize;
        edgefleet_optimize::evaluate::wilson_95(k, n as usize)
    });
    Some((acc, interval))
}

fn measured_latency(c: &ModelCard) -> Option<(f64, String)> {
    let m = c.metrics.as_ref()?;
    let ms = m.get("latency_ms_after")?.as_f64()?;
    let runtime = m.get("runtime").and_then(|v| v.as_str()).unwrap_or("runtime").to_owned();
    Some((ms, runtime))
}

/// The comparison table. `device` is the selected device, if any.
pub fn compare_ui(ui: &mut Ui, rows: &[CompareRow], device_name: Option<&str>, commands: &mut Vec<UiCommand>) {
    match device_name {
        Some(d) => ui.weak(format!("Estimates on {d} (the selected device)")),
        None => ui.weak("Select a device to see the estimate and fit on it."),
    };
    egui::Grid::new("compare-variants").striped(true).num_columns(7).spacing([14.0, 4.0]).show(ui, |ui| {
        for h in ["Model", "Recipe", "Size", "Params", "Accuracy (95 %)", "Measured", "On device"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for r in rows {
            let indent = "   ".repeat(r.depth);
            let branch = if r.depth > 0 { "└ " } else { "" };
            ui.label(format!("{indent}{branch}{}", r.title));
            ui.label(&r.recipe);
            ui.label(format!("{:.1} KB", r.size_bytes as f64 / 1024.0));
            ui.label(r.params.map_or_else(|| "—".into(), |p| p.to_string()));
            ui.label(match r.accuracy {
                Some((a, Some((lo, hi)))) => format!("{:.1}% [{:.1}–{:.1}]", a * 100.0, lo * 100.0, hi * 100.0),
                Some((a, None)) => format!("{:.1}%", a * 100.0),
                None => "not measured".into(),
            });
            ui.label(r.measured_latency.as_ref().map_or_else(|| "—".into(), |(ms, rt)| format!("{ms:.2} ms ({rt})")));
            match r.on_device {
                Some((lo, hi, fits)) => {
                    let (mark, color) = if fits { ("✔", OK_COLOR) } else { ("✖", MISFIT_COLOR) };
                    ui.label(RichText::new(format!("{mark} {lo:.2}–{hi:.2} ms")).color(color));
                }
                None => {
                    ui.label("—");
                }
            }
            ui.end_row();
        }
    });
    ui.add_space(6.0);
    if ui.button("Close").clicked() {
        commands.push(UiCommand::CloseCompare);
    }
}
