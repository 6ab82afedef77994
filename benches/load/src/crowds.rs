//! Patterns with many connections: more than the server's fd limit, and 10 000 idle ones.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::patterns::{run, IDLE_BYTES_PER_CONN};
use crate::patterns::{Opts, Report};
use crate::server::mib;
use crate::wire;

/// The server's RLIMIT_NOFILE in the fd-exhaustion pattern.
const FD_LIMIT: u32 = 64;

/// A raw peer waiting for its 101.
struct Waiting {
    sock: TcpStream,
    head: Vec<u8>,
}

impl Waiting {
    fn served(&self) -> bool {
        self.head.windows(4).any(|w| w == b"\r\n\r\n")
    }
}

/// Reads what has arrived on every peer not yet served, until all are, or some are and no
/// other follows for 300 ms, or `timeout` passes.
fn poll_heads(peers: &mut [Waiting], timeout: Duration) {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    let mut last_progress: Option<Instant> = None;
    while Instant::now() < end && peers.iter().any(|p| !p.served()) {
        for p in peers.iter_mut().filter(|p| !p.served()) {
            if let Ok(n) = p.sock.read(&mut buf) {
                p.head.extend_from_slice(&buf[..n]);
                if p.served() {
                    last_progress = Some(Instant::now());
                }
            }
        }
        if last_progress.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// More connections than the server has file descriptors. In rounds, every client served
/// echoes a message and leaves: each round serves clients that waited in the listen queue,
/// until every client has been served.
pub fn fd_exhaustion(o: &Opts) -> Report {
    let n = 100 * o.scale;
    run(o, "fd-exhaustion", Some(FD_LIMIT), |srv, r| {
        let mut pending = Vec::new();
        for i in 0..n {
            let peer = wire::connect_from(i, srv.addr).and_then(|mut sock| {
                sock.write_all(&wire::upgrade_request(srv.addr, false))?;
                sock.set_nonblocking(true)?;
                Ok(Waiting { sock, head: Vec::new() })
            });
            match peer {
                Ok(p) => pending.push(p),
                Err(e) => r.failures.push(format!("connect: {e}")),
            }
        }
        let (mut rounds, mut first, mut echoed, mut slowest) = (0, 0, 0, Duration::ZERO);
        // Bounded: every round serves at least one client, or the loop stops.
        while !pending.is_empty() && rounds < n {
            let t = Instant::now();
            poll_heads(&mut pending, Duration::from_secs(10));
            let (served, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|p| p.served());
            pending = rest;
            if rounds == 0 {
                first = served.len();
            } else {
                slowest = slowest.max(t.elapsed());
            }
            if served.is_empty() {
                break;
            }
            for mut p in served {
                let ok = wire::check_101(&p.head, false)
                    .and_then(|_| p.sock.set_nonblocking(false))
                    .and_then(|_| wire::raw_echo(&mut p.sock, format!("peer {echoed}").as_bytes()));
                match ok {
                    Ok(()) => echoed += 1,
                    Err(e) if r.failures.len() < 5 => r.failures.push(format!("peer: {e}")),
                    Err(_) => {}
                }
                // Leaving frees a file descriptor for a client still queued.
            }
            rounds += 1;
        }
        r.check(first < n, || format!("all {first} served at once: the server never ran out of fds"));
        r.check(pending.is_empty(), || format!("{} queued clients never served", pending.len()));
        r.check(echoed == n, || format!("{echoed} of {n} echoed"));
        r.figures = format!(
            "{n} clients, fd limit {FD_LIMIT}: {first} served at once, the rest in {} rounds as others left \
             (each round within {:.2} s); {echoed} of {n} echoed",
            rounds.saturating_sub(1),
            slowest.as_secs_f64()
        );
    })
}

/// This process's soft RLIMIT_NOFILE (/proc/self/limits).
fn nofile() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

/// Idle upgraded connections (permessage-deflate negotiated, nothing sent): RSS per connection.
pub fn idle(o: &Opts) -> Report {
    // 10 000 (30 000 with --long, or as many as the fd limit allows beyond 10 000).
    let n = if o.scale > 1 { 30_000.min(nofile().saturating_sub(256) as usize).max(10_000) } else { 10_000 };
    if nofile() < n as u64 + 256 {
        let mut r = Report { name: "idle", ..Default::default() };
        r.failures.push(format!("RLIMIT_NOFILE {} < {} (run `ulimit -n {}` first)", nofile(), n + 256, n + 1024));
        return r;
    }
    run(o, "idle", None, |srv, r| {
        let fds_before = srv.fds();
        let t = Instant::now();
        r.phases.push(("connect", t));
        let mut socks = Vec::with_capacity(n);
        // In waves of 250 with a short pause, so that the handshakes do not queue behind each
        // other in the listen backlog (and the prober's echoes behind them).
        for start in (0..n).step_by(250) {
            thread::sleep(Duration::from_millis(10));
            let mut wave = Vec::new();
            for i in start..(start + 250).min(n) {
                match wire::connect_from(i, srv.addr).and_then(|mut s| {
                    s.write_all(&wire::upgrade_request(srv.addr, true))?;
                    Ok(s)
                }) {
                    Ok(s) => wave.push(s),
                    Err(e) => r.failures.push(format!("connect {i}: {e}")),
                }
            }
            for mut s in wave {
                match wire::read_head(&mut s, Duration::from_secs(10)).and_then(|h| wire::check_101(&h, true)) {
                    Ok(()) => socks.push(s),
                    Err(e) => r.failures.push(format!("upgrade: {e}")),
                }
            }
            if r.failures.len() > 5 {
                return;
            }
        }
        let took = t.elapsed();
        r.phases.push(("idle", Instant::now()));
        thread::sleep(Duration::from_secs(1));
        let with = srv.rss();
        let per = with.saturating_sub(r.before) / n as u64;
        let fds = srv.fds();
        r.check(per <= IDLE_BYTES_PER_CONN, || format!("{per} B RSS per idle connection"));
        r.check(fds >= fds_before + n, || format!("{fds} fds for {n} connections"));
        // Held a little longer while the prober echoes; the server's CPU meanwhile.
        let (cpu, held) = (srv.cpu_secs(), Instant::now());
        thread::sleep(Duration::from_secs(2));
        let busy = (srv.cpu_secs() - cpu) / held.elapsed().as_secs_f64();
        // The p99 is checked while the connections idle: the server's timer tick visits every
        // connection (O(n) every 100 ms); connecting and leaving en masse are bursts (their
        // maximum is checked, below one second).
        r.checked = Some((r.phases[1].1, Some(Instant::now())));
        r.phases.push(("leave", Instant::now()));
        drop(socks);
        let left = srv.wait_fds(fds_before, Duration::from_secs(10));
        r.phases.push(("after", Instant::now()));
        thread::sleep(Duration::from_millis(500));
        r.check(left <= fds_before, || format!("{left} fds after they left, {fds_before} before"));
        r.after = srv.rss();
        r.figures = format!(
            "{n} idle upgraded (deflate) connections in {:.1} s: {per} B RSS each ({} with them), server CPU {:.0} % while they idle, fds {fds_before} -> {fds} -> {left}",
            took.as_secs_f64(),
            mib(with),
            busy * 100.0
        );
    })
}
