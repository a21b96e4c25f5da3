//! The model library: imported ONNX models and the optimized variants made
//! from them (a variant points at its parent and names the recipe used).

use crate::convert::{from_json_column, from_sql_u64, require_text, to_json_column, to_sql_int};
use crate::error::StoreError;
use crate::store::Store;
use edgefleet_core::ModelProfile;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A model to add to the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewModel {
    pub name: String,
    pub version: String,
    /// Where the ONNX file lives on the console's disk.
    pub path: String,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
    pub size_bytes: u64,
    pub profile: Option<ModelProfile>,
    /// The model this one was optimized from.
    pub parent_id: Option<i64>,
    /// The optimization recipe (`int8,prune:0.5`) that made it from the parent.
    pub recipe: Option<String>,
    /// Measured results (latency, accuracy, agreement, …) as free-form JSON.
    pub metrics: Option<serde_json::Value>,
    pub created_ms: u64,
}

/// A model in the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub path: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub profile: Option<ModelProfile>,
    pub parent_id: Option<i64>,
    pub recipe: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub created_ms: u64,
}

const TABLE: &str = "models";
const MODEL_COLUMNS: &str =
    "id, name, version, path, sha256, size_bytes, profile_json, parent_id, recipe, metrics_json, created_ms";

/// A `models` row before fallible conversion.
struct RawModel {
    id: i64,
    name: String,
    version: String,
    path: String,
    sha256: String,
    size_bytes: i64,
    profile_json: Option<String>,
    parent_id: Option<i64>,
    recipe: Option<String>,
    metrics_json: Option<String>,
    created_ms: i64,
}

impl RawModel {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawModel {
            id: row.get(0)?,
            name: row.get(1)?,
            version: row.get(2)?,
            path: row.get(3)?,
            sha256: row.get(4)?,
            size_bytes: row.get(5)?,
            profile_json: row.get(6)?,
            parent_id: row.get(7)?,
            recipe: row.get(8)?,
            metrics_json: row.get(9)?,
            created_ms: row.get(10)?,
        })
    }

    fn into_record(self) -> Result<ModelRecord, StoreError> {
        let id = &self.id;
        Ok(ModelRecord {
            id: self.id,
            size_bytes: from_sql_u64(TABLE, id, "size_bytes", self.size_bytes)?,
            profile: self.profile_json.map(|t| from_json_column(TABLE, id, "profile_json", &t)).transpose()?,
            metrics: self.metrics_json.map(|t| from_json_column(TABLE, id, "metrics_json", &t)).transpose()?,
            created_ms: from_sql_u64(TABLE, id, "created_ms", self.created_ms)?,
            name: self.name,
            version: self.version,
            path: self.path,
            sha256: self.sha256,
            parent_id: self.parent_id,
            recipe: self.recipe,
        })
    }
}

/// A SHA-256 as the agent API spells it: 64 lowercase hex digits.
pub(crate) fn check_sha256(sha256: &str) -> Result<(), StoreError> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(StoreError::invalid("sha256", format!("`{sha256}` is not 64 lowercase hex digits")))
    }
}

impl Store {
    /// Add a model; returns its id. `(name, version)` must be new, and
    /// `parent_id`, when set, must name a model already in the library.
    pub fn add_model(&self, m: &NewModel) -> Result<i64, StoreError> {
        require_text("name", &m.name)?;
        require_text("version", &m.version)?;
        require_text("path", &m.path)?;
        check_sha256(&m.sha256)?;
        let size = to_sql_int("size_bytes", m.size_bytes)?;
        let created = to_sql_int("created_ms", m.created_ms)?;
        let profile = m.profile.as_ref().map(|p| to_json_column("profile", p)).transpose()?;
        let metrics = m.metrics.as_ref().map(|v| to_json_column("metrics", v)).transpose()?;

        let tx = self.conn.unchecked_transaction()?;
        let exists = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<bool> {
            Ok(tx.query_row(sql, p, |_| Ok(())).optional()?.is_some())
        };
        if exists("SELECT 1 FROM models WHERE name = ?1 AND version = ?2", &[&m.name, &m.version])? {
            return Err(StoreError::Duplicate { what: "model", key: format!("{}@{}", m.name, m.version) });
        }
        if let Some(parent) = m.parent_id
            && !exists("SELECT 1 FROM models WHERE id = ?1", &[&parent])?
        {
            return Err(StoreError::not_found("parent model", parent));
        }
        tx.execute(
            "INSERT INTO models (name, version, path, sha256, size_bytes, profile_json, parent_id, recipe,
                                 metrics_json, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![m.name, m.version, m.path, m.sha256, size, profile, m.parent_id, m.recipe, metrics, created],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// One model by id.
    pub fn get_model(&self, id: i64) -> Result<Option<ModelRecord>, StoreError> {
        let raw = self
            .conn
            .prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?1"))?
            .query_row([id], RawModel::from_row)
            .optional()?;
        raw.map(RawModel::into_record).transpose()
    }

    /// One model by name and version.
    pub fn find_model(&self, name: &str, version: &str) -> Result<Option<ModelRecord>, StoreError> {
        let raw = self
            .conn
            .prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1 AND version = ?2"))?
            .query_row([name, version], RawModel::from_row)
            .optional()?;
        raw.map(RawModel::into_record).transpose()
    }

    /// Remove a model from the library (its file stays on disk). A model
    /// with variants is refused: they would lose their lineage.
    pub fn remove_model(&self, id: i64) -> Result<ModelRecord, StoreError> {
        let model = self.get_model(id)?.ok_or_else(|| StoreError::not_found("model", id))?;
        let variants: i64 =
            self.conn.query_row("SELECT COUNT(*) FROM models WHERE parent_id = ?1", [id], |r| r.get(0))?;
        if variants > 0 {
            return Err(StoreError::invalid(
                "model",
                format!("{} v{} has {variants} variant(s); remove them first", model.name, model.version),
            ));
        }
        self.conn.execute("DELETE FROM models WHERE id = ?1", [id])?;
        Ok(model)
    }

    /// Every model, in the order they were added.
    pub fn list_models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY id"))?;
        let raws = stmt.query_map([], RawModel::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawModel::into_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn new_model(name: &str, version: &str) -> NewModel {
        NewModel {
            name: name.into(),
            version: version.into(),
            path: format!("/models/{name}-{version}.onnx"),
            sha256: "ab".repeat(32),
            size_bytes: 123_456,
            profile: Some(ModelProfile {
                name: name.into(),
                params: 1000,
                weights_bytes: 4000,
                file_bytes: 4100,
                flops_per_sample: 2000,
                peak_activation_bytes_per_sample: 512,
                ops: vec!["Gemm".into(), "Relu".into()],
                opset: Some(13),
                inputs: vec![],
                outputs: vec![],
                target_device_types: vec![],
                accuracy: Some(0.97),
                work: Default::default(),
            }),
            parent_id: None,
            recipe: None,
            metrics: None,
            created_ms: 42,
        }
    }

    #[test]
    fn models_and_variants_round_trip() {
        let s = Store::open_in_memory().unwrap();
        let base = new_model("mlp", "1");
        let base_id = s.add_model(&base).unwrap();
        let variant = NewModel {
            version: "1-int8".into(),
            parent_id: Some(base_id),
            recipe: Some("int8".into()),
            metrics: Some(serde_json::json!({"latency_ms": 1.5, "accuracy": 0.96})),
            profile: None,
            ..new_model("mlp", "1-int8")
        };
        let variant_id = s.add_model(&variant).unwrap();

        let got = s.get_model(variant_id).unwrap().unwrap();
        assert_eq!(got.parent_id, Some(base_id));
        assert_eq!(got.metrics, variant.metrics);
        assert_eq!(got.profile, None);
        let found = s.find_model("mlp", "1").unwrap().unwrap();
        assert_eq!(found.id, base_id);
        assert_eq!(found.profile, base.profile);
        assert_eq!(found.size_bytes, 123_456);
        assert!(s.find_model("mlp", "2").unwrap().is_none());
        assert!(s.get_model(999).unwrap().is_none());
        let ids: Vec<_> = s.list_models().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(ids, [base_id, variant_id]);
    }

    #[test]
    fn removing_refuses_a_parent_and_keeps_the_rest() {
        let s = Store::open_in_memory().unwrap();
        let base = s.add_model(&new_model("mlp", "1")).unwrap();
        let variant = s.add_model(&NewModel { parent_id: Some(base), ..new_model("mlp", "2") }).unwrap();
        let e = s.remove_model(base).unwrap_err().to_string();
        assert!(e.contains("has 1 variant"), "{e}");
        assert_eq!(s.remove_model(variant).unwrap().version, "2");
        assert_eq!(s.remove_model(base).unwrap().version, "1");
        assert!(s.list_models().unwrap().is_empty());
        assert!(matches!(s.remove_model(base), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn bad_models_are_refused_and_nothing_is_added() {
        let s = Store::open_in_memory().unwrap();
        s.add_model(&new_model("mlp", "1")).unwrap();
        assert!(matches!(s.add_model(&new_model("mlp", "1")), Err(StoreError::Duplicate { .. })));
        let orphan = NewModel { parent_id: Some(77), ..new_model("mlp", "2") };
        assert!(matches!(s.add_model(&orphan), Err(StoreError::NotFound { .. })));
        let bad_hash = NewModel { sha256: "XYZ".into(), ..new_model("mlp", "3") };
        assert!(matches!(s.add_model(&bad_hash), Err(StoreError::Invalid { field: "sha256", .. })));
        let upper = NewModel { sha256: "AB".repeat(32), ..new_model("mlp", "3") };
        assert!(s.add_model(&upper).is_err());
        let no_name = NewModel { name: " ".into(), ..new_model("mlp", "4") };
        assert!(matches!(s.add_model(&no_name), Err(StoreError::Invalid { field: "name", .. })));
        let huge = NewModel { size_bytes: u64::MAX, ..new_model("mlp", "5") };
        assert!(matches!(s.add_model(&huge), Err(StoreError::Invalid { field: "size_bytes", .. })));
        assert_eq!(s.list_models().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_model_rows_are_errors() {
        let s = Store::open_in_memory().unwrap();
        let id = s.add_model(&new_model("mlp", "1")).unwrap();
        s.conn.execute("UPDATE models SET profile_json = '[1,2' WHERE id = ?1", [id]).unwrap();
        let err = s.get_model(id).unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptRow { table: "models", reason, .. } if reason.contains("profile_json"))
        );
        assert!(matches!(s.list_models(), Err(StoreError::CorruptRow { .. })));
        s.conn.execute("UPDATE models SET profile_json = NULL, metrics_json = 'nope' WHERE id = ?1", [id]).unwrap();
        assert!(matches!(s.find_model("mlp", "1"), Err(StoreError::CorruptRow { .. })));
        s.conn.execute("UPDATE models SET metrics_json = NULL, size_bytes = -5 WHERE id = ?1", [id]).unwrap();
        assert!(matches!(s.get_model(id), Err(StoreError::CorruptRow { .. })));
    }
}
