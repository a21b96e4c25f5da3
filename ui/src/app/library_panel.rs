//! The model library (right panel): imported models and their optimized
//! variants as cards you can drag onto a device. Import by typing a path or
//! by dropping an `.onnx` file onto the window.

use crate::app::command::UiCommand;
use edgefleet_core::ModelProfile;
use edgefleet_store::ModelRecord;
use egui::{Color32, RichText, Ui};
use std::path::PathBuf;

/// The drag payload of a model card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelDrag {
    pub card_id: i64,
}

/// One model in the library.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    /// The store's id; negative for profile-only cards, which live in memory.
    pub id: i64,
    pub name: String,
    pub version: String,
    /// The ONNX file; `None` for a profile-only card (no file to deploy).
    pub path: Option<PathBuf>,
    pub sha256: String,
    pub size_bytes: u64,
    pub profile: Option<ModelProfile>,
    pub parent_id: Option<i64>,
    pub recipe: Option<String>,
    /// Accuracy on the evaluation set, when measured.
    pub accuracy: Option<f64>,
}

impl ModelCard {
    pub fn from_record(r: ModelRecord) -> Self {
        let accuracy = r
            .metrics
            .as_ref()
            .and_then(|m| m.get("accuracy_after").or_else(|| m.get("accuracy")))
            .and_then(|v| v.as_f64());
        ModelCard {
            id: r.id,
            name: r.name,
            version: r.version,
            path: Some(PathBuf::from(r.path)),
            sha256: r.sha256,
            size_bytes: r.size_bytes,
            profile: r.profile,
            parent_id: r.parent_id,
            recipe: r.recipe,
            accuracy,
        }
    }

    /// A card for a profile with no model file (estimation only).
    pub fn profile_only(id: i64, profile: ModelProfile) -> Self {
        let name = profile.name.split_whitespace().next().unwrap_or("model").to_owned();
        ModelCard {
            id,
            name,
            version: "profile".into(),
            path: None,
            sha256: String::new(),
            size_bytes: profile.file_bytes.max(profile.weights_bytes),
            profile: Some(profile),
            parent_id: None,
            recipe: None,
            accuracy: None,
        }
    }

    pub fn is_profile_only(&self) -> bool {
        self.path.is_none()
    }

    pub fn title(&self) -> String {
        format!("{} v{}", self.name, self.version)
    }
}

/// Every card, parents before their variants.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub cards: Vec<ModelCard>,
}

impl Library {
    pub fn get(&self, id: i64) -> Option<&ModelCard> {
        self.cards.iter().find(|c| c.id == id)
    }

    /// Add or replace a card.
    pub fn upsert(&mut self, card: ModelCard) {
        match self.cards.iter_mut().find(|c| c.id == card.id) {
            Some(c) => *c = card,
            None => self.cards.push(card),
        }
    }

    /// Root cards, each followed by its variants (one level: a variant of a
    /// variant is listed under its own parent as well).
    pub fn ordered(&self) -> Vec<(usize, &ModelCard)> {
        let mut out = Vec::with_capacity(self.cards.len());
        fn push<'a>(lib: &'a Library, card: &'a ModelCard, depth: usize, out: &mut Vec<(usize, &'a ModelCard)>) {
            out.push((depth, card));
            for child in lib.cards.iter().filter(|c| c.parent_id == Some(card.id)) {
                push(lib, child, depth + 1, out);
            }
        }
        let known = |id: i64| self.cards.iter().any(|c| c.id == id);
        for card in self.cards.iter().filter(|c| c.parent_id.is_none_or(|p| !known(p))) {
            push(self, card, 0, &mut out);
        }
        out
    }
}

pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

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
                ui.label(RichText::new(format!("optimized: {recipe}")).small().color(Color32::from_rgb(110, 170, 230)));
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

    fn card(id: i64, parent: Option<i64>) -> ModelCard {
        ModelCard {
            id,
            name: format!("m{id}"),
            version: "1".into(),
            path: Some(PathBuf::from("x.onnx")),
            sha256: String::new(),
            size_bytes: 1,
            profile: None,
            parent_id: parent,
            recipe: None,
            accuracy: None,
        }
    }

    #[test]
    fn variants_follow_their_parent() {
        let lib = Library { cards: vec![card(1, None), card(2, None), card(3, Some(1)), card(4, Some(99))] };
        let order: Vec<(usize, i64)> = lib.ordered().into_iter().map(|(d, c)| (d, c.id)).collect();
        assert_eq!(order, vec![(0, 1), (1, 3), (0, 2), (0, 4)]);
    }

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_bytes(314_600_000), "314.6 MB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_count(78_643_200), "78.6 M");
    }
}
