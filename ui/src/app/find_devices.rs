//! The Find devices dialog's model: the sweep spec and address being typed,
//! the last sweep's error, and how many devices the fleet had when the
//! sweep started (the dialog lists what arrived since), and its progress.

/// The Find devices dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct FindDevices {
    pub open: bool,
    /// `CIDR:PORTS`, e.g. `192.168.1.0/24:8470`.
    pub sweep_spec: String,
    /// `host:port` to add one device.
    pub addr: String,
    pub sweeps_started: usize,
    pub last_error: Option<String>,
    /// Fleet size when the last sweep started.
    pub fleet_before: Option<usize>,
    /// The running (or last) sweep's progress, and whether it has ended.
    pub progress: Option<(edgefleet_fleet::SweepProgress, bool)>,
}

impl Default for FindDevices {
    fn default() -> Self {
        FindDevices {
            open: false,
            sweep_spec: "127.0.0.1/32:8470-8479".into(),
            addr: String::new(),
            sweeps_started: 0,
            last_error: None,
            fleet_before: None,
            progress: None,
        }
    }
}
