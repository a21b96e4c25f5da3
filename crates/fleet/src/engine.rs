//! The fleet engine: a tokio runtime on its own thread that discovers
//! devices, polls their metrics, tracks liveness and runs jobs. The GUI (or
//! any caller) sends [`Command`]s and drains [`Event`]s; it never waits on
//! the network, the disk or a long job.

use crate::client::{AgentClient, http_client};
use crate::discovery::{BrowseEvent, Browser};
use crate::error::{FleetError, Result};
use crate::liveness::{LivenessPolicy, now_ms};
use crate::scan::{Found, Source, confirm, confirm_all};
use crate::store_writer::StoreWriter;
use crate::sweep::{SweepSpec, sweep};
use edgefleet_core::wire::{Metrics, ModelEntry};
use edgefleet_core::{Device, DeviceStatus};
use edgefleet_store::{DeviceRecord, Store, TelemetrySample};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;
use tokio::sync::mpsc as tmpsc;

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
        }
    }
}

/// A long-running job's future: gets a context, ends with a message.
pub type JobFn = Box<dyn FnOnce(JobContext) -> BoxFuture<'static, std::result::Result<String, String>> + Send>;

/// What callers ask of the engine.
pub enum Command {
    /// Register a device by `host:port` (where mDNS cannot see it).
    AddManual {
        addr: String,
        token: Option<String>,
    },
    /// Unicast sweep (see [`SweepSpec`]).
    Sweep {
        spec: SweepSpec,
    },
    /// Store a device's token and use it from now on.
    Pair {
        device_id: String,
        token: String,
    },
    SetPollInterval {
        ms: u64,
    },
    /// Fetch a device's installed models now.
    RefreshModels {
        device_id: String,
    },
    /// Run a job on the engine's runtime; progress arrives as [`Event::Job`]
    /// under `id`. [`FleetEngine::start_job`] picks a fresh id for you.
    Job {
        id: JobId,
        title: String,
        run: JobFn,
    },
    Shutdown,
}

/// A device as the engine knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSnapshot {
    pub device: Device,
    pub addr: SocketAddr,
    pub source: Source,
    pub paired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Running,
    Done(String),
    Failed(String),
}

/// Names one job for its whole life, so two jobs with the same title stay
/// apart. Ids come from [`FleetEngine::start_job`], unique per engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    pub id: JobId,
    pub title: String,
    /// 0..=1, or `None` when unknown.
    pub progress: Option<f32>,
    pub message: String,
    pub state: JobState,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A device joined or its description changed.
    Device(DeviceSnapshot),
    Status {
        device_id: String,
        status: DeviceStatus,
    },
    Metrics {
        device_id: String,
        metrics: Metrics,
    },
    Models {
        device_id: String,
        models: Vec<ModelEntry>,
    },
    Log(LogEntry),
    Job(JobUpdate),
}

/// A device's address and the token to use with it.
type Endpoint = (SocketAddr, Option<String>);

/// Where each device is and how to talk to it; shared with jobs.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<HashMap<String, Endpoint>>>,
    http: Option<reqwest::Client>,
}

impl Directory {
    /// A directory of known endpoints, for callers without an engine (the
    /// CLI builds one from the store).
    pub fn from_entries(
        http: reqwest::Client,
        entries: impl IntoIterator<Item = (String, SocketAddr, Option<String>)>,
    ) -> Self {
        let map = entries.into_iter().map(|(id, addr, token)| (id, (addr, token))).collect();
        Directory { inner: Arc::new(RwLock::new(map)), http: Some(http) }
    }

    /// Add or replace one device's endpoint.
    pub fn insert(&self, device_id: &str, addr: SocketAddr, token: Option<String>) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(device_id.to_owned(), (addr, token));
        }
    }

    /// A client for a known device.
    pub fn client(&self, device_id: &str) -> Option<AgentClient> {
        let http = self.http.clone()?;
        let map = self.inner.read().ok()?;
        let (addr, token) = map.get(device_id)?;
        Some(AgentClient::new(http, *addr, token.clone()))
    }

    /// Ids of every known device.
    pub fn device_ids(&self) -> Vec<String> {
        self.inner.read().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

/// Handed to a job: report progress, reach devices.
#[derive(Clone)]
pub struct JobContext {
    pub id: JobId,
    pub title: String,
    pub directory: Directory,
    pub store: Option<Arc<Mutex<Store>>>,
    sink: EventSink,
}

impl JobContext {
    /// Report progress (0..=1) with a short message.
    pub fn progress(&self, fraction: Option<f32>, message: impl Into<String>) {
        self.sink.send(Event::Job(JobUpdate {
            id: self.id,
            title: self.title.clone(),
            progress: fraction.map(|f| f.clamp(0.0, 1.0)),
            message: message.into(),
            state: JobState::Running,
        }));
    }

    /// Write a line to the event log.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.sink.log(level, message);
    }
}

#[derive(Clone)]
struct EventSink {
    tx: mpsc::Sender<Event>,
    notify: Arc<dyn Fn() + Send + Sync>,
}

impl EventSink {
    fn send(&self, e: Event) {
        // The receiver gone means the app is closing: nothing left to tell.
        let _ = self.tx.send(e);
        (self.notify)();
    }
    fn log(&self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        match level {
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        self.send(Event::Log(LogEntry { at_ms: now_ms(), level, message }));
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("edgefleet-engine")
            .enable_all()
            .build()
            .map_err(|e| FleetError::Io { path: "tokio runtime".into(), source: e })?;
        let (cmd_tx, cmd_rx) = tmpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let sink = EventSink { tx: ev_tx, notify: Arc::new(notify) };
        let directory = Directory { inner: Arc::default(), http: Some(http_client()?) };
        let dir = directory.clone();
        let thread = std::thread::Builder::new()
            .name("edgefleet-engine".into())
            .spawn(move || runtime.block_on(Engine::new(config, sink, dir).run(cmd_rx)))
            .map_err(|e| FleetError::Io { path: "engine thread".into(), source: e })?;
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

struct Tracked {
    snapshot: DeviceSnapshot,
    token: Option<String>,
    last_ok_ms: Option<u64>,
    status: DeviceStatus,
    polling: bool,
    /// A goodbye arrived: offline until a poll succeeds again.
    said_goodbye: bool,
}

enum Internal {
    Browse(BrowseEvent),
    Confirmed(Box<Found>, Option<String>),
    Poll { device_id: String, result: Result<Metrics> },
}

struct Engine {
    config: EngineConfig,
    sink: EventSink,
    directory: Directory,
    http: reqwest::Client,
    devices: HashMap<String, Tracked>,
    tokens: HashMap<String, String>,
    writer: Option<StoreWriter>,
}

impl Engine {
    fn new(config: EngineConfig, sink: EventSink, directory: Directory) -> Engine {
        let http = directory.http.clone().unwrap_or_default();
        let writer = config.store.clone().map(StoreWriter::start);
        Engine { config, sink, directory, http, devices: HashMap::new(), tokens: HashMap::new(), writer }
    }

    fn policy(&self) -> LivenessPolicy {
        LivenessPolicy::for_poll_interval(self.config.poll_interval_ms)
    }

    async fn run(mut self, mut commands: tmpsc::UnboundedReceiver<Command>) {
        let (int_tx, mut int_rx) = tmpsc::unbounded_channel::<Internal>();
        self.load_store();
        let browse = if self.config.mdns { self.start_browse(int_tx.clone()) } else { None };
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.poll_interval_ms.max(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => self.handle(cmd, &int_tx, &mut tick),
                },
                Some(msg) = int_rx.recv() => self.internal(msg, &int_tx),
                _ = tick.tick() => self.on_tick(&int_tx),
            }
        }
        if let Some((stop, task)) = browse {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Known devices and tokens from the store, so a restart shows the same
    /// fleet at once (as Offline until they answer).
    fn load_store(&mut self) {
        let Some(store) = &self.config.store else { return };
        let loaded = store.lock().map_err(|_| "store lock poisoned".to_owned()).and_then(|s| {
            let recs = s.list_devices().map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for r in recs {
                let token = s.token(&r.device.device_id).map_err(|e| e.to_string())?;
                out.push((r, token));
            }
            Ok(out)
        });
        match loaded {
            Err(e) => self.sink.log(LogLevel::Error, format!("cannot read the fleet registry: {e}")),
            Ok(recs) => {
                for (rec, token) in recs {
                    if let Some(t) = &token {
                        self.tokens.insert(rec.device.device_id.clone(), t.clone());
                    }
                    let (Some(address), Some(port)) = (rec.address.as_deref(), rec.port) else { continue };
                    let Ok(ip) = address.parse() else { continue };
                    let addr = SocketAddr::new(ip, port);
                    let source = match rec.source.as_str() {
                        "manual" => Source::Manual,
                        "sweep" => Source::Sweep,
                        _ => Source::Mdns,
                    };
                    let mut device = rec.device;
                    device.status = DeviceStatus::Offline;
                    let snap = DeviceSnapshot { device, addr, source, paired: token.is_some() };
                    self.track(snap, token, None);
                }
            }
        }
    }

    fn start_browse(
        &self,
        int_tx: tmpsc::UnboundedSender<Internal>,
    ) -> Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
        let browser = match Browser::start(&self.config.interfaces) {
            Ok(b) => b,
            Err(e) => {
                self.sink.log(LogLevel::Error, format!("mDNS discovery is off: {e}"));
                return None;
            }
        };
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
        let sink = self.sink.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    ev = browser.next(Duration::from_secs(3600)) => match ev {
                        Ok(Some(e)) => { let _ = int_tx.send(Internal::Browse(e)); }
                        Ok(None) => {}
                        Err(e) => { sink.log(LogLevel::Error, format!("mDNS browse stopped: {e}")); break; }
                    }
                }
            }
            browser.shutdown();
        });
        Some((stop_tx, task))
    }

    fn spawn_confirm(
        &self,
        addr: SocketAddr,
        advertised: Option<Device>,
        source: Source,
        extra_token: Option<String>,
        int_tx: &tmpsc::UnboundedSender<Internal>,
    ) {
        let http = self.http.clone();
        let tokens = self.tokens.clone();
        let default = extra_token.clone().or_else(|| self.config.default_token.clone());
        let tx = int_tx.clone();
        let sink = self.sink.clone();
        tokio::spawn(async move {
            let token_for = |id: &str| tokens.get(id).cloned().or_else(|| default.clone());
            match confirm(&http, addr, advertised, source, &token_for).await {
                Ok(found) => {
                    let token = token_for(&found.device.device_id);
                    let _ = tx.send(Internal::Confirmed(Box::new(found), token));
                }
                Err(e) => sink.log(LogLevel::Warn, format!("{addr}: {e}")),
            }
        });
    }

    fn handle(&mut self, cmd: Command, int_tx: &tmpsc::UnboundedSender<Internal>, tick: &mut tokio::time::Interval) {
        match cmd {
            Command::AddManual { addr, token } => match resolve_addr(&addr) {
                Ok(sa) => self.spawn_confirm(sa, None, Source::Manual, token, int_tx),
                Err(e) => self.sink.log(LogLevel::Error, e.to_string()),
            },
            Command::Sweep { spec } => {
                let http = self.http.clone();
                let tx = int_tx.clone();
                let sink = self.sink.clone();
                let tokens = self.tokens.clone();
                let default = self.config.default_token.clone();
                sink.log(LogLevel::Info, format!("sweeping {} addresses", spec.probe_count()));
                tokio::spawn(async move {
                    let addrs = sweep(&http, &spec, Duration::from_millis(800), 128).await;
                    sink.log(LogLevel::Info, format!("sweep found {} agent(s)", addrs.len()));
                    let token_for = |id: &str| tokens.get(id).cloned().or_else(|| default.clone());
                    let candidates = addrs.into_iter().map(|addr| (addr, None, Source::Sweep));
                    for (addr, result) in confirm_all(&http, candidates, &token_for).await {
                        match result {
                            Ok(found) => {
                                let token = token_for(&found.device.device_id);
                                let _ = tx.send(Internal::Confirmed(Box::new(found), token));
                            }
                            Err(e) => sink.log(LogLevel::Warn, format!("{addr}: {e}")),
                        }
                    }
                });
            }
            Command::Pair { device_id, token } => {
                self.tokens.insert(device_id.clone(), token.clone());
                if let Some(w) = &self.writer {
                    let (id, t) = (device_id.clone(), token.clone());
                    w.submit(move |s| s.set_token(&id, &t));
                }
                if let Some(t) = self.devices.get_mut(&device_id) {
                    t.token = Some(token.clone());
                    self.directory.insert(&device_id, t.snapshot.addr, Some(token));
                    let (addr, source, device) = (t.snapshot.addr, t.snapshot.source, t.snapshot.device.clone());
                    self.spawn_confirm(addr, Some(device), source, None, int_tx);
                }
            }
            Command::SetPollInterval { ms } => {
                self.config.poll_interval_ms = ms.max(100);
                *tick = tokio::time::interval(Duration::from_millis(self.config.poll_interval_ms));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            Command::RefreshModels { device_id } => self.refresh_models(device_id),
            Command::Job { id, title, run } => {
                let ctx = JobContext {
                    id,
                    title: title.clone(),
                    directory: self.directory.clone(),
                    store: self.config.store.clone(),
                    sink: self.sink.clone(),
                };
                let sink = self.sink.clone();
                tokio::spawn(async move {
                    ctx.progress(Some(0.0), "started");
                    let (state, message) = match run(ctx).await {
                        Ok(msg) => (JobState::Done(msg.clone()), msg),
                        Err(msg) => (JobState::Failed(msg.clone()), msg),
                    };
                    let level = if matches!(state, JobState::Failed(_)) { LogLevel::Error } else { LogLevel::Info };
                    sink.log(level, format!("{title}: {message}"));
                    sink.send(Event::Job(JobUpdate { id, title, progress: Some(1.0), message, state }));
                });
            }
            Command::Shutdown => {}
        }
    }

    fn track(&mut self, snapshot: DeviceSnapshot, token: Option<String>, last_ok_ms: Option<u64>) {
        let id = snapshot.device.device_id.clone();
        self.directory.insert(&id, snapshot.addr, token.clone());
        let status = snapshot.device.status;
        self.sink.send(Event::Device(snapshot.clone()));
        self.devices.insert(id, Tracked { snapshot, token, last_ok_ms, status, polling: false, said_goodbye: false });
    }

    fn internal(&mut self, msg: Internal, int_tx: &tmpsc::UnboundedSender<Internal>) {
        match msg {
            Internal::Browse(BrowseEvent::Resolved(d)) => {
                let known = self.devices.get(&d.device.device_id);
                let changed = known.is_none_or(|t| t.snapshot.addr != d.addr || t.status != DeviceStatus::Online);
                if changed {
                    self.spawn_confirm(d.addr, Some(d.device.clone()), Source::Mdns, None, int_tx);
                }
            }
            Internal::Browse(BrowseEvent::Removed { device_id }) => {
                if let Some(t) = self.devices.get_mut(&device_id) {
                    t.said_goodbye = true;
                    if t.status != DeviceStatus::Offline {
                        t.status = DeviceStatus::Offline;
                        self.sink.send(Event::Status { device_id: device_id.clone(), status: DeviceStatus::Offline });
                        self.sink.log(LogLevel::Info, format!("{device_id} left (mDNS goodbye)"));
                        self.persist_status(&device_id, DeviceStatus::Offline);
                    }
                }
            }
            Internal::Confirmed(found, token) => {
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
                if is_new {
                    let how = if found.paired { "" } else { " (not paired: no valid token)" };
                    self.sink.log(
                        LogLevel::Info,
                        format!("{} joined via {}{how}", found.device.display_name(), found.source.as_str()),
                    );
                }
                let last_ok = found.confirmed.then(now_ms);
                let snap = DeviceSnapshot {
                    device: found.device,
                    addr: found.addr,
                    source: found.source,
                    paired: found.paired,
                };
                self.track(snap, token, last_ok);
                if self.devices.get(&id).is_some_and(|t| t.snapshot.paired) {
                    self.refresh_models(id);
                }
            }
            Internal::Poll { device_id, result } => {
                let Some(t) = self.devices.get_mut(&device_id) else { return };
                t.polling = false;
                match result {
                    Ok(metrics) => {
                        t.last_ok_ms = Some(now_ms());
                        t.said_goodbye = false;
                        if let Some(w) = &self.writer {
                            let sample = TelemetrySample {
                                at_ms: now_ms(),
                                cpu_load: metrics.cpu_load,
                                memory_used_mb: metrics.memory_used_mb as f64,
                                p99_ms: metrics.models.iter().map(|m| m.p99_ms).reduce(f64::max),
                                qps: metrics.models.iter().map(|m| m.qps).sum(),
                            };
                            let (id, bucket) = (device_id.clone(), self.config.telemetry_bucket_ms);
                            w.submit(move |s| s.record_telemetry(&id, &sample, bucket));
                        }
                        self.sink.send(Event::Metrics { device_id: device_id.clone(), metrics });
                        self.update_status(&device_id);
                    }
                    Err(FleetError::Agent { status: 401, .. }) => {
                        if t.snapshot.paired {
                            t.snapshot.paired = false;
                            let snap = t.snapshot.clone();
                            self.sink.log(LogLevel::Warn, format!("{device_id} refused our token: pair it again"));
                            self.sink.send(Event::Device(snap));
                        }
                    }
                    Err(_) => {}
                }
            }
        }
    }

    fn refresh_models(&self, device_id: String) {
        let Some(client) = self.directory.client(&device_id) else { return };
        let sink = self.sink.clone();
        tokio::spawn(async move {
            match client.models().await {
                Ok(m) => sink.send(Event::Models { device_id, models: m.models }),
                Err(e) => sink.log(LogLevel::Warn, format!("{device_id}: cannot list models: {e}")),
            }
        });
    }

    fn persist_status(&self, device_id: &str, status: DeviceStatus) {
        if let Some(w) = &self.writer {
            let id = device_id.to_owned();
            w.submit(move |s| s.set_device_status(&id, status, now_ms()));
        }
    }

    fn update_status(&mut self, device_id: &str) {
        let policy = self.policy();
        let now = now_ms();
        let Some(t) = self.devices.get_mut(device_id) else { return };
        let status = if t.said_goodbye { DeviceStatus::Offline } else { policy.status_at(t.last_ok_ms, now) };
        if status != t.status {
            let before = t.status;
            t.status = status;
            t.snapshot.device.status = status;
            self.sink.send(Event::Status { device_id: device_id.to_owned(), status });
            let level = if status == DeviceStatus::Online { LogLevel::Info } else { LogLevel::Warn };
            self.sink.log(level, format!("{device_id}: {before} → {status}"));
            self.persist_status(device_id, status);
        }
    }

    fn on_tick(&mut self, int_tx: &tmpsc::UnboundedSender<Internal>) {
        let ids: Vec<String> = self.devices.keys().cloned().collect();
        for id in ids {
            self.update_status(&id);
            let Some(t) = self.devices.get_mut(&id) else { continue };
            if t.polling || !t.snapshot.paired && t.token.is_none() {
                continue;
            }
            t.polling = true;
            let client = AgentClient::new(
                self.http.clone(),
                t.snapshot.addr,
                t.token.clone().or_else(|| self.config.default_token.clone()),
            )
            .timeout(Duration::from_millis((self.config.poll_interval_ms * 2).clamp(500, 5_000)));
            let tx = int_tx.clone();
            tokio::spawn(async move {
                let result = client.metrics().await;
                let _ = tx.send(Internal::Poll { device_id: id, result });
            });
        }
    }
}

/// Parse `host:port` (a name is resolved once, here).
pub fn resolve_addr(addr: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(|e| FleetError::BadInput(format!("`{addr}` is not a reachable HOST:PORT: {e}")))?
        .next()
        .ok_or_else(|| FleetError::BadInput(format!("`{addr}` resolves to no address")))
}
