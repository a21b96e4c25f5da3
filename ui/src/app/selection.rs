//! The device selection shared by the list, the map and the charts: a set
//! of device ids plus the anchor a Shift-click extends from. The detail view
//! shows `AppState::selected` (the device clicked last); this set is what a
//! model dropped on a selection, the plan dialog and Pair act on.

use std::collections::HashSet;

/// Selected devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    ids: HashSet<String>,
    /// Where a Shift-click range starts (the last plain or Ctrl click).
    anchor: Option<String>,
    /// Bumped on every change, so views derived from it can be cached.
    generation: u64,
}

impl Selection {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every selected id, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// The selected ids in `order` (the list's rows), then any selected id
    /// the order does not show, sorted — so a rollout's order is stable.
    pub fn ordered<'a>(&self, order: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = order.into_iter().filter(|id| self.ids.contains(*id)).map(str::to_owned).collect();
        if out.len() < self.ids.len() {
            let shown: HashSet<&str> = out.iter().map(String::as_str).collect();
            let mut rest: Vec<String> = self.ids.iter().filter(|id| !shown.contains(id.as_str())).cloned().collect();
            rest.sort();
            out.extend(rest);
        }
        out
    }

    /// A plain click: only this device.
    pub fn set_only(&mut self, id: &str) {
        self.generation += 1;
        self.ids.clear();
        self.ids.insert(id.to_owned());
        self.anchor = Some(id.to_owned());
    }

    /// Ctrl-click: add or remove one device.
    pub fn toggle(&mut self, id: &str) {
        self.generation += 1;
        if !self.ids.remove(id) {
            self.ids.insert(id.to_owned());
        }
        self.anchor = Some(id.to_owned());
    }

    /// Shift-click: everything between the anchor and `id` in `rows` (the
    /// list as shown), added to the selection. Without an anchor in `rows`,
    /// just `id`.
    pub fn extend_to(&mut self, id: &str, rows: &[&str]) {
        self.generation += 1;
        let to = rows.iter().position(|r| *r == id);
        let from = self.anchor.as_deref().and_then(|a| rows.iter().position(|r| *r == a));
        match (from, to) {
            (Some(a), Some(b)) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                self.ids.extend(rows[lo..=hi].iter().map(|s| (*s).to_owned()));
            }
            _ => self.set_only(id),
        }
    }

    /// Replace the selection with `ids` (select all shown, box select).
    pub fn set_many(&mut self, ids: impl IntoIterator<Item = String>) {
        self.generation += 1;
        self.ids = ids.into_iter().collect();
        self.anchor = None;
    }

    pub fn clear(&mut self) {
        self.generation += 1;
        self.ids.clear();
        self.anchor = None;
    }

    /// Drop ids no longer in the fleet.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.generation += 1;
        self.ids.retain(|id| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_ctrl_click_and_shift_click() {
        let rows = ["a", "b", "c", "d", "e"];
        let mut s = Selection::default();
        s.set_only("b");
        s.toggle("d");
        assert_eq!(s.ordered(rows), ["b", "d"]);
        s.toggle("b");
        assert_eq!(s.ordered(rows), ["d"]);
        // Shift-click extends from the anchor (the last click, on b) to a.
        s.extend_to("a", &rows);
        assert_eq!(s.ordered(rows), ["a", "b", "d"]);
        s.extend_to("e", &rows);
        assert_eq!(s.ordered(rows), ["a", "b", "c", "d", "e"]);
        s.set_only("e");
        assert_eq!(s.len(), 1);
        s.set_many(["x".to_owned(), "c".to_owned()]);
        assert_eq!(s.ordered(rows), ["c", "x"], "ids the list does not show come last");
        s.retain(|id| id != "x");
        assert_eq!(s.len(), 1);
    }
}
