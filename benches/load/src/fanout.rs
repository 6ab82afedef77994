//! A fan-out server for the broadcast cases of `load` (issue #19): every text message a client
//! sends goes to every other client. One thread on mio. permessage-deflate (RFC 7692, level 1)
//! is negotiated with a client that offers it, as `examples/echo_server` does.
//!
//! ```text
//! fanout ADDR --shared | --copy | --each
//! ```
//!
//! * `--shared`: the message is encoded once ([`Broadcast`]) and every subscriber's output
//!   queues the same bytes by reference count ([`Connection::send_broadcast`]), written with
//!   `writev`: no copy per subscriber but the socket's. While any subscriber has
//!   permessage-deflate, the message is also compressed once ([`Broadcast::text_compressed`]),
//!   and a subscriber that negotiated `server_no_context_takeover` gets that frame.
//! * `--copy`: encoded (and compressed) once, copied into each subscriber's output buffer
//!   ([`Connection::send_broadcast_vec`]).
//! * `--each`: encoded (and compressed) for each subscriber into its output buffer
//!   ([`Connection::send_text_vec`]), what a server without a fan-out API does.
//! * `--each-kept`: as `--each`, but a deflate subscriber's message is compressed with one
//!   zlib state kept for the whole run (reset between messages, as no context takeover needs)
//!   and framed here: the floor of compressing per subscriber, without the engine's zlib set-up
//!   per message (`src/deflate.rs` drops its state after each message with no context takeover).
//!
//! A subscriber whose unsent output exceeds 8 MiB is dropped. Runs at most one hour.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsmachine::deflate::DeflateConfig;
use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser};
use wsmachine::{Broadcast, Config, Connection, Event, Message, RecvBuffer};

const LISTENER: Token = Token(usize::MAX);
const OUT_LIMIT: usize = 8 << 20;
const LIFETIME: Duration = Duration::from_secs(3600);
/// Level 1 and full windows (the defaults), as `examples/echo_server`.
const DEFLATE: DeflateConfig = DeflateConfig::new();

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Copy,
    Each,
    EachKept,
}

/// One raw-DEFLATE compressor kept for the run (level 1, 15-bit window: the engine's defaults).
struct Kept {
    z: flate2::Compress,
    out: Vec<u8>,
}

impl Kept {
    /// Appends `text` as one compressed text frame (RFC 7692 §7.2.1: no history, the trailing
    /// 00 00 ff ff taken off, RSV1 set).
    fn frame(&mut self, text: &str, vec: &mut Vec<u8>) -> io::Result<()> {
        self.z.reset();
        self.out.clear();
        self.out.reserve(text.len() + 64);
        // Bounded: each round either finishes or the buffer grows.
        for _ in 0..64 {
            let fed = self.z.total_in() as usize;
            self.z
                .compress_vec(&text.as_bytes()[fed..], &mut self.out, flate2::FlushCompress::Sync)
                .map_err(io::Error::other)?;
            if self.z.total_in() as usize == text.len() && self.out.len() < self.out.capacity() {
                break;
            }
            self.out.reserve(self.out.capacity());
        }
        let n = self
            .out
            .len()
            .checked_sub(4)
            .filter(|&n| self.out[n..] == [0, 0, 0xff, 0xff])
            .ok_or_else(|| io::Error::other("no sync tail"))?;
        vec.push(0xC1);
        match n {
            0..=125 => vec.push(n as u8),
            126..=0xFFFF => {
                vec.push(126);
                vec.extend_from_slice(&(n as u16).to_be_bytes());
            }
            _ => {
                vec.push(127);
                vec.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        vec.extend_from_slice(&self.out[..n]);
        Ok(())
    }
}

struct Client {
    sock: TcpStream,
    /// The request head until the upgrade.
    head: Option<(RequestParser, Vec<u8>)>,
    conn: Connection,
    buf: RecvBuffer,
    /// Output in one buffer (`--copy`, `--each`, and the 101).
    vec: Vec<u8>,
    vec_at: usize,
    /// permessage-deflate was negotiated.
    deflate: bool,
    /// Output as shared frames (`--shared`): the front one written from `at`.
    queue: VecDeque<Arc<[u8]>>,
    at: usize,
    queued: usize,
}

impl Client {
    fn pending(&self) -> usize {
        self.vec.len() - self.vec_at + self.queued
    }

    /// Writes what it can (bounded: each write advances or stops); Err = drop the client.
    fn flush(&mut self) -> io::Result<()> {
        for _ in 0..4096 {
            if self.vec_at < self.vec.len() {
                match self.sock.write(&self.vec[self.vec_at..]) {
                    Ok(n) => self.vec_at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                if self.vec_at == self.vec.len() {
                    self.vec_at = 0;
                    self.vec.clear();
                }
                continue;
            }
            if self.queue.is_empty() {
                return Ok(());
            }
            let mut slices = [IoSlice::new(&[]); 64];
            let mut k = 0;
            for (i, f) in self.queue.iter().take(64).enumerate() {
                slices[i] = IoSlice::new(if i == 0 { &f[self.at..] } else { f });
                k = i + 1;
            }
            match self.sock.write_vectored(&slices[..k]) {
                Ok(mut n) => {
                    self.queued -= n;
                    while let Some(f) = self.queue.front() {
                        let left = f.len() - self.at;
                        if n < left {
                            self.at += n;
                            break;
                        }
                        n -= left;
                        self.at = 0;
                        self.queue.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what has arrived; the text messages received go to `got`. Err = drop the client.
    fn pump(&mut self, got: &mut Vec<String>) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        for _ in 0..4096 {
            if let Some((parser, head)) = &mut self.head {
                let n = match self.sock.read(&mut chunk) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                head.extend_from_slice(&chunk[..n]);
                match parser.parse(head) {
                    Ok(Request::Partial) => continue,
                    Ok(Request::Upgrade(incoming)) => {
                        if incoming.head_len() != head.len() {
                            return Err(io::Error::other("bytes after the request head"));
                        }
                        // The first acceptable permessage-deflate offer (RFC 7692 §5).
                        let params = DEFLATE.negotiate(incoming.extensions());
                        let answer = params.map(|p| p.response());
                        let mut opts = AcceptOptions::new();
                        if let Some(a) = &answer {
                            opts = opts.with_extensions(a);
                        }
                        let resp = incoming.accept(&opts).map_err(|e| io::Error::other(e.to_string()))?;
                        self.vec.extend_from_slice(&resp.response_vec());
                        if let Some(p) = params {
                            self.conn = Connection::server(Config::new()).with_deflate(&p);
                            self.deflate = true;
                        }
                        self.head = None;
                        continue;
                    }
                    _ => return Err(io::Error::other("not an upgrade")),
                }
            }
            match self.buf.read_from(&mut self.sock, &self.conn) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            loop {
                match self.buf.next(&mut self.conn) {
                    Ok(Some(Event::Message(Message::Text(t)))) => got.push(t.to_string()),
                    Ok(Some(Event::Close(_))) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return Err(io::Error::other("protocol error")),
                }
            }
            // Pongs (RFC 6455 §5.5.3) in order with the rest of the output.
            let mut ctl = Vec::new();
            self.conn.poll_transmit_vec(&mut ctl);
            if !ctl.is_empty() {
                self.queued += ctl.len();
                self.queue.push_back(ctl.into());
            }
        }
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9200".into());
    let mode = match args.next().as_deref() {
        Some("--shared") => Mode::Shared,
        Some("--copy") => Mode::Copy,
        Some("--each") => Mode::Each,
        Some("--each-kept") => Mode::EachKept,
        _ => {
            eprintln!("usage: fanout ADDR --shared | --copy | --each | --each-kept");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&addr, mode) {
        eprintln!("fanout: {e}");
        std::process::exit(1);
    }
}

fn run(addr: &str, mode: Mode) -> io::Result<()> {
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {addr}");
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut got: Vec<(usize, String)> = Vec::new();
    let mut kept = Kept { z: flate2::Compress::new(flate2::Compression::new(1), false), out: Vec::new() };
    let empty = Broadcast::text("");
    let started = Instant::now();
    while started.elapsed() < LIFETIME {
        poll.poll(&mut events, Some(Duration::from_secs(1)))?;
        let mut gone: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                for _ in 0..1024 {
                    let Ok((mut sock, _)) = listener.accept() else { break };
                    let _ = sock.set_nodelay(true);
                    let i = free.pop().unwrap_or_else(|| {
                        clients.push(None);
                        clients.len() - 1
                    });
                    poll.registry().register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
                    clients[i] = Some(Client {
                        sock,
                        head: Some((RequestParser::with_max_head_len(8 * 1024), Vec::new())),
                        conn: Connection::server(Config::new()),
                        buf: RecvBuffer::new(),
                        vec: Vec::new(),
                        vec_at: 0,
                        deflate: false,
                        queue: VecDeque::new(),
                        at: 0,
                        queued: 0,
                    });
                }
                continue;
            }
            let i = ev.token().0;
            let Some(c) = clients.get_mut(i).and_then(Option::as_mut) else { continue };
            let mut texts = Vec::new();
            if c.pump(&mut texts).and_then(|_| c.flush()).is_err() {
                gone.push(i);
            }
            got.extend(texts.into_iter().map(|t| (i, t)));
        }
        // Fan out: each message encoded once (--shared, --copy), then subscriber by subscriber
        // every message of the batch and one flush, so the first subscribers are written to
        // while the rest are still being encoded for (--each compresses per subscriber).
        if !got.is_empty() {
            let compress = clients.iter().flatten().any(|c| c.deflate);
            let batch: Vec<(usize, String, Broadcast)> = got
                .drain(..)
                .map(|(from, text)| {
                    let shared =
                        if compress { Broadcast::text_compressed(&text, &DEFLATE) } else { Broadcast::text(&text) };
                    (from, text, shared)
                })
                .collect();
            for (i, c) in clients.iter_mut().enumerate() {
                let Some(c) = c.as_mut().filter(|c| c.head.is_none()) else { continue };
                for (_, text, shared) in batch.iter().filter(|m| m.0 != i) {
                    let sent = match mode {
                        Mode::Shared => c.conn.send_broadcast(shared).map(|f| {
                            c.queued += f.len();
                            c.queue.push_back(f);
                        }),
                        Mode::Copy => c.conn.send_broadcast_vec(shared, &mut c.vec).map(drop),
                        Mode::Each => c.conn.send_text_vec(text, &mut c.vec).map(drop),
                        // The engine's checks (open, no message in progress), then our own frame.
                        Mode::EachKept if c.deflate => match c.conn.send_broadcast(&empty) {
                            Ok(_) => kept.frame(text, &mut c.vec).map_err(|_| wsmachine::SendError::Closed),
                            Err(e) => Err(e),
                        },
                        Mode::EachKept => c.conn.send_text_vec(text, &mut c.vec).map(drop),
                    };
                    if sent.is_err() || c.pending() > OUT_LIMIT {
                        gone.push(i);
                        break;
                    }
                }
                if c.pending() > 0 && c.flush().is_err() {
                    gone.push(i);
                }
            }
        }
        gone.sort_unstable();
        gone.dedup();
        for i in gone {
            if let Some(mut c) = clients[i].take() {
                let _ = poll.registry().deregister(&mut c.sock);
                free.push(i);
            }
        }
    }
    Ok(())
}
