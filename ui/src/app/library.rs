//! The model library as the UI holds it: one card per model (imported
//! models, their optimized variants, profile-only samples), the drag
//! payload of a card, and which devices a dragged card fits.

use edgefleet_core::ModelProfile;
use edgefleet_store::ModelRecord;
use std::collections::HashMap;
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
    /// What the optimizer measured for a variant (its report as stored:
    /// accuracy and sample count, latency on the runtime it ran on).
    pub metrics: Option<serde_json::Value>,
}

impl ModelCard {
    pub fn from_record(r: ModelRecord) -> Self {
        let accuracy = edgefleet_fleet::measured_accuracy(&r);
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
            metrics: r.metrics,
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
            metrics: None,
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
#[derive(Debug, Clone, Default, PartialEq)]
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

    /// The card a card was made from, ultimately (itself for an import).
    pub fn root_of<'a>(&'a self, card: &'a ModelCard) -> &'a ModelCard {
        let mut current = card;
        // Bounded: a corrupt registry with a parent loop must not hang the UI.
        for _ in 0..self.cards.len() {
            match current.parent_id.and_then(|p| self.get(p)) {
                Some(parent) => current = parent,
                None => break,
            }
        }
        current
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

/// While a card is dragged: which devices it fits, computed once per card
/// and fleet version.
#[derive(Debug, Clone, PartialEq)]
pub struct DragFits {
    /// (card id, fleet version) the answer holds for.
    pub key: (i64, u64),
    /// Device id → the card fits it.
    pub fits: HashMap<String, bool>,
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
            metrics: None,
        }
    }

    #[test]
    fn variants_follow_their_parent() {
        let lib = Library { cards: vec![card(1, None), card(2, None), card(3, Some(1)), card(4, Some(99))] };
        let order: Vec<(usize, i64)> = lib.ordered().into_iter().map(|(d, c)| (d, c.id)).collect();
        assert_eq!(order, vec![(0, 1), (1, 3), (0, 2), (0, 4)]);
    }

    #[test]
    fn a_variant_leads_back_to_its_import() {
        let lib = Library { cards: vec![card(1, None), card(3, Some(1)), card(5, Some(3)), card(4, Some(99))] };
        let root = |id: i64| lib.root_of(lib.get(id).unwrap()).id;
        assert_eq!((root(5), root(3), root(1), root(4)), (1, 1, 1, 4));
    }
}
