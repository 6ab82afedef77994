//! A chat server on `mio`: rooms, presence, and, with `--redis`, rooms that span processes.
//!
//! ```text
//! cargo run --release --example chat -- [ADDR] [--redis redis://127.0.0.1:6379] [--out-limit BYTES]
//!                                       [--keepalive SECS] [--verbose] [--per-member-encoding]
//! ```
//!
//! `--per-member-encoding` encodes each message once per member (the usual way without
//! [`Broadcast`]), only to measure what sharing one frame saves (`benches/chat_load/run.sh`).
//!
//! `GET /` serves the page (choose a name, join a room, talk); the page's own WebSocket drives
//! the protocol of `room.rs`. Every message said in a room is encoded once as a
//! [`Broadcast`] and the same bytes are queued on every member's output (server frames are not
//! masked, RFC 6455 §5.1); with permessage-deflate (negotiated with `server_no_context_takeover`)
//! it is also compressed once, for every member that has it. A member whose unsent output passes `--out-limit` is dropped with
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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use wsmachine::deflate::DeflateConfig;
use wsmachine::handshake::server::RequestParser;
use wsmachine::{Broadcast, CloseCode, Config};

mod client;
mod http;
mod link;
mod out;
mod room;
#[path = "../shared/test_page.rs"]
mod test_page;

use client::{on_bytes, Action, Client, Phase};
use http::{gif_response, simple};
use link::{FromLink, Link, PubCmd, SubCmd};
use out::OutQueue;
use room::Rooms;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const READ_BUF: usize = 128 * 1024;
const READ_BUDGET: usize = 8;
const TICK: Duration = Duration::from_millis(100);
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const LINGER: Duration = Duration::from_secs(2);
/// A slow member's Close waits this long behind the output it has not read.
const SLOW_LINGER: Duration = Duration::from_secs(10);

pub struct Options {
    pub redis: Option<String>,
    pub out_limit: usize,
    pub keepalive: Duration,
    pub verbose: bool,
    /// Encode every message once per member instead of once per room (to measure the difference).
    pub per_member_encoding: bool,
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
    /// Rooms whose Redis subscription is asked for and not yet acknowledged, with the number of
    /// the `Subscribe`. Their members are announced (join published, presence written) only on
    /// the acknowledgement: another process may greet them as soon as it hears of them.
    subscribing: HashMap<String, u64>,
    /// The number of the last `Subscribe` sent.
    subscribe_seq: u64,
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
                    WAKER => self.on_link(),
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
        if !self.subscribing.contains_key(&room) {
            self.publish(&room, 'l', &name); // (never announced otherwise)
        }
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
                self.gates_dirty |= on_bytes(
                    c,
                    &mut buf[..n],
                    &mut actions,
                    &mut self.results,
                    &self.config,
                    &self.opts,
                    &self.deflate,
                    now,
                );
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
                    let others: Vec<Token> =
                        self.rooms.local_tokens(&room).into_iter().filter(|t| *t != token).collect();
                    self.broadcast_to(&others, &joined);
                    if let Some(c) = self.clients.get_mut(&token) {
                        c.send_text(&welcome);
                    }
                    if let Some(link) = &self.link {
                        if self.rooms.local_names(&room).len() == 1 {
                            self.subscribe_seq += 1;
                            let seq = self.subscribe_seq;
                            let _ = link.to_sub.send(SubCmd::Subscribe { room: room.clone(), seq });
                            let _ = link.to_pub.send(PubCmd::Wake);
                            self.subscribing.insert(room.clone(), seq);
                        }
                    }
                    // Announced now, or with the room's other members once subscribed.
                    if !self.subscribing.contains_key(&room) {
                        self.publish(&room, 'j', &name);
                        self.presence_changed(&room);
                    }
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

    /// Writes the room's local members to Redis; unsubscribes from a room left empty. A room
    /// still subscribing is written once the subscription is acknowledged.
    fn presence_changed(&mut self, room: &str) {
        let names = self.rooms.local_names(room);
        if let Some(link) = &self.link {
            if names.is_empty() {
                let _ = link.to_sub.send(SubCmd::Unsubscribe(room.to_string()));
                let _ = link.to_pub.send(PubCmd::Wake);
                self.subscribing.remove(room);
            } else if self.subscribing.contains_key(room) {
                return;
            }
            let _ = link.to_pub.send(PubCmd::Presence { room: room.to_string(), names });
        }
    }

    /// Redis acknowledged a room subscription: announce the room's members, unless the
    /// acknowledgement is for an earlier subscription since dropped.
    fn subscribed(&mut self, room: &str, seq: u64) {
        if self.subscribing.get(room) == Some(&seq) {
            self.subscribing.remove(room);
            for name in self.rooms.local_names(room) {
                self.publish(room, 'j', &name);
            }
            self.presence_changed(room);
        }
    }

    fn broadcast_local(&mut self, room: &str, text: &str) {
        let tokens = self.rooms.local_tokens(room);
        self.broadcast_to(&tokens, text);
    }

    /// Encodes `text` once (and compresses it once if a member has permessage-deflate) and
    /// queues the same frame on every member that may take it; a member over its output limit
    /// is dropped (1013) and the others go on.
    fn broadcast_to(&mut self, tokens: &[Token], text: &str) {
        let deflate = tokens
            .iter()
            .any(|t| matches!(self.clients.get(t).map(|c| &c.phase), Some(Phase::Ws(ws)) if ws.conn.deflate_enabled()));
        let frame = if deflate && !self.opts.per_member_encoding {
            Broadcast::text_compressed(text, &self.deflate)
        } else {
            Broadcast::text(text)
        };
        let mut slow = Vec::new();
        for &token in tokens {
            let Some(c) = self.clients.get_mut(&token) else { continue };
            let Phase::Ws(ws) = &mut c.phase else { continue };
            let queued = if self.opts.per_member_encoding {
                // For comparison only (benches/chat_load/run.sh): one encoding and copy per member.
                let conn = &mut ws.conn;
                c.out.with_vec(|o| conn.send_text_vec(text, o)).is_ok()
            } else {
                ws.conn.send_broadcast(&frame).map(|bytes| c.out.push_shared(bytes)).is_ok()
            };
            if queued {
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

    fn on_link(&mut self) {
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
                FromLink::Subscribed { room, seq } => self.subscribed(&room, seq),
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

/// A process id for tagging what this process publishes: the OS pid and the clock.
fn process_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

const USAGE: &str =
    "usage: chat [ADDR] [--redis redis://HOST:PORT] [--out-limit BYTES] [--keepalive SECS] [--verbose] \
                     [--per-member-encoding]";

/// permessage-deflate as offered, with `server_no_context_takeover` (RFC 7692 §7.1.1.1): this
/// end keeps no history between messages, so a room message compressed once
/// ([`Broadcast::text_compressed`]) is the right bytes for every member that has deflate.
fn chat_deflate() -> DeflateConfig {
    let mut deflate = DeflateConfig::new();
    deflate.local_no_context_takeover = true;
    deflate
}

fn main() {
    let mut addr = String::from("127.0.0.1:9002");
    let mut opts = Options {
        redis: None,
        out_limit: 1 << 20,
        keepalive: Duration::from_secs(20),
        verbose: false,
        per_member_encoding: false,
    };
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
            "--per-member-encoding" => opts.per_member_encoding = true,
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
        deflate: chat_deflate(),
        buf: vec![0; READ_BUF],
        pid,
        link,
        link_up: [false, false],
        subscribing: HashMap::new(),
        subscribe_seq: 0,
        dirty: HashSet::new(),
        results: HashMap::new(),
        gates_dirty: false,
        origin: Instant::now(),
    };
    server.run()
}
