//! Serving with limits (issue #15): axum's server, behind a listener that caps the number of
//! connections and watches each one. A connection is always in one of three phases:
//!
//! - waiting for a request's header: from connecting, or from the first byte of a later
//!   request, it has `header_timeout` to finish the header (a trickled header does not
//!   extend it);
//! - idle between requests on a kept-alive connection: it may stay `idle_timeout`;
//! - answering a request: no connection deadline at all, since uploads of many GiB and long
//!   exports take as long as they take. The request's body instead may not fall silent for
//!   longer than `body_timeout` while the handler waits for it.
//!
//! A deadline is enforced where the server reads: the read fails with `TimedOut`, and hyper
//! closes the connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::config::HttpLimits;

/// Serves `router` on `listener` within `limits` until `shutdown` is cancelled, then lets
/// requests in flight finish.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: &HttpLimits,
) -> io::Result<()> {
    serve_tls(listener, router, shutdown, limits, None).await
}

/// As [`serve_with`], speaking TLS with `tls` when given. The handshake runs on the
/// connection's own task, under the header timeout, so a client that stalls it holds up no
/// one else.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: &HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<()> {
    let listener = LimitedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
    };
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.body_timeout,
        watch_request,
    ));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<Connection>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// Extractor: the address a request came from, as the server saw it (for a request served by
/// [`serve_with`]; `None` for one handed to the router some other way, as in unit tests).
pub struct PeerAddress(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<Connection>>()
                .map(|info| info.0.peer),
        ))
    }
}

/// Request extension: the client certificate the TLS connection a request came over
/// presented, verified against `--tls-client-ca` during the handshake. Absent on plain
/// connections, on TLS connections without one, and for requests handed to the router some
/// other way, so a check that needs it fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Its SHA-256 thumbprint as RFC 8705 names it (`x5t#S256`).
    pub x5t_s256: String,
}

/// What each request knows of its connection.
#[derive(Clone)]
pub struct Connection {
    pub peer: SocketAddr,
    watch: Arc<Watch>,
    /// Set once the TLS handshake is done, if the client presented a certificate. Shared with
    /// the stream because axum asks for the connection's info before the handshake (which the
    /// first read drives), yet no request arrives until the handshake is over.
    client_certificate: Arc<OnceLock<ClientCertificate>>,
}

impl Connected<IncomingStream<'_, LimitedListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        Self {
            peer: *stream.remote_addr(),
            watch: stream.io().watch.clone(),
            client_certificate: stream.io().client_certificate.clone(),
        }
    }
}

/// A TCP listener that accepts only while fewer than the cap are open: the rest wait in the
/// kernel's listen queue, so an overload slows new clients rather than exhausting the
/// process's file descriptors.
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    header_timeout: Duration,
    idle_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Listener for LimitedListener {
    type Io = ServerStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so this waits for a free place and never fails.
        let permit = self.permits.clone().acquire_owned().await.ok();
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let watch = Arc::new(Watch {
                        phase: Mutex::new(Phase::Header {
                            deadline: Instant::now() + self.header_timeout,
                        }),
                        header_timeout: self.header_timeout,
                        idle_timeout: self.idle_timeout,
                    });
                    let stream = WatchedStream {
                        inner: stream,
                        watch: watch.clone(),
                        timer: None,
                        _permit: permit,
                    };
                    let transport = match &self.tls {
                        None => Transport::Plain(stream),
                        Some(acceptor) => {
                            Transport::Tls(Box::new(Tls::Handshaking(acceptor.accept(stream))))
                        }
                    };
                    let stream = ServerStream {
                        watch,
                        client_certificate: Arc::default(),
                        transport,
                    };
                    return (stream, peer);
                }
                Err(e) => accept_failed(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// As axum's own listener does: a client that gave up is nothing; anything else (out of
/// file descriptors, say) is logged and retried after a pause, rather than spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request's header is awaited until `deadline`.
    Header { deadline: Instant },
    /// Kept alive with nothing to do until `deadline`.
    Idle { deadline: Instant },
    /// Answering this many requests (one, unless pipelined).
    Busy(usize),
}

struct Watch {
    phase: Mutex<Phase>,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Watch {
    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *phase = change(*phase);
    }

    fn read_some(&self) {
        let header_timeout = self.header_timeout;
        self.update(|phase| match phase {
            Phase::Idle { .. } => Phase::Header {
                deadline: Instant::now() + header_timeout,
            },
            other => other,
        });
    }

    /// A request begins; the returned guard ends it when dropped (its response sent, or its
    /// connection gone).
    fn begin(self: &Arc<Self>) -> Answering {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        Answering(self.clone())
    }

    fn end(&self) {
        let idle_timeout = self.idle_timeout;
        self.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle {
                deadline: Instant::now() + idle_timeout,
            },
        });
    }

    /// The deadline reads are under, and what passing it means.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Header { deadline } => Some((deadline, "no complete request header in time")),
            Phase::Idle { deadline } => Some((deadline, "idle for too long")),
            Phase::Busy(_) => None,
        }
    }
}

struct Answering(Arc<Watch>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A connection's stream: reads fail once the connection's deadline passes while nothing
/// arrives. Holds the connection's place under the cap until it is dropped.
pub struct WatchedStream {
    inner: TcpStream,
    watch: Arc<Watch>,
    timer: Option<Pin<Box<Sleep>>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.watch.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((deadline, what)) = this.watch.deadline() else {
                    this.timer = None;
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Middleware: marks the connection busy while a request is answered (until its response
/// body is sent), and gives the request's body its silence limit.
async fn watch_request(
    State(body_timeout): State<Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    let connection = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|info| info.0.clone());
    let answering = connection.as_ref().map(|c| c.watch.begin());
    if let Some(certificate) = connection.and_then(|c| c.client_certificate.get().cloned()) {
        request.extensions_mut().insert(certificate);
    }
    let request = request.map(|body| Body::new(ProgressBody::new(body, body_timeout)));
    let response = next.run(request).await;
    match answering {
        Some(answering) => response.map(|body| {
            Body::new(Finishing {
                inner: body,
                _answering: answering,
            })
        }),
        None => response,
    }
}

/// A request body that fails if, while it is being read, nothing arrives for `timeout`. Only
/// silence counts: the timer runs while the reader waits, and starts over with each frame.
struct ProgressBody {
    inner: Body,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl ProgressBody {
    fn new(inner: Body, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
        }
    }
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the request body sent nothing for {timeout:?}"),
                    ))))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                this.timer = None;
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is sent (or dropped).
struct Finishing {
    inner: Body,
    _answering: Answering,
}

impl http_body::Body for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A served connection: plain, or TLS over the watched TCP stream (so the deadlines apply to
/// the handshake too), with the watch requests report to and the client certificate the
/// handshake verified.
pub struct ServerStream {
    watch: Arc<Watch>,
    client_certificate: Arc<OnceLock<ClientCertificate>>,
    transport: Transport,
}

enum Transport {
    Plain(WatchedStream),
    Tls(Box<Tls>),
}

/// A TLS connection, its handshake driven by the first read or write.
enum Tls {
    Handshaking(tokio_rustls::Accept<WatchedStream>),
    Ready(tokio_rustls::server::TlsStream<WatchedStream>),
    Failed,
}

impl Tls {
    /// Drives the handshake; answers the stream once it is done, noting the client's
    /// certificate in `client` (rustls has verified it by then, or failed the handshake).
    fn ready(
        &mut self,
        cx: &mut Context<'_>,
        client: &OnceLock<ClientCertificate>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<WatchedStream>>> {
        if let Tls::Handshaking(accept) = self {
            match Pin::new(accept).poll(cx) {
                Poll::Ready(Ok(stream)) => {
                    // The leaf is the first; the thumbprint is of its DER, as RFC 8705 says.
                    if let Some(leaf) = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                    {
                        let _ = client.set(ClientCertificate {
                            x5t_s256: custodian_core::token::certificate_thumbprint(leaf),
                        });
                    }
                    *self = Tls::Ready(stream);
                }
                Poll::Ready(Err(e)) => {
                    *self = Tls::Failed;
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match self {
            Tls::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the TLS handshake failed",
            ))),
        }
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.transport {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(tls) => match tls.ready(cx, &this.client_certificate) {
                Poll::Ready(Ok(stream)) => Pin::new(stream).poll_read(cx, buf),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match &mut this.transport {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(tls) => match tls.ready(cx, &this.client_certificate) {
                Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write(cx, buf),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.transport {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(tls) => match tls.ready(cx, &this.client_certificate) {
                Poll::Ready(Ok(stream)) => Pin::new(stream).poll_flush(cx),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(tls) => match tls.as_mut() {
                Tls::Ready(stream) => Pin::new(stream).poll_shutdown(cx),
                _ => Poll::Ready(Ok(())),
            },
        }
    }
}
