//! The Charts tab: live CPU, memory, inference latency and qps for the
//! selected device and for the whole fleet, drawn from the ring buffers in
//! [`FleetModel`] by borrowing their slices (no copy per frame), over a
//! chosen time window.

use crate::app::app_state::ChartWindow;
use crate::app::fleet_model::{DeviceHistory, FleetModel, SeriesBuffer};
use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// (plot id, title, which series, fixed top of the y axis).
type ChartSpec = (&'static str, &'static str, fn(&DeviceHistory) -> &SeriesBuffer, Option<f64>);

const DEVICE_COLOR: Color32 = Color32::from_rgb(90, 170, 240);
const FLEET_COLOR: Color32 = Color32::from_rgb(240, 170, 60);

pub fn charts_tab_ui(ui: &mut Ui, fleet: &FleetModel, selected: Option<&str>, window: &mut ChartWindow, now_s: f64) {
    let device = selected.and_then(|id| fleet.get(id));
    ui.horizontal(|ui| {
        ui.heading("Load");
        match device {
            Some(d) => ui.label(format!("{} vs fleet average", d.device.display_name())),
            None => ui.weak("fleet (select a device to compare it)"),
        };
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            for w in ChartWindow::ALL.into_iter().rev() {
                ui.selectable_value(window, w, w.label());
            }
            ui.weak("Window:");
        });
    });
    let since = now_s - window.seconds();
    let dev_hist = device.map(|d| &d.history);
    let name = device.map(|d| d.device.display_name().to_owned()).unwrap_or_default();
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
                let dev_pts = dev_hist.map(|h| series(h).since(since));
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
                    if let Some(pts) = dev_pts {
                        p.line(Line::new(name.clone(), PlotPoints::Borrowed(pts)).color(DEVICE_COLOR).width(2.0));
                    }
                });
            });
            if i % 2 == 1 {
                ui.end_row();
            }
        }
    });
}
