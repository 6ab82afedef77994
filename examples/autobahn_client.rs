//! Plays the client role of the Autobahn TestSuite (or `kosoku -m fuzzingserver`).
//!
//! ```text
//! cargo run --release --example autobahn_client -- ws://127.0.0.1:9001 [AGENT]
//! ```
//!
//! Asks `/getCaseCount`, runs `/runCase?case=N&agent=AGENT` for every case (echoing each
//! message, offering permessage-deflate), then calls `/updateReports?agent=AGENT`. Every case
//! has a deadline, so a stuck case cannot hang the run. Each connection is driven through a
//! `RecvBuffer` (the README's first drive loop), where `echo_server` uses one shared read
//! buffer: between the two roles, Autobahn covers both ways of driving the connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::{ChaChaMask, Config, Connection, Event, Message, RecvBuffer};

const CONFIG: Config = Config::new().max_len(64 << 20);
/// The longest a single case may take (9.* sends up to 16 MiB per message, many times).
const CASE_DEADLINE: Duration = Duration::from_secs(120);
/// How often a blocked read wakes up to check timers and the deadline.
const READ_TICK: Duration = Duration::from_millis(200);

type Conn = Connection<ChaChaMask>;

/// An open WebSocket over a blocking socket.
struct Ws {
    sock: TcpStream,
    conn: Conn,
    /// Bytes received together with the handshake response.
    pending: Vec<u8>,
    origin: Instant,
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Opens a WebSocket to `host` (`HOST:PORT`) at `path`, offering permessage-deflate.
fn connect(host: &str, path: &str) -> io::Result<Ws> {
    let mut sock = TcpStream::connect(host)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    // The offer includes `client_no_context_takeover` (RFC 7692 §7.1.1.2): Autobahn's server
    // side only asks a client to drop its context (cases 13.2, 13.5, 13.6) when the offer says
    // the client can.
    let mut deflate = DeflateConfig::new();
    deflate.local_no_context_takeover = true;
    let offer = deflate.offer();
    let req = ClientRequest::with_random_nonce(host, path)?.with_extensions(&offer);
    let bytes = req.request_vec().map_err(|e| err(format!("request: {e}")))?;
    sock.write_all(&bytes)?;
    let mut parser = req.response_parser();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(err("EOF during the opening handshake"));
        }
        head.extend_from_slice(&buf[..n]);
        match parser.parse(&head) {
            Ok(Reply::Partial) => continue,
            Ok(Reply::Accepted(accepted)) => {
                let mut conn = Connection::client(CONFIG, ChaChaMask::from_entropy());
                for ext in accepted.extensions() {
                    if !ext.name().eq_ignore_ascii_case(EXTENSION_NAME) {
                        return Err(err(format!("unexpected extension {}", ext.name())));
                    }
                    // RFC 7692 §7.1: an answer we cannot honour fails the connection.
                    let params = deflate.accept_response(ext.params()).map_err(|e| err(format!("deflate: {e}")))?;
                    conn = conn.with_deflate(&params);
                }
                let pending = head[accepted.head_len()..].to_vec();
                sock.set_read_timeout(Some(READ_TICK))?;
                return Ok(Ws { sock, conn, pending, origin: Instant::now() });
            }
            Ok(Reply::Rejected(resp)) => return Err(err(format!("handshake refused: {}", resp.status()))),
            Ok(_) => return Err(err("unexpected handshake reply")),
            Err(e) => return Err(err(format!("handshake: {e}"))),
        }
    }
}

impl Ws {
    fn flush_control(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        self.conn.poll_transmit_vec(out);
        if !out.is_empty() {
            self.sock.write_all(out)?;
        }
        Ok(())
    }

    /// Runs the connection until it closes, calling `on_message` for every message; when it
    /// returns true, the message is sent back as a message of the same kind.
    fn drive(&mut self, deadline: Instant, on_message: impl FnMut(Message<'_>) -> bool) -> io::Result<()> {
        match self.drive_until_closed(deadline, on_message) {
            // Once the peer's Close has arrived, the WebSocket is over; a server that then
            // closes TCP before it has read our answering Close gets its kernel to send a reset
            // (the fuzzing server does so now and then), which only ends what was ending.
            Err(e) if self.conn.peer_close_code().is_some() && is_reset(&e) => Ok(()),
            other => other,
        }
    }

    fn drive_until_closed(
        &mut self,
        deadline: Instant,
        mut on_message: impl FnMut(Message<'_>) -> bool,
    ) -> io::Result<()> {
        // The README's first drive loop: a `RecvBuffer` keeps a large frame until it is whole
        // and delivers it in place, checking its text as it arrives (Autobahn 6.4.x).
        let mut rb = RecvBuffer::with_read_size(256 * 1024);
        let mut out = Vec::new();
        let mut pending = &std::mem::take(&mut self.pending)[..];
        while !pending.is_empty() {
            let space = rb.spare(&self.conn);
            let n = space.len().min(pending.len());
            space[..n].copy_from_slice(&pending[..n]);
            rb.filled(n);
            pending = &pending[n..];
        }
        loop {
            // On a protocol error the failing Close is queued; input from then on is ignored.
            while let Ok(Some(event)) = rb.next(&mut self.conn) {
                // Queued control frames (pongs, the Close echo) go out before later data.
                self.flush_control(&mut out)?;
                // The event borrows only `rb`: echo straight from it, with no copy.
                let Event::Message(m) = event else { continue };
                if !on_message(m) {
                    continue;
                }
                out.clear();
                let sent = match m {
                    Message::Text(t) => self.conn.send_text_vec(t, &mut out),
                    Message::Binary(b) => self.conn.send_binary_vec(b, &mut out),
                    _ => continue,
                };
                if sent.is_ok() {
                    self.sock.write_all(&out)?;
                }
            }
            self.flush_control(&mut out)?;
            if self.conn.should_close_transport() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(err("case deadline passed"));
            }
            let n = loop {
                match rb.read_from(&mut self.sock, &self.conn) {
                    Ok(n) => break n,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                        self.conn.handle_timeout(self.origin.elapsed());
                        self.flush_control(&mut out)?;
                        if self.conn.should_close_transport() {
                            return Ok(());
                        }
                        if Instant::now() >= deadline {
                            return Err(err("case deadline passed"));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                // Normal after the closing handshake: the server closes TCP first (§7.1.1).
                let _ = self.conn.read_eof();
                return Ok(());
            }
        }
    }
}

/// A transport error that means the peer tore the TCP connection down.
fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
}

fn parse_url(url: &str) -> io::Result<String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| err("the URL must start with ws://"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    if host.is_empty() {
        return Err(err("no host in the URL"));
    }
    Ok(host.to_string())
}

fn run() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "wsmachine".into());
    let host = parse_url(&url)?;

    let mut count = None;
    let mut ws = connect(&host, "/getCaseCount")?;
    ws.drive(Instant::now() + Duration::from_secs(30), |m| {
        if let Message::Text(t) = m {
            count = t.trim().parse::<u32>().ok();
        }
        false
    })?;
    let count = count.ok_or_else(|| err("no case count received"))?;
    println!("{count} cases");

    let started = Instant::now();
    let mut problems = 0;
    for case in 1..=count {
        let path = format!("/runCase?case={case}&agent={agent}");
        let t = Instant::now();
        let result = connect(&host, &path).and_then(|mut ws| ws.drive(Instant::now() + CASE_DEADLINE, |_| true));
        if let Err(e) = result {
            // A refused handshake or a failed connection can be the expected outcome of a
            // case; the report judges. Only say so.
            problems += 1;
            eprintln!("case {case}: {e} (after {:?})", t.elapsed());
        }
        if case % 50 == 0 {
            println!("{case}/{count} cases run ({:.0?})", started.elapsed());
        }
    }
    println!("all cases run in {:.1?} ({problems} ended with a connection error)", started.elapsed());

    let mut ws = connect(&host, &format!("/updateReports?agent={agent}"))?;
    ws.drive(Instant::now() + Duration::from_secs(60), |_| false)?;
    println!("reports updated");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("autobahn_client: {e}");
        std::process::exit(1);
    }
}
