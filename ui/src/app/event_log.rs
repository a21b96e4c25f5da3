//! The event log's lines: devices joining and leaving, deploys,
//! optimizations and every error, newest last, bounded.

use edgefleet_fleet::LogLevel;
use std::collections::VecDeque;

/// Lines kept in memory.
pub const LOG_CAP: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLog {
    pub lines: VecDeque<LogLine>,
}

impl EventLog {
    pub fn push(&mut self, at_ms: u64, level: LogLevel, message: impl Into<String>) {
        if self.lines.len() >= LOG_CAP {
            self.lines.pop_front();
        }
        self.lines.push_back(LogLine { at_ms, level, message: message.into() });
    }

    /// Whether any line contains `text` (used by tests and the status line).
    pub fn contains(&self, text: &str) -> bool {
        self.lines.iter().any(|l| l.message.contains(text))
    }
}

/// Wall-clock `HH:MM:SS` of a line (UTC: the console has no time zone database).
pub fn clock(at_ms: u64) -> String {
    let s = at_ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_and_searchable() {
        let mut log = EventLog::default();
        for i in 0..(LOG_CAP + 5) {
            log.push(i as u64, LogLevel::Info, format!("line {i}"));
        }
        assert_eq!(log.lines.len(), LOG_CAP);
        assert!(log.contains(&format!("line {}", LOG_CAP + 4)));
        assert!(!log.contains("line 0\u{0}"));
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
