//! Toasts: a failed job or rollout shows a short note in the corner for a
//! few seconds, as well as its line in the event log.

/// How long a toast stays, in seconds.
pub const TOAST_S: f64 = 8.0;
/// Toasts shown at once at most; older ones leave first.
const MAX_TOASTS: usize = 4;

/// One note.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub message: String,
    /// When it was raised, in seconds on the app's clock.
    pub at_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Toasts {
    pub list: Vec<Toast>,
}

impl Toasts {
    /// Raise a toast with the first line of `message`.
    pub fn push(&mut self, message: &str, now_s: f64) {
        let line = message.lines().next().unwrap_or_default().to_owned();
        self.list.push(Toast { message: line, at_s: now_s });
        if self.list.len() > MAX_TOASTS {
            self.list.remove(0);
        }
    }

    /// Drop the toasts older than [`TOAST_S`].
    pub fn expire(&mut self, now_s: f64) {
        self.list.retain(|t| now_s - t.at_s < TOAST_S);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toasts_keep_one_line_and_expire() {
        let mut t = Toasts::default();
        for i in 0..6 {
            t.push(&format!("job {i} failed\nbacktrace"), i as f64);
        }
        assert_eq!(t.list.len(), 4);
        assert_eq!(t.list[0].message, "job 2 failed");
        t.expire(12.0);
        assert_eq!(t.list.iter().map(|x| x.message.as_str()).collect::<Vec<_>>(), ["job 5 failed"]);
    }
}
