//! The Charts tab: live CPU, memory, inference latency and qps for the
//! selected devices (the shared selection, the focused one first, at most
//! [`MAX_DEVICE_LINES`] lines) and for the whole fleet, drawn from the ring buffers in
//! [`FleetModel`] by borrowing their slices (no copy per frame), over a
//! chosen time window.

use crate::app::app_state::ChartWindow;
use crate::app::fleet_model::{DeviceHistory, FleetModel, SeriesBuffer};
use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// (plot id, title, which series, fixed top of the y axis).
type ChartSpec = (&'static str, &'static str, fn(&DeviceHistory) -> &SeriesBuffer, Option<f64>);

/// Device lines drawn at most; more would be unreadable (the fleet line
/// stands for the rest).
pub const MAX_DEVICE_LINES: usize = 6;
const DEVICE_COLORS: [Color32; MAX_DEVICE_LINES] = [
    Color32::from_rgb(90, 170, 240),
    Color32::from_rgb(120, 210, 130),
    Color32::from_rgb(220, 110, 200),
    Color32::from_rgb(240, 90, 90),
    Color32::from_rgb(160, 140, 250),
    Color32::from_rgb(90, 220, 220),
];
const FLEET_COLOR: Color32 = Color32::from_rgb(240, 170, 60);

/// `shown`: the devices to draw (the focused one first); `selected`: how
/// many the selection holds in all.
pub fn charts_tab_ui(
    ui: &mut Ui,
    fleet: &FleetModel,
    shown: &[&str],
    selected: usize,
    window: &mut ChartWindow,
    now_s: f64,
) {
    let devices: Vec<_> = shown.iter().filter_map(|id| fleet.get(id)).take(MAX_DEVICE_LINES).collect();
    ui.horizontal(|ui| {
        ui.heading("Load");
        match devices.as_slice() {
            [] => ui.weak("fleet (select devices to compare them)"),
            [d] => ui.label(format!("{} vs fleet average", d.device.display_name())),
            many if selected > many.len() => {
                ui.label(format!("{} of {selected} selected devices vs fleet average", many.len()))
            }
            many => ui.label(format!("{} selected devices vs fleet average", many.len())),
        };
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            for w in ChartWindow::ALL.into_iter().rev() {
                ui.selectable_value(window, w, w.label());
            }
            ui.weak("Window:");
        });
    });
    let since = now_s - window.seconds();
    let avail = ui.available_size();
    let h = ((avail.y - 24.0) / 2.0).max(120.0);
    let w = ((avail.x - 12.0) / 2.0).max(160.0);
    let pick: [ChartSpec; 4] = [
        ("cpu", "CPU load (%)", |h| &h.cpu_pct, Some(100.0)),
        ("mem", "Memory used (%)", |h| &h.mem_pct, Some(100.0)),
        ("lat", "Inference latency p50 (ms)", |h| &h.latency_ms, None),
        ("qps", "Predict requests per second", |h| &h.qps, None),
    ];
    egui::Grid::new("charts-grid").num_columns(2).spacing([12.0, 12.0]).show(ui, |ui| {
        for (i, (id, title, series, max_y)) in pick.into_iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(w);
                ui.horizontal(|ui| {
                    ui.label(title);
                    if id == "lat" && series(&fleet.fleet).is_empty() {
                        ui.weak("(no inference traffic yet)");
                    }
                });
                let fleet_pts = series(&fleet.fleet).since(since);
                let mut plot = Plot::new(id)
                    .height(h - 20.0)
                    .width(w)
                    .legend(Legend::default())
                    .include_x(since)
                    .include_x(now_s)
                    .include_y(0.0)
                    .allow_scroll(false)
                    .allow_zoom(false)
                    .allow_drag(false)
                    .x_axis_formatter(move |mark, _| format!("{:.0} s", mark.value - now_s));
                if let Some(m) = max_y {
                    plot = plot.include_y(m);
                }
                plot.show(ui, |p| {
                    p.line(Line::new("fleet", PlotPoints::Borrowed(fleet_pts)).color(FLEET_COLOR));
                    for (d, color) in devices.iter().zip(DEVICE_COLORS) {
                        let pts = PlotPoints::Borrowed(series(&d.history).since(since));
                        p.line(Line::new(d.device.display_name(), pts).color(color).width(2.0));
                    }
                });
            });
            if i % 2 == 1 {
                ui.end_row();
            }
        }
    });
}
