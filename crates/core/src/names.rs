//! Model names and versions: the one rule every side checks (the agent
//! refuses anything else in a URL path, the console refuses it before an
//! upload starts), the sanitiser that turns a file stem into a valid name,
//! and the default version of a model file.

/// How many hex digits of the SHA-256 make the default version.
pub const VERSION_HEX_DIGITS: usize = 12;

/// Longest allowed name or version, in bytes.
pub const MAX_SEGMENT_LEN: usize = 64;

/// The name a model gets when its file stem has nothing usable in it.
const FALLBACK_NAME: &str = "model";

/// The rule in words, for error messages.
pub const SEGMENT_RULE: &str = "use 1–64 of A–Z a–z 0–9 . _ - and do not start with a dot";

/// A model name or version that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model {kind} `{value}`: {SEGMENT_RULE}")]
pub struct NameError {
    /// What was checked: `name` or `version`.
    pub kind: String,
    pub value: String,
}

/// Check a model name or version: `[A-Za-z0-9._-]{1,64}`, no leading dot.
/// Both end up as one path segment on the agent's disk, so the leading-dot
/// rule is what refuses `.`, `..` and hidden files.
pub fn check_segment(kind: &str, value: &str) -> Result<(), NameError> {
    let ok = (1..=MAX_SEGMENT_LEN).contains(&value.len())
        && !value.starts_with('.')
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(NameError { kind: kind.to_owned(), value: value.to_owned() }) }
}

/// A valid model name made from a file stem: every character outside
/// `A–Z a–z 0–9 _ -` becomes `_` (dots too, so the result never starts
/// with one), cut to 64 characters; an empty stem gives `model`.
pub fn model_name_from_stem(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(MAX_SEGMENT_LEN)
        .collect();
    if name.is_empty() { FALLBACK_NAME.to_owned() } else { name }
}

/// The version a model gets when none is given: the first 12 hex digits of
/// its SHA-256. Derived from the bytes (not a counter) so deploying the same
/// file again names the same version, which the agent already holds.
pub fn default_version(sha256_hex: &str) -> String {
    sha256_hex.chars().take(VERSION_HEX_DIGITS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_refuse_traversal_and_odd_characters() {
        for ok in ["mlp", "mlp_digits-v2", "1.0.3", "1.0-rc_2", &"a".repeat(64)] {
            check_segment("name", ok).unwrap();
        }
        for bad in ["", ".", "..", "../etc", "a/b", "a\\b", ".hidden", "sp ace", "é", &"a".repeat(65)] {
            assert!(check_segment("name", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_error_names_what_was_checked() {
        let err = check_segment("version", "../x").unwrap_err();
        assert_eq!(err, NameError { kind: "version".into(), value: "../x".into() });
        assert_eq!(err.to_string(), format!("invalid model version `../x`: {SEGMENT_RULE}"));
    }

    #[test]
    fn stems_become_valid_names() {
        assert_eq!(model_name_from_stem("mlp_digits"), "mlp_digits");
        assert_eq!(model_name_from_stem("my model.v2"), "my_model_v2");
        assert_eq!(model_name_from_stem(".hidden"), "_hidden");
        assert_eq!(model_name_from_stem("ré"), "r_");
        assert_eq!(model_name_from_stem(""), "model");
        assert_eq!(model_name_from_stem(&"é".repeat(100)), "_".repeat(64));
        for stem in ["", ".", "..", "a/b", "sp ace", "ünïcode", &"x".repeat(300)] {
            let name = model_name_from_stem(stem);
            check_segment("name", &name).unwrap_or_else(|e| panic!("{stem:?} gave {e}"));
        }
    }

    #[test]
    fn default_version_is_the_hash_prefix() {
        assert_eq!(default_version(&"ab".repeat(32)), "abababababab");
        assert_eq!(default_version("abc"), "abc");
        check_segment("version", &default_version(&"0f".repeat(32))).unwrap();
    }
}
