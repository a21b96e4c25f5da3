//! Colours, icons and the small widgets more than one panel draws, so no
//! panel borrows them from another.

use crate::app::jobs::JobView;
use edgefleet_core::DeviceType;
use edgefleet_fleet::{JobState, LogLevel};
use egui::{Color32, RichText, Ui};

/// Green for "fits" and "done".
pub const OK_COLOR: Color32 = Color32::from_rgb(46, 180, 90);
/// Red for "does not fit": the list tint, the map halo, the fit panel.
pub const MISFIT_COLOR: Color32 = Color32::from_rgb(220, 60, 60);

/// The colour of a log level (event log, status line).
pub fn level_color(level: LogLevel) -> Color32 {
    match level {
        LogLevel::Info => Color32::from_rgb(150, 160, 170),
        LogLevel::Warn => Color32::from_rgb(235, 170, 30),
        LogLevel::Error => Color32::from_rgb(230, 80, 70),
    }
}

/// The icon of a device type (list rows, detail heading).
pub fn type_icon(t: DeviceType) -> &'static str {
    match t {
        DeviceType::MobilePhone => "📱",
        DeviceType::IotSensor => "📡",
        DeviceType::EdgeServer => "🖥",
        DeviceType::EmbeddedDevice => "🔌",
        DeviceType::SmartCamera => "📷",
        DeviceType::AutonomousVehicle => "🚗",
    }
}

/// A job's title, progress bar and last message (fit panel, Deployments tab).
pub fn job_progress_ui(ui: &mut Ui, job: &JobView) {
    ui.add_space(4.0);
    ui.label(RichText::new(&job.title).small().strong());
    match &job.state {
        JobState::Running => {
            let bar = egui::ProgressBar::new(job.progress.unwrap_or(0.0)).text(job.message.clone()).animate(true);
            ui.add(bar);
        }
        JobState::Done(msg) => {
            ui.add(egui::ProgressBar::new(1.0).text(msg.clone()).fill(OK_COLOR.gamma_multiply(0.7)));
        }
        JobState::Failed(msg) => {
            ui.colored_label(MISFIT_COLOR, format!("Failed: {msg}"));
        }
    }
}
