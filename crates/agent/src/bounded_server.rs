//! Serving a router over HTTP/1.1 with bounds an outsider cannot push past:
//! a header-read timeout (which also ends keep-alive connections left idle),
//! an idle timeout on request bodies and on response writes, and a cap on
//! open connections. Used by the agent and by the console's gateway in
//! place of `axum::serve`, which has none of these.
//!
//! At the cap the oldest connection with no request in flight is closed to
//! make room, so a flood of idle or half-sent connections cannot keep a
//! fresh `/v1/health` from being answered; only when every connection is
//! busy is the new one refused. With a TLS configuration the same loop
//! serves HTTPS (see [`serve_bounded_tls`]). Each request carries its peer address as
//! `ConnectInfo<SocketAddr>` (used to rate-limit failed logins per peer).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connections held open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long a client has to send a request's headers (and how long a
/// keep-alive connection may sit idle between requests), by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request body or a response write may make no progress, by default.
pub const DEFAULT_IO_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The bounds of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Open connections at most (at least 1).
    pub max_connections: usize,
    /// Time to receive a request's headers, counted from when the server
    /// starts waiting for them (so it bounds idle keep-alives too).
    pub header_read_timeout: Duration,
    /// Longest stall of a request body being received or of a response
    /// being written before the connection is dropped.
    pub io_idle_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            io_idle_timeout: DEFAULT_IO_IDLE_TIMEOUT,
        }
    }
}

/// What the accept loop knows about one open connection.
#[derive(Debug)]
struct ConnSlot {
    in_flight: AtomicUsize,
    /// Milliseconds since the server started at the last request start or end.
    last_active_ms: AtomicU64,
    evict: CancellationToken,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<ConnSlot>>,
}

impl Registry {
    /// Close the longest-idle connection with no request in flight; false
    /// when every open connection is busy.
    fn evict_oldest_idle(&mut self) -> bool {
        let victim = self
            .open
            .iter()
            .filter(|(_, s)| s.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, s)| s.last_active_ms.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(slot) => {
                slot.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Marks a request in flight on its connection until dropped.
struct InFlight {
    slot: Arc<ConnSlot>,
    epoch: Instant,
}

impl InFlight {
    fn start(slot: Arc<ConnSlot>, epoch: Instant) -> InFlight {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        slot.last_active_ms.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        InFlight { slot, epoch }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.slot.last_active_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.slot.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body that fails once no bytes arrive for `idle`, so a client
/// that stops halfway through a body releases what the handler holds (an
/// upload's version lock, a predict permit).
fn idle_limited_body(body: Incoming, idle: Duration) -> Body {
    let stream = Body::new(body).into_data_stream();
    Body::from_stream(futures_util::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok::<Bytes, io::Error>(chunk), Some(stream))),
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no request body bytes for {} s", idle.as_secs_f64()),
                )),
                None,
            )),
        }
    }))
}

/// A connection whose writes fail after `idle` without progress, so a
/// client that never reads its response cannot pin a connection forever.
struct WriteStallGuard<T> {
    inner: T,
    idle: Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStallGuard<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => {
                let idle = this.idle;
                let timer = this.stalled_since.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read nothing of the response for too long",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                this.stalled_since = None;
                ready
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serve `app` on `listener` within `limits` until `shutdown` completes;
/// then stop accepting, let open requests finish and return.
pub async fn serve_bounded<L>(
    listener: L,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    serve_bounded_tls(listener, app, limits, None, shutdown).await
}

/// [`serve_bounded`], speaking TLS with `tls` when given. The handshake runs
/// in the connection's own task, under the header-read timeout, and the
/// connection counts against the cap from the moment it is accepted, so
/// clients that stall mid-handshake are bounded like slow headers.
pub async fn serve_bounded_tls<L>(
    mut listener: L,
    app: Router,
    limits: ServeLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let max_connections = limits.max_connections.max(1);
    let epoch = Instant::now();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let stopping = CancellationToken::new();
    // Every connection task holds a receiver; `closed()` resolves when all are gone.
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let slot = Arc::new(ConnSlot {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            evict: CancellationToken::new(),
        });
        let id = {
            let Ok(mut reg) = registry.lock() else { break };
            if reg.open.len() >= max_connections && !reg.evict_oldest_idle() {
                tracing::debug!("refusing {peer}: all {max_connections} connections are busy");
                continue;
            }
            reg.next_id += 1;
            let id = reg.next_id;
            reg.open.insert(id, slot.clone());
            id
        };
        let conn = Connection { peer, slot, epoch, limits, max_connections, stopping: stopping.clone() };
        let (app, registry, close_rx, acceptor) = (app.clone(), registry.clone(), close_rx.clone(), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                None => conn.serve(io, app).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        done = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(io)) => done,
                        () = conn.slot.evict.cancelled() => Ok(Err(io::Error::other("evicted during the handshake"))),
                    };
                    match handshake {
                        Ok(Ok(tls)) => conn.serve(tls, app).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                }
            }
            if let Ok(mut reg) = registry.lock() {
                reg.open.remove(&id);
            }
            drop(close_rx);
        });
    }
    drop(listener);
    stopping.cancel();
    drop(close_rx);
    close_tx.closed().await;
}

/// One accepted connection and what serving it needs.
struct Connection {
    peer: SocketAddr,
    slot: Arc<ConnSlot>,
    epoch: Instant,
    limits: ServeLimits,
    max_connections: usize,
    stopping: CancellationToken,
}

impl Connection {
    /// Serve HTTP/1.1 on `io` (plain or TLS) until the client goes, the
    /// connection is evicted, or the server stops (gracefully).
    async fn serve<I>(self, io: I, app: Router)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { peer, slot, epoch, limits, max_connections, stopping } = self;
        let service = {
            let slot = slot.clone();
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let guard = InFlight::start(slot.clone(), epoch);
                let mut req = req.map(|b| idle_limited_body(b, limits.io_idle_timeout));
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let response = app.oneshot(req).await;
                    drop(guard);
                    response
                }
            })
        };
        let io = WriteStallGuard { inner: io, idle: limits.io_idle_timeout, stalled_since: None };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let mut conn = pin!(builder.serve_connection(TokioIo::new(io), service));
        let mut graceful = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("connection from {peer} ended: {e}");
                    }
                    break;
                }
                () = slot.evict.cancelled() => {
                    tracing::debug!("closed idle connection from {peer} to stay under {max_connections}");
                    break;
                }
                () = stopping.cancelled(), if !graceful => {
                    graceful = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
