//! Load for `examples/chat`: MEMBERS clients join one room, spread over the given servers; in
//! each round SENDERS of them say MESSAGES messages each at once, and the round ends when every
//! member has every message (sent in waves of 100 per sender, two waves in flight at most). Prints the deliveries per second of each round and their median.
//!
//! ```text
//! chat_load --servers 127.0.0.1:9002[,127.0.0.1:9003] [--members 1000] [--senders 10]
//!           [--messages 500] [--size 64] [--rounds 5] [--timeout 120]
//! ```
//!
//! One thread and mio; every client is a `wsmachine` client connection. Exits non-zero if a
//! round misses its deadline or a member is closed.

use std::io::{self, Read, Write};
use std::net::TcpStream as StdStream;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::{ChaChaMask, Config, Connection, Event, Message, RecvBuffer};

/// Messages per sender per wave.
const WAVE: usize = 100;

struct Args {
    servers: Vec<String>,
    members: usize,
    senders: usize,
    messages: usize,
    size: usize,
    rounds: usize,
    timeout: Duration,
}

struct Member {
    sock: TcpStream,
    conn: Connection<ChaChaMask>,
    buf: RecvBuffer,
    out: Vec<u8>,
    welcomed: bool,
    /// Chat messages received.
    got: u64,
    closed: bool,
}

fn fail(msg: String) -> ! {
    eprintln!("chat_load: {msg}");
    std::process::exit(1)
}

fn parse_args() -> Args {
    let mut a = Args {
        servers: Vec::new(),
        members: 1000,
        senders: 10,
        messages: 500,
        size: 64,
        rounds: 5,
        timeout: Duration::from_secs(120),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| fail(format!("{flag} needs a value")));
        let num = || value.parse::<usize>().unwrap_or_else(|_| fail(format!("{flag}: not a number")));
        match flag.as_str() {
            "--servers" => a.servers = value.split(',').map(str::to_string).collect(),
            "--members" => a.members = num(),
            "--senders" => a.senders = num(),
            "--messages" => a.messages = num(),
            "--size" => a.size = num(),
            "--rounds" => a.rounds = num(),
            "--timeout" => a.timeout = Duration::from_secs(num() as u64),
            _ => fail(format!("unknown flag {flag}")),
        }
    }
    if a.servers.is_empty() || a.senders > a.members {
        fail("usage: chat_load --servers HOST:PORT[,HOST:PORT] [--members N] [--senders N] ...".into());
    }
    a
}

/// Connects, upgrades (no extensions) and sends the join.
fn join(server: &str, room: &str, name: &str) -> io::Result<Member> {
    let mut sock = StdStream::connect(server)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = ClientRequest::with_random_nonce(server, "/")?;
    sock.write_all(&req.request_vec().map_err(|e| io::Error::other(e.to_string()))?)?;
    let mut parser = req.response_parser();
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    let rest = loop {
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.extend_from_slice(&chunk[..n]);
        match parser.parse(&head) {
            Ok(Reply::Partial) => continue,
            Ok(Reply::Accepted(a)) => break head[a.head_len()..].to_vec(),
            _ => return Err(io::Error::other("handshake refused")),
        }
    };
    let mut conn = Connection::client(Config::new().max_len(1 << 20), ChaChaMask::from_entropy());
    let mut buf = RecvBuffer::new();
    buf.spare(&conn)[..rest.len()].copy_from_slice(&rest);
    buf.filled(rest.len());
    let mut out = Vec::new();
    let text = format!(r#"{{"type":"join","room":"{room}","name":"{name}"}}"#);
    conn.send_text_vec(&text, &mut out).map_err(|e| io::Error::other(e.to_string()))?;
    sock.write_all(&out)?;
    out.clear();
    sock.set_nonblocking(true)?;
    let sock = TcpStream::from_std(sock);
    Ok(Member { sock, conn, buf, out, welcomed: false, got: 0, closed: false })
}

impl Member {
    /// Reads everything available and counts what arrived.
    fn pump(&mut self) {
        loop {
            match self.buf.read_from(&mut self.sock, &self.conn) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
            loop {
                match self.buf.next(&mut self.conn) {
                    // `{"from":..,"text":..,"type":"msg"}`: the server's keys are sorted.
                    Ok(Some(Event::Message(Message::Text(t)))) if t.starts_with(r#"{"from""#) => self.got += 1,
                    Ok(Some(Event::Message(Message::Text(t)))) if t.contains(r#""type":"welcome""#) => {
                        self.welcomed = true
                    }
                    Ok(Some(Event::Close(_))) => self.closed = true,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        self.closed = true;
                        return;
                    }
                }
            }
            self.conn.poll_transmit_vec(&mut self.out);
        }
        self.flush();
    }

    fn flush(&mut self) {
        let mut at = 0;
        while at < self.out.len() {
            match self.sock.write(&self.out[at..]) {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.out.drain(..at);
    }
}

/// Runs the loop until `done` holds or `deadline` passes; false at the deadline.
fn run_until(poll: &mut Poll, members: &mut [Member], deadline: Instant, done: impl Fn(&[Member]) -> bool) -> bool {
    let mut events = Events::with_capacity(4096);
    while !done(members) {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if poll.poll(&mut events, Some((deadline - now).min(Duration::from_millis(50)))).is_err() {
            continue;
        }
        for e in events.iter() {
            members[e.token().0].pump();
        }
    }
    true
}

fn main() {
    let args = parse_args();
    let mut poll = Poll::new().unwrap_or_else(|e| fail(format!("poll: {e}")));
    let mut members = Vec::with_capacity(args.members);
    let start = Instant::now();
    // A room of its own: names left in Redis by an earlier run (until their TTL) are taken.
    let room = format!("load{}", std::process::id());
    for i in 0..args.members {
        let server = &args.servers[i % args.servers.len()];
        let mut m =
            join(server, &room, &format!("m{i:04}")).unwrap_or_else(|e| fail(format!("member {i} on {server}: {e}")));
        poll.registry()
            .register(&mut m.sock, Token(i), Interest::READABLE | Interest::WRITABLE)
            .unwrap_or_else(|e| fail(format!("register: {e}")));
        members.push(m);
        // Keep up with the presence events of the members already in.
        if i % 50 == 49 {
            for m in members.iter_mut() {
                m.pump();
            }
        }
    }
    let deadline = start + args.timeout;
    if !run_until(&mut poll, &mut members, deadline, |ms| ms.iter().all(|m| m.welcomed)) {
        fail("not every member was welcomed".into());
    }
    // Let presence settle across processes (one refresh) before measuring.
    run_until(&mut poll, &mut members, Instant::now() + Duration::from_secs(3), |_| false);
    println!(
        "{} members on {} server(s) joined in {:.1} s; {} senders x {} messages of {} bytes per round",
        args.members,
        args.servers.len(),
        start.elapsed().as_secs_f64(),
        args.senders,
        args.messages,
        args.size
    );
    let pad = "x".repeat(args.size);
    let per_round = (args.senders * args.messages * args.members) as u64;
    let mut rates = Vec::new();
    for round in 0..args.rounds {
        let base: Vec<u64> = members.iter().map(|m| m.got).collect();
        let t0 = Instant::now();
        // Waves of WAVE messages per sender, at most two waves in flight, so that a member is
        // never further behind than the server's output limit allows (past it, it is dropped).
        let mut sent = 0;
        while sent < args.messages {
            let wave = WAVE.min(args.messages - sent);
            let behind = (sent.saturating_sub(WAVE) * args.senders) as u64;
            let caught_up = |ms: &[Member]| ms.iter().zip(&base).all(|(m, b)| m.got - b >= behind || m.closed);
            if !run_until(&mut poll, &mut members, deadline, caught_up) {
                fail(format!("round {round}: deadline reached"));
            }
            // The senders are spread over the servers (members alternate between them).
            for m in members.iter_mut().take(args.senders) {
                for k in sent..sent + wave {
                    let text = format!(r#"{{"type":"say","text":"r{round} {k} {pad}"}}"#);
                    let _ = m.conn.send_text_vec(&text, &mut m.out);
                }
                m.flush();
            }
            sent += wave;
        }
        let want = (args.senders * args.messages) as u64;
        let ok = run_until(&mut poll, &mut members, deadline, |ms| {
            ms.iter().zip(&base).all(|(m, b)| m.got - b >= want || m.closed)
        });
        let secs = t0.elapsed().as_secs_f64();
        let closed = members.iter().filter(|m| m.closed).count();
        if !ok || closed > 0 {
            fail(format!("round {round}: {closed} members closed, deadline reached: {}", !ok));
        }
        let rate = per_round as f64 / secs;
        println!("round {round}: {per_round} deliveries in {secs:.3} s = {rate:.0} deliveries/s");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!("median: {median:.0} deliveries/s ({} members, {} server(s))", args.members, args.servers.len());
}
