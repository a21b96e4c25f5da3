//! A real Mosquitto broker for tests: started on a free port of 127.0.0.1
//! with a generated config (anonymous clients allowed, nothing persisted),
//! killed when dropped. Without a `mosquitto` binary the tests that need
//! one are skipped with a message locally, and FAIL when `CI` is set
//! (scripts/install-test-deps.sh installs it).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The `mosquitto` binary: on PATH, else where Debian puts it.
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/mosquitto")]).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

impl Mosquitto {
    /// A broker on a free port; `None` (test skipped) without mosquitto,
    /// unless `CI` is set.
    pub fn start() -> Option<Mosquitto> {
        Self::start_on(free_port())
    }

    /// A broker on `port` (also to restart one where it was).
    pub fn start_on(port: u16) -> Option<Mosquitto> {
        Self::launch(port, "allow_anonymous true\n")
    }

    /// A broker on a free port with these config lines (logins, ACLs)
    /// instead of `allow_anonymous true`.
    pub fn start_with(config: &str) -> Option<Mosquitto> {
        Self::launch(free_port(), config)
    }

    fn launch(port: u16, config: &str) -> Option<Mosquitto> {
        let Some(bin) = binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but mosquitto is missing (scripts/install-test-deps.sh)"
            );
            eprintln!("skipped: no mosquitto binary (apt-get install mosquitto, or scripts/install-test-deps.sh)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\n{config}persistence false\nset_tcp_nodelay true\nlog_dest stderr\nlog_type error\n"
        );
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(bin).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let mut broker = Mosquitto { child, port, dir };
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("mosquitto exited at start: {status}");
            }
            assert!(started.elapsed() < START_TIMEOUT, "mosquitto did not listen on {port} within {START_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(broker)
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stop the broker (SIGKILL) and wait for it.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}
