//! Compare a model's variants side by side: the import and every variant
//! made from it (indented as a lineage tree), with size, parameters,
//! accuracy with its 95 % interval, the latency the optimizer measured on
//! its runtime, and the estimated latency and fit on the selected device.

use crate::app::command::UiCommand;
use crate::app::fleet_model::DeviceEntry;
use crate::app::library::{Library, ModelCard};
use crate::app::style::{MISFIT_COLOR, OK_COLOR};
use edgefleet_core::{FitConfig, human_bytes};
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
    /// That estimate is calibrated by the benchmarks kept for the device.
    pub calibrated: bool,
}

/// The lineage of `card_id`'s root: the root, then its variants, depth first.
pub fn compare_rows(library: &Library, card_id: i64, device: Option<&DeviceEntry>) -> Vec<CompareRow> {
    let Some(card) = library.get(card_id) else { return Vec::new() };
    let root = library.root_of(card).id;
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
        let (on_device, calibrated) = match (device, &c.profile) {
            (Some(d), Some(p)) => {
                let (fit, calibrated) = d.fit(p, &cfg);
                (fit.per_batch.first().map(|b| (b.latency_ms.low, b.latency_ms.high, fit.compatible)), calibrated)
            }
            _ => (None, false),
        };
        rows.push(CompareRow {
            depth,
            card_id: c.id,
            title: c.title(),
            recipe: c.recipe.clone().unwrap_or_else(|| if depth == 0 { "original".into() } else { "—".into() }),
            size_bytes: c.size_bytes,
            params: c.profile.as_ref().map(|p| p.params),
            accuracy: accuracy_of(c).or_else(|| measured_as_parent(library, c, accuracy_before)),
            measured_latency: measured_latency(c).or_else(|| measured_as_parent(library, c, latency_before)),
            on_device,
            calibrated,
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

/// A model with no figures of its own (an import) was measured as the
/// "before" of each variant made from it, on the same data and runtime:
/// the first of its variants that has them speaks for it.
fn measured_as_parent<T>(library: &Library, c: &ModelCard, before: fn(&serde_json::Value) -> Option<T>) -> Option<T> {
    library.cards.iter().filter(|k| k.parent_id == Some(c.id)).find_map(|k| k.metrics.as_ref().and_then(before))
}

fn accuracy_before(m: &serde_json::Value) -> Option<(f64, Option<(f64, f64)>)> {
    let acc = m.get("accuracy_before")?.as_f64()?;
    let n = m.get("eval_samples").and_then(|v| v.as_u64()).filter(|n| *n > 0);
    let interval = n.map(|n| edgefleet_optimize::evaluate::wilson_95((acc * n as f64).round() as usize, n as usize));
    Some((acc, interval))
}

fn latency_before(m: &serde_json::Value) -> Option<(f64, String)> {
    let ms = m.get("latency_ms_before")?.as_f64()?;
    let runtime = m.get("runtime").and_then(|v| v.as_str()).unwrap_or("runtime").to_owned();
    Some((ms, runtime))
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
            ui.label(human_bytes(r.size_bytes));
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
                    let how = if r.calibrated { " (calibrated)" } else { "" };
                    ui.label(RichText::new(format!("{mark} {lo:.2}–{hi:.2} ms{how}")).color(color));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn card(id: i64, parent_id: Option<i64>, metrics: Option<serde_json::Value>) -> ModelCard {
        let mut profile: edgefleet_core::ModelProfile =
            serde_json::from_str(include_str!("../../../assets/profiles/mlp_digits.json")).expect("profile");
        profile.accuracy = None;
        ModelCard { id, parent_id, metrics, accuracy: None, ..ModelCard::profile_only(id, profile) }
    }

    #[test]
    fn an_import_without_figures_shows_what_its_variants_measured_of_it() {
        let mut library = Library::default();
        let run = serde_json::json!({
            "accuracy_before": 0.975, "accuracy_after": 0.97, "eval_samples": 540,
            "latency_ms_before": 0.05, "latency_ms_after": 0.03, "runtime": "tract"
        });
        library.upsert(card(1, None, None));
        library.upsert(card(2, Some(1), Some(run)));
        let rows = compare_rows(&library, 1, None);
        assert_eq!(rows.len(), 2);
        let (acc, interval) = rows[0].accuracy.expect("the original's accuracy, from its variant's run");
        assert_eq!(acc, 0.975);
        assert!(interval.is_some_and(|(lo, hi)| lo < acc && acc < hi));
        assert_eq!(rows[0].measured_latency, Some((0.05, "tract".to_owned())));
        assert_eq!(rows[1].measured_latency, Some((0.03, "tract".to_owned())));
        // Nothing measured anywhere: nothing made up.
        let mut bare = Library::default();
        bare.upsert(card(1, None, None));
        assert_eq!(compare_rows(&bare, 1, None)[0].measured_latency, None);
    }
}
