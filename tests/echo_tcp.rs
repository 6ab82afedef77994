//! The `echo_server` example over real TCP, driven by the crate's own client code
//! (handshake client + `Connection`).
#![cfg(all(feature = "std", feature = "deflate"))]

#[allow(dead_code)] // each test file uses a part of it
mod echo_support;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use echo_support::scenarios::{self, pattern};
use echo_support::{echo_server, Client, Server};
use wsmachine::{ChaChaMask, CloseCode, Config, Connection, MessageKind, OwnedEvent};
#[test]
fn echoes_text_and_binary_with_and_without_deflate() {
    let server = Server::default();
    scenarios::echoes_text_and_binary(server.addr);
}

#[test]
fn echoes_a_16_mib_message() {
    let server = Server::default();
    for deflate in [false, true] {
        let mut c = Client::connect(server.addr, deflate);
        let mut big = pattern(16 << 20, 99);
        // Half incompressible, half compressible.
        big[8 << 20..].iter_mut().enumerate().for_each(|(i, b)| *b = (i % 251) as u8);
        c.send(MessageKind::Binary, &big);
        match c.next() {
            Some(OwnedEvent::Binary(got)) => assert!(got == big, "16 MiB echo differs (deflate {deflate})"),
            other => panic!("unexpected {:?}", other.map(|_| "non-binary event")),
        }
    }
}

#[test]
fn large_echoes_written_from_the_assembly_keep_their_place_among_other_frames() {
    let server = Server::default();
    scenarios::large_echoes_keep_their_place(server.addr);
}

#[test]
fn ping_gets_pong_and_close_handshake_completes() {
    let server = Server::default();
    let mut c = Client::connect(server.addr, true);
    let mut out = [0u8; wsmachine::frame::MAX_CONTROL_FRAME_LEN];
    let n = c.conn.ping(b"are you there", &mut out).unwrap();
    c.sock.write_all(&out[..n]).unwrap();
    assert_eq!(c.next(), Some(OwnedEvent::Pong(b"are you there".to_vec())));
    let n = c.conn.close(CloseCode(4001), "done here", &mut out).unwrap();
    c.sock.write_all(&out[..n]).unwrap();
    assert_eq!(c.next(), Some(OwnedEvent::Close(Some((CloseCode(4001), "done here".into())))));
    // RFC 6455 §7.1.1: the server then closes the TCP connection.
    let start = Instant::now();
    assert_eq!(c.next(), None);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(c.conn.should_close_transport());
}

#[test]
fn frames_sent_with_the_request_head_are_not_lost() {
    let server = Server::default();
    let mut encoder = Connection::client(Config::new(), ChaChaMask::from_entropy());
    let mut frames = Vec::new();
    encoder.send_text_vec("first", &mut frames).unwrap();
    encoder.send_binary_vec(&[1, 2, 3], &mut frames).unwrap();
    let mut c = Client::connect_with(server.addr, None, &frames);
    assert_eq!(c.next(), Some(OwnedEvent::Text("first".into())));
    assert_eq!(c.next(), Some(OwnedEvent::Binary(vec![1, 2, 3])));
}

#[test]
fn protocol_violation_gets_close_1002() {
    let server = Server::default();
    // An unmasked frame from a client (RFC 6455 §5.1).
    let mut c = Client::connect_with(server.addr, None, b"\x81\x02hi");
    assert_eq!(c.next(), Some(OwnedEvent::Close(Some((CloseCode::PROTOCOL_ERROR, String::new())))));
    assert_eq!(c.next(), None);
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(sock, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).unwrap();
    String::from_utf8(resp).unwrap()
}

#[test]
fn plain_get_serves_the_page() {
    let server = Server::default();
    let page = http_get(server.addr, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"));
    assert!(page.contains("new WebSocket("));
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.parse().ok()).unwrap();
    assert_eq!(body.len(), len);
    assert!(http_get(server.addr, "/nope").starts_with("HTTP/1.1 404 "));
    assert!(http_get(server.addr, "/test").contains("/gate?id="));
}

#[test]
fn oversized_and_stalled_heads_are_refused() {
    let opts = echo_server::Options { head_timeout: Duration::from_millis(300), ..Default::default() };
    let server = Server::start(opts);
    // A head over the limit: 431.
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    while req.len() < 10_000 {
        req.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    sock.write_all(&req).unwrap();
    let mut resp = Vec::new();
    let _ = sock.read_to_end(&mut resp);
    assert!(resp.starts_with(b"HTTP/1.1 431 "), "{:?}", String::from_utf8_lossy(&resp));
    // A head that never completes: 408 after the deadline.
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut resp = Vec::new();
    let _ = sock.read_to_end(&mut resp);
    assert!(resp.starts_with(b"HTTP/1.1 408 "), "{:?}", String::from_utf8_lossy(&resp));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_client_that_never_reads_does_not_block_others() {
    let server = Server::default();
    // The stalled client: sends 256 KiB messages and never reads the echoes.
    let stalled = Client::connect(server.addr, false);
    let mut sock = stalled.sock.try_clone().unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut encoder = stalled.conn;
    let writer = std::thread::spawn(move || {
        let mut frame = Vec::new();
        encoder.send_binary_vec(&pattern(256 * 1024, 3), &mut frame).unwrap();
        let mut sent = 0usize;
        // Stop once a write blocks for 2 s (backpressure works) or after 1 GiB (it does not).
        while sent < 1 << 30 {
            match sock.write(&frame) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return (true, sent)
                }
                Err(e) => panic!("stalled writer: {e}"),
            }
        }
        (false, sent)
    });
    // Meanwhile another client is served normally.
    std::thread::sleep(Duration::from_millis(200));
    let mut c = Client::connect(server.addr, true);
    let start = Instant::now();
    for i in 0..200 {
        let msg = format!("message {i}");
        c.send(MessageKind::Text, msg.as_bytes());
        assert_eq!(c.next(), Some(OwnedEvent::Text(msg)));
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    let (blocked, sent) = writer.join().unwrap();
    assert!(blocked, "the server kept reading {sent} bytes from a client that never reads");
    // Still served after the stalled client's writer gave up.
    c.send(MessageKind::Binary, &[42; 1000]);
    assert_eq!(c.next(), Some(OwnedEvent::Binary(vec![42; 1000])));
}
