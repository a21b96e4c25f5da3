//! The one error type of the store: every way opening, reading or writing
//! the database can fail, each with enough context to act on.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite itself failed (disk full, locked past the busy timeout, …).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// The database file could not be opened at all.
    #[error("cannot open database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },

    /// The file exists but is not an SQLite database (or its header is damaged).
    #[error("{} is not an SQLite database (or it is damaged); refusing to touch it", path.display())]
    NotADatabase { path: PathBuf },

    /// An SQLite database that belongs to some other application.
    #[error("{} is an SQLite database but not an edgefleet one ({reason}); refusing to touch it", path.display())]
    ForeignDatabase { path: PathBuf, reason: String },

    /// The file was written by a newer edgefleet; it is left unmodified.
    #[error(
        "{} has schema version {found}, but this build of edgefleet only knows up to version {supported}; \
         upgrade edgefleet or point EDGEFLEET_DB at another file (the file was not modified)",
        path.display()
    )]
    SchemaTooNew { path: PathBuf, found: u32, supported: u32 },

    /// A migration step failed; the transaction was rolled back.
    #[error("migrating the database to schema version {version} failed: {source}")]
    Migration {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },

    /// A stored row cannot be turned back into a record.
    #[error("corrupt row in table `{table}` (id {id}): {reason}")]
    CorruptRow { table: &'static str, id: String, reason: String },

    /// The caller passed a value the store refuses (nothing was written).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// The row an update refers to does not exist (nothing was written).
    #[error("no {what} `{id}` in the store")]
    NotFound { what: &'static str, id: String },

    /// A row with the same unique key already exists (nothing was written).
    #[error("{what} `{key}` already exists in the store")]
    Duplicate { what: &'static str, key: String },

    /// No default location for the database could be determined or created.
    #[error("cannot use the default database location: {0}")]
    DefaultPath(String),
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid { field, reason: reason.into() }
    }

    pub(crate) fn corrupt(table: &'static str, id: impl ToString, reason: impl Into<String>) -> Self {
        StoreError::CorruptRow { table, id: id.to_string(), reason: reason.into() }
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound { what, id: id.to_string() }
    }
}
