//! Reading a predict request (`{"inputs": [[f32, ...], ...]}`) within
//! bounds: the body is read up to a size derived from the model (rows ×
//! features), and rows are counted and checked against the model's width
//! while the JSON is parsed, so a body of millions of empty rows fails at
//! the first row too many instead of building them all first.

use crate::api_error::ApiError;
use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// Bytes of JSON one f32 can take at most as serde_json writes it
/// (`-1.2345678e-38,` and some slack for spacing).
const MAX_JSON_BYTES_PER_VALUE: usize = 32;
/// Room for the object around the rows and for whitespace.
const JSON_OVERHEAD_BYTES: usize = 64 * 1024;

/// The largest predict body worth reading for a model taking `features`
/// values a row, `max_rows` rows at most, capped at `hard_cap_bytes`.
pub(crate) fn body_limit(features: usize, max_rows: usize, hard_cap_bytes: usize) -> usize {
    max_rows
        .saturating_mul(features.max(1))
        .saturating_mul(MAX_JSON_BYTES_PER_VALUE)
        .saturating_add(JSON_OVERHEAD_BYTES)
        .min(hard_cap_bytes)
}

/// Read and parse a predict body: at most `limit_bytes`, at most `max_rows`
/// rows of exactly `features` values each.
pub(crate) async fn read_rows(
    body: Body,
    features: usize,
    max_rows: usize,
    limit_bytes: usize,
) -> Result<Vec<Vec<f32>>, ApiError> {
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if bytes.len() + chunk.len() > limit_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("predict bodies for this model are at most {limit_bytes} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    parse_rows(&bytes, features, max_rows)
}

/// Parse `{"inputs": [...]}` from `bytes` with the row checks.
pub(crate) fn parse_rows(bytes: &[u8], features: usize, max_rows: usize) -> Result<Vec<Vec<f32>>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let ours = Cell::new(false);
    let rows = RequestSeed { features, max_rows, ours: &ours }
        .deserialize(&mut de)
        .and_then(|rows| de.end().map(|()| rows))
        .map_err(|e| {
            // Our own checks (rows, widths) are bad requests as before; JSON
            // that does not parse is 400 and JSON of the wrong shape 422, as
            // axum's `Json` answers elsewhere.
            let (status, code) = if ours.get() {
                (StatusCode::BAD_REQUEST, "bad_request")
            } else if e.classify() == serde_json::error::Category::Data {
                (StatusCode::UNPROCESSABLE_ENTITY, "malformed_json")
            } else {
                (StatusCode::BAD_REQUEST, "malformed_json")
            };
            ApiError::new(status, code, format!("predict body: {e}"))
        })?;
    rows.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "malformed_json", "predict body: missing field `inputs`")
    })
}

/// The body object: `inputs` parsed with the checks, other fields skipped.
struct RequestSeed<'a> {
    features: usize,
    max_rows: usize,
    /// Set when an error is one of our checks rather than serde's.
    ours: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = Option<Vec<Vec<f32>>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = Option<Vec<Vec<f32>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with `inputs`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut inputs = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "inputs" {
                if inputs.is_some() {
                    return Err(de::Error::duplicate_field("inputs"));
                }
                inputs = Some(map.next_value_seed(RowsSeed {
                    features: self.features,
                    max_rows: self.max_rows,
                    ours: self.ours,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(inputs)
    }
}

struct RowsSeed<'a> {
    features: usize,
    max_rows: usize,
    ours: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<f32>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<f32>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::new();
        loop {
            let index = rows.len();
            let row = seq.next_element_seed(RowSeed { features: self.features, index, ours: self.ours })?;
            let Some(row) = row else { break };
            if index == self.max_rows {
                self.ours.set(true);
                return Err(de::Error::custom(format!(
                    "more than {} rows; at most {} a request",
                    self.max_rows, self.max_rows
                )));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            self.ours.set(true);
            return Err(de::Error::custom("`inputs` is empty: send at least one row"));
        }
        Ok(rows)
    }
}

struct RowSeed<'a> {
    features: usize,
    index: usize,
    ours: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<f32>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<f32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a row of {} numbers", self.features)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut row = Vec::with_capacity(self.features);
        while let Some(v) = seq.next_element::<f32>()? {
            if row.len() == self.features {
                self.ours.set(true);
                return Err(de::Error::custom(format!(
                    "row {} has more than {} values; the model takes {}",
                    self.index, self.features, self.features
                )));
            }
            row.push(v);
        }
        if row.len() != self.features {
            self.ours.set(true);
            return Err(de::Error::custom(format!(
                "row {} has {} values; the model takes {}",
                self.index,
                row.len(),
                self.features
            )));
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked_while_parsing() {
        let ok = parse_rows(br#"{"inputs": [[1, 2], [3.5, -4]], "extra": {"a": [1]}}"#, 2, 4).unwrap();
        assert_eq!(ok, vec![vec![1.0, 2.0], vec![3.5, -4.0]]);
        let e = parse_rows(br#"{"inputs": [[1, 2], [3]]}"#, 2, 4).unwrap_err();
        assert!(e.detail.contains("row 1 has 1 values"), "{e}");
        let e = parse_rows(br#"{"inputs": [[1, 2, 3]]}"#, 2, 4).unwrap_err();
        assert!(e.detail.contains("more than 2 values"), "{e}");
        let e = parse_rows(br#"{"inputs": []}"#, 2, 4).unwrap_err();
        assert!(e.detail.contains("empty"), "{e}");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_rows(br#"{"other": 1}"#, 2, 4).unwrap_err();
        assert!(e.detail.contains("missing field"), "{e}");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = parse_rows(br#"{"inputs": "no"}"#, 2, 4).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "malformed_json"));
        let e = parse_rows(br#"{"inputs": [[1, 2]]} x"#, 2, 4).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"));
        let e = parse_rows(br#"{"inputs": "#, 2, 4).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"));
    }

    #[test]
    fn a_flood_of_empty_rows_stops_at_the_first_row_too_many() {
        // 1,000,000 empty rows: the row count stops parsing at row 5, and the
        // width check at the first empty row.
        let mut body = b"{\"inputs\": [".to_vec();
        body.extend(std::iter::repeat_n(&b"[],"[..], 1_000_000).flatten());
        body.extend(b"[]]}");
        let e = parse_rows(&body, 0, 4).unwrap_err();
        assert!(e.detail.contains("more than 4 rows"), "{e}");
        let e = parse_rows(&body, 3, 4).unwrap_err();
        assert!(e.detail.contains("row 0 has 0 values"), "{e}");
    }

    #[test]
    fn the_body_limit_follows_the_model() {
        assert_eq!(body_limit(64, 4096, 64 << 20), 4096 * 64 * 32 + 64 * 1024);
        assert_eq!(body_limit(150_528, 4096, 64 << 20), 64 << 20);
    }
}
