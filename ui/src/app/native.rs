//! The native window: [`run_gui`] opens it and builds the app inside
//! eframe's creator, after the saved state is readable (so the engine
//! starts with the saved settings); the window icon and fonts; and the
//! `eframe::App` glue — logic, then ui, then save.

use crate::app::App;
use crate::app::app_state::AppState;
use crate::app::config::AppConfig;
use egui::Ui;
use std::sync::{Arc, Mutex};

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.draw_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // A demo must not overwrite the user's own layout and selection.
        if self.demo.is_none() {
            eframe::set_value::<AppState>(storage, eframe::APP_KEY, &self.state);
        }
    }
}

/// `edgefleet` with no subcommand: open the window.
pub fn run_gui(config: AppConfig) -> anyhow::Result<()> {
    let title = if config.demo.is_some() { "edgefleet — demo" } else { "edgefleet" };
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(title)
        .with_app_id("edgefleet")
        .with_inner_size([1440.0, 900.0])
        .with_min_inner_size([960.0, 600.0])
        .with_drag_and_drop(true);
    if let Some(icon) = app_icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions { viewport, ..Default::default() };
    // The app's own error, kept whole (its cause chain decides the exit code)
    // rather than flattened into eframe's.
    let failure: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let slot = failure.clone();
    let outcome = eframe::run_native(
        "edgefleet",
        options,
        Box::new(move |cc| match App::new(cc, config) {
            Ok(app) => Ok(Box::new(app)),
            Err(e) => {
                let message = format!("{e:#}");
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(e);
                }
                Err(message.into())
            }
        }),
    );
    if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(e);
    }
    outcome.map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// egui's fonts with the monospace font as a last fallback of the
/// proportional family: engine messages use arrows (→) that Ubuntu-Light lacks.
pub fn fonts() -> egui::FontDefinitions {
    let mut defs = egui::FontDefinitions::default();
    if defs.font_data.contains_key("Hack")
        && let Some(family) = defs.families.get_mut(&egui::FontFamily::Proportional)
        && !family.iter().any(|f| f == "Hack")
    {
        family.push("Hack".to_owned());
    }
    defs
}

/// The window icon, decoded from the 64×64 RGBA bytes shipped in `icons/`.
fn app_icon() -> Option<egui::IconData> {
    let rgba = include_bytes!("../../../icons/edgefleet-64.rgba");
    (rgba.len() == 64 * 64 * 4).then(|| egui::IconData { rgba: rgba.to_vec(), width: 64, height: 64 })
}
