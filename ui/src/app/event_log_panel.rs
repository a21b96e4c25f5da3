//! The event log (bottom panel): devices joining and leaving, deploys,
//! optimizations and every error, newest last, with level colours.

use crate::app::command::UiCommand;
use edgefleet_fleet::LogLevel;
use egui::{Color32, RichText, Ui};
use std::collections::VecDeque;

/// Lines kept in memory.
pub const LOG_CAP: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
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

pub fn level_color(level: LogLevel) -> Color32 {
    match level {
        LogLevel::Info => Color32::from_rgb(150, 160, 170),
        LogLevel::Warn => Color32::from_rgb(235, 170, 30),
        LogLevel::Error => Color32::from_rgb(230, 80, 70),
    }
}

/// Local wall-clock `HH:MM:SS` (UTC: the console has no time zone database).
fn clock(at_ms: u64) -> String {
    let s = at_ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

pub fn event_log_ui(ui: &mut Ui, log: &EventLog, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Event log").strong());
        ui.weak(format!("{} events (UTC)", log.lines.len()));
        if ui.small_button("Clear").clicked() {
            commands.push(UiCommand::ClearLog);
        }
    });
    let row_h = ui.text_style_height(&egui::TextStyle::Monospace);
    egui::ScrollArea::vertical().auto_shrink([false, false]).stick_to_bottom(true).show_rows(
        ui,
        row_h,
        log.lines.len(),
        |ui, range| {
            for line in log.lines.range(range) {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(clock(line.at_ms)).monospace().weak());
                    ui.label(RichText::new(&line.message).color(level_color(line.level)));
                });
            }
        },
    );
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
