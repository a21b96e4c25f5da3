//! Keyboard shortcuts, read once per frame before drawing: Ctrl+F focuses
//! the filter, Ctrl+A selects every device shown, the arrows move through
//! the list, Enter opens the detail of the device under the cursor in a
//! window of its own, Esc closes the open dialog. Keys typed into a text
//! field are left to it.

use crate::app::App;
use crate::app::command::UiCommand;
use egui::{Key, Modifiers};

impl App {
    pub(super) fn keyboard_step(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (find, all, up, down, enter, esc) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::COMMAND, Key::F),
                !typing && i.consume_key(Modifiers::COMMAND, Key::A),
                !typing && i.consume_key(Modifiers::NONE, Key::ArrowUp),
                !typing && i.consume_key(Modifiers::NONE, Key::ArrowDown),
                !typing && i.consume_key(Modifiers::NONE, Key::Enter),
                i.key_pressed(Key::Escape),
            )
        });
        if find {
            self.state.focus_filter = true;
        }
        if all {
            self.commands.push(UiCommand::SelectAllShown);
        }
        if up || down {
            self.move_cursor(if down { 1 } else { -1 });
        }
        if enter && self.state.selected.is_some() {
            self.state.detail_window_open = true;
        }
        if esc {
            self.close_top_dialog();
        }
    }

    /// Move the detail view's device one row up or down the list.
    fn move_cursor(&mut self, step: isize) {
        let rows = self.shown_ids();
        if rows.is_empty() {
            return;
        }
        let at = self.state.selected.as_ref().and_then(|s| rows.iter().position(|r| r == s));
        let next = match at {
            Some(i) => (i as isize + step).clamp(0, rows.len() as isize - 1) as usize,
            None => 0,
        };
        self.commands.push(UiCommand::SelectDevice(rows[next].clone()));
    }

    /// Esc: the dialog opened last goes first.
    fn close_top_dialog(&mut self) {
        let s = &mut self.state;
        if s.detail_window_open {
            s.detail_window_open = false;
        } else if s.group_fit.is_some() {
            s.group_fit = None;
        } else if s.fit.is_some() {
            self.commands.push(UiCommand::CloseFit);
        } else if s.compare.is_some() {
            s.compare = None;
        } else if s.find.open {
            s.find.open = false;
        } else if s.show_settings {
            s.show_settings = false;
        }
    }
}
