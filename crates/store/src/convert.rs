//! Conversions between Rust values and SQLite columns that can fail:
//! SQLite integers are signed 64-bit, our counters and times are `u64`.

use crate::error::StoreError;

/// A `u64` the caller gave us, as an SQLite integer; values above `i64::MAX`
/// are refused rather than wrapped.
pub(crate) fn to_sql_int(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::invalid(field, format!("{value} is larger than {}", i64::MAX)))
}

/// A stored integer back as `u64`; a negative one means the row is corrupt.
pub(crate) fn from_sql_u64(table: &'static str, id: &dyn ToString, field: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::corrupt(table, id.to_string(), format!("{field} is negative ({value})")))
}

/// A stored port number back as `u16`.
pub(crate) fn from_sql_port(
    table: &'static str,
    id: &dyn ToString,
    value: Option<i64>,
) -> Result<Option<u16>, StoreError> {
    value
        .map(|p| {
            u16::try_from(p)
                .map_err(|_| StoreError::corrupt(table, id.to_string(), format!("port {p} is out of range")))
        })
        .transpose()
}

/// Parse a JSON column into `T`; bad JSON means the row is corrupt.
pub(crate) fn from_json_column<T: serde::de::DeserializeOwned>(
    table: &'static str,
    id: &dyn ToString,
    field: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt(table, id.to_string(), format!("column {field} holds invalid JSON: {e}")))
}

/// Serialize a value for a JSON column. Our types always serialize; the
/// error path exists for non-finite floats inside `serde_json::Value`-like data.
pub(crate) fn to_json_column<T: serde::Serialize>(field: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::invalid(field, format!("cannot be encoded as JSON: {e}")))
}

/// Refuse empty (or whitespace-only) text for a required field.
pub(crate) fn require_text(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() { Err(StoreError::invalid(field, "must not be empty")) } else { Ok(()) }
}

/// Refuse NaN and infinities, which SQLite would silently store as NULL.
pub(crate) fn require_finite(field: &'static str, value: f64) -> Result<(), StoreError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StoreError::invalid(field, format!("must be a finite number, got {value}")))
    }
}
