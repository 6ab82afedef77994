//! Many connections: idle upgraded ones (server RSS per connection) and the rate of upgrades
//! (connect, request, 101, close; many in flight).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

use crate::echo::check_head;
use crate::proc::{Cpu, Meter, Server};
use crate::wire;

/// What the idle case measured.
pub struct Idle {
    pub per_conn: u64,
    pub took: Duration,
}

/// `n` upgraded connections that send nothing more; the server's RSS growth per connection,
/// one second after the last upgrade.
pub fn idle(srv: &Server, raw: bool, n: usize) -> Result<Idle, String> {
    let before = srv.rss();
    let req = wire::upgrade_request(srv.addr, false);
    let t = Instant::now();
    let mut socks = Vec::with_capacity(n);
    // In waves of 250: connect and send, then read the answers (the listen backlog holds a wave).
    for start in (0..n).step_by(250) {
        let mut wave = Vec::new();
        for i in start..(start + 250).min(n) {
            let mut s = wire::connect_from(10_000 + i, srv.addr).map_err(|e| format!("connect {i}: {e}"))?;
            s.write_all(&req).map_err(|e| format!("upgrade {i}: {e}"))?;
            wave.push(s);
        }
        for mut s in wave {
            check_head(&mut s, &req, raw)?;
            socks.push(s);
        }
    }
    let took = t.elapsed();
    thread::sleep(Duration::from_secs(1));
    let rss = srv.rss();
    drop(socks);
    Ok(Idle { per_conn: rss.saturating_sub(before) / n as u64, took })
}

/// An upgrade in flight.
struct Attempt {
    sock: TcpStream,
    wrote: bool,
    head: Vec<u8>,
}

/// A non-blocking connect from the `k`-th spread source address (bind before connect).
fn start_connect(k: u64, server: SocketAddr) -> io::Result<TcpStream> {
    let k = k as usize;
    let src = Ipv4Addr::new(127, 1 + (k / 62_500 % 100) as u8, 1 + (k / 250 % 250) as u8, 1 + (k % 250) as u8);
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    match s.connect(&server.into()) {
        Ok(()) => {}
        // EINPROGRESS: the connection completes later (reported as writable).
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

/// What the connection-rate case measured.
pub struct ConnRate {
    pub per_sec: f64,
    pub cpu: Cpu,
}

/// `inflight` upgrades at a time, each connection closed (FIN) once its 101 has arrived and
/// replaced by a new one; upgrades completed per second over `secs` after `warm` seconds.
pub fn conn_rate(srv: &Server, raw: bool, inflight: usize, warm: f64, secs: f64) -> Result<ConnRate, String> {
    let req = wire::upgrade_request(srv.addr, false);
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Attempt>> = (0..inflight).map(|_| None).collect();
    let mut k = 0u64;
    let mut done = 0u64;
    let mut buf = [0u8; 4096];
    let open = |k: &mut u64, slot: usize, poll: &Poll| -> Result<Attempt, String> {
        *k += 1;
        let mut sock = start_connect(*k, srv.addr).map_err(|e| format!("connect: {e}"))?;
        poll.registry()
            .register(&mut sock, Token(slot), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        Ok(Attempt { sock, wrote: false, head: Vec::new() })
    };
    for (i, s) in slots.iter_mut().enumerate() {
        *s = Some(open(&mut k, i, &poll)?);
    }
    let start = Instant::now();
    let (warm_end, end) = (start + Duration::from_secs_f64(warm), start + Duration::from_secs_f64(warm + secs));
    let mut meter: Option<(Meter, u64)> = None;
    let mut last_progress = Instant::now();
    for _ in 0..50_000_000u64 {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now.duration_since(last_progress) > Duration::from_secs(5) {
            return Err(format!("no upgrade completed for 5 s ({done} done)"));
        }
        if meter.is_none() && now >= warm_end {
            meter = Some((Meter::start(srv), done));
        }
        poll.poll(&mut events, Some(Duration::from_millis(20))).map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let slot = ev.token().0;
            let Some(a) = slots[slot].as_mut() else { continue };
            if !a.wrote && ev.is_writable() {
                if let Ok(Some(e)) | Err(e) = a.sock.take_error() {
                    return Err(format!("connect: {e}"));
                }
                // A fresh socket's send buffer holds the whole request.
                match a.sock.write(&req) {
                    Ok(n) if n == req.len() => a.wrote = true,
                    Ok(_) => return Err("short write of the upgrade request".into()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            let mut finished = false;
            for _ in 0..16 {
                match a.sock.read(&mut buf) {
                    Ok(0) => return Err("closed before the 101".into()),
                    Ok(n) => a.head.extend_from_slice(&buf[..n]),
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
                if a.head.windows(4).any(|w| w == b"\r\n\r\n") {
                    finished = true;
                    break;
                }
            }
            if finished {
                let ok = if raw { a.head == req } else { wire::check_101(&a.head, false).is_ok() };
                if !ok {
                    return Err(format!("bad answer: {:?}", String::from_utf8_lossy(&a.head).lines().next()));
                }
                done += 1;
                last_progress = Instant::now();
                if let Some(mut old) = slots[slot].take() {
                    let _ = poll.registry().deregister(&mut old.sock);
                }
                slots[slot] = Some(open(&mut k, slot, &poll)?);
            }
        }
    }
    let (m, before) = meter.ok_or("the run ended before its warm-up did")?;
    let cpu = m.stop(srv);
    Ok(ConnRate { per_sec: (done - before) as f64 / cpu.wall, cpu })
}
