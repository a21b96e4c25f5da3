//! Wall-clock time as the project stores and sends it: Unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time now, in milliseconds. A clock set before 1970 reads as 0
/// rather than failing: timestamps only order and age things here.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2020_and_moves_forward() {
        let a = now_ms();
        assert!(a > 1_577_836_800_000, "{a}");
        assert!(now_ms() >= a);
    }
}
