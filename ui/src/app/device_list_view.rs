//! The device list's rows: filter and sort over the fleet, cached until the
//! fleet, the filter or the sort changes (the list panel draws from it).

use crate::app::fleet_model::{DeviceEntry, FleetModel};
use edgefleet_core::DeviceStatus;
use serde::{Deserialize, Serialize};

/// Device list columns that can be sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SortColumn {
    #[default]
    Name,
    Status,
    Load,
    Memory,
    Model,
}

/// The cached row order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeviceListView {
    key: Option<(u64, u64, String, SortColumn, bool)>,
    rows: Vec<usize>,
}

impl DeviceListView {
    /// Indices into `fleet.entries()` after filter and sort.
    pub fn rows(&mut self, fleet: &FleetModel, filter: &str, sort: SortColumn, ascending: bool) -> &[usize] {
        // Live numbers only matter when sorting by them.
        let live = match sort {
            SortColumn::Load | SortColumn::Memory => fleet.live_version(),
            _ => 0,
        };
        let fresh = self.key.as_ref().is_some_and(|(version, l, f, s, a)| {
            *version == fleet.version() && *l == live && f == filter && *s == sort && *a == ascending
        });
        if !fresh {
            self.rows = filtered_sorted(fleet, filter, sort, ascending);
            self.key = Some((fleet.version(), live, filter.to_owned(), sort, ascending));
        }
        &self.rows
    }
}

/// Filter (case-insensitive, on name, id, type, status, model) and sort.
pub fn filtered_sorted(fleet: &FleetModel, filter: &str, sort: SortColumn, ascending: bool) -> Vec<usize> {
    let needle = filter.trim().to_lowercase();
    let entries = fleet.entries();
    let mut rows: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            if needle.is_empty() {
                return true;
            }
            let e = &entries[i];
            e.device.display_name().to_lowercase().contains(&needle)
                || e.device.device_id.to_lowercase().contains(&needle)
                || e.device.device_type.label().to_lowercase().contains(&needle)
                || e.device.status.as_str().contains(&needle)
                || e.active_model().is_some_and(|m| m.to_lowercase().contains(&needle))
        })
        .collect();
    let status_rank = |s: DeviceStatus| match s {
        DeviceStatus::Online => 0,
        DeviceStatus::Stale => 1,
        DeviceStatus::Offline => 2,
    };
    rows.sort_by(|&a, &b| {
        let (ea, eb) = (&entries[a], &entries[b]);
        let ord = match sort {
            SortColumn::Name => ea.device.display_name().cmp(eb.device.display_name()),
            SortColumn::Status => status_rank(ea.status()).cmp(&status_rank(eb.status())),
            SortColumn::Load => ea.load().total_cmp(&eb.load()),
            SortColumn::Memory => {
                let f = |e: &DeviceEntry| {
                    let (u, t) = e.memory_mb();
                    u as f64 / t as f64
                };
                f(ea).total_cmp(&f(eb))
            }
            SortColumn::Model => ea.active_model().cmp(&eb.active_model()),
        }
        .then_with(|| ea.device.device_id.cmp(&eb.device.device_id));
        if ascending { ord } else { ord.reverse() }
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::{Device, DeviceType};

    #[test]
    fn filter_and_sort() {
        let mut f = FleetModel::default();
        for (id, t, load) in [
            ("cam-b", DeviceType::SmartCamera, 0.9),
            ("cam-a", DeviceType::SmartCamera, 0.1),
            ("srv", DeviceType::EdgeServer, 0.5),
        ] {
            let mut d = Device::new(id, t, 2, 1024, 8.0);
            d.current_load = load;
            f.upsert_device(d);
        }
        let ids = |rows: Vec<usize>| rows.into_iter().map(|i| f.entries()[i].id().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(filtered_sorted(&f, "", SortColumn::Name, true)), ["cam-a", "cam-b", "srv"]);
        assert_eq!(ids(filtered_sorted(&f, "CAMERA", SortColumn::Load, false)), ["cam-b", "cam-a"]);
        assert!(filtered_sorted(&f, "toaster", SortColumn::Name, true).is_empty());
    }

    #[test]
    fn rows_are_cached_until_something_changes() {
        let mut f = FleetModel::default();
        f.upsert_device(Device::new("a", DeviceType::IotSensor, 1, 512, 1.0));
        let mut view = DeviceListView::default();
        assert_eq!(view.rows(&f, "", SortColumn::Name, true), &[0]);
        f.upsert_device(Device::new("b", DeviceType::IotSensor, 1, 512, 1.0));
        assert_eq!(view.rows(&f, "", SortColumn::Name, false), &[1, 0]);
        assert_eq!(view.rows(&f, "b", SortColumn::Name, false), &[1]);
    }
}
