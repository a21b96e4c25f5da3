//! The model library (right panel): imported models and their optimized
//! variants as cards you can drag onto a device. Import by typing a path or
//! by dropping an `.onnx` file onto the window.

use crate::app::command::UiCommand;
use crate::app::library::{Library, ModelCard, ModelDrag};
use edgefleet_core::human_bytes;
use egui::{Color32, RichText, Ui};
use std::path::PathBuf;

/// The accent of an optimized variant's recipe.
const VARIANT_COLOR: Color32 = Color32::from_rgb(110, 170, 230);

/// `78.6 M` parameters.
pub fn human_count(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.1} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        n.to_string()
    }
}

/// The library panel.
pub fn library_ui(ui: &mut Ui, library: &Library, import_path: &mut String, busy: bool, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        ui.heading("Models");
        if busy {
            ui.spinner();
        }
    });
    ui.weak("Drag a card onto a device (list or map).");
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        let edit = egui::TextEdit::singleline(import_path)
            .hint_text("/path/to/model.onnx")
            .desired_width(ui.available_width() - 64.0);
        let r = ui.add(edit);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Import").clicked() || enter) && !import_path.trim().is_empty() {
            commands.push(UiCommand::ImportModel(PathBuf::from(import_path.trim())));
            import_path.clear();
        }
    });
    ui.weak("…or drop .onnx files onto the window.");
    ui.separator();
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        if library.cards.is_empty() {
            ui.weak("No models yet.");
        }
        for (depth, card) in library.ordered() {
            ui.horizontal(|ui| {
                ui.add_space(depth as f32 * 14.0);
                ui.vertical(|ui| model_card_ui(ui, card, depth > 0));
            });
            let has_variants = library.cards.iter().any(|c| c.parent_id == Some(card.id));
            ui.horizontal(|ui| {
                ui.add_space(depth as f32 * 14.0);
                if depth == 0 && has_variants && ui.small_button(format!("⇔ Compare {} variants", card.name)).clicked()
                {
                    commands.push(UiCommand::OpenCompare { card_id: card.id });
                }
                if let Some(path) = &card.path {
                    let reveal =
                        ui.small_button("🗁").on_hover_text(format!("Show in the file manager: {}", path.display()));
                    if reveal.clicked() {
                        commands.push(UiCommand::RevealModel { card_id: card.id });
                    }
                    if ui
                        .small_button("📋")
                        .on_hover_text(format!("Copy the file's path: {}", path.display()))
                        .clicked()
                    {
                        ui.ctx().copy_text(path.display().to_string());
                    }
                }
                // Profile-only cards live in memory; only stored models are removed.
                if card.id >= 0
                    && ui
                        .small_button("🗑")
                        .on_hover_text(format!(
                            "Remove {} v{} from the library (the file stays on disk; a model with variants is kept)",
                            card.name, card.version
                        ))
                        .clicked()
                {
                    commands.push(UiCommand::RemoveModel { card_id: card.id });
                }
            });
            ui.add_space(4.0);
        }
    });
}

fn model_card_ui(ui: &mut Ui, card: &ModelCard, is_variant: bool) {
    let id = egui::Id::unique(("model-card", card.id));
    ui.dnd_drag_source(id, ModelDrag { card_id: card.id }, |ui| {
        let fill = ui.visuals().faint_bg_color;
        egui::Frame::group(ui.style()).fill(fill).inner_margin(8.0).corner_radius(6.0).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let icon = if is_variant { "↳" } else { "🗋" };
                ui.label(RichText::new(format!("{icon} {}", card.name)).strong());
                ui.weak(if card.is_profile_only() {
                    "sample profile".to_owned()
                } else {
                    format!("v{}", card.version)
                });
            });
            if let Some(recipe) = &card.recipe {
                ui.label(RichText::new(format!("optimized: {recipe}")).small().color(VARIANT_COLOR));
            }
            let params = card.profile.as_ref().map(|p| human_count(p.params)).unwrap_or_else(|| "?".into());
            let acc = card.accuracy.map(|a| format!(" · acc {:.1}%", a * 100.0)).unwrap_or_default();
            ui.label(RichText::new(format!("{} · {params} params{acc}", human_bytes(card.size_bytes))).small());
            if card.is_profile_only() {
                ui.add(
                    egui::Label::new(
                        RichText::new("profile only: estimate, no file to deploy").small().italics().weak(),
                    )
                    .wrap(),
                );
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        // Sizes come from edgefleet_core::human_bytes: binary units, like every memory figure.
        assert_eq!(human_bytes(314_600_000), "300.0 MiB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_count(78_643_200), "78.6 M");
    }
}
