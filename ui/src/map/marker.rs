//! What the app hands the map for each located device, and the status
//! palette that ranks colours so a cluster can show its worst member.

use edgefleet_core::device::DeviceStatus;
use egui::Color32;

/// A device with a location, as the map draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct MapMarker {
    pub id: String,
    pub label: String,
    pub lat: f64,
    pub lon: f64,
    /// Fill colour, normally [`status_color`] of the device's status.
    pub color: Color32,
    /// CPU load, 0..=1 (clamped when drawn), shown as an arc around the marker.
    pub load: f32,
}

impl MapMarker {
    /// A marker coloured by `status` with the shared palette.
    pub fn new(
        id: impl Into<String>,
        label: impl Into<String>,
        lat: f64,
        lon: f64,
        status: DeviceStatus,
        load: f32,
    ) -> Self {
        MapMarker { id: id.into(), label: label.into(), lat, lon, color: status_color(status), load }
    }
}

/// The map's colour for each status (also for the app's device list, so they agree).
pub fn status_color(status: DeviceStatus) -> Color32 {
    match status {
        DeviceStatus::Online => Color32::from_rgb(46, 180, 90),
        DeviceStatus::Stale => Color32::from_rgb(235, 170, 30),
        DeviceStatus::Offline => Color32::from_rgb(215, 55, 50),
    }
}

/// How bad a colour is: offline > stale > online > any colour not from
/// [`status_color`]. A cluster takes the colour of its worst member.
pub fn severity(color: Color32) -> u8 {
    if color == status_color(DeviceStatus::Offline) {
        3
    } else if color == status_color(DeviceStatus::Stale) {
        2
    } else if color == status_color(DeviceStatus::Online) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_the_palette() {
        let [online, stale, offline] =
            [DeviceStatus::Online, DeviceStatus::Stale, DeviceStatus::Offline].map(status_color);
        assert!(severity(offline) > severity(stale));
        assert!(severity(stale) > severity(online));
        assert!(severity(online) > severity(Color32::from_rgb(1, 2, 3)));
        let m = MapMarker::new("a", "A", 1.0, 2.0, DeviceStatus::Stale, 0.5);
        assert_eq!(m.color, stale);
    }
}
