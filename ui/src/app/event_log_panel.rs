//! The event log (bottom panel): devices joining and leaving, deploys,
//! optimizations and every error, newest last, with level colours.

use crate::app::command::UiCommand;
use crate::app::event_log::{EventLog, clock};
use crate::app::style::level_color;
use egui::{RichText, Ui};

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
