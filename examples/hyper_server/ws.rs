//! The two WebSocket bootstraps hyper can carry, and the echo loop both share.
//!
//! - HTTP/1.1 `Upgrade: websocket` (RFC 6455 §4): validated with `handshake::http`, answered
//!   101, then the connection continues on hyper's upgraded IO.
//! - HTTP/2 extended CONNECT (RFC 8441): `:method CONNECT` + `:protocol websocket`, validated
//!   with `handshake::h2`, answered 200 without ending the stream; the WebSocket then runs
//!   over that stream's DATA frames, and ends with END_STREAM (RFC 8441 §5).
//!
//! After the bootstrap both are the same: a server-role [`Connection`] over an
//! `AsyncRead + AsyncWrite`, with permessage-deflate when the client offered it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};
use wsmachine::deflate::{DeflateConfig, DeflateParams, EXTENSION_NAME};
use wsmachine::handshake::server::AcceptOptions;
use wsmachine::handshake::{h2, http as wshttp, HandshakeError};
use wsmachine::{Assembly, CloseCode, Config, Connection, State};

use crate::echo::echo;
use crate::thread_read::read_with;

/// The response body type of every route.
pub type Body = Full<Bytes>;

/// 64 MiB messages, 64 KiB of assembly capacity kept between messages, and the deadlines
/// that keep a silent or stuck peer from holding a task: a message must finish within 60 s
/// (else 1008), an idle connection is pinged after 30 s and dropped 10 s later without a
/// pong. `auto_close` is off so that the echo returns the peer's close reason too.
const CONFIG: Config = Config::new()
    .max_len(64 << 20)
    .retain_capacity(64 << 10)
    .auto_close(false)
    .message_timeout(Some(Duration::from_secs(60)))
    .keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));

/// A round of output (the echoes of one read) that cannot be written within this ends the
/// connection: a peer that stops reading cannot hold the task. (The writes are awaited, so
/// this is a plain timeout around them; the engine's own write-stall timer is for drivers
/// that queue output and report `output_blocked`.)
const WRITE_STALL: Duration = Duration::from_secs(30);

/// The first `permessage-deflate` offer we can accept (RFC 7692 §5: offers in preference order).
fn negotiate<'a>(mut offers: impl Iterator<Item = wsmachine::handshake::Extension<'a>>) -> Option<DeflateParams> {
    let deflate = DeflateConfig::new();
    offers
        .find_map(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME).then(|| deflate.accept_offer(e.params())).flatten())
}

fn server_conn(params: Option<&DeflateParams>) -> Connection {
    let conn = Connection::server(CONFIG);
    match params {
        Some(p) => conn.with_deflate(p),
        None => conn,
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_owned()));
    *r.status_mut() = status;
    r
}

/// `GET` with `Upgrade: websocket` over HTTP/1.1: answer 101 and echo on the upgraded IO.
pub fn h1_upgrade(mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (resp, params) = {
        let upgrade = match wshttp::parse_request(&req) {
            Ok(u) => u,
            Err(rejection) => return rejection.to_http().map(Body::from),
        };
        let params = negotiate(upgrade.extensions());
        let ext = params.as_ref().map(DeflateParams::response);
        let mut opts = AcceptOptions::new();
        if let Some(e) = ext.as_deref() {
            opts = opts.with_extensions(e);
        }
        match upgrade.accept(&opts) {
            Ok(resp) => (resp, params),
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        }
    };
    println!(
        "ws via HTTP/1.1 upgrade from {peer} path {} deflate {}",
        req.uri().path(),
        if params.is_some() { "on" } else { "off" }
    );
    let conn = server_conn(params.as_ref());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => finish("HTTP/1.1", peer, run(TokioIo::new(upgraded), conn).await),
            Err(e) => eprintln!("HTTP/1.1 upgrade from {peer}: {e}"),
        }
    });
    resp.map(|()| Body::default())
}

/// The request as the header list RFC 8441 speaks of: the pseudo-header fields that hyper
/// (via the `h2` crate) decoded into the method, URI and `Protocol` extension, then the fields.
fn h2_fields(req: &Request<Incoming>) -> Vec<(&str, &[u8])> {
    let uri = req.uri();
    let mut fields = vec![(":method", req.method().as_str().as_bytes())];
    if let Some(p) = req.extensions().get::<hyper::ext::Protocol>() {
        fields.push((":protocol", p.as_str().as_bytes()));
    }
    if let Some(s) = uri.scheme_str() {
        fields.push((":scheme", s.as_bytes()));
    }
    if let Some(a) = uri.authority() {
        fields.push((":authority", a.as_str().as_bytes()));
    }
    if let Some(p) = uri.path_and_query() {
        fields.push((":path", p.as_str().as_bytes()));
    }
    fields.extend(req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    fields
}

/// Refusal of an extended CONNECT (see [`h2::parse_request`]). A malformed request should be
/// reset with PROTOCOL_ERROR (RFC 9113 §8.1.1); hyper's service API cannot reset a stream,
/// so it gets a 400 as well.
fn h2_reject(e: HandshakeError) -> Response<Body> {
    let mut r = text(StatusCode::BAD_REQUEST, &format!("{e}\n"));
    if matches!(e, HandshakeError::UnsupportedVersion | HandshakeError::MissingVersion) {
        // RFC 6455 §4.4, kept by RFC 8441 §5: tell the client the version we speak.
        r.headers_mut().insert("sec-websocket-version", hyper::header::HeaderValue::from_static("13"));
    }
    r
}

/// `CONNECT` with `:protocol websocket` on an HTTP/2 stream (RFC 8441 §4): answer 200 and
/// echo over the stream. Only reached when we sent `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`
/// (hyper's `enable_connect_protocol`): clients must not send `:protocol` otherwise (§3).
pub fn h2_connect(mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (resp, params, path) = {
        let fields = h2_fields(&req);
        let connect = match h2::parse_request(fields.iter().copied()) {
            Ok(c) => c,
            Err(e) => return h2_reject(e),
        };
        let params = negotiate(connect.extensions());
        let ext = params.as_ref().map(DeflateParams::response);
        let mut opts = AcceptOptions::new();
        if let Some(e) = ext.as_deref() {
            opts = opts.with_extensions(e);
        }
        let answer = match connect.accept(&opts) {
            Ok(a) => a,
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        };
        // `:status` goes into the response's status; everything else is a header field.
        let mut resp = Response::new(Body::default());
        for (name, value) in answer.fields() {
            if name == ":status" {
                let status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                *resp.status_mut() = status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
            } else if let (Ok(n), Ok(v)) =
                (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_bytes(value))
            {
                resp.headers_mut().append(n, v);
            }
        }
        (resp, params, connect.path().to_owned())
    };
    println!(
        "ws via h2 extended CONNECT (RFC 8441) from {peer} path {path} deflate {}",
        if params.is_some() { "on" } else { "off" }
    );
    let conn = server_conn(params.as_ref());
    // hyper hands a successful CONNECT's stream over as an upgrade: reads are the DATA
    // frames (hyper releases flow-control capacity as they are read), writes become DATA,
    // and shutdown sends END_STREAM.
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(stream) => finish("h2", peer, run(TokioIo::new(stream), conn).await),
            Err(e) => eprintln!("h2 CONNECT stream from {peer}: {e}"),
        }
    });
    resp
}

fn finish(via: &str, peer: SocketAddr, r: io::Result<(State, Option<CloseCode>)>) {
    match r {
        Ok((State::Closed, Some(code))) => println!("ws ({via}) from {peer} closed with {}", u16::from(code)),
        Ok((state, _)) => println!("ws ({via}) from {peer} ended: {state:?}"),
        // A browser resets its streams at exit (CANCEL): an error here is routine.
        Err(e) => println!("ws ({via}) from {peer} ended: {e}"),
    }
}

/// Echoes every message until the close handshake is done (then shuts the IO down: TCP FIN
/// or TLS close_notify over HTTP/1.1, END_STREAM over HTTP/2) or the peer goes away.
/// Returns the final state and the close code the peer sent, if it sent one.
async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    mut conn: Connection,
) -> io::Result<(State, Option<CloseCode>)> {
    let start = Instant::now();
    let mut assembly = Assembly::new();
    let mut out = Vec::new();
    loop {
        if !out.is_empty() {
            let write = async {
                io.write_all(&out).await?;
                io.flush().await
            };
            timeout(WRITE_STALL, write).await.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            out.clear();
        }
        if conn.should_close_transport() {
            let _ = timeout(WRITE_STALL, io.shutdown()).await;
            return Ok((conn.state(), conn.peer_close_code()));
        }
        let due = conn.poll_timeout(start.elapsed());
        let read = read_with(&mut io, |data| echo(&mut conn, &mut assembly, data, &mut out, false));
        let read = match due {
            Some(due) => timeout_at(start + due, read).await,
            None => Ok(read.await),
        };
        match read {
            Ok(Ok(Some(()))) => {}
            Ok(Ok(None)) => {
                let _ = conn.read_eof();
                return Ok((conn.state(), conn.peer_close_code()));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                // Keepalive ping, or a deadline's verdict (see `Connection::handle_timeout`).
                conn.handle_timeout(start.elapsed());
                conn.poll_transmit_vec(&mut out);
            }
        }
    }
}
