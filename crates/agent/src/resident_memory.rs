//! This process's resident memory, from `/proc/self/status`: the current
//! resident set (`VmRSS`) and its peak (`VmHWM`), which can be reset to the
//! current figure (`/proc/self/clear_refs`, "5") so the peak of one step is
//! seen alone. Everything is `None` / `false` where the OS does not say.

const KIB_PER_MB: f64 = 1024.0;

fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    // "VmRSS:     12345 kB"
    let kb: f64 = line[key.len()..].trim_start_matches(':').split_whitespace().next()?.parse().ok()?;
    Some(kb / KIB_PER_MB)
}

/// Resident memory now, MB.
pub(crate) fn rss_mb() -> Option<f64> {
    status_mb("VmRSS")
}

/// Peak resident memory since start or the last [`reset_peak`], MB.
pub(crate) fn peak_mb() -> Option<f64> {
    status_mb("VmHWM")
}

/// Reset the peak to the current resident memory; false when the kernel
/// refused (then the peak keeps counting from earlier).
pub(crate) fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_allocation_shows_in_rss_and_peak() {
        let (Some(before), true) = (rss_mb(), reset_peak()) else {
            // Not Linux: nothing to check, and the agent then reports no memory.
            return;
        };
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let during = rss_mb().unwrap();
        drop(block);
        let peak = peak_mb().unwrap();
        assert!(during - before > 48.0, "{before} -> {during}");
        assert!(peak >= during - 1.0, "peak {peak} below {during}");
    }
}
