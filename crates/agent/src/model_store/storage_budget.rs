//! The agent's storage budget (`--storage-mb`): how many bytes its model
//! store may hold on disk in all — installed versions, their sidecars,
//! upload parts, and anything else that ends up under its directories.
//! An upload that would not fit what is left is refused before a byte is
//! written, and the free figure the agent reports is capped by it, so the
//! console's fit sees what an upload will meet.
//!
//! Blocking filesystem work: callers on the async workers use the blocking pool.

use super::ModelStore;
use super::layout::Layout;
use std::path::Path;

/// How deep under the store's directories files are counted (the layout is
/// two levels deep; a little room for what someone else puts there).
const MAX_DEPTH: usize = 4;

impl ModelStore {
    /// The budget, when the agent has one.
    pub fn storage_budget_bytes(&self) -> Option<u64> {
        self.limits.storage_budget_bytes
    }

    /// Bytes held under the store's directories now.
    pub fn storage_used_bytes(&self) -> u64 {
        used_bytes(&self.layout)
    }

    /// What is left of the budget now; `None` without a budget.
    pub fn storage_free_bytes(&self) -> Option<u64> {
        self.limits.storage_budget_bytes.map(|budget| budget.saturating_sub(self.storage_used_bytes()))
    }
}

/// Bytes held under a store's directories.
pub(super) fn used_bytes(layout: &Layout) -> u64 {
    dir_bytes(layout.models_dir(), MAX_DEPTH) + dir_bytes(layout.uploads_dir(), MAX_DEPTH)
}

/// Bytes of every regular file under `dir`, `depth` levels down at most.
/// Files that vanish or cannot be read meanwhile count as nothing.
fn dir_bytes(dir: &Path, depth: usize) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(m) if m.is_dir() && depth > 0 => dir_bytes(&e.path(), depth - 1),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::model_store::{ModelStore, StoreLimits};

    #[test]
    fn used_and_free_count_every_file_under_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let limits = StoreLimits { storage_budget_bytes: Some(10_000), ..StoreLimits::new(1 << 20) };
        let store = ModelStore::open_with(dir.path(), limits).unwrap();
        assert_eq!(store.storage_free_bytes(), Some(10_000));
        std::fs::create_dir_all(dir.path().join("models/m")).unwrap();
        std::fs::write(dir.path().join("models/m/1.onnx"), vec![0u8; 3_000]).unwrap();
        std::fs::write(dir.path().join("models/other.bin"), vec![0u8; 500]).unwrap();
        std::fs::create_dir_all(dir.path().join("uploads/m")).unwrap();
        std::fs::write(dir.path().join("uploads/m/2.part"), vec![0u8; 1_000]).unwrap();
        // Outside the store: not counted.
        std::fs::write(dir.path().join("token.sha256"), vec![0u8; 64]).unwrap();
        assert_eq!(store.storage_used_bytes(), 4_500);
        assert_eq!(store.storage_free_bytes(), Some(5_500));
        std::fs::write(dir.path().join("models/big.bin"), vec![0u8; 20_000]).unwrap();
        assert_eq!(store.storage_free_bytes(), Some(0));
        let unlimited = ModelStore::open_with(dir.path(), StoreLimits::new(1 << 20)).unwrap();
        assert_eq!(unlimited.storage_free_bytes(), None);
    }
}
