//! Executing the commands that act on more than one device or on discovery:
//! the selection (click, Ctrl/Shift-click, select all shown, box select),
//! the group fit and rollouts (`rollout_commands.rs`), sweep, pairing and
//! the variant comparison. Called from `command_handling.rs`.

use crate::app::App;
use crate::app::command::UiCommand;
use edgefleet_fleet::{Command, LogLevel, SweepSpec};

impl App {
    pub(super) fn execute_group(&mut self, command: UiCommand) {
        match command {
            UiCommand::SelectDevice(id) => {
                self.state.selection.set_only(&id);
                self.state.selected = Some(id);
            }
            UiCommand::ClearSelection => {
                self.state.selection.clear();
                self.state.selected = None;
            }
            UiCommand::ToggleSelect(id) => {
                self.state.selection.toggle(&id);
                self.state.selected = self.state.selection.contains(&id).then_some(id);
            }
            UiCommand::SelectRange(id) => {
                let rows = self.shown_ids();
                let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
                self.state.selection.extend_to(&id, &rows);
                self.state.selected = Some(id);
            }
            UiCommand::SelectAllShown => {
                let rows = self.shown_ids();
                self.state.selection.set_many(rows);
            }
            UiCommand::SelectMany(ids) => self.state.selection.set_many(ids),
            UiCommand::OpenGroupFit { card_id, device_ids } => self.open_group_fit(card_id, device_ids),
            UiCommand::CloseGroupFit => self.state.group_fit = None,
            UiCommand::RollOut { card_id, targets, plan } => self.start_rollout(card_id, targets, plan),
            UiCommand::PauseRollout(key) => self.pause_rollout(key),
            UiCommand::ResumeRollout(key) => self.resume_rollout(key),
            UiCommand::AbortRollout(key) => self.abort_rollout(key),
            UiCommand::RollBackRollout(key) => self.roll_back_rollout(key),
            UiCommand::RollBackModel { device_id, name } => self.roll_back_device(device_id, name),
            UiCommand::ActivateModel { device_id, name, version } => self.activate_model(device_id, name, version),
            UiCommand::Sweep { spec } => self.sweep(&spec),
            UiCommand::Pair { device_ids, token } => self.pair_devices(device_ids, token),
            UiCommand::Unpair { device_id } => self.send(Command::Unpair { device_id }),
            UiCommand::RotateToken { device_id } => self.rotate_token(device_id),
            UiCommand::OpenCompare { card_id } => self.state.compare = Some(card_id),
            UiCommand::CloseCompare => self.state.compare = None,
            // The rest are executed in command_handling.rs.
            _ => {}
        }
    }

    /// The ids the device list shows now, in its order.
    pub(super) fn shown_ids(&mut self) -> Vec<String> {
        let s = &mut self.state;
        let rows = s.list_view.rows(&s.fleet, &s.filter, s.sort, s.sort_ascending);
        rows.iter().map(|&i| s.fleet.entries()[i].id().to_owned()).collect()
    }

    /// Start the engine's unicast sweep; a bad spec is reported, nothing sent.
    fn sweep(&mut self, spec: &str) {
        match spec.trim().parse::<SweepSpec>() {
            Ok(parsed) => {
                let probes = parsed.probe_count();
                self.state.find.sweeps_started += 1;
                self.state.find.progress = None;
                self.state.find.last_error = None;
                self.state.find.fleet_before = Some(self.state.fleet.len());
                self.state.report(LogLevel::Info, format!("sweep {}: {probes} probe(s)", spec.trim()));
                self.send(Command::Sweep { spec: parsed });
            }
            Err(e) => {
                let message = e.to_string();
                self.state.find.last_error = Some(message.clone());
                self.state.report(LogLevel::Warn, message);
            }
        }
    }
}
