//! A chat server on `mio`: rooms, presence, and, with `--redis`, rooms that span processes.
//!
//! ```text
//! cargo run --release --example chat -- [ADDR] [--redis redis://127.0.0.1:6379] [--out-limit BYTES]
//!                                       [--keepalive SECS] [--verbose]
//! ```
//!
//! `GET /` serves the page (choose a name, join a room, talk); the page's own WebSocket drives
//! the protocol of `room.rs`. Every message said in a room is encoded once as a
//! [`Broadcast`] and the same bytes are queued on every member's output (server frames are not
//! masked, RFC 6455 §5.1). A member whose unsent output passes `--out-limit` is dropped with
//! close code 1013 (try again later) and the room goes on; a message over 64 KiB fails its
//! connection with 1009 (the engine's `max_len`); a client that vanishes without a Close is
//! found by the engine's keepalive (a ping after `--keepalive` seconds of silence, 20 by
//! default, dropped if no answer comes within as long, 10 s at most).
//!
//! With `--redis`, `link.rs` publishes what local members say and subscribes to the rooms they
//! are in; messages are tagged with this process's id and a process drops its own. Presence is
//! kept in Redis with a TTL, so the members of a process that dies disappear within seconds.
//! If Redis goes away, local rooms keep working, members are told `{"type":"status",
//! "cross":"paused"}`, and `"live"` again once both Redis connections are back.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::server::{reject, AcceptOptions, HttpRequest, Request, RequestParser};
use wsmachine::{Assembly, Broadcast, CloseCode, Config, Connection, Event, Message, State};

mod link;
mod room;

use link::{FromLink, Link, PubCmd, SubCmd};
use room::Rooms;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const READ_BUF: usize = 128 * 1024;
const READ_BUDGET: usize = 8;
const TICK: Duration = Duration::from_millis(100);
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const LINGER: Duration = Duration::from_secs(2);
/// A slow member's Close waits this long behind the output it has not read.
const SLOW_LINGER: Duration = Duration::from_secs(10);
const PAGE: &str = include_str!("page.html");

struct Options {
    redis: Option<String>,
    out_limit: usize,
    keepalive: Duration,
    verbose: bool,
}

/// Output waiting for the socket: owned bytes (handshake, replies, control frames) and
/// broadcast frames shared with every other member, in order.
#[derive(Default)]
struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front: usize,
    len: usize,
}

enum Chunk {
    Own(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Own(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

impl OutQueue {
    /// Appends owned bytes through `f` (to the last owned chunk when it is last).
    fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        if !matches!(self.chunks.back(), Some(Chunk::Own(_))) || self.chunks.len() == 1 && self.front > 0 {
            self.chunks.push_back(Chunk::Own(Vec::new()));
        }
        let Some(Chunk::Own(v)) = self.chunks.back_mut() else { unreachable!() };
        let before = v.len();
        let r = f(v);
        let added = v.len() - before;
        if v.is_empty() {
            self.chunks.pop_back();
        }
        self.len += added;
        r
    }

    fn push_shared(&mut self, frame: Arc<[u8]>) {
        self.len += frame.len();
        self.chunks.push_back(Chunk::Shared(frame));
    }

    /// Drops what was not started (the front chunk, once begun, is finished).
    fn truncate_unstarted(&mut self) {
        let keep = usize::from(self.front > 0);
        while self.chunks.len() > keep {
            if let Some(c) = self.chunks.pop_back() {
                self.len -= c.bytes().len();
            }
        }
    }

    /// Writes as much as the socket takes (vectored). `Err`: the peer is gone.
    fn flush(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); 64];
            let mut n = 0;
            for (i, c) in self.chunks.iter().take(64).enumerate() {
                slices[i] = IoSlice::new(if i == 0 { &c.bytes()[self.front..] } else { c.bytes() });
                n = i + 1;
            }
            let mut written = match sock.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.len -= written;
            while written > 0 {
                let left = self.chunks[0].bytes().len() - self.front;
                if written >= left {
                    written -= left;
                    self.chunks.pop_front();
                    self.front = 0;
                } else {
                    self.front += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }
}

enum Phase {
    Head { parser: RequestParser, buf: Vec<u8>, deadline: Instant },
    Ws(Box<Ws>),
    /// A `/gate?id=` request waiting for `/done?id=` (the browser test's load-event trick).
    Gate { id: String, deadline: Instant },
    /// Flush, shut down the write half, then drop at the deadline or at EOF.
    Closing { deadline: Instant },
}

struct Ws {
    conn: Connection,
    assembly: Assembly,
}

struct Client {
    sock: TcpStream,
    phase: Phase,
    out: OutQueue,
    write_shut: bool,
}

impl Client {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush(&mut self.sock)?;
        if matches!(self.phase, Phase::Closing { .. }) && self.out.len == 0 && !self.write_shut {
            self.write_shut = true;
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    fn ws_open(&self) -> bool {
        matches!(&self.phase, Phase::Ws(ws) if ws.conn.state() == State::Open)
    }

    /// Queues a text message of our own (ignored once the connection is closing).
    fn send_text(&mut self, text: &str) {
        if let Phase::Ws(ws) = &mut self.phase {
            let conn = &mut ws.conn;
            self.out.with_vec(|out| conn.send_text_vec(text, out)).ok();
        }
    }
}

/// What a client asked for, applied once its borrow ends.
enum Action {
    Join { room: String, name: String },
    Say(String),
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    clients: HashMap<Token, Client>,
    next_id: usize,
    rooms: Rooms,
    opts: Options,
    config: Config,
    deflate: DeflateConfig,
    buf: Vec<u8>,
    pid: String,
    link: Option<Link>,
    /// The publisher and subscriber connections are up.
    link_up: [bool; 2],
    /// Clients with output to flush at the end of this turn.
    dirty: HashSet<Token>,
    results: HashMap<String, String>,
    gates_dirty: bool,
    origin: Instant,
}

impl Server {
    fn cross(&self) -> &'static str {
        match &self.link {
            None => "off",
            Some(_) if self.link_up == [true, true] => "live",
            Some(_) => "paused",
        }
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut again: Vec<Token> = Vec::new();
        let mut last_tick = Instant::now();
        loop {
            let timeout = if again.is_empty() { TICK } else { Duration::ZERO };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut ready = std::mem::take(&mut again);
            let mut accept = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept = true,
                    WAKER => self.from_link(),
                    t => ready.push(t),
                }
            }
            let now = Instant::now();
            for token in ready {
                if self.turn(token, now) {
                    again.push(token);
                }
            }
            again.dedup();
            let tick = now.duration_since(last_tick) >= TICK;
            if tick || self.gates_dirty {
                if tick {
                    last_tick = now;
                }
                self.gates_dirty = false;
                let tokens: Vec<Token> = self.clients.keys().copied().collect();
                for token in tokens {
                    self.on_tick(token, now, tick);
                }
            }
            if accept {
                self.accept();
            }
            for token in std::mem::take(&mut self.dirty) {
                if let Some(c) = self.clients.get_mut(&token) {
                    if c.flush().is_err() {
                        self.drop_client(token);
                    }
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let mut sock = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    eprintln!("accept: {e}");
                    return;
                }
            };
            let _ = sock.set_nodelay(true);
            let token = Token(self.next_id);
            self.next_id += 1;
            if self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE).is_err() {
                continue;
            }
            let phase = Phase::Head {
                parser: RequestParser::with_max_head_len(8 * 1024),
                buf: Vec::new(),
                deadline: Instant::now() + HEAD_TIMEOUT,
            };
            self.clients.insert(token, Client { sock, phase, out: OutQueue::default(), write_shut: false });
        }
    }

    fn drop_client(&mut self, token: Token) {
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.sock);
        }
        self.depart(token);
    }

    /// A member that is gone, or no longer open, leaves its room.
    fn settle(&mut self, token: Token) {
        if !self.clients.get(&token).is_some_and(Client::ws_open) {
            self.depart(token);
        }
    }

    fn depart(&mut self, token: Token) {
        let Some((room, name)) = self.rooms.leave(token) else { return };
        if self.opts.verbose {
            eprintln!("{name} left {room}");
        }
        self.broadcast_local(&room, &room::presence_diff(&[name.clone()].into(), &Default::default())[0]);
        self.publish(&room, 'l', &name);
        self.presence_changed(&room);
    }

    /// One readiness turn; true when the read budget ran out (run again soon).
    fn turn(&mut self, token: Token, now: Instant) -> bool {
        let mut buf = std::mem::take(&mut self.buf);
        let mut actions = Vec::new();
        let mut again = true;
        let mut gone = false;
        if let Some(c) = self.clients.get_mut(&token) {
            for _ in 0..READ_BUDGET {
                if c.flush().is_err() {
                    gone = true;
                    break;
                }
                // A client whose output is backed up is not read until it drains.
                if c.out.len > self.opts.out_limit {
                    again = false;
                    break;
                }
                let n = match c.sock.read(&mut buf) {
                    Ok(0) => {
                        if let Phase::Ws(ws) = &mut c.phase {
                            let _ = ws.conn.read_eof(); // 1006 without a Close first
                        }
                        gone = true;
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        again = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                };
                self.gates_dirty |= on_bytes(c, &mut buf[..n], &mut actions, &mut self.results, &self.config, &self.opts, &self.deflate, now);
            }
            self.dirty.insert(token);
        }
        self.buf = buf;
        for action in actions {
            self.act(token, action);
        }
        if gone {
            self.drop_client(token);
            return false;
        }
        self.settle(token);
        again && !gone
    }

    fn on_tick(&mut self, token: Token, now: Instant, tick: bool) {
        let mono = now.duration_since(self.origin);
        let Some(c) = self.clients.get_mut(&token) else { return };
        match &mut c.phase {
            Phase::Head { deadline, .. } if tick && now >= *deadline => {
                let resp = simple(408, "text/plain", b"request head timeout\n");
                c.out.with_vec(|o| o.extend_from_slice(&resp));
                c.phase = Phase::Closing { deadline: now + LINGER };
            }
            Phase::Ws(ws) if tick => {
                // Keepalive pings and timeouts (RFC 6455 §5.5.2; a silent peer is dropped).
                if ws.conn.handle_timeout(mono).is_some() {
                    let conn = &mut ws.conn;
                    c.out.with_vec(|o| conn.poll_transmit_vec(o));
                }
                if ws.conn.should_close_transport() {
                    c.phase = Phase::Closing { deadline: now + LINGER };
                }
            }
            Phase::Gate { id, deadline } if self.results.contains_key(id.as_str()) || (tick && now >= *deadline) => {
                c.out.with_vec(|o| o.extend_from_slice(&gif_response()));
                c.phase = Phase::Closing { deadline: now + LINGER };
            }
            Phase::Closing { deadline } if tick && now >= *deadline => {
                self.drop_client(token);
                return;
            }
            _ => return,
        }
        self.dirty.insert(token);
        self.settle(token);
    }

    fn act(&mut self, token: Token, action: Action) {
        match action {
            Action::Join { room, name } => match self.rooms.join(token, &room, &name) {
                Ok(()) => {
                    if self.opts.verbose {
                        eprintln!("{name} joined {room}");
                    }
                    let members = self.rooms.rooms[&room].names();
                    let welcome = room::welcome(&room, &name, &members, self.cross());
                    let joined = room::presence_diff(&Default::default(), &[name.clone()].into()).remove(0);
                    let others: Vec<Token> = self.rooms.local_tokens(&room).into_iter().filter(|t| *t != token).collect();
                    self.broadcast_to(&others, &joined);
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.send_text(&welcome);
                    }
                    if let Some(link) = &self.link {
                        if self.rooms.local_names(&room).len() == 1 {
                            let _ = link.to_sub.send(SubCmd::Subscribe(room.clone()));
                            let _ = link.to_pub.send(PubCmd::Wake);
                        }
                    }
                    self.publish(&room, 'j', &name);
                    self.presence_changed(&room);
                }
                Err(reason) => {
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.send_text(&room::error(reason));
                    }
                }
            },
            Action::Say(text) => {
                let Some((room, name)) = self.rooms.by_token.get(&token).cloned() else {
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.send_text(&room::error("join a room first"));
                    }
                    return;
                };
                let msg = room::message(&name, &text);
                self.broadcast_local(&room, &msg);
                self.publish(&room, 'm', &msg);
            }
        }
    }

    /// `PID KIND REST` on the room's channel (KIND: m message, j join, l leave).
    fn publish(&mut self, room: &str, kind: char, rest: &str) {
        if let Some(link) = &self.link {
            let payload = format!("{} {kind} {rest}", self.pid).into_bytes();
            let _ = link.to_pub.send(PubCmd::Publish { room: room.to_string(), payload });
        }
    }

    fn presence_changed(&mut self, room: &str) {
        let names = self.rooms.local_names(room);
        if let Some(link) = &self.link {
            if names.is_empty() {
                let _ = link.to_sub.send(SubCmd::Unsubscribe(room.to_string()));
                let _ = link.to_pub.send(PubCmd::Wake);
            }
            let _ = link.to_pub.send(PubCmd::Presence { room: room.to_string(), names });
        }
    }

    fn broadcast_local(&mut self, room: &str, text: &str) {
        let tokens = self.rooms.local_tokens(room);
        self.broadcast_to(&tokens, text);
    }

    /// Encodes `text` once and queues the same frame on every member that may take it; a
    /// member over its output limit is dropped (1013) and the others go on.
    fn broadcast_to(&mut self, tokens: &[Token], text: &str) {
        let frame = Broadcast::text(text);
        let mut slow = Vec::new();
        for &token in tokens {
            let Some(c) = self.clients.get_mut(&token) else { continue };
            let Phase::Ws(ws) = &mut c.phase else { continue };
            if let Ok(bytes) = ws.conn.send_broadcast(&frame) {
                c.out.push_shared(bytes);
                self.dirty.insert(token);
                if c.out.len > self.opts.out_limit {
                    slow.push(token);
                }
            }
        }
        for token in slow {
            self.too_slow(token);
        }
    }

    /// Drops what a slow member has not started receiving and closes it with 1013 (RFC 6455
    /// §7.4.1: try again later), behind the frame it is in the middle of.
    fn too_slow(&mut self, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else { return };
        let Phase::Ws(ws) = &mut c.phase else { return };
        c.out.truncate_unstarted();
        let conn = &mut ws.conn;
        let _ = c.out.with_vec(|o| conn.close_vec(CloseCode::TRY_AGAIN_LATER, "too slow", o));
        c.phase = Phase::Closing { deadline: Instant::now() + SLOW_LINGER };
        if self.opts.verbose {
            eprintln!("dropped a slow member");
        }
        self.depart(token);
    }

    fn from_link(&mut self) {
        let Some(link) = &self.link else { return };
        let msgs: Vec<FromLink> = link.from.try_iter().collect();
        for msg in msgs {
            match msg {
                FromLink::Up { subscriber } | FromLink::Down { subscriber } => {
                    let before = self.cross();
                    self.link_up[usize::from(subscriber)] = matches!(msg, FromLink::Up { .. });
                    let after = self.cross();
                    if before != after {
                        eprintln!("cross-server delivery: {after}");
                        let status = room::status(after);
                        let tokens: Vec<Token> = self.rooms.by_token.keys().copied().collect();
                        self.broadcast_to(&tokens, &status);
                    }
                }
                FromLink::Message { room, payload } => self.remote_message(&room, &payload),
                FromLink::Presence { mut all, additive } => {
                    let rooms: BTreeSet<String> = self.rooms.rooms.keys().chain(all.keys()).cloned().collect();
                    for room in rooms {
                        let mut procs = all.remove(&room).unwrap_or_default();
                        procs.remove(&self.pid);
                        if additive {
                            for (pid, names) in self.rooms.rooms.get(&room).map(|r| &r.remote).into_iter().flatten() {
                                procs.entry(pid.clone()).or_default().extend(names.iter().cloned());
                            }
                        }
                        let events = self.rooms.set_remote(&room, procs);
                        for e in events {
                            self.broadcast_local(&room, &e);
                        }
                    }
                }
            }
        }
    }

    fn remote_message(&mut self, room: &str, payload: &[u8]) {
        let Ok(payload) = std::str::from_utf8(payload) else { return };
        let mut parts = payload.splitn(3, ' ');
        let (Some(pid), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else { return };
        if pid == self.pid {
            return; // our own, already delivered locally
        }
        match kind {
            "m" => self.broadcast_local(room, rest),
            "j" | "l" => {
                for e in self.rooms.remote_change(room, pid, rest, kind == "j") {
                    self.broadcast_local(room, &e);
                }
            }
            _ => {}
        }
    }
}

/// Feeds bytes to a client in any phase; returns whether a `/done` arrived.
#[allow(clippy::too_many_arguments)]
fn on_bytes(
    c: &mut Client,
    data: &mut [u8],
    actions: &mut Vec<Action>,
    results: &mut HashMap<String, String>,
    config: &Config,
    opts: &Options,
    deflate: &DeflateConfig,
    now: Instant,
) -> bool {
    match &mut c.phase {
        Phase::Head { parser, buf, .. } => {
            buf.extend_from_slice(data);
            let incoming = match parser.parse(buf) {
                Ok(Request::Partial) => return false,
                Ok(Request::Upgrade(incoming)) => incoming,
                Ok(Request::Plain(req)) => {
                    let (reply, done) = plain(&req, results);
                    match reply {
                        Some(bytes) => {
                            c.out.with_vec(|o| o.extend_from_slice(&bytes));
                            c.phase = Phase::Closing { deadline: now + LINGER };
                        }
                        None => {
                            let id = query_param(req.path(), "id").unwrap_or_default();
                            c.phase = Phase::Gate { id, deadline: now + Duration::from_secs(60) };
                        }
                    }
                    return done;
                }
                Ok(_) => {
                    c.out.with_vec(|o| o.extend_from_slice(&simple(400, "text/plain", b"unsupported\n")));
                    c.phase = Phase::Closing { deadline: now + LINGER };
                    return false;
                }
                Err(rejection) => {
                    c.out.with_vec(|o| o.extend_from_slice(&rejection.response_vec()));
                    c.phase = Phase::Closing { deadline: now + LINGER };
                    return false;
                }
            };
            // permessage-deflate: the first acceptable offer (RFC 7692 §5). Broadcast frames go
            // out uncompressed (RSV1 clear, §6), legal on every connection either way.
            let params = incoming
                .extensions()
                .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
                .find_map(|e| deflate.accept_offer(e.params()));
            let extensions = params.as_ref().map(|p| p.response());
            let mut accept = AcceptOptions::new();
            if let Some(e) = extensions.as_deref() {
                accept = accept.with_extensions(e);
            }
            let Ok(response) = incoming.accept(&accept).map(|a| a.response_vec()) else {
                c.phase = Phase::Closing { deadline: now };
                return false;
            };
            let mut conn = Connection::server(*config);
            if let Some(p) = &params {
                conn = conn.with_deflate(p);
            }
            let mut rest = buf[incoming.head_len()..].to_vec();
            c.out.with_vec(|o| o.extend_from_slice(&response));
            c.phase = Phase::Ws(Box::new(Ws { conn, assembly: Assembly::new() }));
            if !rest.is_empty() {
                return on_bytes(c, &mut rest, actions, results, config, opts, deflate, now);
            }
        }
        Phase::Ws(ws) => {
            read_ws(ws, data, &mut c.out, actions, opts.verbose);
            if ws.conn.should_close_transport() {
                c.phase = Phase::Closing { deadline: now + LINGER };
            }
        }
        Phase::Gate { .. } | Phase::Closing { .. } => {}
    }
    false
}

/// Reads WebSocket input: requests become actions, replies (pongs, the Close echo, errors)
/// are queued. A message over `max_len` fails the connection with 1009 (RFC 6455 §7.4.1).
fn read_ws(ws: &mut Ws, data: &mut [u8], out: &mut OutQueue, actions: &mut Vec<Action>, verbose: bool) {
    let Ws { conn, assembly } = ws;
    let mut start = 0;
    loop {
        let read = match conn.read(&mut data[start..], assembly) {
            Ok(read) => read,
            Err(e) => {
                if verbose {
                    eprintln!("protocol error: {e}");
                }
                break;
            }
        };
        start += read.consumed;
        out.with_vec(|o| conn.poll_transmit_vec(o));
        match read.event {
            None => break,
            Some(Event::Message(Message::Text(text))) => match serde_json::from_str::<room::Request>(text) {
                Ok(room::Request::Join { room, name }) => actions.push(Action::Join { room, name }),
                Ok(room::Request::Say { text }) => actions.push(Action::Say(text)),
                Err(e) => {
                    let reply = room::error(&format!("bad request: {e}"));
                    let _ = out.with_vec(|o| conn.send_text_vec(&reply, o));
                }
            },
            Some(Event::Message(Message::Binary(_))) => {
                let reply = room::error("binary messages are not used");
                let _ = out.with_vec(|o| conn.send_text_vec(&reply, o));
            }
            Some(_) => {}
        }
    }
    out.with_vec(|o| conn.poll_transmit_vec(o));
}

/// Plain HTTP: the page, and the browser test's `/gate` and `/done`. `None`: hold as a gate.
fn plain(req: &HttpRequest<'_>, results: &mut HashMap<String, String>) -> (Option<Vec<u8>>, bool) {
    if req.method() != "GET" {
        return (Some(simple(405, "text/plain", b"only GET\n")), false);
    }
    let path = req.path().split('?').next().unwrap_or("");
    match path {
        "/" => (Some(simple(200, "text/html; charset=utf-8", PAGE.as_bytes())), false),
        "/gate" => (None, false),
        "/done" => {
            let id = query_param(req.path(), "id").unwrap_or_default();
            let result = query_param(req.path(), "result").unwrap_or_default();
            println!("browser result {id}: {result}");
            if results.len() >= 1024 {
                results.clear();
            }
            results.insert(id, result);
            (Some(simple(200, "text/plain", b"ok\n")), true)
        }
        "/favicon.ico" => (Some(simple(204, "text/plain", b"")), false),
        _ => (Some(simple(404, "text/plain", b"not found\n")), false),
    }
}

fn simple(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let headers = [("Content-Type", content_type), ("Cache-Control", "no-store")];
    reject(status, "", &headers, body).map(|r| r.response_vec()).unwrap_or_default()
}

fn gif_response() -> Vec<u8> {
    const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\
\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    simple(200, "image/gif", GIF)
}

/// The value of `name` in a path's query string, percent-decoded (`+` is a space).
fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    let value = query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })?;
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A process id for tagging what this process publishes: the OS pid and the clock.
fn process_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

const USAGE: &str =
    "usage: chat [ADDR] [--redis redis://HOST:PORT] [--out-limit BYTES] [--keepalive SECS] [--verbose]";

fn main() {
    let mut addr = String::from("127.0.0.1:9002");
    let mut opts = Options { redis: None, out_limit: 1 << 20, keepalive: Duration::from_secs(20), verbose: false };
    let mut args = std::env::args().skip(1);
    let fail = |msg: &str| -> ! {
        eprintln!("{msg}\n{USAGE}");
        std::process::exit(2)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--redis" => opts.redis = Some(args.next().unwrap_or_else(|| fail("--redis needs a URL"))),
            "--out-limit" => {
                opts.out_limit = args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| fail("bad --out-limit"))
            }
            "--keepalive" => {
                let secs: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| fail("bad --keepalive"));
                opts.keepalive = Duration::from_secs(secs.max(1));
            }
            "--verbose" => opts.verbose = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            a if a.starts_with('-') => fail(&format!("unknown option {a:?}")),
            a => addr = a.to_string(),
        }
    }
    if let Err(e) = serve(&addr, opts) {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}

fn serve(addr: &str, opts: Options) -> io::Result<()> {
    let addr = addr.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let mut listener = TcpListener::bind(addr)?;
    let poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    // 64 KiB messages (1009 beyond); a message must finish within 30 s (1008); a silent peer
    // gets a ping after `--keepalive` and is dropped without an answer within as long (10 s at most).
    let config = Config::new()
        .max_len(64 << 10)
        .retain_capacity(16 << 10)
        .message_timeout(Some(Duration::from_secs(30)))
        .keepalive(Some(opts.keepalive), opts.keepalive.min(Duration::from_secs(10)));
    let pid = process_id();
    let link = match &opts.redis {
        Some(url) => Some(Link::start(url, &pid, waker.clone()).map_err(|e| io::Error::other(format!("redis: {e}")))?),
        None => None,
    };
    let local = listener.local_addr()?;
    println!("chat on http://{local}/ (process {pid}, redis {})", opts.redis.as_deref().unwrap_or("off"));
    let _ = io::stdout().flush();
    let mut server = Server {
        poll,
        listener,
        clients: HashMap::new(),
        next_id: 2,
        rooms: Rooms::default(),
        opts,
        config,
        deflate: DeflateConfig::new(),
        buf: vec![0; READ_BUF],
        pid,
        link,
        link_up: [false, false],
        dirty: HashSet::new(),
        results: HashMap::new(),
        gates_dirty: false,
        origin: Instant::now(),
    };
    server.run()
}
