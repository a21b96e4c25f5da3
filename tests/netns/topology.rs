//! A virtual LAN made of Linux network namespaces, built with `ip` and torn
//! down on drop (also when a test panics):
//!
//! ```text
//!                bridge br0 (in ns `br`, mcast_snooping 0)
//!   con ──lan0──┤  10.77.0.0/24  ├──lan0── a1 … a8
//!               └──lan0── router (10.77.0.1, ip_forward) ──br1── b1, b2
//!                                 10.77.1.0/24: multicast does not cross
//! ```
//!
//! Every address lives inside a namespace this module created; nothing is
//! added to the host's own network. Names carry the test process id, and
//! namespaces left behind by a killed run (whose process is gone) are
//! removed at the next start.

use super::impair::{Impairment, Link};
use super::tun::Tun;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Prefix of every namespace and host-side interface this suite creates.
pub const PREFIX: &str = "efnt";
/// The LAN's /24 (agents at .11-.18, the console at .2, the router at .1).
pub const LAN: &str = "10.77.0";
/// The routed subnet's /24 (agents at .11, .12, the router at .1).
pub const SUBNET: &str = "10.77.1";

/// Why the suite cannot run here (not root, no `ip`, no namespaces).
#[derive(Debug)]
pub struct Unsupported(pub String);

/// Run `ip ARGS…`; a failure is an error carrying its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out =
        Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Run `ip netns exec NS sysctl -qw KEY=VALUE`.
fn sysctl(ns: &str, kv: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw", kv])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run sysctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("sysctl {kv} in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Kill what still runs in `ns` (processes a killed earlier run of this
/// suite started there) and delete it.
fn remove_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = ip(&["netns", "del", ns]);
}

/// Remove namespaces of earlier runs whose test process is gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(pid) = digits.parse::<u32>()
            && pid != std::process::id()
            && !pid_alive(pid)
        {
            remove_namespace(name);
        }
    }
}

/// The namespaces of one test run; all deleted on drop.
pub struct Lan {
    tag: String,
    namespaces: Vec<String>,
    /// Agent namespaces on the LAN, in order (a1 …).
    pub lan_agents: Vec<String>,
    /// Agent namespaces behind the router (b1 …).
    pub routed_agents: Vec<String>,
    pub console: String,
    pub router: String,
}

impl Lan {
    /// The namespace named `role` for this run, e.g. `efnt1234x-a1`.
    fn name(&self, role: &str) -> String {
        format!("{PREFIX}{}-{role}", self.tag)
    }

    fn add_namespace(&mut self, role: &str) -> Result<String, String> {
        let ns = self.name(role);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A veth pair: `lan0` in `ns` with `addr`, the other end `port` in
    /// `bridge_ns` enslaved to `bridge`.
    fn attach(&self, ns: &str, addr: &str, bridge_ns: &str, bridge: &str, port: &str) -> Result<(), String> {
        ip(&["link", "add", "lan0", "netns", ns, "type", "veth", "peer", "name", port, "netns", bridge_ns])?;
        ip(&["-n", bridge_ns, "link", "set", port, "master", bridge, "up"])?;
        ip(&["-n", ns, "addr", "add", addr, "dev", "lan0"])?;
        ip(&["-n", ns, "link", "set", "lan0", "multicast", "on", "up"])
    }

    fn add_bridge(ns: &str, bridge: &str) -> Result<(), String> {
        ip(&["-n", ns, "link", "add", bridge, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"])?;
        // No forward delay: ports forward the moment they come up.
        ip(&["-n", ns, "link", "set", bridge, "type", "bridge", "forward_delay", "0"])?;
        ip(&["-n", ns, "link", "set", bridge, "multicast", "on", "up"])
    }

    /// Build the LAN with `lan_agents` agent namespaces on the bridge and
    /// `routed_agents` behind the router. `Err(Unsupported)` when
    /// namespaces cannot be made here.
    pub fn build(lan_agents: usize, routed_agents: usize) -> Result<Lan, Unsupported> {
        // A run of one test binary may build several LANs: a counter keeps names apart.
        static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        remove_stale();
        let mut lan = Lan {
            tag: format!("{}x{run}", std::process::id()),
            namespaces: Vec::new(),
            lan_agents: Vec::new(),
            routed_agents: Vec::new(),
            console: String::new(),
            router: String::new(),
        };
        let br = lan.add_namespace("br").map_err(Unsupported)?;
        let started = Instant::now();
        lan.wire(&br, lan_agents, routed_agents).map_err(|e| Unsupported(format!("building the LAN failed: {e}")))?;
        eprintln!("netns: LAN with {lan_agents}+{routed_agents} agent namespaces built in {:?}", started.elapsed());
        Ok(lan)
    }

    fn wire(&mut self, br: &str, lan_agents: usize, routed_agents: usize) -> Result<(), String> {
        Self::add_bridge(br, "br0")?;
        self.console = self.add_namespace("con")?;
        self.attach(&self.console, &format!("{LAN}.2/24"), br, "br0", "pcon")?;
        ip(&["-n", &self.console, "route", "add", &format!("{SUBNET}.0/24"), "via", &format!("{LAN}.1")])?;

        self.router = self.add_namespace("rt")?;
        self.attach(&self.router, &format!("{LAN}.1/24"), br, "br0", "prt")?;
        Self::add_bridge(&self.router, "br1")?;
        ip(&["-n", &self.router, "addr", "add", &format!("{SUBNET}.1/24"), "dev", "br1"])?;
        sysctl(&self.router, "net.ipv4.ip_forward=1")?;

        for i in 1..=lan_agents {
            let ns = self.add_namespace(&format!("a{i}"))?;
            self.attach(&ns, &format!("{LAN}.{}/24", 10 + i), br, "br0", &format!("pa{i}"))?;
            ip(&["-n", &ns, "route", "add", "default", "via", &format!("{LAN}.1")])?;
            self.lan_agents.push(ns);
        }
        for i in 1..=routed_agents {
            let ns = self.add_namespace(&format!("b{i}"))?;
            self.attach(&ns, &format!("{SUBNET}.{}/24", 10 + i), &self.router.clone(), "br1", &format!("pb{i}"))?;
            ip(&["-n", &ns, "route", "add", "default", "via", &format!("{SUBNET}.1")])?;
            self.routed_agents.push(ns);
        }
        Ok(())
    }

    /// The LAN address of agent namespace `ns`.
    pub fn addr_of(&self, ns: &str) -> String {
        if let Some(i) = self.lan_agents.iter().position(|n| n == ns) {
            format!("{LAN}.{}", 11 + i)
        } else if let Some(i) = self.routed_agents.iter().position(|n| n == ns) {
            format!("{SUBNET}.{}", 11 + i)
        } else {
            format!("{LAN}.2")
        }
    }

    /// A second console namespace that reaches the LAN only through a
    /// userspace link with `imp` (delay, jitter, loss) both ways:
    /// `cim` (10.77.9.2, TUN `imp0`) ⇄ forwarder ⇄ TUN `imp1` on the router
    /// (10.77.9.1), which routes to the LAN. Returns the namespace and the
    /// running link.
    pub fn impaired_console(&mut self, imp: Impairment, seed: u64) -> Result<(String, Link), String> {
        let ns = self.add_namespace("cim")?;
        let mut tuns = Vec::new();
        for (side, target, addr) in [("a", ns.clone(), "10.77.9.2/24"), ("b", self.router.clone(), "10.77.9.1/24")] {
            // Created here, moved at once (down, no address) into its namespace.
            let tun = Tun::create(&format!("efti{}{side}", self.tag)).map_err(|e| format!("cannot open a TUN: {e}"))?;
            let inner = if side == "a" { "imp0" } else { "imp1" };
            ip(&["link", "set", "dev", &tun.name, "netns", &target])?;
            ip(&["-n", &target, "link", "set", "dev", &tun.name, "name", inner])?;
            ip(&["-n", &target, "addr", "add", addr, "dev", inner])?;
            ip(&["-n", &target, "link", "set", inner, "up"])?;
            sysctl(&target, "net.ipv4.conf.all.rp_filter=0")?;
            tuns.push(tun);
        }
        ip(&["-n", &ns, "route", "add", &format!("{LAN}.0/24"), "dev", "imp0"])?;
        let b = tuns.pop().ok_or("no TUN")?;
        let a = tuns.pop().ok_or("no TUN")?;
        Ok((ns, Link::start(a, b, imp, seed)))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            remove_namespace(ns);
        }
    }
}
