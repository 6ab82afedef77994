//! wsmachine inside hyper: hyper answers HTTP, wsmachine runs the WebSocket on the stream hyper
//! hands over, whether it came from an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT (RFC 8441).
//!
//! ```text
//! cargo run --release --features http --example hyper_server -- [--addr 127.0.0.1:9443]
//!     [--cert cert.pem --key key.pem | --cert-out PATH] [--plain] [--http1-only] [--no-extended-connect]
//! ```
//!
//! By default it serves TLS with ALPN `h2, http/1.1` and a self-signed certificate made at
//! start (its PEM is written to `--cert-out`, and its SPKI pin printed for Chromium's
//! `--ignore-certificate-errors-spki-list`). HTTP/2 connections get
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, so a browser that loaded `/test` over h2 opens the
//! page's WebSocket as a stream of the same connection. Every WebSocket logs which bootstrap
//! carried it (`ws via h2 extended CONNECT (RFC 8441)` or `ws via HTTP/1.1 upgrade`).
//! `--http1-only` offers only `http/1.1` in ALPN (wss over HTTP/1.1); `--plain` serves
//! cleartext HTTP/1.1 and prior-knowledge HTTP/2 (h2c) on the same port;
//! `--no-extended-connect` leaves the setting out, so browsers fall back to HTTP/1.1 upgrades.
//!
//! Routes: `/test` is the browser conformance page (`tests/browser/test.html`), `/gate` and
//! `/done` its result handshake as in `examples/echo_server` (see `tests/h2/run.sh`); any
//! WebSocket request on any path is echoed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, UPGRADE};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

#[path = "../shared/echo.rs"]
mod echo;
#[path = "../shared/test_page.rs"]
mod test_page;
#[path = "../shared/thread_read.rs"]
mod thread_read;
mod tls;
mod ws;

use test_page::{query_param, GIF};
use ws::Body;

/// The browser conformance page (served at `/test`).
const TEST_PAGE: &str = include_str!("../../tests/browser/test.html");

/// How long a `/gate` request waits for its `/done`.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);
/// A TLS handshake must finish within this.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    addr: SocketAddr,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: PathBuf,
    plain: bool,
    http1_only: bool,
    /// Leave SETTINGS_ENABLE_CONNECT_PROTOCOL unsent: browsers then fall back to HTTP/1.1
    /// (a control for tests that must tell the two bootstraps apart).
    no_extended_connect: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}");
    eprintln!(
        "usage: hyper_server [--addr ADDR] [--cert PEM --key PEM | --cert-out PATH] [--plain] [--http1-only] \
         [--no-extended-connect]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut o = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 9443)),
        cert: None,
        key: None,
        cert_out: std::env::temp_dir().join("wsmachine-hyper_server-cert.pem"),
        plain: false,
        http1_only: false,
        no_extended_connect: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--addr" => o.addr = value().parse().unwrap_or_else(|e| usage(&format!("--addr: {e}"))),
            "--cert" => o.cert = Some(value().into()),
            "--key" => o.key = Some(value().into()),
            "--cert-out" => o.cert_out = value().into(),
            "--plain" => o.plain = true,
            "--http1-only" => o.http1_only = true,
            "--no-extended-connect" => o.no_extended_connect = true,
            "-h" | "--help" => usage("hyper + wsmachine: WebSocket echo over HTTP/1.1 and HTTP/2"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if o.cert.is_some() != o.key.is_some() {
        usage("--cert and --key go together");
    }
    o
}

/// Results the test page reported through `/done`, by id, and a wake-up for waiting gates.
#[derive(Default)]
struct Results {
    by_id: Mutex<HashMap<String, String>>,
    changed: Notify,
}

impl Results {
    fn has(&self, id: &str) -> bool {
        self.by_id.lock().map(|m| m.contains_key(id)).unwrap_or(true)
    }

    fn put(&self, id: String, result: String) {
        if let Ok(mut m) = self.by_id.lock() {
            if m.len() >= 1024 {
                m.clear();
            }
            m.insert(id, result);
        }
        self.changed.notify_waiters();
    }

    /// Waits until `/done?id=` arrived or the deadline passed.
    async fn wait(&self, id: &str) {
        let deadline = tokio::time::Instant::now() + GATE_TIMEOUT;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a `put` between the two is not missed.
            changed.as_mut().enable();
            if self.has(id) || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// One request: a WebSocket bootstrap of either kind, or a page.
async fn route(req: Request<Incoming>, peer: SocketAddr, results: Arc<Results>) -> Result<Response<Body>, Infallible> {
    // RFC 8441 §4: the extended CONNECT carries `:protocol` (hyper: the `Protocol` extension).
    if req.method() == Method::CONNECT && req.extensions().get::<hyper::ext::Protocol>().is_some() {
        return Ok(ws::h2_connect(req, peer));
    }
    if req.version() == Version::HTTP_11 && req.headers().contains_key(UPGRADE) {
        return Ok(ws::h1_upgrade(req, peer));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n"));
    }
    let query = req.uri().query().unwrap_or("");
    Ok(match req.uri().path() {
        "/" => reply(StatusCode::OK, "text/plain", "hyper + wsmachine: WebSocket echo on any path; /test\n"),
        "/test" => reply(StatusCode::OK, "text/html; charset=utf-8", TEST_PAGE),
        // Held until the page reports, so that the page's load event waits for the result.
        "/gate" => {
            results.wait(&query_param(query, "id").unwrap_or_default()).await;
            reply(StatusCode::OK, "image/gif", GIF)
        }
        "/done" => {
            let id = query_param(query, "id").unwrap_or_default();
            let result = query_param(query, "result").unwrap_or_default();
            println!("browser result {id}: {result} (over {:?})", req.version());
            results.put(id, result);
            reply(StatusCode::OK, "text/plain", "ok\n")
        }
        "/favicon.ico" => reply(StatusCode::NO_CONTENT, "text/plain", ""),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    })
}

/// Serves one TCP connection: TLS (if any), then HTTP/1.1 or HTTP/2 as ALPN (or, in
/// cleartext, the HTTP/2 preface) says.
async fn serve(
    sock: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    http: Arc<auto::Builder<TokioExecutor>>,
    results: Arc<Results>,
) {
    let service = hyper::service::service_fn(move |req| route(req, peer, results.clone()));
    let served = match tls {
        None => http.serve_connection_with_upgrades(TokioIo::new(sock), service).await,
        Some(acceptor) => {
            let stream = match tokio::time::timeout(TLS_TIMEOUT, acceptor.accept(sock)).await {
                Ok(Ok(s)) => s,
                // Chromium opens a speculative second connection and may close it unused.
                Ok(Err(e)) => return eprintln!("tls from {peer}: {e}"),
                Err(_) => return eprintln!("tls from {peer}: handshake timed out"),
            };
            http.serve_connection_with_upgrades(TokioIo::new(stream), service).await
        }
    };
    if let Err(e) = served {
        eprintln!("http from {peer}: {e}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = parse_args();
    let tls = if o.plain {
        None
    } else {
        let alpn: &[&[u8]] = if o.http1_only { &[b"http/1.1"] } else { &[b"h2", b"http/1.1"] };
        let source = match (&o.cert, &o.key) {
            (Some(cert), Some(key)) => tls::Source::Pem { cert, key },
            _ => tls::Source::SelfSigned { write_cert_to: &o.cert_out },
        };
        match tls::config(source, alpn) {
            Ok(cfg) => Some(TlsAcceptor::from(cfg)),
            Err(e) => {
                eprintln!("tls: {e}");
                std::process::exit(1);
            }
        }
    };
    let mut http = auto::Builder::new(TokioExecutor::new());
    if o.http1_only {
        http = http.http1_only();
    }
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 lets clients send extended CONNECT.
    if !o.no_extended_connect {
        http.http2().enable_connect_protocol();
    }
    let http = Arc::new(http);
    let listener = match TcpListener::bind(o.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {}: {e}", o.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(o.addr);
    let what = match (o.plain, o.http1_only) {
        (true, true) => "http://, HTTP/1.1 only",
        (true, false) => "http://, HTTP/1.1 and h2c (prior knowledge)",
        (false, true) => "https://, ALPN http/1.1",
        (false, false) if o.no_extended_connect => "https://, ALPN h2 and http/1.1, RFC 8441 extended CONNECT off",
        (false, false) => "https://, ALPN h2 and http/1.1, RFC 8441 extended CONNECT on",
    };
    println!("listening on {addr} ({what}); browser test page at /test");
    let results = Arc::new(Results::default());
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, peer, tls.clone(), http.clone(), results.clone()));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                // Out of file descriptors or similar: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
