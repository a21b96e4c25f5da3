//! "Reveal file" in the model library: show the folder holding a model's
//! file with the system's opener — `xdg-open FOLDER` on Linux (it cannot
//! select a file), `open -R FILE` on macOS and `explorer /select,FILE` on
//! Windows (both select it). `$EDGEFLEET_OPENER`, read once when the app
//! starts ([`crate::app::AppConfig::opener`]), replaces the opener: it is
//! run with the folder as its one argument, like `xdg-open`.
//!
//! The opener runs on a background thread, never on the UI thread; a
//! failure (no such program, a non-zero exit) comes back as a toast with
//! the reason.

use crate::app::App;
use crate::app::background::BgEvent;
use edgefleet_fleet::LogLevel;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming another opener.
pub const OPENER_ENV: &str = "EDGEFLEET_OPENER";
/// How long an opener is waited for; one still running then (a file
/// manager that stays in the foreground) is taken as having worked.
const OPENER_WAIT: Duration = Duration::from_secs(10);
/// Bytes of the opener's error output kept for the toast.
const STDERR_BYTES: u64 = 4096;

/// The program and arguments that show `file` in a file manager: `opener`
/// with the folder when given, else the platform's own.
pub fn reveal_command(opener: Option<&str>, file: &Path) -> (OsString, Vec<OsString>) {
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Some(o) = opener {
        return (o.into(), vec![folder.into()]);
    }
    if cfg!(target_os = "macos") {
        ("open".into(), vec!["-R".into(), file.into()])
    } else if cfg!(windows) {
        let mut select = OsString::from("/select,");
        select.push(file);
        ("explorer".into(), vec![select])
    } else {
        ("xdg-open".into(), vec![folder.into()])
    }
}

/// Run the opener and wait for it (at most [`OPENER_WAIT`]); the reason
/// when it could not run or said it failed.
fn run_opener(program: &OsString, args: &[OsString]) -> Result<(), String> {
    let name = program.to_string_lossy().into_owned();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            // Explorer answers 1 even when it opened the window.
            Ok(Some(_)) if cfg!(windows) => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(stderr) = child.stderr.take() {
                    let _ = stderr.take(STDERR_BYTES).read_to_string(&mut err);
                }
                let why = err.lines().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
                return Err(format!("{name} failed ({status}){}", why.unwrap_or_default()));
            }
            Ok(None) if start.elapsed() < OPENER_WAIT => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("cannot wait for {name}: {e}")),
        }
    }
}

impl App {
    /// Show the folder of a library card's file in the file manager.
    pub(super) fn reveal_model(&mut self, card_id: i64) {
        let Some(card) = self.state.library.get(card_id) else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let title = card.title();
        let Some(path) = card.path.clone() else {
            return self.state.report(LogLevel::Warn, format!("{title} is a profile only: it has no file"));
        };
        let (program, args) = reveal_command(self.config.opener.as_deref(), &path);
        self.spawn_bg("reveal a model file", move || {
            if !path.is_file() {
                return BgEvent::Toast(format!("cannot reveal {title}: {} is gone", path.display()));
            }
            match run_opener(&program, &args) {
                Ok(()) => BgEvent::Log(LogLevel::Info, format!("showed the folder of {}", path.display())),
                Err(e) => BgEvent::Toast(format!("cannot reveal {title}: {e}")),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_opener_or_the_configured_one_gets_the_folder() {
        let file = Path::new("/models/digits/mlp.onnx");
        let (program, args) = reveal_command(Some("/usr/local/bin/show"), file);
        assert_eq!(
            (program.as_os_str(), args.as_slice()),
            ("/usr/local/bin/show".as_ref(), &["/models/digits".into()][..])
        );
        let (program, args) = reveal_command(None, file);
        if cfg!(target_os = "linux") {
            assert_eq!(program, "xdg-open");
            assert_eq!(args, ["/models/digits"]);
        }
        assert!(!args.is_empty());
        // A bare file name is in the working directory.
        assert_eq!(reveal_command(Some("show"), Path::new("m.onnx")).1, ["."]);
    }

    #[test]
    fn an_opener_that_fails_says_why() {
        assert!(
            run_opener(&"/nonexistent/opener".into(), &[]).unwrap_err().starts_with("cannot run /nonexistent/opener")
        );
        let sh: OsString = "sh".into();
        let args: Vec<OsString> = vec!["-c".into(), "echo 'no file manager here' >&2; exit 3".into()];
        let e = run_opener(&sh, &args).unwrap_err();
        assert!(e.contains("exit status: 3") && e.ends_with("no file manager here"), "{e}");
        assert!(run_opener(&sh, &["-c".into(), "true".into()]).is_ok());
    }
}
