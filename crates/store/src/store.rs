//! Opening the database: where it lives, the connection settings, and the
//! checks that keep edgefleet from modifying a file it does not understand.

use crate::error::StoreError;
use crate::schema::{self, APPLICATION_ID};
use rusqlite::{Connection, ErrorCode};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the database file.
pub const DB_ENV_VAR: &str = "EDGEFLEET_DB";
/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "edgefleet.db";
/// How long a write waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The edgefleet database: one SQLite connection.
///
/// `Store` is `Send` (move it into a worker thread or wrap it in a mutex) but
/// not `Sync`, like the connection it owns.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
}

/// The database path to use when none is given: `$EDGEFLEET_DB` if set and
/// non-empty, else `edgefleet.db` in the platform data directory (created if
/// missing).
pub fn default_path() -> Result<PathBuf, StoreError> {
    let data_dir = directories::ProjectDirs::from("org", "edgefleet", "edgefleet").map(|d| d.data_dir().to_path_buf());
    pick_path(std::env::var_os(DB_ENV_VAR), data_dir)
}

/// [`default_path`] with its inputs passed in, so it is tested without
/// touching the process environment or the user's home.
fn pick_path(env_value: Option<OsString>, data_dir: Option<PathBuf>) -> Result<PathBuf, StoreError> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(value));
    }
    let dir = data_dir.ok_or_else(|| StoreError::DefaultPath(format!("no home directory found; set {DB_ENV_VAR}")))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| StoreError::DefaultPath(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir.join(DB_FILE_NAME))
}

/// Create `path` empty with mode 0600 when it does not exist (SQLite would
/// otherwise create it with the umask's mode, often 0644).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Set the database and its `-wal` / `-shm` files (those that exist) to 0600.
fn restrict_to_user(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Store {
    /// Open (creating if missing) the database at `path` and bring its schema
    /// up to date.
    ///
    /// Refused, with the file left byte-for-byte unchanged: a file that is not
    /// SQLite, an SQLite file of another application, and a file whose schema
    /// version is newer than this build knows.
    ///
    /// The file holds device tokens: it is created readable by the user
    /// only, and an accepted database and its WAL/SHM files are set to
    /// 0600 (SQLite gives new WAL/SHM files the database file's mode).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |e: std::io::Error| StoreError::Open { path: path.to_path_buf(), reason: e.to_string() };
        create_private(path).map_err(open_err)?;
        let conn =
            Connection::open(path).map_err(|e| StoreError::Open { path: path.to_path_buf(), reason: e.to_string() })?;
        let store = Store::init(conn, path)?;
        restrict_to_user(path).map_err(open_err)?;
        Ok(store)
    }

    /// A private database in memory (tests, demo mode).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn init(mut conn: Connection, path: &Path) -> Result<Store, StoreError> {
        // Everything up to the checks only reads: a file we refuse must stay
        // exactly as it was, so journal_mode (which rewrites the header) and
        // the migrations come after them.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let classify = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::NotADatabase { path: path.to_path_buf() }
            }
            _ => StoreError::Open { path: path.to_path_buf(), reason: e.to_string() },
        };
        let found = schema::user_version(&conn).map_err(classify)?;
        let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(classify)?;
        if app_id != 0 && app_id != APPLICATION_ID {
            return Err(StoreError::ForeignDatabase {
                path: path.to_path_buf(),
                reason: format!("application_id is {app_id:#x}"),
            });
        }
        let supported = schema::latest_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { path: path.to_path_buf(), found, supported });
        }
        if found == 0 {
            let tables: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(StoreError::ForeignDatabase {
                    path: path.to_path_buf(),
                    reason: format!("it has {tables} table(s) and no edgefleet schema version"),
                });
            }
        }

        conn.pragma_update(None, "foreign_keys", true)?;
        // WAL lets the GUI read while the engine writes; NORMAL sync is
        // durable across application crashes, which is what matters here.
        let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(schema::user_version(&self.conn)?)
    }

    /// The file behind this store (`None` for an in-memory store).
    pub fn path(&self) -> Option<PathBuf> {
        self.conn.path().filter(|p| !p.is_empty()).map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn store_is_send() {
        assert_send::<Store>();
    }

    #[test]
    fn env_value_wins_when_set() {
        let p = pick_path(Some("/tmp/x/fleet.db".into()), Some("/nonexistent".into())).unwrap();
        assert_eq!(p, PathBuf::from("/tmp/x/fleet.db"));
    }

    #[test]
    fn empty_env_value_falls_back_to_a_created_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("share").join("edgefleet");
        let p = pick_path(Some(OsString::new()), Some(data_dir.clone())).unwrap();
        assert_eq!(p, data_dir.join(DB_FILE_NAME));
        assert!(data_dir.is_dir());
    }

    #[test]
    fn no_home_and_no_env_is_a_clear_error() {
        let err = pick_path(None, None).unwrap_err();
        assert!(err.to_string().contains(DB_ENV_VAR), "{err}");
    }

    #[test]
    fn in_memory_store_is_at_latest_version() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::latest_version());
        assert_eq!(s.path(), None);
    }
}
