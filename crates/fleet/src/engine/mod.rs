//! The fleet engine: a tokio runtime on its own thread that discovers
//! devices, polls their metrics, tracks liveness and runs jobs. The GUI (or
//! any caller) sends [`Command`]s through the [`FleetEngine`] handle and
//! drains [`Event`]s; it never waits on the network, the disk or a long job.
//!
//! Here: the handle and the run loop. The vocabulary is in `protocol`
//! (commands) and `events`; jobs are in `jobs`, the liveness rules in
//! `tracker`, resolving and confirming addresses in `confirm`, and the mDNS
//! browse task in `browse`.

mod broker;
mod browse;
mod confirm;
mod events;
mod jobs;
mod pins;
mod protocol;
mod stored;
mod tracker;

pub use crate::directory::{Directory, Route};
pub use confirm::{lookup_addr, resolve_addr};
pub use protocol::{Command, DeviceSnapshot, Event, JobContext, JobFn, JobId, JobState, JobUpdate, LogEntry, LogLevel};

use crate::client::{AgentClient, http_client};
use crate::discovery::BrowseEvent;
use crate::error::{FleetError, Result};
use crate::liveness::{LivenessPolicy, now_ms};
use crate::scan::{Found, Source};
use crate::store_writer::StoreWriter;
use browse::BrowseTask;
use confirm::Confirmer;
use edgefleet_core::wire::Metrics;
use edgefleet_core::{Device, DeviceStatus};
use edgefleet_store::{DeviceRecord, Store, TelemetrySample};
use events::EventSink;
use jobs::{JobEnv, spawn_job};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use stored::stored_fleet;
use tokio::sync::mpsc as tmpsc;
use tracker::{Cause, LivenessTracker};

/// The shortest poll interval the engine accepts.
const MIN_POLL_INTERVAL_MS: u64 = 100;

/// How the engine runs.
#[derive(Clone)]
pub struct EngineConfig {
    /// Browse mDNS at all (off where multicast is blocked).
    pub mdns: bool,
    /// mDNS interfaces (all when empty). Tests and demos use `["lo"]`.
    pub interfaces: Vec<String>,
    pub poll_interval_ms: u64,
    /// Token for devices with none stored.
    pub default_token: Option<String>,
    /// Where devices, telemetry and audit go (none: memory only).
    pub store: Option<Arc<Mutex<Store>>>,
    /// Telemetry is downsampled to one stored row per device per bucket.
    pub telemetry_bucket_ms: u64,
    /// An MQTT broker to watch from the start ([`Command::SetBroker`] later).
    pub broker: Option<crate::discovery::mqtt::BrokerSpec>,
    /// Signs deployed models; its key is pinned on devices at pairing.
    pub signer: Option<Arc<crate::model_signing::ModelSigner>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            mdns: true,
            interfaces: Vec::new(),
            poll_interval_ms: 1_000,
            default_token: None,
            store: None,
            telemetry_bucket_ms: 10_000,
            broker: None,
            signer: None,
        }
    }
}

/// Handle to a running engine.
pub struct FleetEngine {
    commands: tmpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
    directory: Directory,
    /// The next [`JobId`]: handed out here, not on the engine thread, so the
    /// caller knows a job's id before any of its events arrive.
    next_job: AtomicU64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FleetEngine {
    /// Start the engine thread. `notify` is called after each event (the GUI
    /// passes `ctx.request_repaint`).
    pub fn start(config: EngineConfig, notify: impl Fn() + Send + Sync + 'static) -> Result<FleetEngine> {
        const THREAD: &str = "edgefleet-engine";
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(THREAD)
            .enable_all()
            .build()
            .map_err(FleetError::Runtime)?;
        let (cmd_tx, cmd_rx) = tmpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let sink = EventSink::new(ev_tx, Arc::new(notify));
        let http = http_client()?;
        let directory = Directory::new(http.clone());
        directory.set_signer(config.signer.clone());
        let dir = directory.clone();
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || runtime.block_on(async move { Engine::run(config, sink, dir, http, cmd_rx).await }))
            .map_err(|source| FleetError::Thread { name: THREAD.into(), source })?;
        Ok(FleetEngine {
            commands: cmd_tx,
            events: ev_rx,
            directory,
            next_job: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    pub fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| FleetError::EngineStopped)
    }

    /// Start a job on the engine's runtime and return its id at once; its
    /// progress arrives as [`Event::Job`] updates carrying that id.
    /// If the engine has stopped, the job never runs and no update comes.
    pub fn start_job(&self, title: impl Into<String>, run: JobFn) -> JobId {
        let id = JobId(self.next_job.fetch_add(1, Ordering::Relaxed));
        let title = title.into();
        if self.send(Command::Job { id, title: title.clone(), run }).is_err() {
            tracing::error!("cannot start {title:?}: the fleet engine has stopped");
        }
        id
    }

    /// The next pending event, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Wait up to `timeout` for the next event (for tests and the CLI).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Stop the engine and wait for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FleetEngine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the engine knows of a device besides its liveness.
struct Tracked {
    snapshot: DeviceSnapshot,
    token: Option<String>,
    /// A metrics poll is in flight: do not start another.
    polling: bool,
}

/// Results of the engine's own tasks, back on the loop.
enum Internal {
    Browse(BrowseEvent),
    Confirmed(Box<Found>, Option<String>),
    Poll { device_id: String, result: Result<Metrics>, rtt_ms: f64 },
    Broker(crate::discovery::mqtt::BrokerEvent),
}

struct Engine {
    config: EngineConfig,
    sink: EventSink,
    directory: Directory,
    http: reqwest::Client,
    devices: HashMap<String, Tracked>,
    liveness: LivenessTracker,
    tokens: HashMap<String, String>,
    writer: Option<StoreWriter>,
    /// The running mDNS browse, if mDNS is on and could start.
    browse: Option<BrowseTask>,
    /// The broker watch, when one is set ([`Command::SetBroker`]).
    broker: Option<crate::discovery::mqtt::BrokerWatch>,
    /// Every poll interval: re-evaluate liveness, poll every device.
    tick: tokio::time::Interval,
    int_tx: tmpsc::UnboundedSender<Internal>,
}

impl Engine {
    /// Run until [`Command::Shutdown`] or until every handle is gone.
    async fn run(
        config: EngineConfig,
        sink: EventSink,
        directory: Directory,
        http: reqwest::Client,
        mut commands: tmpsc::UnboundedReceiver<Command>,
    ) {
        let (int_tx, mut int_rx) = tmpsc::unbounded_channel::<Internal>();
        let poll_interval_ms = config.poll_interval_ms.max(MIN_POLL_INTERVAL_MS);
        let mut engine = Engine {
            liveness: LivenessTracker::new(LivenessPolicy::for_poll_interval(poll_interval_ms)),
            writer: config.store.clone().map(StoreWriter::start),
            tick: poll_ticker(poll_interval_ms),
            config: EngineConfig { poll_interval_ms, ..config },
            sink,
            directory,
            http,
            devices: HashMap::new(),
            tokens: HashMap::new(),
            browse: None,
            broker: None,
            int_tx,
        };
        engine.load_store();
        engine.load_pins();
        if engine.config.mdns {
            engine.browse = engine.start_browse();
        }
        if let Some(spec) = engine.config.broker.clone() {
            engine.set_broker(Some(spec));
        }
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => engine.handle(cmd).await,
                },
                Some(msg) = int_rx.recv() => engine.internal(msg),
                _ = engine.tick.tick() => engine.on_tick(),
            }
        }
        if let Some(browse) = engine.browse.take() {
            browse.stop().await;
        }
    }

    /// Known devices and tokens from the store, so a restart shows the same
    /// fleet at once (as Offline until they answer).
    fn load_store(&mut self) {
        let Some(store) = self.config.store.clone() else { return };
        let records = match stored_fleet(&store) {
            Ok(r) => r,
            Err(e) => return self.sink.log(LogLevel::Error, format!("cannot read the fleet registry: {e}")),
        };
        for (rec, token) in records {
            if let Some(t) = &token {
                self.tokens.insert(rec.device.device_id.clone(), t.clone());
            }
            let (Some(address), Some(port)) = (rec.address.as_deref(), rec.port) else { continue };
            let Ok(ip) = address.parse() else { continue };
            let addr = SocketAddr::new(ip, port);
            let source = match rec.source.as_str() {
                "manual" => Source::Manual,
                "sweep" => Source::Sweep,
                "mqtt" => Source::Mqtt,
                _ => Source::Mdns,
            };
            let mut device = rec.device;
            device.status = DeviceStatus::Offline;
            let snap = DeviceSnapshot { device, addr, source, paired: token.is_some() };
            self.track(snap, token, None);
        }
    }

    fn start_browse(&self) -> Option<BrowseTask> {
        let to_loop = self.int_tx.clone();
        // The loop gone means the engine is stopping: nothing to forward to.
        let forward = move |e| drop(to_loop.send(Internal::Browse(e)));
        match BrowseTask::start(&self.config.interfaces, forward, self.sink.clone()) {
            Ok(task) => Some(task),
            Err(e) => {
                self.sink.log(LogLevel::Error, format!("mDNS discovery is off: {e}"));
                None
            }
        }
    }

    /// Stop the browse (if any) and start it again on the configured
    /// interfaces; known devices stay as they are.
    async fn restart_browse(&mut self) {
        if let Some(old) = self.browse.take() {
            old.stop().await;
        }
        self.browse = self.start_browse();
        if self.browse.is_some() {
            let on = interfaces_label(&self.config.interfaces);
            self.sink.log(LogLevel::Info, format!("mDNS browser restarted on {on}"));
        }
    }

    /// A confirmer with today's tokens; `extra_token` is tried for devices
    /// with none stored, before the default token.
    fn confirmer(&self, extra_token: Option<String>) -> Confirmer {
        let to_loop = self.int_tx.clone();
        Confirmer {
            http: self.http.clone(),
            tokens: self.tokens.clone(),
            directory: self.directory.clone(),
            fallback_token: extra_token.or_else(|| self.config.default_token.clone()),
            // The loop gone means the engine is stopping: nothing to tell.
            deliver: Arc::new(move |found, token| drop(to_loop.send(Internal::Confirmed(Box::new(found), token)))),
            sink: self.sink.clone(),
        }
    }

    fn spawn_confirm(&self, addr: SocketAddr, advertised: Option<Device>, source: Source) {
        let confirmer = self.confirmer(None);
        tokio::spawn(async move { confirmer.confirm(addr, advertised, source).await });
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::AddManual { addr, token } => {
                let confirmer = self.confirmer(token);
                tokio::spawn(async move { confirmer.confirm_named(&addr, Source::Manual).await });
            }
            Command::Sweep { spec } => {
                let confirmer = self.confirmer(None);
                self.sink.log(LogLevel::Info, format!("sweeping {} addresses", spec.probe_count()));
                tokio::spawn(async move { confirmer.sweep(&spec).await });
            }
            Command::Pair { device_id, token, fingerprint } => {
                self.pair_keys(&device_id, fingerprint.as_deref(), &token);
                self.tokens.insert(device_id.clone(), token.clone());
                if let Some(w) = &self.writer {
                    let (id, t) = (device_id.clone(), token.clone());
                    w.submit(move |s| s.set_token(&id, &t));
                }
                if let Some(t) = self.devices.get_mut(&device_id) {
                    t.token = Some(token.clone());
                    self.directory.insert(&device_id, t.snapshot.addr, Some(token));
                    let (addr, source, device) = (t.snapshot.addr, t.snapshot.source, t.snapshot.device.clone());
                    self.spawn_confirm(addr, Some(device), source);
                }
            }
            Command::Unpair { device_id } => {
                self.unpin_key(&device_id);
                self.tokens.remove(&device_id);
                if let Some(w) = &self.writer {
                    let id = device_id.clone();
                    w.submit(move |s| s.clear_token(&id));
                }
                self.sink.log(LogLevel::Info, format!("{device_id}: unpaired (its token is forgotten)"));
                if let Some(t) = self.devices.get_mut(&device_id) {
                    t.token = None;
                    self.directory.insert(&device_id, t.snapshot.addr, None);
                    let (addr, source, device) = (t.snapshot.addr, t.snapshot.source, t.snapshot.device.clone());
                    self.spawn_confirm(addr, Some(device), source);
                }
            }
            Command::SetPollInterval { ms } => {
                self.config.poll_interval_ms = ms.max(MIN_POLL_INTERVAL_MS);
                self.tick = poll_ticker(self.config.poll_interval_ms);
                self.liveness.set_policy(LivenessPolicy::for_poll_interval(self.config.poll_interval_ms));
            }
            Command::SetInterfaces { interfaces } => {
                self.config.interfaces = interfaces;
                if self.config.mdns {
                    self.restart_browse().await;
                } else {
                    let on = interfaces_label(&self.config.interfaces);
                    self.sink.log(LogLevel::Info, format!("mDNS is off; it will browse on {on} when turned on"));
                }
            }
            Command::SetMdns { enabled } => {
                self.config.mdns = enabled;
                match (enabled, self.browse.take()) {
                    (true, None) => {
                        self.browse = self.start_browse();
                        if self.browse.is_some() {
                            let on = interfaces_label(&self.config.interfaces);
                            self.sink.log(LogLevel::Info, format!("mDNS browsing on {on}"));
                        }
                    }
                    (true, running) => self.browse = running,
                    (false, Some(running)) => {
                        running.stop().await;
                        self.sink.log(LogLevel::Info, "mDNS browsing stopped");
                    }
                    (false, None) => {}
                }
            }
            Command::SetBroker { broker } => self.set_broker(broker),
            Command::RefreshModels { device_id } => self.refresh_models(device_id),
            Command::Job { id, title, run } => {
                let env = JobEnv {
                    directory: self.directory.clone(),
                    store: self.config.store.clone(),
                    sink: self.sink.clone(),
                };
                spawn_job(id, title, run, env);
            }
            Command::Shutdown => {}
        }
    }

    fn track(&mut self, snapshot: DeviceSnapshot, token: Option<String>, last_ok_ms: Option<u64>) {
        let id = snapshot.device.device_id.clone();
        // Found through the broker: commands go through it too (the console
        // may have no route to the address the device reports).
        let route = if snapshot.source == Source::Mqtt { Route::Broker } else { Route::Http };
        self.directory.insert_route(&id, snapshot.addr, token.clone(), route);
        self.liveness.track(&id, snapshot.device.status, last_ok_ms);
        self.sink.send(Event::Device(Box::new(snapshot.clone())));
        self.devices.insert(id, Tracked { snapshot, token, polling: false });
    }

    fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::Browse(BrowseEvent::Resolved(d)) => {
                let known = self.devices.get(&d.device.device_id);
                let online = self.liveness.status(&d.device.device_id) == Some(DeviceStatus::Online);
                if known.is_none_or(|t| t.snapshot.addr != d.addr || !online) {
                    self.spawn_confirm(d.addr, Some(d.device.clone()), Source::Mdns);
                }
            }
            Internal::Browse(BrowseEvent::Removed { device_id }) => {
                if let Some(change) = self.liveness.goodbye(&device_id) {
                    self.apply(change);
                }
            }
            Internal::Confirmed(found, token) => self.confirmed(*found, token),
            Internal::Poll { device_id, result, rtt_ms } => self.polled(device_id, result, rtt_ms),
            Internal::Broker(event) => self.broker_event(event),
        }
    }

    fn confirmed(&mut self, found: Found, token: Option<String>) {
        let id = found.device.device_id.clone();
        let is_new = !self.devices.contains_key(&id);
        if let Some(w) = &self.writer {
            let rec = DeviceRecord {
                device: found.device.clone(),
                address: Some(found.addr.ip().to_string()),
                port: Some(found.addr.port()),
                source: found.source.as_str().to_owned(),
                first_seen_ms: now_ms(),
                last_seen_ms: now_ms(),
            };
            let (audit_id, joined) = (id.clone(), is_new);
            w.submit(move |s| {
                s.upsert_device(&rec)?;
                if joined {
                    s.audit(now_ms(), "device.joined", &audit_id, rec.source.as_str())?;
                }
                Ok(())
            });
        }
        // After the upsert: the pin is a column of the device's row.
        self.pin_on_first_use(&found, token.as_deref());
        if is_new {
            let how = if found.paired { "" } else { " (not paired: no valid token)" };
            let name = found.device.display_name();
            self.sink.log(LogLevel::Info, format!("{name} joined via {}{how}", found.source.as_str()));
        }
        let last_ok = found.confirmed.then(now_ms);
        let snap =
            DeviceSnapshot { device: found.device, addr: found.addr, source: found.source, paired: found.paired };
        self.track(snap, token, last_ok);
        if self.devices.get(&id).is_some_and(|t| t.snapshot.paired) {
            self.refresh_models(id);
        }
    }

    fn polled(&mut self, device_id: String, result: Result<Metrics>, rtt_ms: f64) {
        let Some(t) = self.devices.get_mut(&device_id) else { return };
        t.polling = false;
        match result {
            Ok(metrics) => {
                if let Some(w) = &self.writer {
                    let sample = telemetry_sample(&metrics);
                    let (id, bucket) = (device_id.clone(), self.config.telemetry_bucket_ms);
                    w.submit(move |s| {
                        s.record_telemetry(&id, &sample, bucket)?;
                        s.set_device_rtt(&id, rtt_ms, now_ms())
                    });
                }
                self.sink.send(Event::Metrics { device_id: device_id.clone(), metrics, rtt_ms });
                if let Some(change) = self.liveness.heartbeat(&device_id, now_ms()) {
                    self.apply(change);
                }
            }
            Err(FleetError::Agent { status: 401, .. }) => {
                if t.snapshot.paired {
                    t.snapshot.paired = false;
                    let snap = t.snapshot.clone();
                    self.sink.log(LogLevel::Warn, format!("{device_id} refused our token: pair it again"));
                    self.sink.send(Event::Device(Box::new(snap)));
                }
            }
            Err(_) => {}
        }
    }

    /// Tell everyone a device's status changed: its snapshot, the event
    /// stream, the log and the store.
    fn apply(&mut self, change: tracker::Transition) {
        let tracker::Transition { device_id, from, to, cause } = change;
        if let Some(t) = self.devices.get_mut(&device_id) {
            t.snapshot.device.status = to;
        }
        self.sink.send(Event::Status { device_id: device_id.clone(), status: to });
        match cause {
            Cause::Goodbye => self.sink.log(LogLevel::Info, format!("{device_id} left (mDNS goodbye)")),
            Cause::LastWill => {
                self.sink.log(LogLevel::Warn, format!("{device_id} offline (broker: last will or goodbye)"))
            }
            Cause::Heartbeat | Cause::Silence => {
                let level = if to == DeviceStatus::Online { LogLevel::Info } else { LogLevel::Warn };
                self.sink.log(level, format!("{device_id}: {from} → {to}"));
            }
        }
        if let Some(w) = &self.writer {
            w.submit(move |s| s.set_device_status(&device_id, to, now_ms()));
        }
    }

    fn refresh_models(&self, device_id: String) {
        // Over HTTP, or through the broker for a device found there.
        let Some(client) = self.directory.link(&device_id) else { return };
        let sink = self.sink.clone();
        tokio::spawn(async move {
            match client.models().await {
                Ok(m) => sink.send(Event::Models { device_id, models: m.models }),
                Err(e) => sink.log(LogLevel::Warn, format!("{device_id}: cannot list models: {e}")),
            }
        });
    }

    fn on_tick(&mut self) {
        for change in self.liveness.tick(now_ms()) {
            self.apply(change);
        }
        let poll_timeout = Duration::from_millis((self.config.poll_interval_ms * 2).clamp(500, 5_000));
        for (id, t) in &mut self.devices {
            // Devices seen through a broker send their telemetry there.
            if t.polling || !t.snapshot.paired && t.token.is_none() || t.snapshot.source == Source::Mqtt {
                continue;
            }
            t.polling = true;
            let token = t.token.clone().or_else(|| self.config.default_token.clone());
            let pin = self.directory.pinned(id);
            let client = AgentClient::for_device(self.http.clone(), t.snapshot.addr, pin.as_deref(), token);
            let client = client.timeout(poll_timeout);
            let (tx, device_id) = (self.int_tx.clone(), id.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let result = client.metrics().await;
                let rtt_ms = started.elapsed().as_secs_f64() * 1e3;
                let _ = tx.send(Internal::Poll { device_id, result, rtt_ms });
            });
        }
    }
}

/// A ticker for the poll loop: the first tick is at once, and a late tick
/// delays the next ones rather than bursting to catch up.
fn poll_ticker(interval_ms: u64) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

fn interfaces_label(interfaces: &[String]) -> String {
    if interfaces.is_empty() { "all interfaces".to_owned() } else { interfaces.join(", ") }
}

/// The row kept in the telemetry table for one metrics answer (polled over
/// HTTP or received through a broker).
fn telemetry_sample(metrics: &Metrics) -> TelemetrySample {
    TelemetrySample {
        at_ms: now_ms(),
        cpu_load: metrics.cpu_load,
        memory_used_mb: metrics.memory_used_mb as f64,
        p99_ms: metrics.models.iter().map(|m| m.p99_ms).reduce(f64::max),
        qps: metrics.models.iter().map(|m| m.qps).sum(),
    }
}
