//! Starting and stopping one agent: `run` (serve a bound listener until a
//! shutdown signal), `spawn` (the same on 127.0.0.1:0 in a task, for tests
//! and simulated fleets) and the router.

use crate::advertise::{Advertisement, MdnsDaemon};
use crate::app_state::{AppState, Probe};
use crate::auth::{require_token, rotate};
use crate::bounded_server::serve_bounded_tls;
use crate::config::AgentConfig;
use crate::device_key::{DeviceKey, install_crypto_provider};
use crate::error::AgentError;
use crate::gflops::probe_compute;
use crate::identity::{load_or_create_token, token_sha256};
use crate::kill_switch::KillableListener;
use crate::model_store::{ModelStore, StoreLimits};
use crate::mqtt_link::{BrokerConfig, BrokerLink};
use crate::serving::Serving;
use crate::synthetic::SyntheticLoad;
use crate::system_probe::SystemProbe;
use crate::token_gate::TokenGate;
use crate::upstream::Upstream;
use crate::{bench_routes, info_routes, model_routes, predict_routes};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use edgefleet_core::wire::RuntimeInfo;
use edgefleet_optimize::TractRuntime;
use edgefleet_optimize::runtime::Selected;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// JSON bodies (predict batches, activate) larger than this are refused.
const MAX_JSON_BYTES: usize = 64 * 1024 * 1024;

/// The HTTP API. Everything but `/v1/health` needs the bearer token.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/info", get(info_routes::info))
        .route("/v1/metrics", get(info_routes::metrics))
        .route("/metrics", get(info_routes::prometheus_metrics))
        .route("/v1/models", get(model_routes::list))
        .route("/v1/models/{name}/{version}", axum::routing::put(model_routes::upload).delete(model_routes::delete))
        .route("/v1/models/{name}/{version}/upload", get(model_routes::upload_status))
        .route("/v1/models/{name}/activate", post(model_routes::activate_http))
        .route("/v1/models/{name}/rollback", post(model_routes::rollback))
        .route("/v1/predict/{model}", post(predict_routes::predict))
        .route("/v1/benchmark/{model}", post(bench_routes::benchmark))
        .route("/v1/token", post(rotate))
        .route("/v1/trust", post(crate::auth::trust))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/health", get(info_routes::health))
        .merge(protected)
        .fallback(|| async { crate::api_error::ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

/// Predict requests in progress at once: one per core, at least two.
fn predict_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// An agent set up and ready to serve.
struct Prepared {
    state: Arc<AppState>,
    /// The token in clear when the agent was given it or generated it now.
    token: Option<String>,
    advertisement: Option<Advertisement>,
    /// The daemon this agent started itself (not a fleet's shared one).
    own_daemon: Option<MdnsDaemon>,
    /// The broker to join once serving, and the address it announces.
    broker: Option<(BrokerConfig, SocketAddr)>,
    /// HTTPS configuration; `None` = plain HTTP (`--insecure-http`).
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The identity key's fingerprint.
    fingerprint: String,
}

async fn prepare(mut config: AgentConfig, addr: SocketAddr) -> Result<Prepared, AgentError> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir)
        .map_err(|e| AgentError::io(format!("cannot create data dir {}", dir.display()), e))?;
    // A token given to the agent is only hashed; one generated here is
    // handed back once (for the handle / the first-start message).
    let (token_hash, token, rotate_into) = match config.token.take().filter(|t| !t.trim().is_empty()) {
        Some(t) => (token_sha256(t.trim()), Some(t.trim().to_owned()), None),
        None => {
            let stored = load_or_create_token(&dir)?;
            (stored.sha256, stored.created, Some(dir.clone()))
        }
    };
    install_crypto_provider();
    let key = DeviceKey::load_or_create(&dir)?;
    if key.created {
        tracing::info!("made a new identity key in {}", dir.display());
    }
    tracing::info!("device key fingerprint {}", key.fingerprint);
    let tls = if config.tls { Some(key.tls_server_config()?) } else { None };
    let mut device = config.device.clone();
    device.simulated = config.simulated;
    device.key_fingerprint = Some(key.fingerprint.clone());
    device.validate()?;
    let selected = config.runtime.clone().unwrap_or_else(|| Selected {
        runtime: Arc::new(TractRuntime),
        why: "tract, the default (no --runtime given)".into(),
    });
    let runtime = selected.runtime.clone();
    tracing::info!("inference runtime {}: {}", runtime.label(), selected.why);
    device.runtime = Some(runtime.label());
    device.runtime_ops = Some(runtime.supported_ops());
    let runtime_info = RuntimeInfo {
        name: runtime.kind().short().to_owned(),
        version: runtime.version(),
        library: runtime.library(),
        why: selected.why,
    };
    let probe = if config.simulated {
        // A simulated device's speed comes from its profile: 200 agents must
        // not run 200 benchmarks on the host.
        Probe::Synthetic(SyntheticLoad::new(&device, config.seed))
    } else {
        let budget = config.benchmark_duration;
        let probe_runtime = runtime.clone();
        let probe = tokio::task::spawn_blocking(move || probe_compute(probe_runtime.as_ref(), budget))
            .await
            .map_err(|e| AgentError::System(e.to_string()))?
            .map_err(|e| AgentError::System(format!("start-up compute probe: {e}")))?;
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        device.gflops = Some(round2(probe.gflops_all_threads));
        device.gflops_per_thread = Some(round2(probe.gflops_per_thread));
        device.call_overhead_ms = Some((probe.call_overhead_ms * 1e4).round() / 1e4);
        device.weight_read_gbps = Some(round2(probe.weight_read_gbps));
        tracing::info!(
            "start-up probe ({}): {:.2} GFLOP/s one thread, {:.2} GFLOP/s all cores, {:.4} ms per call, weights read at {:.1} GB/s",
            runtime.label(),
            probe.gflops_per_thread,
            probe.gflops_all_threads,
            probe.call_overhead_ms,
            probe.weight_read_gbps
        );
        Probe::Real(Box::new(Mutex::new(SystemProbe::new(&dir)?)))
    };
    let limits = StoreLimits {
        max_upload_bytes: config.max_upload_bytes,
        max_parts_bytes: config.max_parts_bytes.max(config.max_upload_bytes),
        part_ttl: config.part_ttl,
        keep_versions: config.keep_versions,
        storage_budget_bytes: config.storage_budget_bytes,
    };
    let store = ModelStore::open_with(&dir, limits).map_err(|e| AgentError::Config(e.to_string()))?;
    // Parts left by uploads interrupted before this start.
    if let Err(e) = store.collect_expired_parts() {
        tracing::warn!("cannot collect expired upload parts: {e}");
    }
    let upstream = match &config.upstream {
        Some(url) => Some(
            Upstream::new(url, config.upstream_token.clone(), config.upstream_fingerprint.as_deref())
                .map_err(|e| AgentError::Config(format!("upstream {url}: {e}")))?,
        ),
        None => None,
    };
    let (advertisement, own_daemon) = if config.advertise {
        let (daemon, own) = match config.mdns.clone() {
            Some(shared) => (shared, None),
            None => {
                let d = MdnsDaemon::new(&config.interfaces)?;
                (d.clone(), Some(d))
            }
        };
        (Some(daemon.advertise(&device, addr.ip(), addr.port()).await?), own)
    } else {
        (None, None)
    };
    let device_overhead = device.call_overhead_ms;
    let state = Arc::new(AppState {
        device,
        token: TokenGate::new(token_hash, rotate_into, config.max_auth_failures),
        started: Instant::now(),
        probe,
        store,
        serving: Serving::default(),
        upstream,
        default_threshold: config.confidence_threshold,
        runtime,
        runtime_info,
        serve_limits: config.serve_limits,
        predict_permits: tokio::sync::Semaphore::new(predict_concurrency()),
        benchmark_permits: tokio::sync::Semaphore::new(1),
        trust: crate::model_trust::ModelTrust::open(&dir, config.allow_unsigned)?,
        best_overhead: crate::app_state::BestOverhead::new(device_overhead),
    });
    let broker = config.broker.clone().map(|b| (b, addr));
    Ok(Prepared { state, token, advertisement, own_daemon, broker, tls, fingerprint: key.fingerprint })
}

async fn serve(
    listener: TcpListener,
    prepared: Prepared,
    killed: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let app = router(prepared.state.clone());
    let listener = KillableListener { inner: listener, killed };
    let collector = tokio::spawn(collect_parts_periodically(prepared.state.clone()));
    // Dropped with this future when the agent is aborted: no goodbye, so the broker fires the last will.
    let link = match prepared.broker {
        Some((cfg, addr)) => {
            Some(BrokerLink::start(prepared.state.clone(), cfg, addr).map_err(|e| AgentError::Config(e.to_string()))?)
        }
        None => None,
    };
    // A simulated agent's overhead is synthetic: nothing to refine.
    let refiner = (!prepared.state.device.simulated)
        .then(|| tokio::spawn(crate::overhead_refine::refine_overhead(prepared.state.clone())));
    serve_bounded_tls(listener, app, prepared.state.serve_limits, prepared.tls.clone(), shutdown).await;
    collector.abort();
    if let Some(r) = refiner {
        r.abort();
    }
    if let Some(link) = link {
        link.goodbye().await;
    }
    // Graceful: say goodbye on mDNS so consoles drop the device at once.
    if let Some(ad) = prepared.advertisement {
        ad.withdraw().await;
    }
    if let Some(d) = prepared.own_daemon {
        d.shutdown().await;
    }
    Ok(())
}

/// Delete expired upload parts every so often while the agent runs.
async fn collect_parts_periodically(state: Arc<AppState>) {
    let every = state.store.collect_interval();
    loop {
        tokio::time::sleep(every).await;
        let s = state.clone();
        match tokio::task::spawn_blocking(move || s.store.collect_expired_parts()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot collect expired upload parts: {e}"),
            Err(e) => tracing::warn!("the part collector failed: {e}"),
        }
    }
}

/// Serve the agent on `listener` until `shutdown` completes, then withdraw
/// its mDNS record.
pub async fn run(
    listener: TcpListener,
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let addr = listener.local_addr().map_err(|e| AgentError::io("cannot read the listener address", e))?;
    let prepared = prepare(config, addr).await?;
    serve(listener, prepared, Arc::new(AtomicBool::new(false)), shutdown).await
}

/// A running agent started with [`spawn`].
#[derive(Debug)]
pub struct AgentHandle {
    pub addr: SocketAddr,
    pub device_id: String,
    /// The bearer token; empty when the data dir held only its hash (the
    /// agent was started before on that dir without a token given).
    pub token: String,
    /// Fingerprint of the device's identity key.
    pub fingerprint: String,
    /// True when it serves HTTPS.
    pub tls: bool,
    shutdown_tx: oneshot::Sender<()>,
    task: JoinHandle<Result<(), AgentError>>,
    own_daemon: Option<MdnsDaemon>,
    killed: Arc<AtomicBool>,
}

impl AgentHandle {
    /// `https://IP:PORT`, or `http://IP:PORT` for a plain-HTTP agent.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// Stop gracefully: finish in-flight requests, send the mDNS goodbye.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("agent {} stopped with an error: {e}", self.device_id),
            Err(e) => tracing::warn!("agent {} task failed: {e}", self.device_id),
        }
    }

    /// Stop like a crash: the listener closes, open connections (pooled
    /// keep-alives too) die without an answer, no goodbye. An agent on a
    /// fleet's shared daemon keeps its mDNS record (the daemon, like a hung
    /// device's, still answers for it); only HTTP goes dead.
    pub fn abort(self) {
        self.killed.store(true, Ordering::Relaxed);
        if let Some(d) = &self.own_daemon {
            d.silence();
        }
        self.task.abort();
    }
}

/// Start an agent on 127.0.0.1, any free port, in a background task.
pub async fn spawn(config: AgentConfig) -> Result<AgentHandle, AgentError> {
    spawn_on((Ipv4Addr::LOCALHOST, 0).into(), config).await
}

/// Start an agent on `bind` (port 0 = any) in a background task.
pub async fn spawn_on(bind: SocketAddr, config: AgentConfig) -> Result<AgentHandle, AgentError> {
    let listener = TcpListener::bind(bind).await.map_err(|e| AgentError::io(format!("cannot bind {bind}"), e))?;
    let addr = listener.local_addr().map_err(|e| AgentError::io("cannot read the listener address", e))?;
    let prepared = prepare(config, addr).await?;
    let device_id = prepared.state.device.device_id.clone();
    let token = prepared.token.clone().unwrap_or_default();
    let (fingerprint, tls) = (prepared.fingerprint.clone(), prepared.tls.is_some());
    let own_daemon = prepared.own_daemon.clone();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let killed = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(serve(listener, prepared, killed.clone(), async move {
        let _ = shutdown_rx.await;
    }));
    Ok(AgentHandle { addr, device_id, token, fingerprint, tls, shutdown_tx, task, own_daemon, killed })
}
