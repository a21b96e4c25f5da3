//! The audit log: one row for every action taken on the fleet (pairing,
//! deploys, rollbacks, …), for the history view and for support.

use crate::convert::{from_sql_u64, require_text, to_sql_int};
use crate::error::StoreError;
use crate::store::Store;
use rusqlite::params;
use serde::Serialize;

/// One logged action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at_ms: u64,
    /// What was done (`deploy`, `pair`, `rollback`, …).
    pub action: String,
    /// What it was done to (a device id, `model@version`, a deployment id).
    pub subject: String,
    pub detail: String,
}

impl Store {
    /// Append an entry to the audit log.
    pub fn audit(&self, at_ms: u64, action: &str, subject: &str, detail: &str) -> Result<(), StoreError> {
        require_text("action", action)?;
        let at = to_sql_int("at_ms", at_ms)?;
        self.conn
            .prepare_cached("INSERT INTO audit (at_ms, action, subject, detail) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![at, action, subject, detail])?;
        Ok(())
    }

    /// The newest `limit` entries, newest first (ties in time: last written first).
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at_ms, action, subject, detail FROM audit ORDER BY at_ms DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, at_ms, action, subject, detail)| {
                Ok(AuditEntry { at_ms: from_sql_u64("audit", &id, "at_ms", at_ms)?, action, subject, detail })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_with_limit() {
        let s = Store::open_in_memory().unwrap();
        s.audit(10, "pair", "cam-1", "token stored").unwrap();
        s.audit(30, "deploy", "mlp@1", "to cam-1").unwrap();
        s.audit(30, "activate", "cam-1", "mlp@1").unwrap();
        s.audit(20, "discover", "cam-2", "mdns").unwrap();
        let got = s.recent_audit(3).unwrap();
        let actions: Vec<_> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["activate", "deploy", "discover"]);
        assert_eq!(
            got[1],
            AuditEntry { at_ms: 30, action: "deploy".into(), subject: "mlp@1".into(), detail: "to cam-1".into() }
        );
        assert_eq!(s.recent_audit(100).unwrap().len(), 4);
        assert!(s.recent_audit(0).unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(s.audit(1, "", "x", ""), Err(StoreError::Invalid { field: "action", .. })));
        assert!(s.audit(u64::MAX, "deploy", "x", "").is_err());
        assert!(s.recent_audit(10).unwrap().is_empty());
        s.audit(1, "deploy", "x", "").unwrap();
        s.conn.execute("UPDATE audit SET at_ms = -3", []).unwrap();
        assert!(matches!(s.recent_audit(10), Err(StoreError::CorruptRow { table: "audit", .. })));
    }
}
