//! A non-blocking WebSocket echo server on `mio`, many connections on one thread.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR] [--backlog N] [--no-deflate] [--verbose]
//!     [--tls [--cert FILE --key FILE] [--cert-out FILE]]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:9001`, the listen backlog to 1024. Every connection starts by
//! reading an HTTP request head with [`RequestParser`]. An upgrade is accepted (negotiating
//! permessage-deflate unless `--no-deflate`) and every text and binary message is echoed; pings
//! are answered and the close handshake is completed by the engine. A plain `GET /` gets a small
//! page that talks to the server from a browser; `GET /test` is the browser conformance page
//! used by `tests/browser/run.sh` (with `/gate` and `/done`, see there).
//!
//! Resource bounds: one shared read buffer for all connections (so an idle connection holds
//! no input buffer, only its `Assembly`, empty until a message is not whole in one read and
//! trimmed back to `--retain` after one, or a second after the last large echo written from
//! it), a per-connection output backlog above which (what the last read queued aside) the
//! server stops reading from that client until it drains, a bounded request head (431) that
//! must complete within a deadline (408), and a linger deadline after the server's half of the
//! close. Out of file descriptors, queued connections wait in the listen queue and are
//! accepted as soon as a connection closes (see `accept.rs`). `--tls` serves https and wss://
//! instead, on the same loop (see `tls.rs`).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::server::{reject, AcceptOptions, HttpRequest, Request, RequestParser};
use wsmachine::{Assembly, Config, Connection};

pub mod accept;
mod budget;
#[path = "../shared/echo.rs"]
mod echo;
mod limits;
mod output;
#[path = "../shared/test_page.rs"]
mod test_page;
pub mod tls;

use accept::{Acceptor, Pending};
use echo::{echo, Sink};
use output::Output;
use test_page::query_param;
use tls::Transport;

/// The engine settings: 64 MiB messages (Autobahn 9.* sends 16 MiB), and at most 64 KiB of
/// assembly capacity kept between messages (`--retain`), except on connections without
/// permessage-deflate, whose large echoes are written from the assembly and its buffers reused
/// (`output.rs`): those keep what their messages need, counted in the memory budget, until a
/// second passes without a large one (`Client::on_tick`). A peer that stops cooperating
/// cannot hold a connection: a message must finish within 60 s (else 1008), a peer that stops
/// reading is dropped after 30 s with its output over `--out-limit`, and a silent connection
/// gets a ping after 30 s and is dropped if nothing answers within 10 s.
///
/// `auto_close` is off so that the server can echo the peer's close reason as well as its code
/// (see [`echo`]); the engine still fails the connection with its own Close on a violation.
pub const CONFIG: Config = Config::new()
    .max_len(64 << 20)
    .retain_capacity(64 << 10)
    .auto_close(false)
    .message_timeout(Some(Duration::from_secs(60)))
    .write_stall_timeout(Some(Duration::from_secs(30)))
    .keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));

/// The browser conformance page (served at `/test`).
const TEST_PAGE: &str = include_str!("../../tests/browser/test.html");

/// Server settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Negotiate permessage-deflate when a client offers it.
    pub deflate: bool,
    /// The largest request head accepted (431 beyond).
    pub max_head_len: usize,
    /// A request head must be complete within this long (408 otherwise).
    pub head_timeout: Duration,
    /// Stop reading from a client whose unsent output exceeds this many bytes, not counting
    /// what the last read queued (so a large echo drains while the next message arrives).
    pub out_limit: usize,
    /// After the server's half of the close, wait at most this long for the client's EOF.
    pub linger: Duration,
    /// How long a `/gate` request waits for its `/done`.
    pub gate_timeout: Duration,
    /// Log connection errors to stderr.
    pub verbose: bool,
    /// Serve https and wss:// (`--tls`) instead of http and ws://.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The engine settings ([`CONFIG`]; the timers can be shortened from the command line).
    pub config: Config,
    /// Close (1013) the connection that takes the memory of all over this (see `budget.rs`).
    pub memory_budget: usize,
    /// Refuse (1009) a compressed message that inflates beyond this ratio (see `budget.rs`).
    pub max_ratio: Option<u32>,
    /// Memory a connection keeps between messages (`--retain` sets it and the engine's
    /// `retain_capacity` together): its assembly, and its output buffer once sent. Larger
    /// echoes on a connection without permessage-deflate are written from where they were
    /// assembled (`output.rs`), and it keeps more until a second passes without one.
    pub keep_out: usize,
    /// Send messages shorter than this uncompressed when no context is taken over
    /// (`DeflateConfig::min_compress_len_no_context`; 0, the engine's default: compress all).
    pub min_compress_len_no_context: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deflate: true,
            max_head_len: 8 * 1024,
            head_timeout: Duration::from_secs(10),
            out_limit: 1 << 20,
            linger: Duration::from_secs(2),
            gate_timeout: Duration::from_secs(60),
            verbose: false,
            tls: None,
            config: CONFIG,
            memory_budget: budget::DEFAULT_BUDGET,
            max_ratio: budget::DEFAULT_MAX_RATIO,
            keep_out: 64 * 1024,
            min_compress_len_no_context: 0,
        }
    }
}

const LISTENER: Token = Token(0);
/// Shared receive buffer: all connections read into it in turn.
const READ_BUF: usize = 256 * 1024;
/// Reads per connection per turn before others get theirs (fairness).
const READ_BUDGET: usize = 16;
/// How often deadlines are checked (and accepting is retried while out of file descriptors).
const TICK: Duration = Duration::from_millis(100);

/// Ticks without a large message after which a connection gives back what they needed.
const QUIET_TICKS: u32 = 10;

enum Phase {
    /// Reading the request head.
    Head { parser: RequestParser, buf: Vec<u8>, deadline: Instant },
    /// A WebSocket connection.
    Ws(Box<Ws>),
    /// A `/gate?id=` request waiting for the matching `/done?id=`.
    Gate { id: String, deadline: Instant },
    /// Flush the output, shut down the write half, discard input until EOF or the deadline.
    Closing { deadline: Instant },
}

/// A connection and, beside it, the memory its events borrow besides the shared read buffer:
/// control frames split across reads, fragmented and compressed messages.
struct Ws {
    conn: Connection,
    assembly: Assembly,
}

struct Client {
    sock: Transport,
    phase: Phase,
    out: Output,
    write_shut: bool,
    charge: budget::Charge,
    /// Bytes the last read that queued any output queued (see `turn`).
    last_queued: usize,
}

/// State shared by all connections of one server loop.
struct Shared {
    opts: Options,
    deflate: DeflateConfig,
    buf: Vec<u8>,
    /// Results reported by `/done?id=..&result=..`, by id (bounded).
    results: HashMap<String, String>,
    gates_dirty: bool,
    budget: budget::Budget,
}

/// What a connection should do after a turn.
#[derive(PartialEq, Eq)]
enum Turn {
    /// Wait for the next readiness event.
    Wait,
    /// The read budget ran out with input possibly left: run again soon.
    Again,
    /// Drop the connection.
    Drop,
}

/// Runs the server on `listener` until `stop` is set, with the default [`Options`].
pub fn run(listener: TcpListener, stop: Arc<AtomicBool>) -> io::Result<()> {
    run_with(listener, stop, Options::default())
}

/// Runs the server on `listener` until `stop` is set.
pub fn run_with(mut listener: TcpListener, stop: Arc<AtomicBool>, opts: Options) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_id = 1usize;
    let mut again: Vec<Token> = Vec::new();
    let mut shared = Shared {
        deflate: DeflateConfig::new()
            .max_ratio(opts.max_ratio)
            .min_compress_len_no_context(opts.min_compress_len_no_context),
        opts,
        buf: vec![0; READ_BUF],
        results: HashMap::new(),
        gates_dirty: false,
        budget: budget::Budget::default(),
    };
    let mut acceptor = Acceptor::new(shared.opts.verbose);
    let origin = Instant::now();
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let busy = !again.is_empty() || acceptor.pending() == Pending::Now;
        if let Err(e) = poll.poll(&mut events, Some(if busy { Duration::ZERO } else { TICK })) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut accept_now = acceptor.pending() == Pending::Now;
        let mut ready: Vec<Token> = std::mem::take(&mut again);
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_now = true;
            } else {
                ready.push(event.token());
            }
        }
        let now = Instant::now();
        // A connection dropped: its file descriptor is free for one still in the listen queue.
        let mut freed = false;
        for token in ready {
            if let Some(client) = clients.get_mut(&token) {
                let turn = client.turn(&mut shared, now);
                match client.account(turn, &mut shared, now) {
                    Turn::Wait => {}
                    Turn::Again => again.push(token),
                    Turn::Drop => freed |= drop_client(&poll, &mut clients, token),
                }
            }
        }
        again.dedup();
        let tick = now.duration_since(last_tick) >= TICK;
        if shared.gates_dirty || tick {
            if tick {
                last_tick = now;
            }
            shared.gates_dirty = false;
            let tokens: Vec<Token> = clients.keys().copied().collect();
            for token in tokens {
                let Some(client) = clients.get_mut(&token) else { continue };
                let turn = client.on_tick(&mut shared, now, now.duration_since(origin), tick);
                let turn = client.account(turn, &mut shared, now);
                if turn == Turn::Drop {
                    freed |= drop_client(&poll, &mut clients, token);
                }
            }
        }
        // Out of fds, the listener gives no new event for connections already queued: retry.
        if acceptor.pending() == Pending::Later && (freed || tick) {
            accept_now = true;
        }
        if accept_now {
            acceptor.accept(&listener, |sock| admit(sock, &poll, &mut clients, &mut next_id, &shared.opts));
        }
    }
    Ok(())
}

/// Registers a new connection and starts reading its request head.
fn admit(mut sock: TcpStream, poll: &Poll, clients: &mut HashMap<Token, Client>, next_id: &mut usize, opts: &Options) {
    let _ = sock.set_nodelay(true);
    let token = Token(*next_id);
    *next_id = next_id.wrapping_add(1).max(1);
    if let Err(e) = poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE) {
        eprintln!("register: {e}");
        return;
    }
    let Ok(sock) = Transport::new(sock, opts.tls.as_ref()) else { return };
    let phase = Phase::Head {
        parser: RequestParser::with_max_head_len(opts.max_head_len),
        buf: Vec::new(),
        deadline: Instant::now() + opts.head_timeout,
    };
    let charge = budget::Charge::default();
    clients.insert(
        token,
        Client { sock, phase, out: Output::new(opts.keep_out), write_shut: false, charge, last_queued: 0 },
    );
}

/// Drops a connection (closing its socket); false if there was none.
fn drop_client(poll: &Poll, clients: &mut HashMap<Token, Client>, token: Token) -> bool {
    match clients.remove(&token) {
        Some(mut client) => {
            let _ = poll.registry().deregister(&mut client.sock);
            true
        }
        None => false,
    }
}

impl Client {
    fn backlog(&self) -> usize {
        self.out.backlog()
    }

    /// Writes as much output as the socket takes. `Err` means the peer is gone.
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()?;
        self.out.write_to(&mut self.sock)?;
        if matches!(self.phase, Phase::Closing { .. }) && self.backlog() == 0 && !self.write_shut {
            self.write_shut = true;
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// One turn after a readiness event: write, read, process, write.
    fn turn(&mut self, shared: &mut Shared, now: Instant) -> Turn {
        for _ in 0..READ_BUDGET {
            if let Err(e) = self.flush() {
                if shared.opts.verbose {
                    eprintln!("write: {e}");
                }
                return Turn::Drop;
            }
            // Backpressure: a client that does not read its echoes is not read either, and the
            // engine's write-stall timer runs until its output drains. What the last read queued
            // does not count yet: the next message is read while a large echo goes out
            // (receiving and sending overlap), and at most one more echo is queued behind it.
            let over = self.backlog() > shared.opts.out_limit;
            if let Phase::Ws(ws) = &mut self.phase {
                if over {
                    ws.conn.output_blocked();
                } else {
                    ws.conn.output_drained();
                }
            }
            if self.backlog().saturating_sub(self.last_queued) > shared.opts.out_limit {
                return Turn::Wait;
            }
            let n = match self.sock.read(&mut shared.buf) {
                Ok(0) => return self.on_eof(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Turn::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if shared.opts.verbose {
                        eprintln!("read: {e}");
                    }
                    return Turn::Drop;
                }
            };
            let before = self.backlog();
            self.on_bytes(n, shared, now);
            if self.backlog() > before {
                self.last_queued = self.backlog() - before;
            }
        }
        match self.flush() {
            Ok(()) => Turn::Again,
            Err(_) => Turn::Drop,
        }
    }

    fn on_eof(&mut self) -> Turn {
        if let Phase::Ws(ws) = &mut self.phase {
            // Without a Close first this is an abnormal closure (1006); nothing to send back.
            let _ = ws.conn.read_eof();
        }
        let _ = self.flush();
        Turn::Drop
    }

    /// Timers: head and gate deadlines, the engine's close timeout, the linger deadline.
    fn on_tick(&mut self, shared: &mut Shared, now: Instant, mono: Duration, tick: bool) -> Turn {
        match &mut self.phase {
            Phase::Head { deadline, .. } if tick && now >= *deadline => {
                let resp = reject(408, "Request Timeout", &[], b"request head timeout\n");
                self.out.bytes().extend_from_slice(&resp.map(|r| r.response_vec()).unwrap_or_default());
                self.closing(&shared.opts, now);
            }
            Phase::Ws(ws) if tick => {
                if self.out.quiet(QUIET_TICKS) {
                    ws.assembly.trim(shared.opts.keep_out);
                }
                let conn = &mut ws.conn;
                // Keepalive pings and the Close of an unfinished message go out; the other
                // verdicts end the connection below.
                if conn.handle_timeout(mono).is_some() {
                    conn.poll_transmit_vec(self.out.bytes());
                }
                if conn.should_close_transport() {
                    self.closing(&shared.opts, now);
                }
            }
            // Answer a gate once the page has reported (or give up at the deadline).
            Phase::Gate { id, deadline } if shared.results.contains_key(id.as_str()) || (tick && now >= *deadline) => {
                self.out.bytes().extend_from_slice(&gif_response());
                self.closing(&shared.opts, now);
            }
            Phase::Closing { deadline } if tick && now >= *deadline => return Turn::Drop,
            _ => return Turn::Wait,
        }
        match self.flush() {
            Ok(()) => Turn::Wait,
            Err(_) => Turn::Drop,
        }
    }

    fn closing(&mut self, opts: &Options, now: Instant) {
        self.phase = Phase::Closing { deadline: now + opts.linger };
    }

    fn on_bytes(&mut self, n: usize, shared: &mut Shared, now: Instant) {
        match &mut self.phase {
            Phase::Head { parser, buf, .. } => {
                buf.extend_from_slice(&shared.buf[..n]);
                let outcome = handshake(parser, buf, shared);
                self.after_head(outcome, shared, now);
            }
            Phase::Ws(ws) => {
                echo(&mut ws.conn, &mut ws.assembly, &mut shared.buf[..n], &mut self.out, shared.opts.verbose);
                if ws.conn.should_close_transport() {
                    self.closing(&shared.opts, now);
                }
            }
            // Anything after a plain request, or after our close, is discarded.
            Phase::Gate { .. } | Phase::Closing { .. } => {}
        }
    }

    fn after_head(&mut self, outcome: Head, shared: &mut Shared, now: Instant) {
        match outcome {
            Head::Partial => {}
            Head::Reply(bytes) => {
                self.out.bytes().extend_from_slice(&bytes);
                self.closing(&shared.opts, now);
            }
            Head::Gate(id) => {
                shared.gates_dirty = true;
                self.phase = Phase::Gate { id, deadline: now + shared.opts.gate_timeout };
            }
            Head::Upgrade { response, mut ws, mut rest } => {
                self.out.bytes().extend_from_slice(&response);
                // Bytes after the head already belong to the WebSocket connection.
                if !rest.is_empty() {
                    echo(&mut ws.conn, &mut ws.assembly, &mut rest, &mut self.out, shared.opts.verbose);
                }
                let close = ws.conn.should_close_transport();
                self.phase = Phase::Ws(ws);
                if close {
                    self.closing(&shared.opts, now);
                }
            }
        }
    }
}

/// The outcome of a complete (or not yet complete) request head.
enum Head {
    Partial,
    /// Send these bytes, then close.
    Reply(Vec<u8>),
    /// Hold the request until `/done?id=` arrives.
    Gate(String),
    /// Send the 101 response and continue as a WebSocket connection.
    Upgrade {
        response: Vec<u8>,
        ws: Box<Ws>,
        rest: Vec<u8>,
    },
}

fn handshake(parser: &mut RequestParser, buf: &[u8], shared: &mut Shared) -> Head {
    let incoming = match parser.parse(buf) {
        Ok(Request::Partial) => return Head::Partial,
        Ok(Request::Upgrade(incoming)) => incoming,
        Ok(Request::Plain(req)) => return plain(&req, shared),
        Ok(_) => return Head::Reply(simple(400, "text/plain", b"unsupported request\n")),
        Err(rejection) => return Head::Reply(rejection.response_vec()),
    };
    // permessage-deflate: the first acceptable offer wins (RFC 7692 §5).
    let params = if shared.opts.deflate {
        incoming
            .extensions()
            .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| shared.deflate.accept_offer(e.params()))
    } else {
        None
    };
    let extensions = params.as_ref().map(|p| p.response());
    // An echo server speaks every subprotocol: select the client's first choice.
    let mut opts = AcceptOptions::new();
    if let Some(p) = incoming.protocols().next() {
        opts = opts.with_protocol(p);
    }
    if let Some(e) = extensions.as_deref() {
        opts = opts.with_extensions(e);
    }
    let response = match incoming.accept(&opts) {
        Ok(accept) => accept.response_vec(),
        Err(e) => return Head::Reply(simple(500, "text/plain", format!("{e}\n").as_bytes())),
    };
    let config = shared.opts.config;
    let conn = match &params {
        Some(p) => Connection::server(config).with_deflate(p),
        // Large echoes are written from the assembly and its buffers reused (`output.rs`): the
        // engine keeps what they need between messages; the server trims it when quiet.
        None => Connection::server(config.retain_capacity(config.max_message_len as usize)),
    };
    let rest = buf[incoming.head_len()..].to_vec();
    Head::Upgrade { response, ws: Box::new(Ws { conn, assembly: Assembly::new() }), rest }
}

/// Plain HTTP: the demo page, the browser test page, and its `/gate` and `/done`.
fn plain(req: &HttpRequest<'_>, shared: &mut Shared) -> Head {
    if req.method() != "GET" && req.method() != "HEAD" {
        return Head::Reply(simple(405, "text/plain", b"only GET\n"));
    }
    let (path, query) = req.path().split_once('?').unwrap_or((req.path(), ""));
    match path {
        "/" => Head::Reply(simple(200, "text/html; charset=utf-8", INDEX_PAGE.as_bytes())),
        "/test" => Head::Reply(simple(200, "text/html; charset=utf-8", TEST_PAGE.as_bytes())),
        "/gate" => Head::Gate(query_param(query, "id").unwrap_or_default()),
        "/done" => {
            let id = query_param(query, "id").unwrap_or_default();
            let result = query_param(query, "result").unwrap_or_default();
            println!("browser result {id}: {result}");
            if shared.results.len() >= 1024 {
                shared.results.clear();
            }
            shared.results.insert(id, result);
            shared.gates_dirty = true;
            Head::Reply(simple(200, "text/plain", b"ok\n"))
        }
        "/favicon.ico" => Head::Reply(simple(204, "text/plain", b"")),
        _ => Head::Reply(simple(404, "text/plain", b"not found\n")),
    }
}

fn simple(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let headers = [("Content-Type", content_type), ("Cache-Control", "no-store")];
    match reject(status, "", &headers, body) {
        Ok(r) => r.response_vec(),
        Err(_) => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    }
}

/// A 1x1 transparent GIF: the `/gate` image.
fn gif_response() -> Vec<u8> {
    simple(200, "image/gif", test_page::GIF)
}

const INDEX_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>wsmachine echo</title>
<style>body{font:15px system-ui,sans-serif;max-width:46em;margin:2em auto}#log{white-space:pre-wrap;
border:1px solid #ccc;padding:.5em;height:20em;overflow:auto;font-family:monospace}.in{color:#063}.out{color:#036}
.sys{color:#777}</style></head>
<body><h1>wsmachine echo server</h1>
<p>State: <b id="state">connecting</b> &middot; extensions: <code id="ext">-</code></p>
<form id="f"><input id="msg" size="50" autofocus placeholder="type a message"> <button>send</button>
<button type="button" id="close">close</button> <button type="button" id="open">reconnect</button></form>
<div id="log"></div>
<script>
"use strict";
let ws;
const $ = (id) => document.getElementById(id);
function log(cls, text) {
  const d = document.createElement("div"); d.className = cls; d.textContent = text;
  $("log").appendChild(d); $("log").scrollTop = $("log").scrollHeight;
}
function connect() {
  ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
  $("state").textContent = "connecting";
  ws.onopen = () => { $("state").textContent = "open"; $("ext").textContent = ws.extensions || "(none)";
                      log("sys", "connected"); };
  ws.onmessage = (e) => log("in", "< " + e.data);
  ws.onerror = () => log("sys", "error");
  ws.onclose = (e) => { $("state").textContent = "closed";
                        log("sys", "closed: code " + e.code + (e.reason ? ", reason " + JSON.stringify(e.reason) : "")); };
}
$("f").onsubmit = (e) => { e.preventDefault(); if (ws.readyState === 1) { ws.send($("msg").value);
                           log("out", "> " + $("msg").value); $("msg").value = ""; } };
$("close").onclick = () => ws.close(1000, "bye from the page");
$("open").onclick = () => { if (ws.readyState === 3) connect(); };
connect();
</script></body></html>
"#;

const USAGE: &str = "usage: echo_server [ADDR] [--backlog N] [--no-deflate] [--verbose] \
                     [--tls [--cert FILE --key FILE] [--cert-out FILE]] [--memory-budget BYTES] \
                     [--message-timeout|--write-stall|--keepalive|--head-timeout SECS] [--retain BYTES] [--engine-defaults] \
                     [--min-compress-len-no-context BYTES]";

#[allow(dead_code)]
fn main() {
    let mut addr = String::from("127.0.0.1:9001");
    let mut opts = Options::default();
    let mut backlog = accept::DEFAULT_BACKLOG;
    let mut tls_args = tls::TlsArgs::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-deflate" => opts.deflate = false,
            "--verbose" => opts.verbose = true,
            "--min-compress-len-no-context" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => opts.min_compress_len_no_context = n,
                None => fail(2, &format!("--min-compress-len-no-context needs a number of bytes\n{USAGE}")),
            },
            a if budget::option(a, &mut args, &mut opts) => {}
            "--backlog" => match args.next().and_then(|n| n.parse().ok()).filter(|&n: &i32| n > 0) {
                Some(n) => backlog = n,
                None => fail(2, &format!("--backlog needs a positive number\n{USAGE}")),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            a => match tls_args.take(a, &mut args) {
                Ok(true) => {}
                Ok(false) if !a.starts_with('-') => addr = a.to_string(),
                Ok(false) => fail(2, &format!("unknown option {a:?}\n{USAGE}")),
                Err(e) => fail(2, &format!("{e}\n{USAGE}")),
            },
        }
    }
    let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|e| fail(2, &format!("bad address {addr:?}: {e}")));
    let listener = accept::bind(addr, backlog).unwrap_or_else(|e| fail(1, &format!("bind {addr}: {e}")));
    let local = listener.local_addr().unwrap_or(addr);
    let cap = match accept::somaxconn() {
        Some(max) if max < backlog => format!(", capped at net.core.somaxconn = {max}"),
        _ => String::new(),
    };
    opts.tls = tls_args.config(local).unwrap_or_else(|e| fail(1, &format!("tls: {e}")));
    let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{local} (backlog {backlog}{cap})");
    println!("{}", limits::describe(&opts.config, opts.memory_budget, opts.max_ratio));
    let _ = io::stdout().flush();
    if let Err(e) = run_with(listener, Arc::new(AtomicBool::new(false)), opts) {
        eprintln!("server loop: {e}");
        std::process::exit(1);
    }
}

/// Prints `msg` and exits with `code` (2: bad usage, 1: the server cannot start).
#[allow(dead_code)]
fn fail(code: i32, msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(code)
}
