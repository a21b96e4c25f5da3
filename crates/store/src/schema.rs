//! The database schema as a list of forward migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] have been
//! applied. Each entry runs in its own transaction together with the bump of
//! `user_version`, so a crash leaves the file at a whole version. Entries are
//! never edited once released: a schema change is a new entry at the end.

use crate::error::StoreError;
use rusqlite::{Connection, TransactionBehavior};

/// `PRAGMA application_id` of edgefleet databases ("EDGF"), so a foreign
/// SQLite file is recognised and left alone.
pub const APPLICATION_ID: i32 = 0x4544_4746;

/// Forward migrations; entry `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: initial schema. STRICT tables so a wrong column type cannot be stored.
    r#"
    CREATE TABLE devices (
        device_id     TEXT PRIMARY KEY NOT NULL,
        device_json   TEXT NOT NULL,
        device_type   TEXT NOT NULL,
        status        TEXT NOT NULL,
        status_ms     INTEGER,
        address       TEXT,
        port          INTEGER,
        source        TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER NOT NULL,
        token         TEXT
    ) STRICT;
    CREATE INDEX devices_status ON devices(status);

    CREATE TABLE sightings (
        id        INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
        at_ms     INTEGER NOT NULL,
        source    TEXT NOT NULL,
        address   TEXT,
        port      INTEGER
    ) STRICT;
    CREATE INDEX sightings_device_at ON sightings(device_id, at_ms, id);

    CREATE TABLE models (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        version      TEXT NOT NULL,
        path         TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL,
        profile_json TEXT,
        parent_id    INTEGER REFERENCES models(id),
        recipe       TEXT,
        metrics_json TEXT,
        created_ms   INTEGER NOT NULL,
        UNIQUE (name, version)
    ) STRICT;
    CREATE INDEX models_parent ON models(parent_id);

    CREATE TABLE deployments (
        id            INTEGER PRIMARY KEY,
        model_name    TEXT NOT NULL,
        model_version TEXT NOT NULL,
        sha256        TEXT NOT NULL,
        model_path    TEXT NOT NULL,
        size_bytes    INTEGER NOT NULL,
        plan_json     TEXT NOT NULL,
        state         TEXT NOT NULL,
        detail        TEXT,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX deployments_state ON deployments(state);

    CREATE TABLE deployment_steps (
        deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        device_id     TEXT NOT NULL,
        state         TEXT NOT NULL,
        bytes_sent    INTEGER NOT NULL,
        detail        TEXT,
        updated_ms    INTEGER NOT NULL,
        UNIQUE (deployment_id, device_id)
    ) STRICT;

    CREATE TABLE telemetry (
        device_id         TEXT NOT NULL,
        bucket_start_ms   INTEGER NOT NULL,
        bucket_ms         INTEGER NOT NULL,
        samples           INTEGER NOT NULL,
        cpu_load_sum      REAL NOT NULL,
        memory_used_mb_sum REAL NOT NULL,
        p99_ms_sum        REAL NOT NULL,
        p99_samples       INTEGER NOT NULL,
        qps_sum           REAL NOT NULL,
        PRIMARY KEY (device_id, bucket_start_ms)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX telemetry_start ON telemetry(bucket_start_ms);

    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        action  TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_at ON audit(at_ms, id);
    "#,
    // 2: benchmark results kept for calibration (one row per device, model,
    // runtime and batch), and the round-trip time measured on polls.
    r#"
    CREATE TABLE calibrations (
        id             INTEGER PRIMARY KEY,
        device_id      TEXT NOT NULL,
        model_sha256   TEXT NOT NULL,
        model_name     TEXT NOT NULL,
        runtime        TEXT NOT NULL,
        batch          INTEGER NOT NULL,
        latency_ms_p50 REAL NOT NULL,
        latency_ms_p90 REAL NOT NULL,
        peak_mb        REAL,
        memory_json    TEXT,
        synthetic      INTEGER NOT NULL,
        profile_json   TEXT NOT NULL,
        measured_ms    INTEGER NOT NULL,
        UNIQUE (device_id, model_sha256, runtime, batch)
    ) STRICT;

    ALTER TABLE devices ADD COLUMN rtt_ms REAL;
    ALTER TABLE devices ADD COLUMN rtt_at_ms INTEGER;
    "#,
    // The device key pinned at pairing (fingerprint, see the agent's
    // device_key): from then on the console talks to the device only over
    // TLS with exactly that key.
    r#"
    ALTER TABLE devices ADD COLUMN key_fingerprint TEXT;
    "#,
    // Deployments other consoles of the same broker fleet run, recorded
    // from their progress reports (read-only here): the console's id and
    // the deployment's id in its own registry. NULL for our own.
    r#"
    ALTER TABLE deployments ADD COLUMN origin TEXT;
    ALTER TABLE deployments ADD COLUMN origin_id INTEGER;
    CREATE UNIQUE INDEX deployments_origin ON deployments(origin, origin_id) WHERE origin IS NOT NULL;
    "#,
];

/// The schema version this build writes: the number of migrations.
pub fn latest_version() -> u32 {
    // MIGRATIONS is a short literal list; it cannot approach u32::MAX.
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Read `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get::<_, u32>(0))
}

/// Apply every migration the file does not have yet. Each runs in an
/// IMMEDIATE transaction that re-reads the version first, so two processes
/// opening the same file at once cannot both apply one.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        if current >= target {
            continue;
        }
        let run = || -> rusqlite::Result<()> {
            tx.execute_batch(sql)?;
            if target == 1 {
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            }
            tx.pragma_update(None, "user_version", target)
        };
        run().map_err(|source| StoreError::Migration { version: target, source })?;
        tx.commit().map_err(|source| StoreError::Migration { version: target, source })?;
    }
    Ok(())
}
