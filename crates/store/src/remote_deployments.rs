//! Rollouts another console of the same broker fleet runs, recorded from
//! its progress reports ([`edgefleet_core::mqtt_wire::RolloutReport`]):
//! one deployment row per (console, its deployment id), marked with that
//! console as `origin`, its steps replaced by each report. They show in the
//! history beside ours and are never resumed here
//! ([`Store::unfinished_deployments`] leaves them out).

use crate::convert::{require_text, to_sql_int};
use crate::error::StoreError;
use crate::models::check_sha256;
use crate::store::Store;
use edgefleet_core::mqtt_wire::RolloutReport;
use rusqlite::{OptionalExtension, params};

impl Store {
    /// Record (or bring up to date) another console's rollout from its
    /// report; returns the deployment's id here. The report's steps
    /// replace or add to the recorded ones (a report may leave some out).
    pub fn record_remote_deployment(&self, r: &RolloutReport) -> Result<i64, StoreError> {
        require_text("console_id", &r.console_id)?;
        require_text("model_name", &r.model_name)?;
        require_text("model_version", &r.model_version)?;
        require_text("state", &r.state)?;
        check_sha256(&r.sha256)?;
        let size = to_sql_int("size_bytes", r.size_bytes)?;
        let created = to_sql_int("created_ms", r.created_ms)?;
        let updated = to_sql_int("updated_ms", r.updated_ms)?;
        let tx = self.conn.unchecked_transaction()?;
        let known: Option<i64> = tx
            .query_row(
                "SELECT id FROM deployments WHERE origin = ?1 AND origin_id = ?2",
                params![r.console_id, r.deployment_id],
                |row| row.get(0),
            )
            .optional()?;
        let id = match known {
            Some(id) => {
                tx.execute(
                    "UPDATE deployments SET state = ?2, detail = ?3, updated_ms = max(updated_ms, ?4) WHERE id = ?1",
                    params![id, r.state, r.detail, updated],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO deployments (model_name, model_version, sha256, model_path, size_bytes, plan_json,
                                              state, detail, created_ms, updated_ms, origin, origin_id)
                     VALUES (?1, ?2, ?3, '', ?4, '{}', ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        r.model_name,
                        r.model_version,
                        r.sha256,
                        size,
                        r.state,
                        r.detail,
                        created,
                        updated,
                        r.console_id,
                        r.deployment_id
                    ],
                )?;
                tx.last_insert_rowid()
            }
        };
        {
            let mut step = tx.prepare_cached(
                "INSERT INTO deployment_steps (deployment_id, device_id, state, bytes_sent, detail, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (deployment_id, device_id) DO UPDATE SET
                    state = excluded.state, bytes_sent = excluded.bytes_sent,
                    detail = excluded.detail, updated_ms = excluded.updated_ms",
            )?;
            for s in &r.steps {
                require_text("device_id", &s.device_id)?;
                require_text("state", &s.state)?;
                let bytes = to_sql_int("bytes_sent", s.bytes_sent)?;
                step.execute(params![id, s.device_id, s.state, bytes, s.detail, updated])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::mqtt_wire::RolloutStepReport;

    fn report(state: &str, bytes: u64) -> RolloutReport {
        RolloutReport {
            console_id: "console-b".into(),
            deployment_id: 7,
            model_name: "mlp".into(),
            model_version: "1".into(),
            sha256: "0f".repeat(32),
            size_bytes: 100,
            state: state.into(),
            detail: None,
            steps: vec![
                RolloutStepReport {
                    device_id: "cam-1".into(),
                    state: "uploading".into(),
                    bytes_sent: bytes,
                    detail: None,
                },
                RolloutStepReport { device_id: "cam-2".into(), state: "pending".into(), bytes_sent: 0, detail: None },
            ],
            steps_omitted: 0,
            created_ms: 1_000,
            updated_ms: 2_000,
        }
    }

    #[test]
    fn another_consoles_rollout_is_recorded_updated_in_place_and_never_resumed() {
        let s = Store::open_in_memory().unwrap();
        let id = s.record_remote_deployment(&report("canary", 40)).unwrap();
        let mut done = report("done", 100);
        for step in &mut done.steps {
            step.state = "done".into();
            step.bytes_sent = 100;
        }
        assert_eq!(s.record_remote_deployment(&report("rolling", 80)).unwrap(), id, "one row per remote rollout");
        assert!(s.unfinished_deployments().unwrap().is_empty(), "another console's rollout is not ours to resume");
        assert_eq!(s.record_remote_deployment(&done).unwrap(), id);
        let d = s.get_deployment(id).unwrap().unwrap();
        assert_eq!((d.state.as_str(), d.origin.as_deref()), ("done", Some("console-b")));
        assert!(d.steps.iter().all(|st| st.state == "done" && st.bytes_sent == 100), "{:?}", d.steps);
        assert_eq!(s.list_deployments().unwrap().len(), 1);
        assert!(s.record_remote_deployment(&RolloutReport { sha256: "nope".into(), ..report("x", 0) }).is_err());
    }
}
