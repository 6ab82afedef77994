//! A small websocat-like client on blocking `std::net`.
//!
//! ```text
//! cargo run --example client -- ws://HOST:PORT/path [--protocol NAME]... [--binary] [--no-deflate]
//! cargo run --example client -- wss://HOST:PORT/path [--ca CERT.pem] [...]
//! ```
//!
//! Each line of stdin is sent as a text message (`--binary`: as a binary message); every
//! message received is printed on stdout, text as is and binary as hex. At the end of stdin
//! the client closes with 1000 and waits for the server to finish the closing handshake.
//! permessage-deflate is offered unless `--no-deflate`. A `wss://` server must have a
//! certificate from one of the system's roots or from `--ca` (PEM), e.g. the one that
//! `echo_server --tls` writes.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::frame::MAX_CONTROL_FRAME_LEN;
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::{Assembly, ChaChaMask, CloseCode, Config, Connection, Event, Message};

mod tls;
mod url;

use tls::Stream;
use url::WsUrl;

const USAGE: &str =
    "usage: client ws[s]://HOST[:PORT]/path [--protocol NAME]... [--binary] [--no-deflate] [--ca CERT.pem]";

struct Args {
    url: WsUrl,
    ca: Option<String>,
    protocols: Vec<String>,
    binary: bool,
    deflate: bool,
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn parse_args() -> io::Result<Args> {
    let (mut url, mut ca) = (None, None);
    let (mut protocols, mut binary, mut deflate) = (Vec::new(), false, true);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--protocol" => protocols.push(it.next().ok_or_else(|| err("--protocol needs a name"))?),
            "--binary" => binary = true,
            "--no-deflate" => deflate = false,
            "--ca" => ca = Some(it.next().ok_or_else(|| err("--ca needs a PEM file"))?),
            _ if url.is_none() && !a.starts_with("--") => url = Some(a),
            _ => return Err(err(format!("unexpected argument {a:?}"))),
        }
    }
    let url = WsUrl::parse(&url.ok_or_else(|| err(USAGE))?).map_err(err)?;
    if ca.is_some() && !url.secure {
        return Err(err("--ca is for wss:// URLs"));
    }
    Ok(Args { url, ca, protocols, binary, deflate })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run() -> io::Result<()> {
    let args = parse_args()?;
    let url = &args.url;
    let tcp = TcpStream::connect((url.host.as_str(), url.port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut sock = match url.secure {
        true => Stream::tls(tcp, &url.host, args.ca.as_deref())?,
        false => Stream::Plain(tcp),
    };

    let deflate = DeflateConfig::new();
    let offer = deflate.offer();
    let host = url.host_header();
    let protocols: Vec<&str> = args.protocols.iter().map(String::as_str).collect();
    let mut req = ClientRequest::with_random_nonce(&host, &url.resource)?.with_protocols(&protocols);
    if args.deflate {
        req = req.with_extensions(&offer);
    }
    sock.write_all(&req.request_vec().map_err(|e| err(format!("request: {e}")))?)?;

    let mut parser = req.response_parser();
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut conn, pending) = loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(err("the server closed the connection during the handshake"));
        }
        head.extend_from_slice(&buf[..n]);
        match parser.parse(&head) {
            Ok(Reply::Partial) => continue,
            Ok(Reply::Accepted(a)) => {
                let mut conn = Connection::client(Config::new().max_len(64 << 20), ChaChaMask::from_entropy());
                let mut ext = String::new();
                for e in a.extensions() {
                    if !e.name().eq_ignore_ascii_case(EXTENSION_NAME) {
                        return Err(err(format!("server selected unknown extension {}", e.name())));
                    }
                    let params = deflate.accept_response(e.params()).map_err(|e| err(format!("deflate: {e}")))?;
                    ext = params.response();
                    conn = conn.with_deflate(&params);
                }
                eprintln!(
                    "connected (protocol: {}, extensions: {})",
                    a.protocol().unwrap_or("none"),
                    if ext.is_empty() { "none" } else { &ext }
                );
                break (conn, head[a.head_len()..].to_vec());
            }
            Ok(Reply::Rejected(r)) => return Err(err(format!("refused: {} {}", r.status(), r.reason()))),
            Ok(_) => return Err(err("unexpected reply")),
            Err(e) => return Err(err(format!("handshake failed: {e}"))),
        }
    };

    // stdin is read on its own thread; lines come through a channel.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });

    sock.tcp().set_read_timeout(Some(Duration::from_millis(20)))?;
    let origin = Instant::now();
    let stdout = io::stdout();
    let mut out = Vec::new();
    let mut stdin_open = true;
    // Where the connection puts together what a read does not hold whole; events borrow it
    // and the input, never the connection.
    let mut assembly = Assembly::new();
    // Bytes that came with the handshake response are the first input (they came in the last
    // read, so they fit in `buf`).
    let mut have = pending.len();
    buf[..have].copy_from_slice(&pending);
    loop {
        // Input from the server.
        if have == 0 {
            let read = match sock.read(&mut buf) {
                // TLS: TCP closed without close_notify; the Close frame tells if that was clean.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            };
            match read {
                Ok(0) => {
                    match conn.read_eof() {
                        Ok(()) => eprintln!("closed by the server"),
                        Err(e) => eprintln!("connection lost: {e}"),
                    }
                    return Ok(());
                }
                Ok(n) => have = n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // After its Close, a server may drop TCP before reading ours; the kernel then
                // answers our Close with a reset. The WebSocket had ended already.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && conn.peer_close_code().is_some() => {
                    eprintln!("closed by the server");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        let data = &mut buf[..std::mem::take(&mut have)];
        let mut start = 0;
        loop {
            match conn.read(&mut data[start..], &mut assembly) {
                Ok(r) => {
                    start += r.consumed;
                    let mut o = stdout.lock();
                    match r.event {
                        None => break,
                        Some(Event::Message(Message::Text(t))) if !args.binary => writeln!(o, "{t}")?,
                        Some(Event::Message(m)) => writeln!(o, "{}", hex(m.as_bytes()))?,
                        Some(Event::Close(frame)) => match frame {
                            Some(f) => eprintln!("server closed: {} {:?}", f.code.0, f.reason),
                            None => eprintln!("server closed without a code"),
                        },
                        Some(Event::Ping(_)) | Some(Event::Pong(_)) | Some(_) => {}
                    }
                    o.flush()?;
                }
                Err(e) => {
                    eprintln!("protocol error: {e}");
                    break;
                }
            }
        }
        // Lines from stdin.
        while stdin_open {
            match rx.try_recv() {
                Ok(line) => {
                    out.clear();
                    conn.poll_transmit_vec(&mut out);
                    let sent = if args.binary {
                        conn.send_binary_vec(line.as_bytes(), &mut out)
                    } else {
                        conn.send_text_vec(&line, &mut out)
                    };
                    if let Err(e) = sent {
                        eprintln!("not sent: {e}");
                    }
                    sock.write_all(&out)?;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    stdin_open = false;
                    // End of input: start the closing handshake (RFC 6455 §7.1.2), after the
                    // replies still queued (a Close drops them).
                    let mut close = [0u8; MAX_CONTROL_FRAME_LEN];
                    out.clear();
                    conn.poll_transmit_vec(&mut out);
                    if let Ok(n) = conn.close(CloseCode::NORMAL, "", &mut close) {
                        out.extend_from_slice(&close[..n]);
                    }
                    sock.write_all(&out)?;
                }
            }
        }
        conn.handle_timeout(origin.elapsed());
        out.clear();
        conn.poll_transmit_vec(&mut out);
        if !out.is_empty() {
            sock.write_all(&out)?;
        }
        if conn.should_close_transport() {
            sock.shutdown();
            return Ok(());
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}
