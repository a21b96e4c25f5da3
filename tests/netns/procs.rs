//! The real binaries in the namespaces: finding (or building) `edgefleet`
//! and `edgefleet-agent`, starting agents with `ip netns exec`, killing and
//! restarting them, and running console commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The token every agent of the suite is started with.
pub const TOKEN: &str = "netns-test-token";
/// The port every agent listens on (each in its own namespace).
pub const AGENT_PORT: u16 = 8470;

/// Paths of the two binaries under test.
pub struct Bins {
    pub console: PathBuf,
    pub agent: PathBuf,
}

/// The newest modification time of any file under `dir`.
fn newest_under(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    newest
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The binaries of this build: next to this test's own target directory.
/// When they are missing or older than the workspace sources (as after
/// `cargo test -p edgefleet-e2e`, which does not build other packages'
/// binaries), they are built with the cargo that built this test.
/// `EDGEFLEET_BIN` and `EDGEFLEET_AGENT_BIN` override both.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        if let (Some(console), Some(agent)) =
            (std::env::var_os("EDGEFLEET_BIN"), std::env::var_os("EDGEFLEET_AGENT_BIN"))
        {
            return Bins { console: console.into(), agent: agent.into() };
        }
        let exe = std::env::current_exe().expect("the test knows its own path");
        // target/<profile>/deps/netns-HASH → target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("the test runs from target/<profile>/deps");
        let bins = Bins { console: profile_dir.join("edgefleet"), agent: profile_dir.join("edgefleet-agent") };
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sources = ["crates", "ui/src"].iter().map(|d| newest_under(&workspace.join(d))).max();
        let fresh = |p: &Path| matches!((modified(p), sources), (Some(b), Some(s)) if b >= s);
        if !(fresh(&bins.console) && fresh(&bins.agent)) {
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            eprintln!("netns: building edgefleet and edgefleet-agent (missing or older than the sources)");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args([
                "build",
                "-p",
                "edgefleet",
                "--bin",
                "edgefleet",
                "-p",
                "edgefleet-agent",
                "--bin",
                "edgefleet-agent",
            ]);
            if release {
                cargo.arg("--release");
            }
            let status = cargo.current_dir(&workspace).status().expect("cargo runs");
            assert!(status.success(), "building the binaries failed");
        }
        bins
    })
}

/// One agent process in a namespace.
pub struct AgentProc {
    pub ns: String,
    pub data_dir: PathBuf,
    pub name: String,
    child: Option<Child>,
}

impl AgentProc {
    /// Start `edgefleet-agent` in `ns` on port [`AGENT_PORT`], mDNS on
    /// `lan0`, and wait (at most 20 s) for it to listen.
    pub fn start(ns: &str, name: &str, data_dir: &Path) -> AgentProc {
        let mut p = AgentProc { ns: ns.to_owned(), data_dir: data_dir.to_owned(), name: name.to_owned(), child: None };
        p.restart();
        p
    }

    /// (Re)start the process on the same port and data dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.name);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&bins().agent)
            .args(["--bind", "0.0.0.0", "--port", &AGENT_PORT.to_string(), "--interface", "lan0"])
            .args(["--token", TOKEN, "--name", &self.name, "--device-type", "smart_camera", "--data-dir"])
            .arg(&self.data_dir)
            .env("RUST_LOG", std::env::var("NETNS_AGENT_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the agent starts");
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        // The first line says where it listens; bounded by the agent's own
        // start-up (the reader ends when the process does).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        assert!(line.starts_with("listening on"), "{} did not start: {line:?}", self.name);
    }

    /// SIGKILL, as a power cut would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run the console CLI in `ns` with the given store; at most `limit`.
pub fn console(ns: &str, db: &Path, args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new("timeout")
        .arg(format!("{}", limit.as_secs().max(1)))
        .args(["ip", "netns", "exec", ns])
        .arg(&bins().console)
        .arg("--db")
        .arg(db)
        .args(["--token", TOKEN])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the console starts");
    // Read both pipes off-thread so a chatty process never blocks on a full pipe.
    let out = {
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let read = |p: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = p {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let o = read(stdout.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
        let e = read(stderr.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
        let status = child.wait().expect("the console ends");
        Output { status, stdout: o.join().unwrap_or_default(), stderr: e.join().unwrap_or_default() }
    };
    (out, started.elapsed())
}

/// Start the console CLI in `ns` in the background (at most `limit`), its
/// stdout and stderr going to `out` and `err`.
pub fn console_bg(ns: &str, db: &Path, args: &[&str], out: &Path, err: &Path, limit: Duration) -> Child {
    Command::new("timeout")
        .arg(format!("{}", limit.as_secs().max(1)))
        .args(["ip", "netns", "exec", ns])
        .arg(&bins().console)
        .arg("--db")
        .arg(db)
        .args(["--token", TOKEN])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("stdout file"))
        .stderr(std::fs::File::create(err).expect("stderr file"))
        .spawn()
        .expect("the console starts")
}

/// Bytes in the files under `dir` (an agent's partial uploads).
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
