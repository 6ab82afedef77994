//! The well-behaved client that keeps echoing during every pattern: messages of 16 B to 16 KiB
//! (text and binary, permessage-deflate on), each checked byte for byte, round trips timed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsmachine::deflate::DeflateConfig;
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::{Assembly, ChaChaMask, Config, Connection, Event, Message};

/// What the prober saw.
#[derive(Debug, Default)]
pub struct Echoes {
    /// Round-trip times in microseconds.
    pub rtts: Vec<u64>,
    /// When each round trip started.
    pub starts: Vec<Instant>,
    /// Echoes that differed from what was sent, or never came.
    pub errors: Vec<String>,
}

impl Echoes {
    /// The round trips that started at `from` or later, and before `to`.
    pub fn between(&self, from: Instant, to: Option<Instant>) -> Echoes {
        let within = |s: &Instant| *s >= from && to.is_none_or(|to| *s < to);
        let (rtts, starts) = self.rtts.iter().zip(&self.starts).filter(|(_, s)| within(s)).unzip();
        Echoes { rtts, starts, errors: self.errors.clone() }
    }

    /// The `p`-th percentile round trip in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.rtts.is_empty() {
            return f64::NAN;
        }
        let mut v = self.rtts.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p / 100.0).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    }
}

pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Echoes>>,
}

impl Prober {
    /// Connects (so that it holds its fd before any attack) and starts echoing.
    pub fn start(addr: SocketAddr, pause: Duration) -> Result<Prober, String> {
        let client = Client::connect(addr).map_err(|e| format!("prober: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || client.run(&s, pause));
        Ok(Prober { stop, thread: Some(thread) })
    }

    pub fn finish(mut self) -> Echoes {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.take().expect("joined once");
        t.join().unwrap_or_else(|_| Echoes { errors: vec!["prober panicked".into()], ..Default::default() })
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Client {
    sock: TcpStream,
    conn: Connection<ChaChaMask>,
    assembly: Assembly,
    pending: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Result<Client, String> {
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        let cfg = DeflateConfig::new();
        let offer = cfg.offer();
        let host = addr.to_string();
        let req = ClientRequest::with_random_nonce(&host, "/").map_err(|e| e.to_string())?.with_extensions(&offer);
        sock.write_all(&req.request_vec().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let mut parser = req.response_parser();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            let n = sock.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("EOF during the handshake".into());
            }
            head.extend_from_slice(&buf[..n]);
            match parser.parse(&head).map_err(|e| e.to_string())? {
                Reply::Partial => continue,
                Reply::Accepted(a) => {
                    let mut conn = Connection::client(Config::new().max_len(1 << 20), ChaChaMask::from_entropy());
                    for e in a.extensions() {
                        conn = conn.with_deflate(&cfg.accept_response(e.params()).map_err(|e| e.to_string())?);
                    }
                    let pending = head[a.head_len()..].to_vec();
                    return Ok(Client { sock, conn, assembly: Assembly::new(), pending });
                }
                _ => return Err("upgrade refused".into()),
            }
        }
        Err("response head too long".into())
    }

    fn run(mut self, stop: &AtomicBool, pause: Duration) -> Echoes {
        let mut echoes = Echoes::default();
        let sizes = [16usize, 200, 1000, 4000, 16_000];
        let mut x = 0x9E37_79B9u32;
        let mut i = 0usize;
        // Bounded: at most one message per pause for at most an hour.
        let end = Instant::now() + Duration::from_secs(3600);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            let len = sizes[i % sizes.len()];
            let text = i.is_multiple_of(3);
            let msg: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if text {
                        b'a' + (x % 26) as u8
                    } else {
                        x as u8
                    }
                })
                .collect();
            let start = Instant::now();
            if let Err(e) = self.echo(&msg, text) {
                echoes.errors.push(format!("echo {i} ({len} B): {e}"));
                return echoes;
            }
            echoes.rtts.push(start.elapsed().as_micros() as u64);
            echoes.starts.push(start);
            i += 1;
            std::thread::sleep(pause);
        }
        echoes
    }

    fn echo(&mut self, msg: &[u8], text: bool) -> Result<(), String> {
        let mut out = Vec::new();
        self.conn.poll_transmit_vec(&mut out);
        let sent = match text {
            true => self.conn.send_text_vec(std::str::from_utf8(msg).map_err(|e| e.to_string())?, &mut out),
            false => self.conn.send_binary_vec(msg, &mut out),
        };
        sent.map_err(|e| e.to_string())?;
        self.sock.write_all(&out).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 128 * 1024];
        // Bounded by the socket's read timeout and this count.
        for _ in 0..10_000 {
            let mut data = if self.pending.is_empty() {
                let n = self.sock.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Err("EOF".into());
                }
                buf[..n].to_vec()
            } else {
                std::mem::take(&mut self.pending)
            };
            let mut at = 0;
            let mut found = None;
            while at < data.len() {
                let r = self.conn.read(&mut data[at..], &mut self.assembly).map_err(|e| e.to_string())?;
                at += r.consumed;
                match r.event {
                    Some(Event::Message(Message::Text(t))) if text => found = Some(t.as_bytes() == msg),
                    Some(Event::Message(Message::Binary(b))) if !text => found = Some(b == msg),
                    Some(Event::Message(_)) => found = Some(false),
                    Some(Event::Close(c)) => return Err(format!("server closed: {c:?}")),
                    Some(_) => {}
                    None => break,
                }
                if found.is_some() {
                    break;
                }
            }
            // Pongs for keepalive pings.
            let mut out = Vec::new();
            self.conn.poll_transmit_vec(&mut out);
            if !out.is_empty() {
                self.sock.write_all(&out).map_err(|e| e.to_string())?;
            }
            match found {
                Some(true) => {
                    self.pending = data[at..].to_vec();
                    return Ok(());
                }
                Some(false) => return Err(format!("echo of {} B differs", msg.len())),
                None => {}
            }
        }
        Err("no echo".into())
    }
}
