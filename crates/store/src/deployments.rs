//! Rollouts: one deployment row per rollout of a model version to a set of
//! devices, and one step row per target device tracking its progress.
//!
//! The fleet engine records every step here *before* taking it, so a console
//! restarted mid-rollout finds it in [`Store::unfinished_deployments`] and
//! resumes. States are the engine's strings; the store only knows which ones
//! are final ([`TERMINAL_DEPLOYMENT_STATES`]).

use crate::convert::{from_json_column, from_sql_u64, require_text, to_json_column, to_sql_int};
use crate::error::StoreError;
use crate::models::check_sha256;
use crate::store::Store;
use rusqlite::params;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Deployment states after which nothing more happens.
pub const TERMINAL_DEPLOYMENT_STATES: [&str; 4] = ["done", "failed", "rolled_back", "cancelled"];

/// The state of a new deployment and of each of its steps.
const INITIAL_STATE: &str = "pending";

/// A rollout to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDeployment {
    pub model_name: String,
    pub model_version: String,
    pub sha256: String,
    pub model_path: String,
    pub size_bytes: u64,
    /// The rollout plan (stages, canary, health checks) as the engine defines it.
    pub plan: serde_json::Value,
    /// Device ids, in rollout order (canary first).
    pub targets: Vec<String>,
    pub created_ms: u64,
}

/// A rollout and its per-device steps (in target order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentRecord {
    pub id: i64,
    pub model_name: String,
    pub model_version: String,
    pub sha256: String,
    pub model_path: String,
    pub size_bytes: u64,
    pub plan: serde_json::Value,
    pub state: String,
    pub detail: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub steps: Vec<StepRecord>,
    /// The console that runs this rollout, when it is another console of
    /// the broker fleet (recorded from its reports, read-only here);
    /// `None` for our own.
    pub origin: Option<String>,
}

/// One device's progress within a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub device_id: String,
    pub state: String,
    pub bytes_sent: u64,
    pub detail: Option<String>,
    pub updated_ms: u64,
}

const TABLE: &str = "deployments";
const STEPS_TABLE: &str = "deployment_steps";

/// Which deployments a query loads; the SQL fragments are fixed strings.
#[derive(Clone, Copy)]
enum Selection {
    One,
    All,
    Unfinished,
}

impl Selection {
    fn filter(self) -> &'static str {
        match self {
            Selection::One => "d.id = ?1",
            Selection::All => "1",
            // Another console's rollout is that console's to resume.
            Selection::Unfinished => {
                "d.state NOT IN ('done', 'failed', 'rolled_back', 'cancelled') AND d.origin IS NULL"
            }
        }
    }

    fn order(self) -> &'static str {
        match self {
            // Newest first for the history view; oldest first to resume in order.
            Selection::One | Selection::All => "d.created_ms DESC, d.id DESC",
            Selection::Unfinished => "d.created_ms, d.id",
        }
    }
}

/// A `deployments` row before fallible conversion.
struct RawDeployment {
    id: i64,
    model_name: String,
    model_version: String,
    sha256: String,
    model_path: String,
    size_bytes: i64,
    plan_json: String,
    state: String,
    detail: Option<String>,
    created_ms: i64,
    updated_ms: i64,
    origin: Option<String>,
}

impl RawDeployment {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawDeployment {
            id: row.get(0)?,
            model_name: row.get(1)?,
            model_version: row.get(2)?,
            sha256: row.get(3)?,
            model_path: row.get(4)?,
            size_bytes: row.get(5)?,
            plan_json: row.get(6)?,
            state: row.get(7)?,
            detail: row.get(8)?,
            created_ms: row.get(9)?,
            updated_ms: row.get(10)?,
            origin: row.get(11)?,
        })
    }

    fn into_record(self, steps: Vec<StepRecord>) -> Result<DeploymentRecord, StoreError> {
        let id = &self.id;
        Ok(DeploymentRecord {
            id: self.id,
            size_bytes: from_sql_u64(TABLE, id, "size_bytes", self.size_bytes)?,
            plan: from_json_column(TABLE, id, "plan_json", &self.plan_json)?,
            created_ms: from_sql_u64(TABLE, id, "created_ms", self.created_ms)?,
            updated_ms: from_sql_u64(TABLE, id, "updated_ms", self.updated_ms)?,
            model_name: self.model_name,
            model_version: self.model_version,
            sha256: self.sha256,
            model_path: self.model_path,
            state: self.state,
            detail: self.detail,
            steps,
            origin: self.origin,
        })
    }
}

impl Store {
    /// Create a rollout in state `pending` with one `pending` step per target;
    /// returns its id. Targets must be non-empty and distinct.
    pub fn create_deployment(&self, d: &NewDeployment) -> Result<i64, StoreError> {
        require_text("model_name", &d.model_name)?;
        require_text("model_version", &d.model_version)?;
        require_text("model_path", &d.model_path)?;
        check_sha256(&d.sha256)?;
        if d.targets.is_empty() {
            return Err(StoreError::invalid("targets", "a deployment needs at least one target device"));
        }
        let mut seen = HashSet::new();
        for target in &d.targets {
            require_text("targets", target)?;
            if !seen.insert(target.as_str()) {
                return Err(StoreError::invalid("targets", format!("device `{target}` is listed twice")));
            }
        }
        let size = to_sql_int("size_bytes", d.size_bytes)?;
        let created = to_sql_int("created_ms", d.created_ms)?;
        let plan = to_json_column("plan", &d.plan)?;

        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO deployments (model_name, model_version, sha256, model_path, size_bytes, plan_json, state,
                                      detail, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?8)",
            params![d.model_name, d.model_version, d.sha256, d.model_path, size, plan, INITIAL_STATE, created],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut step = tx.prepare(
                "INSERT INTO deployment_steps (deployment_id, device_id, state, bytes_sent, detail, updated_ms)
                 VALUES (?1, ?2, ?3, 0, NULL, ?4)",
            )?;
            for target in &d.targets {
                step.execute(params![id, target, INITIAL_STATE, created])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// Move a rollout to `state`, replacing its detail.
    pub fn set_deployment_state(
        &self,
        id: i64,
        state: &str,
        detail: Option<&str>,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        require_text("state", state)?;
        let at = to_sql_int("at_ms", at_ms)?;
        let changed = self.conn.execute(
            "UPDATE deployments SET state = ?2, detail = ?3, updated_ms = ?4 WHERE id = ?1",
            params![id, state, detail, at],
        )?;
        if changed == 0 {
            return Err(StoreError::not_found("deployment", id));
        }
        Ok(())
    }

    /// Insert or update one device's step in a rollout (in place: a device has
    /// one step per rollout). Also bumps the rollout's `updated_ms`, so a
    /// rollout whose steps move is never mistaken for a stuck one.
    pub fn upsert_step(
        &self,
        deployment_id: i64,
        device_id: &str,
        state: &str,
        bytes_sent: u64,
        detail: Option<&str>,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        require_text("device_id", device_id)?;
        require_text("state", state)?;
        let bytes = to_sql_int("bytes_sent", bytes_sent)?;
        let at = to_sql_int("at_ms", at_ms)?;

        let tx = self.conn.unchecked_transaction()?;
        let changed = tx.execute(
            "UPDATE deployments SET updated_ms = max(updated_ms, ?2) WHERE id = ?1",
            params![deployment_id, at],
        )?;
        if changed == 0 {
            return Err(StoreError::not_found("deployment", deployment_id));
        }
        tx.execute(
            "INSERT INTO deployment_steps (deployment_id, device_id, state, bytes_sent, detail, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (deployment_id, device_id) DO UPDATE SET
                state = excluded.state, bytes_sent = excluded.bytes_sent,
                detail = excluded.detail, updated_ms = excluded.updated_ms",
            params![deployment_id, device_id, state, bytes, detail, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One rollout with its steps.
    pub fn get_deployment(&self, id: i64) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self.load_deployments(Selection::One, Some(id))?.pop())
    }

    /// Every rollout with its steps, newest first.
    pub fn list_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.load_deployments(Selection::All, None)
    }

    /// Rollouts not in a final state (`done`, `failed`, `rolled_back`,
    /// `cancelled`), oldest first: the ones to resume after a restart.
    pub fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.load_deployments(Selection::Unfinished, None)
    }

    /// Load the selected deployments and all their steps with two queries.
    fn load_deployments(&self, which: Selection, id: Option<i64>) -> Result<Vec<DeploymentRecord>, StoreError> {
        let id_param: Vec<&dyn rusqlite::ToSql> = match &id {
            Some(id) => vec![id],
            None => vec![],
        };
        let filter = which.filter();
        let tx = self.conn.unchecked_transaction()?; // one consistent snapshot for both queries
        let raws = tx
            .prepare_cached(&format!(
                "SELECT d.id, d.model_name, d.model_version, d.sha256, d.model_path, d.size_bytes, d.plan_json,
                        d.state, d.detail, d.created_ms, d.updated_ms, d.origin
                 FROM deployments d WHERE {filter} ORDER BY {}",
                which.order()
            ))?
            .query_map(id_param.as_slice(), RawDeployment::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let step_rows = tx
            .prepare_cached(&format!(
                "SELECT s.deployment_id, s.device_id, s.state, s.bytes_sent, s.detail, s.updated_ms
                 FROM deployment_steps s JOIN deployments d ON d.id = s.deployment_id
                 WHERE {filter} ORDER BY s.rowid"
            ))?
            .query_map(id_param.as_slice(), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get::<_, i64>(3)?, r.get(4)?, r.get(5)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        tx.finish()?;

        let mut steps: HashMap<i64, Vec<StepRecord>> = HashMap::new();
        for (deployment_id, device_id, state, bytes_sent, detail, updated_ms) in step_rows {
            let key = format!("{deployment_id}/{device_id}");
            let step = StepRecord {
                bytes_sent: from_sql_u64(STEPS_TABLE, &key, "bytes_sent", bytes_sent)?,
                updated_ms: from_sql_u64(STEPS_TABLE, &key, "updated_ms", updated_ms)?,
                device_id,
                state,
                detail,
            };
            steps.entry(deployment_id).or_default().push(step);
        }
        raws.into_iter()
            .map(|raw| {
                let own = steps.remove(&raw.id).unwrap_or_default();
                raw.into_record(own)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_deployment(targets: &[&str], created_ms: u64) -> NewDeployment {
        NewDeployment {
            model_name: "mlp".into(),
            model_version: "1".into(),
            sha256: "0f".repeat(32),
            model_path: "/models/mlp-1.onnx".into(),
            size_bytes: 2048,
            plan: serde_json::json!({"stages": [{"canary": 1}, {"rest": true}]}),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            created_ms,
        }
    }

    #[test]
    fn create_makes_pending_steps_in_target_order() {
        let s = Store::open_in_memory().unwrap();
        let id = s.create_deployment(&new_deployment(&["zeta", "alpha", "mid"], 100)).unwrap();
        let d = s.get_deployment(id).unwrap().unwrap();
        assert_eq!(d.state, "pending");
        assert_eq!((d.created_ms, d.updated_ms), (100, 100));
        assert_eq!(d.plan, new_deployment(&[], 0).plan);
        let order: Vec<_> = d.steps.iter().map(|s| s.device_id.as_str()).collect();
        assert_eq!(order, ["zeta", "alpha", "mid"], "canary-first order must be kept");
        assert!(d.steps.iter().all(|s| s.state == "pending" && s.bytes_sent == 0 && s.updated_ms == 100));
        assert!(s.get_deployment(id + 1).unwrap().is_none());
    }

    #[test]
    fn steps_update_in_place() {
        let s = Store::open_in_memory().unwrap();
        let id = s.create_deployment(&new_deployment(&["a", "b"], 100)).unwrap();
        s.upsert_step(id, "a", "uploading", 1024, None, 110).unwrap();
        s.upsert_step(id, "a", "uploading", 2048, Some("resumed at 1024"), 120).unwrap();
        s.upsert_step(id, "c", "pending", 0, None, 130).unwrap();
        let d = s.get_deployment(id).unwrap().unwrap();
        assert_eq!(d.steps.len(), 3);
        assert_eq!(
            d.steps[0],
            StepRecord {
                device_id: "a".into(),
                state: "uploading".into(),
                bytes_sent: 2048,
                detail: Some("resumed at 1024".into()),
                updated_ms: 120
            }
        );
        assert_eq!(d.steps[1].state, "pending");
        assert_eq!(d.steps[2].device_id, "c");
        assert_eq!(d.updated_ms, 130);
        let count: i64 = s.conn.query_row("SELECT count(*) FROM deployment_steps", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 3);
    }

    #[test]
    fn unfinished_filters_final_states_and_list_is_newest_first() {
        let s = Store::open_in_memory().unwrap();
        let mut ids = Vec::new();
        for (i, state) in
            ["done", "uploading", "failed", "rolled_back", "cancelled", "pending", "activating"].iter().enumerate()
        {
            let id = s.create_deployment(&new_deployment(&["a"], 100 + i as u64)).unwrap();
            s.set_deployment_state(id, state, Some("why"), 200).unwrap();
            ids.push(id);
        }
        let unfinished: Vec<_> = s.unfinished_deployments().unwrap().into_iter().map(|d| (d.id, d.state)).collect();
        assert_eq!(
            unfinished,
            [(ids[1], "uploading".to_string()), (ids[5], "pending".to_string()), (ids[6], "activating".to_string())]
        );
        let all = s.list_deployments().unwrap();
        assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), ids.iter().rev().copied().collect::<Vec<_>>());
        assert!(all.iter().all(|d| d.steps.len() == 1 && d.detail.as_deref() == Some("why")));
        s.set_deployment_state(ids[1], "done", None, 300).unwrap();
        let d = s.get_deployment(ids[1]).unwrap().unwrap();
        assert_eq!((d.state.as_str(), d.detail, d.updated_ms), ("done", None, 300));
        assert_eq!(s.unfinished_deployments().unwrap().len(), 2);
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(
            s.create_deployment(&new_deployment(&[], 1)),
            Err(StoreError::Invalid { field: "targets", .. })
        ));
        let err = s.create_deployment(&new_deployment(&["a", "b", "a"], 1)).unwrap_err();
        assert!(err.to_string().contains("`a` is listed twice"), "{err}");
        let bad_hash = NewDeployment { sha256: "nope".into(), ..new_deployment(&["a"], 1) };
        assert!(s.create_deployment(&bad_hash).is_err());
        assert!(s.list_deployments().unwrap().is_empty());

        assert!(matches!(s.set_deployment_state(9, "done", None, 1), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.upsert_step(9, "a", "pending", 0, None, 1), Err(StoreError::NotFound { .. })));
        let id = s.create_deployment(&new_deployment(&["a"], 1)).unwrap();
        assert!(s.set_deployment_state(id, "", None, 2).is_err());
        assert!(s.upsert_step(id, "a", "uploading", u64::MAX, None, 2).is_err());
        let d = s.get_deployment(id).unwrap().unwrap();
        assert_eq!((d.state.as_str(), d.updated_ms, d.steps[0].bytes_sent), ("pending", 1, 0));
    }

    #[test]
    fn unfinished_filter_names_every_terminal_state() {
        let filter = Selection::Unfinished.filter();
        for state in TERMINAL_DEPLOYMENT_STATES {
            assert!(filter.contains(&format!("'{state}'")), "{state} missing from {filter}");
        }
    }

    #[test]
    fn corrupt_plan_is_an_error() {
        let s = Store::open_in_memory().unwrap();
        let id = s.create_deployment(&new_deployment(&["a"], 1)).unwrap();
        s.conn.execute("UPDATE deployments SET plan_json = '{' WHERE id = ?1", [id]).unwrap();
        assert!(matches!(s.get_deployment(id), Err(StoreError::CorruptRow { table: "deployments", .. })));
        assert!(matches!(s.unfinished_deployments(), Err(StoreError::CorruptRow { .. })));
        s.conn.execute("UPDATE deployments SET plan_json = '{}' WHERE id = ?1", [id]).unwrap();
        s.conn.execute("UPDATE deployment_steps SET bytes_sent = -1", []).unwrap();
        assert!(matches!(s.list_deployments(), Err(StoreError::CorruptRow { table: "deployment_steps", .. })));
    }
}
