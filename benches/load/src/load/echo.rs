//! Echo traffic over upgraded connections: pipelined throughput and latency at a fixed offered
//! rate. Every frame is encoded once up front; each connection writes slices of one buffer of
//! repeated masked frames and checks what comes back, byte for byte, against one expected
//! server frame repeated (RFC 6455 §5.2: a server's frame is the same frame unmasked). The
//! plain TCP echo (`raw`) sends our masked frames back as they are.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::proc::{Meter, Server};
use crate::wire;

/// Upper bound on the iterations of any event loop here (each also stops at its deadline).
const MAX_ITERS: u64 = 50_000_000;
/// Reads per connection per turn before the others get theirs.
const READS_PER_TURN: usize = 32;

/// The frames of one case, encoded once.
pub struct Pattern {
    /// `window` client frames back to back: every write is a slice of it.
    send: Vec<u8>,
    /// One client frame's length.
    cf: usize,
    /// One expected echo (a server frame, or our own client frame from the raw echo).
    expect: Vec<u8>,
    /// Messages in flight per connection.
    window: u64,
    pub payload: usize,
    /// The message.
    data: Vec<u8>,
}

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn payload_of(opcode: u8, payload: usize) -> Vec<u8> {
    match opcode {
        1 => (0..payload).map(|i| b'a' + (i % 26) as u8).collect(),
        _ => (0..payload).map(|i| (i * 31 + 7) as u8).collect(),
    }
}

impl Pattern {
    pub fn new(opcode: u8, payload: usize, window: u64, raw: bool) -> Pattern {
        let data = payload_of(opcode, payload);
        let one = wire::frame(opcode, true, false, payload as u64, &data, KEY);
        let expect = if raw { one.clone() } else { server_frame(opcode, &data) };
        Pattern { send: one.repeat(window.clamp(1, 256) as usize), cf: one.len(), expect, window, payload, data }
    }

    /// Uncompressed text frames of `data`; the expected frame is the server's, unmasked.
    pub fn text(data: Vec<u8>, window: u64) -> Pattern {
        let one = wire::frame(1, true, false, data.len() as u64, &data, KEY);
        let expect = server_frame(1, &data);
        Pattern {
            send: one.repeat(window.clamp(1, 256) as usize),
            cf: one.len(),
            expect,
            window,
            payload: data.len(),
            data,
        }
    }

    /// Compressed client frames (RSV1, each message compressed on its own); the expected
    /// echo is learned from the server ([`crate::deflate::learn`]).
    pub fn deflated(opcode: u8, payload: usize, window: u64) -> Pattern {
        let data = payload_of(opcode, payload);
        let z = wire::deflate(&data, 6);
        let one = wire::frame(opcode, true, true, z.len() as u64, &z, KEY);
        Pattern {
            send: one.repeat(window.clamp(1, 256) as usize),
            cf: one.len(),
            expect: Vec::new(),
            window,
            payload,
            data,
        }
    }

    fn sf(&self) -> u64 {
        self.expect.len() as u64
    }
}

/// An unmasked frame (RFC 6455 §5.2, the shortest length encoding, §5.2 "minimal number of bytes").
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xFFFF => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

pub struct Conn {
    sock: TcpStream,
    /// Bytes written and read since the upgrade.
    tx: u64,
    rx: u64,
    /// Messages this connection may have sent (throughput: echoed + window; latency: scheduled).
    allowed: u64,
    /// When each message in flight was scheduled (latency case).
    times: VecDeque<Instant>,
    /// Latencies of messages scheduled before this are not recorded (the warm-up).
    record_from: Option<Instant>,
    /// A compressed echo whose bytes differ from the learned one, from its first byte, until it
    /// is whole (see [`Conn::resync`]).
    odd: Vec<u8>,
}

/// Opens `n` connections from spread source addresses and upgrades them (blocking, bounded by
/// timeouts); the raw echo must send the request back.
pub fn open(
    addr: SocketAddr,
    n: usize,
    first: usize,
    raw: bool,
    deflate: bool,
) -> Result<Vec<std::net::TcpStream>, String> {
    if raw && deflate {
        return Err(crate::deflate::UNSUPPORTED.into());
    }
    let req = if deflate { crate::deflate::request(addr) } else { wire::upgrade_request(addr, false) };
    let mut socks = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = wire::connect_from(first + i, addr).map_err(|e| format!("connect: {e}"))?;
        s.write_all(&req).map_err(|e| format!("upgrade: {e}"))?;
        if deflate {
            let head = wire::read_head(&mut s, Duration::from_secs(10)).map_err(|e| format!("upgrade: {e}"))?;
            crate::deflate::check_101(&head)?;
            if !head.ends_with(b"\r\n\r\n") {
                return Err("bytes after the 101 before any frame".into());
            }
        } else {
            check_head(&mut s, &req, raw)?;
        }
        socks.push(s);
    }
    Ok(socks)
}

fn into_conns(socks: Vec<std::net::TcpStream>) -> Result<Vec<Conn>, String> {
    let mut conns = Vec::with_capacity(socks.len());
    for s in socks {
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        conns.push(Conn {
            sock: TcpStream::from_std(s),
            tx: 0,
            rx: 0,
            allowed: 0,
            times: VecDeque::new(),
            record_from: None,
            odd: Vec::new(),
        });
    }
    Ok(conns)
}

/// Reads the answer to an upgrade request: a 101 without anything after it, or (raw) the request.
pub fn check_head(s: &mut std::net::TcpStream, req: &[u8], raw: bool) -> Result<(), String> {
    let head = wire::read_head(s, Duration::from_secs(10)).map_err(|e| format!("upgrade: {e}"))?;
    if raw {
        return if head == req { Ok(()) } else { Err("the raw echo changed the request".into()) };
    }
    wire::check_101(&head, false).map_err(|e| e.to_string())?;
    if !head.ends_with(b"\r\n\r\n") {
        return Err("bytes after the 101 before any frame".into());
    }
    Ok(())
}

/// Compares `data`, which starts `at` bytes into an endless repetition of `expect`.
fn matches(expect: &[u8], at: u64, data: &[u8]) -> bool {
    let mut off = (at % expect.len() as u64) as usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(expect.len() - off);
        if rest[..n] != expect[off..off + n] {
            return false;
        }
        rest = &rest[n..];
        off = 0;
    }
    true
}

/// Takes `data` read from a connection whose echoes were checked up to byte `rx` of the learned
/// stream: bytes that continue it byte for byte advance `rx` (the common case, kept cheap);
/// anything else goes to [`resync`].
fn take(rx: &mut u64, odd: &mut Vec<u8>, p: &Pattern, data: &[u8]) -> Result<(), String> {
    if odd.is_empty() && matches(&p.expect, *rx, data) {
        *rx += data.len() as u64;
        return Ok(());
    }
    resync(rx, odd, p, data)
}

/// Takes bytes that do not continue the learned echoes byte for byte. Uncompressed, that is
/// a wrong echo. Compressed, a server may encode the same message otherwise from one echo
/// to the next (Node's ws does, once per connection: `node/deflate_probe.py`; RFC 7692
/// allows any DEFLATE encoding): such a frame is held from its first byte until it is
/// whole, then inflated and checked against the message, and counts as one learned echo
/// (`rx` moves to where that echo would have ended); the bytes after it are taken anew.
fn resync(rx: &mut u64, odd: &mut Vec<u8>, p: &Pattern, data: &[u8]) -> Result<(), String> {
    let mut data = data;
    let mut rest;
    while !data.is_empty() {
        let off = (*rx % p.sf()) as usize;
        if odd.is_empty() {
            // What still matches the learned echo: up to its end or the first difference.
            let n = data.len().min(p.expect.len() - off);
            let same = data[..n].iter().zip(&p.expect[off..]).take_while(|(a, b)| a == b).count();
            *rx += same as u64;
            data = &data[same..];
            if same == n {
                continue;
            }
            if p.expect[0] & 0x40 == 0 {
                return Err(format!("echo differs at byte {} of the stream", *rx));
            }
            // The frame's bytes before the difference were the learned echo's.
            odd.extend_from_slice(&p.expect[..off + same]);
        }
        odd.extend_from_slice(data);
        let Some((_, start, len)) = wire::parse(odd) else { return Ok(()) };
        crate::deflate::check_echo(&odd[..start + len], &p.data)
            .map_err(|e| format!("echo at byte {} of the stream: {e}", *rx - (*rx % p.sf())))?;
        rest = odd.split_off(start + len);
        odd.clear();
        *rx += p.sf() - (*rx % p.sf());
        data = &rest;
    }
    Ok(())
}

impl Conn {
    /// Reads what has arrived (checking it); returns whether reads are left for the next turn.
    fn read(&mut self, p: &Pattern, buf: &mut [u8], now: Instant, lat: &mut Vec<u32>) -> Result<bool, String> {
        for _ in 0..READS_PER_TURN {
            match self.sock.read(buf) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => {
                    let before = self.rx / p.sf();
                    take(&mut self.rx, &mut self.odd, p, &buf[..n])?;
                    for _ in before..self.rx / p.sf() {
                        if let Some(t) = self.times.pop_front().filter(|&t| self.record_from.is_none_or(|f| t >= f)) {
                            lat.push(now.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(true)
    }

    /// Writes up to `allowed` messages in all (bounded: each write advances or stops).
    fn write(&mut self, p: &Pattern) -> Result<(), String> {
        let limit = self.allowed * p.cf as u64;
        for _ in 0..1024 {
            if self.tx >= limit {
                return Ok(());
            }
            let off = (self.tx % p.send.len() as u64) as usize;
            let end = p.send.len().min(off + (limit - self.tx) as usize);
            match self.sock.write(&p.send[off..end]) {
                Ok(n) => self.tx += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        Ok(())
    }

    fn echoed(&self, p: &Pattern) -> u64 {
        self.rx / p.sf()
    }
}

fn register(poll: &Poll, conns: &mut [Conn]) -> Result<(), String> {
    for (i, c) in conns.iter_mut().enumerate() {
        poll.registry()
            .register(&mut c.sock, Token(i), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a throughput run measured.
pub struct Rate {
    /// Messages echoed per second in the measured window.
    pub per_sec: f64,
    pub cpu: crate::proc::Cpu,
}

/// Every connection keeps `window` messages in flight; messages echoed are counted over
/// `secs` after `warm` seconds.
pub fn throughput(srv: &Server, raw: bool, n: usize, p: &mut Pattern, warm: f64, secs: f64) -> Result<Rate, String> {
    let deflate = p.expect.is_empty();
    let mut socks = open(srv.addr, n, 0, raw, deflate)?;
    if deflate {
        p.expect = crate::deflate::learn(&mut socks[0], &p.send[..p.cf], &p.data)?;
    }
    let p = &*p;
    let mut conns = into_conns(socks)?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    register(&poll, &mut conns)?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    let mut lat = Vec::new();
    for c in conns.iter_mut() {
        c.allowed = p.window;
        c.write(p)?;
    }
    let start = Instant::now();
    let (warm_end, end) = (start + Duration::from_secs_f64(warm), start + Duration::from_secs_f64(warm + secs));
    let mut meter: Option<(Meter, u64)> = None;
    let mut again: Vec<usize> = Vec::new();
    for _ in 0..MAX_ITERS {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if meter.is_none() && now >= warm_end {
            meter = Some((Meter::start(srv), conns.iter().map(|c| c.echoed(p)).sum()));
        }
        let timeout = if again.is_empty() { Duration::from_millis(20) } else { Duration::ZERO };
        poll.poll(&mut events, Some(timeout)).map_err(|e| e.to_string())?;
        let mut ready: Vec<usize> = std::mem::take(&mut again);
        ready.extend(events.iter().map(|e| e.token().0));
        for i in ready {
            let c = &mut conns[i];
            if c.read(p, &mut buf, now, &mut lat)? {
                again.push(i);
            }
            c.allowed = c.echoed(p) + p.window;
            c.write(p)?;
        }
        again.sort_unstable();
        again.dedup();
    }
    let (m, before) = meter.ok_or("the run ended before its warm-up did")?;
    let cpu = m.stop(srv);
    let echoed = conns.iter().map(|c| c.echoed(p)).sum::<u64>() - before;
    if echoed == 0 {
        return Err("nothing echoed".into());
    }
    Ok(Rate { per_sec: echoed as f64 / cpu.wall, cpu })
}

/// Latency percentiles in microseconds.
pub struct Latency {
    pub p50: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
    pub sent: u64,
    /// How late the generator wrote messages, against their schedule (p50, p99, µs).
    pub lag_p50: u32,
    pub lag_p99: u32,
    pub cpu: crate::proc::Cpu,
}

fn quantile(v: &mut [u32], f: f64) -> u32 {
    v.sort_unstable();
    v.get(((v.len() as f64 * f) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(0)
}

/// Open loop: 32 B messages on a fixed schedule, one every 1/`rate` s, round robin over `n`
/// connections, for `secs`. Each message's latency runs from the time it was *scheduled* to
/// the read that brought its echo back, so a generator or server that falls behind is charged
/// for the wait (no coordinated omission). Messages that fall due together go out in one write
/// per connection. Between sends the generator waits in epoll when the next message is due in
/// 2 ms or more (its timeout is in whole milliseconds), else in `nanosleep` if nothing arrived.
/// The first `warm` seconds of the schedule are sent but not recorded. Every message must
/// come back.
pub fn latency(srv: &Server, raw: bool, n: usize, rate: u64, warm: f64, secs: f64) -> Result<Latency, String> {
    let p = Pattern::new(1, 32, 256, raw);
    let mut conns = into_conns(open(srv.addr, n, 1000, raw, false)?)?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    register(&poll, &mut conns)?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let rate = rate.max(1);
    let skip = (rate as f64 * warm) as u64;
    let total = skip + (rate as f64 * secs) as u64;
    let mut lat = Vec::with_capacity(total as usize);
    let mut lag = Vec::with_capacity(total as usize);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(warm + secs + 5.0);
    // The k-th message is due at start + k / rate (computed, not accumulated: no drift).
    let due = |k: u64| start + Duration::from_nanos((k as u128 * 1_000_000_000 / rate as u128) as u64);
    for c in conns.iter_mut() {
        c.record_from = Some(due(skip));
    }
    let mut meter = None;
    let mut sent = 0u64;
    let mut touched: Vec<usize> = Vec::with_capacity(n);
    for _ in 0..MAX_ITERS {
        let now = Instant::now();
        if now >= end || (sent == total && lat.len() as u64 == total - skip) {
            break;
        }
        if meter.is_none() && sent >= skip {
            meter = Some(Meter::start(srv));
        }
        // Every message due by now goes out (catching up if the loop was late).
        while sent < total && due(sent) <= now {
            let i = (sent % n as u64) as usize;
            let at = due(sent);
            conns[i].allowed += 1;
            conns[i].times.push_back(at);
            if sent >= skip {
                lag.push(now.duration_since(at).as_micros().min(u32::MAX as u128) as u32);
            }
            touched.push(i);
            sent += 1;
        }
        touched.sort_unstable();
        touched.dedup();
        for i in touched.drain(..) {
            conns[i].write(&p)?;
        }
        let wait = if sent < total { due(sent).saturating_duration_since(now) } else { Duration::from_millis(20) };
        let timeout = if wait < Duration::from_millis(2) { Duration::ZERO } else { wait - Duration::from_millis(1) };
        poll.poll(&mut events, Some(timeout.min(Duration::from_millis(20)))).map_err(|e| e.to_string())?;
        // Nothing to read and the next message due within 2 ms: sleep until it is due (a
        // high-resolution timer) rather than spin, so that on a shared machine the scheduler
        // treats the generator as the mostly-sleeping task it is, and wakes it promptly.
        if events.is_empty() && timeout.is_zero() && !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            // Leftover reads are picked up with the next event or turn: at this rate a turn
            // of 32 reads of 64 KiB always empties the socket.
            c.read(&p, &mut buf, now, &mut lat)?;
            c.write(&p)?;
        }
    }
    let cpu = meter.ok_or("the run ended before its warm-up did")?.stop(srv);
    if (lat.len() as u64) < total - skip {
        return Err(format!("{} of {} messages echoed within the run + 5 s", lat.len(), total - skip));
    }
    let max = lat.iter().copied().max().unwrap_or(0);
    let (p50, p99, p999) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.99), quantile(&mut lat, 0.999));
    let (lag_p50, lag_p99) = (quantile(&mut lag, 0.5), quantile(&mut lag, 0.99));
    Ok(Latency { p50, p99, p999, max, sent, lag_p50, lag_p99, cpu })
}

/// Broadcast fan-out: `subs` subscribers and one publisher, which keeps `p.window` messages
/// ahead of what the slowest-on-average subscriber has received; deliveries (frames received
/// by subscribers, each checked byte for byte) per second over `secs` after `warm`.
///
/// With `deflate` the subscribers offer permessage-deflate with no context takeover (the
/// publisher does not): the first delivery of the first message is inflated and checked, must
/// be compressed (RSV1), and every later delivery is compared with it byte for byte.
pub fn fanout(srv: &Server, p: &mut Pattern, deflate: bool, subs: usize, warm: f64, secs: f64) -> Result<Rate, String> {
    let mut socks = open(srv.addr, subs, 20_000, false, deflate)?;
    let mut publisher = open(srv.addr, 1, 60_000, false, false)?;
    if deflate {
        publisher[0].write_all(&p.send[..p.cf]).map_err(|e| format!("publish: {e}"))?;
        p.expect = crate::deflate::read_one(&mut socks[0], &p.data)?;
        if p.expect[0] & 0x40 == 0 {
            return Err("sent uncompressed to a subscriber with permessage-deflate".into());
        }
    }
    let p = &*p;
    let mut conns = into_conns(socks)?;
    let mut publisher = into_conns(publisher)?.remove(0);
    let mut delivered = 0u64;
    if deflate {
        (publisher.tx, conns[0].rx, delivered) = (p.cf as u64, p.sf(), 1);
    }
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    for (i, c) in conns.iter_mut().enumerate() {
        poll.registry().register(&mut c.sock, Token(i), Interest::READABLE).map_err(|e| e.to_string())?;
    }
    poll.registry().register(&mut publisher.sock, Token(usize::MAX), Interest::WRITABLE).map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut lat = Vec::new();
    let start = Instant::now();
    let (warm_end, end) = (start + Duration::from_secs_f64(warm), start + Duration::from_secs_f64(warm + secs));
    let mut meter: Option<(Meter, u64)> = None;
    let mut again: Vec<usize> = Vec::new();
    let mut last = (Instant::now(), 0u64);
    for _ in 0..MAX_ITERS {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if meter.is_none() && now >= warm_end {
            meter = Some((Meter::start(srv), delivered));
        }
        if delivered != last.1 {
            last = (now, delivered);
        } else if now.duration_since(last.0) > Duration::from_secs(10) {
            return Err(format!("no delivery for 10 s ({delivered} in all)"));
        }
        publisher.allowed = delivered / subs as u64 + p.window;
        publisher.write(p)?;
        let timeout = if again.is_empty() { Duration::from_millis(20) } else { Duration::ZERO };
        poll.poll(&mut events, Some(timeout)).map_err(|e| e.to_string())?;
        let mut ready: Vec<usize> = std::mem::take(&mut again);
        ready.extend(events.iter().map(|e| e.token().0).filter(|&t| t != usize::MAX));
        for i in ready {
            let c = &mut conns[i];
            let before = c.echoed(p);
            if c.read(p, &mut buf, now, &mut lat)? {
                again.push(i);
            }
            delivered += c.echoed(p) - before;
        }
        again.sort_unstable();
        again.dedup();
    }
    let (m, before) = meter.ok_or("the run ended before its warm-up did")?;
    let cpu = m.stop(srv);
    if delivered == before {
        return Err("nothing delivered".into());
    }
    Ok(Rate { per_sec: (delivered - before) as f64 / cpu.wall, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's compressed frame of `data`, deflated at `level`.
    fn compressed(data: &[u8], level: u32) -> Vec<u8> {
        let mut frame = server_frame(2, &wire::deflate(data, level));
        frame[0] |= 0x40;
        frame
    }

    /// Feeds `stream` in reads of `read` bytes, as `Conn::read` does; returns `rx`.
    fn feed(p: &Pattern, stream: &[u8], read: usize) -> Result<u64, String> {
        let (mut rx, mut odd) = (0, Vec::new());
        for piece in stream.chunks(read) {
            take(&mut rx, &mut odd, p, piece)?;
        }
        assert!(odd.is_empty(), "a frame left half read");
        Ok(rx)
    }

    #[test]
    fn a_compressed_echo_with_other_bytes_counts_as_one_echo_if_it_inflates_to_the_message() {
        let mut p = Pattern::deflated(2, 16384, 1);
        p.expect = compressed(&p.data, 6);
        let other = compressed(&p.data, 1);
        assert_ne!(other, p.expect);
        let stream = [&p.expect[..], &other, &p.expect, &other, &other, &p.expect].concat();
        for read in [1, 7, 1000, 5000, stream.len()] {
            assert_eq!(feed(&p, &stream, read), Ok(6 * p.sf()), "reads of {read}");
        }
        // An echo of another message fails, whatever encodes it.
        let wrong = compressed(&p.data[..16000], 6);
        let stream = [&p.expect[..], &wrong].concat();
        let err = feed(&p, &stream, 1000).unwrap_err();
        assert!(err.contains(&format!("byte {} ", p.sf())) && err.contains("another message"), "{err}");
    }

    #[test]
    fn an_uncompressed_echo_must_be_the_same_bytes() {
        let p = Pattern::new(2, 1000, 1, false);
        let mut stream = [&p.expect[..], &p.expect].concat();
        assert_eq!(feed(&p, &stream, 300), Ok(2 * p.sf()));
        let at = p.expect.len() + 500;
        stream[at] ^= 1;
        assert_eq!(feed(&p, &stream, 300), Err(format!("echo differs at byte {at} of the stream")));
    }
}
