//! The `echo_server` example in-process, and a blocking client made of the crate's own
//! handshake client and `Connection`: shared by `tests/echo_tcp.rs` and `tests/echo_memory.rs`.

pub mod counting;
#[allow(dead_code)]
#[path = "../../examples/echo_server/main.rs"]
pub mod echo_server;
pub mod scenarios;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::{Assembly, ChaChaMask, Config, Connection, MessageKind, OwnedEvent};

/// The server on a free loopback port, on its own thread; stopped (and its result checked) on
/// drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// `on_thread`: runs first on the server's thread (e.g. to mark it for a counting allocator).
    pub fn start_with(opts: echo_server::Options, on_thread: fn()) -> Server {
        let listener = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            on_thread();
            echo_server::run_with(listener, s, opts)
        });
        Server { addr, stop, thread: Some(thread) }
    }

    pub fn start(opts: echo_server::Options) -> Server {
        Server::start_with(opts, || {})
    }

    pub fn default() -> Server {
        Server::start(echo_server::Options::default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let r = t.join().expect("server thread panicked");
            if !std::thread::panicking() {
                r.expect("server loop failed");
            }
        }
    }
}

/// A blocking client built from `handshake::client` and `Connection`.
pub struct Client {
    pub sock: TcpStream,
    pub conn: Connection<ChaChaMask>,
    assembly: Assembly,
    pending: Vec<u8>,
    events: VecDeque<OwnedEvent>,
    /// The negotiated permessage-deflate response, if any.
    pub extensions: Option<String>,
    eof: bool,
    /// End of stream must follow a closing handshake (`read_eof` must succeed); off for
    /// peers that the server may drop.
    pub strict_eof: bool,
}

impl Client {
    pub fn connect(addr: SocketAddr, deflate: bool) -> Client {
        Client::connect_with(addr, deflate.then(DeflateConfig::new), &[])
    }

    /// With `deflate`, offers permessage-deflate with these settings (the compression level
    /// among them); `first_frames` go out right behind the request.
    pub fn connect_with(addr: SocketAddr, deflate: Option<DeflateConfig>, first_frames: &[u8]) -> Client {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let host = addr.to_string();
        let offer = deflate.map(|d| d.offer());
        let mut req = ClientRequest::with_random_nonce(&host, "/").unwrap();
        if let Some(offer) = &offer {
            req = req.with_extensions(offer);
        }
        let mut bytes = req.request_vec().unwrap();
        bytes.extend_from_slice(first_frames);
        sock.write_all(&bytes).unwrap();
        let mut parser = req.response_parser();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.read(&mut buf).unwrap();
            assert!(n > 0, "EOF during the handshake");
            head.extend_from_slice(&buf[..n]);
            match parser.parse(&head).unwrap() {
                Reply::Partial => continue,
                Reply::Accepted(a) => {
                    let mut conn = Connection::client(Config::new().max_len(64 << 20), ChaChaMask::from_entropy());
                    let mut extensions = None;
                    for e in a.extensions() {
                        assert_eq!(e.name(), EXTENSION_NAME);
                        let cfg = deflate.expect("permessage-deflate only when offered");
                        let params = cfg.accept_response(e.params()).unwrap();
                        conn = conn.with_deflate(&params);
                        extensions = Some(params.response());
                    }
                    let pending = head[a.head_len()..].to_vec();
                    return Client {
                        sock,
                        conn,
                        assembly: Assembly::new(),
                        pending,
                        events: VecDeque::new(),
                        extensions,
                        eof: false,
                        strict_eof: true,
                    };
                }
                Reply::Rejected(r) => panic!("rejected with {}", r.status()),
                _ => panic!("unexpected reply"),
            }
        }
    }

    pub fn flush_control(&mut self) {
        let mut out = Vec::new();
        self.conn.poll_transmit_vec(&mut out);
        if !out.is_empty() {
            let written = self.sock.write_all(&out);
            assert!(written.is_ok() || !self.strict_eof, "write: {written:?}");
        }
    }

    /// The frames of one message (compressed by the connection if deflate was negotiated).
    pub fn encode(&mut self, kind: MessageKind, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match kind {
            MessageKind::Text => self.conn.send_text_vec(std::str::from_utf8(data).unwrap(), &mut out),
            _ => self.conn.send_binary_vec(data, &mut out),
        }
        .unwrap();
        out
    }

    pub fn send(&mut self, kind: MessageKind, data: &[u8]) {
        self.flush_control();
        let frames = self.encode(kind, data);
        self.sock.write_all(&frames).unwrap();
    }

    /// Sends a binary message and checks that its echo comes back, byte for byte.
    pub fn echo(&mut self, data: &[u8]) {
        self.send(MessageKind::Binary, data);
        match self.next() {
            Some(OwnedEvent::Binary(got)) => assert!(got == data, "echo of {} bytes differs", data.len()),
            other => panic!("expected the echo of {} bytes, got {:?}", data.len(), other.map(|_| "another event")),
        }
    }

    /// The next event from the server; `None` at EOF (a reset counts as EOF).
    pub fn next(&mut self) -> Option<OwnedEvent> {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.eof {
                return None;
            }
            let mut data = if self.pending.is_empty() {
                let n = match self.sock.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !self.strict_eof => 0,
                    Err(e) => panic!("read: {e}"),
                };
                if n == 0 {
                    self.eof = true;
                    let end = self.conn.read_eof();
                    assert!(end.is_ok() || !self.strict_eof, "end of stream without a closing handshake: {end:?}");
                    continue;
                }
                buf[..n].to_vec()
            } else {
                std::mem::take(&mut self.pending)
            };
            let mut start = 0;
            loop {
                let r = self.conn.read(&mut data[start..], &mut self.assembly).unwrap();
                start += r.consumed;
                match r.event {
                    Some(e) => self.events.push_back(e.into_owned()),
                    None => break,
                }
            }
            self.flush_control();
        }
    }
}
