//! Byte counts for people. One rule for the whole project: binary units,
//! labelled as such (KiB, MiB, GiB), because memory figures everywhere
//! (`mem_mb`, device RAM, the fit estimate) are MiB.

/// The units after bytes, each 1024 times the one before.
const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];

/// `512 B`, `1.5 KiB`, `300.0 MiB`, `2.0 GiB`: one decimal, the largest unit
/// that keeps the number at 1 or more (GiB at most).
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Move up while the rounded figure would read 1024.0 or more.
    while unit + 1 < UNITS.len() && (value * 10.0).round() >= 10_240.0 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_with_one_decimal() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_bytes(314_600_000), "300.0 MiB");
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
        assert_eq!(human_bytes(3 << 40), "3072.0 GiB");
    }

    #[test]
    fn rounding_never_shows_1024_of_a_unit() {
        assert_eq!(human_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(human_bytes((1 << 20) - 60), "1023.9 KiB");
        assert_eq!(human_bytes((1 << 20) - 4 * 1024), "1020.0 KiB");
    }
}
