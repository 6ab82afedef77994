//! The `tokio_echo` example in-process (its `serve` on a current_thread runtime of its own
//! thread), driven by the blocking client of `echo_support`: the echo checks `echo_server`
//! passes, and its memory, counted by a global allocator for the runtime's thread only: an idle
//! connection holds no read buffer, and the buffers of large messages go back when the
//! connection goes quiet.
#![cfg(all(feature = "std", feature = "deflate"))]
// `echo_support` loads `echo_server` and with it the shared echo and output modules that
// `tokio_echo` loads too: two servers, one copy each.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)] // each test file uses a part of it
mod echo_support;
#[allow(dead_code)] // `main` is the example's own
#[path = "../examples/tokio_echo.rs"]
mod tokio_echo;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use echo_support::counting::{mark_server_thread, server_live, settle, steady, CountingAlloc, COUNTING, SERIAL};
use echo_support::scenarios::{self, pattern};
use echo_support::Client;

#[global_allocator]
static GLOBAL: CountingAlloc = COUNTING;

/// One server for every test of this file, on a free loopback port.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| start(tokio_echo::CONFIG, true))
}

/// A server whose timers run in seconds: messages must finish within 1 s, a connection idle for
/// 1 s is pinged and dropped 1 s later without a pong.
fn impatient_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    let secs = Duration::from_secs;
    let config = tokio_echo::CONFIG.message_timeout(Some(secs(1))).keepalive(Some(secs(1)), secs(1));
    *ADDR.get_or_init(|| start(config, false))
}

/// `serve_with(config)` on a current_thread runtime of its own thread; `counted`: that thread's
/// heap is the one the memory tests measure.
fn start(config: wsmachine::Config, counted: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if counted {
            mark_server_thread();
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                tokio::spawn(tokio_echo::serve_with(sock, config));
            }
        })
    });
    addr
}

#[test]
fn echoes_text_and_binary_with_and_without_deflate() {
    scenarios::echoes_text_and_binary(server());
}

#[test]
fn large_echoes_written_from_the_assembly_keep_their_place_among_other_frames() {
    scenarios::large_echoes_keep_their_place(server());
}

#[test]
fn an_idle_connection_holds_no_read_buffer() {
    let addr = server();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut warm = Client::connect(addr, false);
    warm.echo(b"warm");
    let before = steady();
    let mut clients: Vec<Client> = (0..100).map(|_| Client::connect(addr, false)).collect();
    for c in &mut clients {
        c.echo(&pattern(1000, 3));
    }
    let per_conn = (steady() - before) / 100;
    println!("server heap per idle connection: {per_conn} B");
    // The connection, its task with its timer, its socket's registration and an empty output:
    // under 4 KiB. A read buffer per connection (64 KiB) would be far over.
    assert!(per_conn <= 8192, "{per_conn} B of heap per idle connection");
    drop(clients);
}

#[test]
fn the_buffers_of_a_large_message_go_back_once_the_connection_is_quiet() {
    let addr = server();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for deflate in [false, true] {
        let mut c = Client::connect(addr, deflate);
        // With permessage-deflate, a warm-up larger than `RETAIN` brings the zlib states to
        // their full size (the engine gives the rest back by itself); without, it would leave
        // buffers to wait for the quiet seconds too.
        c.echo(&pattern(if deflate { 256 << 10 } else { 1000 }, 1));
        let idle = steady();
        let big = pattern(4 << 20, 2);
        c.echo(&big);
        // Plain: the echo was written from the assembly; that buffer waits for the next large
        // message while the connection is busy.
        if !deflate {
            let held = server_live() - idle;
            assert!(held >= 4 << 20, "a 4 MiB buffer is kept for the next large message: {held} B held");
            c.echo(&big);
        }
        // Back to what a connection keeps between messages (its assembly may keep `RETAIN`)
        // after one or two quiet seconds (`tokio_echo::QUIET`).
        let start = Instant::now();
        let limit = idle + tokio_echo::RETAIN as isize + 1024;
        let after = settle(limit, Duration::from_secs(5));
        println!("deflate {deflate}: {idle} B idle, {after} B {:?} after the echo", start.elapsed());
        assert!(after <= limit, "deflate {deflate}: {after} B held, {idle} B before");
        // A message in progress is not trimmed away.
        let half = c.encode(wsmachine::MessageKind::Binary, &big);
        std::io::Write::write_all(&mut c.sock, &half[..half.len() / 2]).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        std::io::Write::write_all(&mut c.sock, &half[half.len() / 2..]).unwrap();
        match c.next() {
            Some(wsmachine::OwnedEvent::Binary(got)) => {
                assert!(got == big, "the echo of a message sent in two halves differs")
            }
            other => panic!("expected the 4 MiB echo, got {:?}", other.map(|_| "another event")),
        }
    }
}

#[test]
fn a_message_that_stops_halfway_is_closed_with_1008() {
    let mut c = Client::connect(impatient_server(), false);
    c.strict_eof = false;
    let frames = c.encode(wsmachine::MessageKind::Binary, &pattern(10_000, 4));
    std::io::Write::write_all(&mut c.sock, &frames[..5000]).unwrap();
    let start = Instant::now();
    match c.next() {
        Some(wsmachine::OwnedEvent::Close(Some((code, _)))) => assert_eq!(code, wsmachine::CloseCode::POLICY_VIOLATION),
        other => panic!("expected Close 1008, got {other:?}"),
    }
    assert_eq!(c.next(), None, "then the server closes TCP");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_silent_peer_is_pinged_then_dropped() {
    let c = Client::connect(impatient_server(), false);
    let start = Instant::now();
    // Read the socket itself: the client's `next` would answer the ping.
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut &c.sock, &mut got).unwrap();
    assert_eq!(got, [0x89, 0x00], "one empty ping (RFC 6455 §5.5.2), then the end of the stream");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "{took:?}");
}
