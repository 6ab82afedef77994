//! The `echo_server` example's memory under load, with the server in-process: the server-wide
//! budget closes (1013) the connection that takes it over while the others go on, and the
//! server's live heap (counted by a global allocator, for the server thread only) comes back to
//! its idle figure after a 60 MiB message, plain and compressed.
#![cfg(all(feature = "std", feature = "deflate"))]

#[allow(dead_code)] // each test file uses a part of it
mod echo_support;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wsmachine::deflate::DeflateConfig;
use wsmachine::{CloseCode, MessageKind, OwnedEvent};

#[global_allocator]
static GLOBAL: CountingAlloc = COUNTING;

use echo_support::counting::{mark_server_thread, server_live, settle, steady, CountingAlloc, COUNTING, SERIAL};
use echo_support::{echo_server, Client, Server};

/// A client with permessage-deflate at compression `level` (`None`: no offer) that the server
/// may drop (a reset is an end of stream).
fn peer(addr: SocketAddr, level: Option<u32>) -> Client {
    let mut c = Client::connect_with(addr, level.map(|l| DeflateConfig::new().level(l)), &[]);
    c.strict_eof = false;
    c
}

#[test]
fn the_connection_that_takes_the_server_over_its_memory_budget_gets_1013() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Three peers each send 75% of a compressed 8 MiB message (about 6 MiB once inflated, in an
    // assembly of 8 MiB capacity): two fit in 20 MiB, the third does not.
    let opts = echo_server::Options { memory_budget: 20 << 20, max_ratio: None, ..Default::default() };
    let server = Server::start_with(opts, mark_server_thread);
    let zeros = vec![0u8; 8 << 20];
    let mut peers: Vec<(Client, Vec<u8>, usize)> = Vec::new();
    let mut encoded: Option<Vec<u8>> = None;
    for _ in 0..3 {
        let mut p = peer(server.addr, Some(9));
        // A fresh compressor's first message is the same on every connection: encode once (a
        // peer's later messages then reference no history, which the server inflates as well).
        let frames = encoded.get_or_insert_with(|| p.encode(MessageKind::Binary, &zeros)).clone();
        let cut = frames.len() * 3 / 4;
        p.sock.write_all(&frames[..cut]).unwrap();
        peers.push((p, frames, cut));
        // Let the server inflate it before the next peer starts.
        std::thread::sleep(Duration::from_millis(300));
    }
    let (mut third, _, _) = peers.pop().unwrap();
    let start = Instant::now();
    assert_eq!(
        third.next(),
        Some(OwnedEvent::Close(Some((CloseCode::TRY_AGAIN_LATER, "memory budget".into())))),
        "the third peer is over the budget"
    );
    assert_eq!(third.next(), None, "then the server closes TCP");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The two others go on: their messages complete and are echoed whole, and so is the next.
    for (p, frames, cut) in &mut peers {
        p.sock.write_all(&frames[*cut..]).unwrap();
        match p.next() {
            Some(OwnedEvent::Binary(got)) => assert!(got == zeros, "8 MiB echo differs"),
            Some(OwnedEvent::Close(c)) => panic!("expected the 8 MiB echo, got Close {c:?}"),
            other => panic!("expected the 8 MiB echo, got {:?}", other.map(|_| "another event")),
        }
        p.echo(b"still here");
    }
    // A newcomer is served too, now that the third connection's memory is back.
    peer(server.addr, Some(1)).echo(&[7; 100_000]);
}

/// `len` bytes: a 64 KiB block of xorshift noise repeated (too far apart for DEFLATE's 32 KiB
/// window to see), or a compressible pattern.
fn payload(len: usize, compressible: bool) -> Vec<u8> {
    let mut x = 0x2545_F491u32;
    let block: Vec<u8> = (0..65_536u32)
        .map(|i| {
            if compressible {
                return (i % 251) as u8;
            }
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = block.len().min(len - out.len());
        out.extend_from_slice(&block[..n]);
    }
    out
}

/// Echoes a warm-up message, then one of `len` bytes, and checks that the server thread's heap
/// is back where it was.
fn heap_comes_back(cases: &[(&str, Option<u32>, bool, usize)]) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start_with(echo_server::Options::default(), mark_server_thread);
    for &(name, level, compressible, len) in cases {
        let mut p = peer(server.addr, level);
        // Warm up: one message larger than `retain_capacity` (64 KiB) brings every buffer and
        // zlib state to what an idle connection keeps.
        p.echo(&payload(1 << 20, compressible));
        let idle = steady();
        p.echo(&payload(len, compressible));
        let after = settle(idle + 1024, Duration::from_secs(3));
        println!("{} MiB {name}: server heap {idle} B idle before, {after} B after", len >> 20);
        assert!(after <= idle + 1024, "{name}: the server holds {after} B after the echo, {idle} B before");
        p.echo(b"and small messages still work");
        drop(p);
    }
    // Once every connection is gone, the server is back to what it holds with none.
    let empty = settle(300 * 1024, Duration::from_secs(3));
    println!("no connections: {empty} B");
    assert!(empty <= 300 * 1024, "{empty} B with no connection (the 256 KiB read buffer and tables)");
}

#[test]
fn the_servers_heap_comes_back_to_its_idle_figure_after_a_60_mib_message() {
    // Compressed at 16 MiB here: a debug build takes about 12 s to echo 60 MiB compressed.
    heap_comes_back(&[("plain", None, false, 60 << 20), ("compressed", Some(1), true, 16 << 20)]);
}

#[test]
#[ignore = "about 12 s in a debug build (0.8 s in release); run with --ignored"]
fn the_servers_heap_comes_back_after_a_60_mib_compressed_message() {
    heap_comes_back(&[("compressed", Some(1), true, 60 << 20)]);
}

#[test]
fn after_a_storm_of_resets_mid_message_the_servers_heap_is_back_to_idle() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start_with(echo_server::Options::default(), mark_server_thread);
    let mut first = peer(server.addr, Some(1));
    first.echo(b"warm");
    // 4 waves of 30 peers: upgrade with permessage-deflate, half of a compressed 1 MiB message
    // (the server inflates it into an assembly), then a reset (SO_LINGER 0). The idle figure is
    // taken after the first wave, once the server's tables have grown to 31 connections (a
    // HashMap keeps its capacity).
    let data = payload(1 << 20, true);
    let (mut idle, mut frames) = (0, None);
    for w in 0..4 {
        let mut wave = Vec::new();
        for _ in 0..30 {
            let mut p = peer(server.addr, Some(1));
            // A fresh compressor's first message is the same on every connection: encode once.
            let frames = frames.get_or_insert_with(|| p.encode(MessageKind::Binary, &data));
            p.sock.write_all(&frames[..frames.len() / 2]).unwrap();
            wave.push(p);
        }
        std::thread::sleep(Duration::from_millis(200));
        let held = server_live();
        assert!(held > 30 * 47_552, "the peers' inflaters and assemblies are held: {held} B");
        for p in wave {
            let s = socket2::Socket::from(p.sock);
            s.set_linger(Some(Duration::ZERO)).unwrap();
        }
        if w == 0 {
            idle = steady();
        }
    }
    let after = settle(idle, Duration::from_secs(3));
    println!("reset storm: server heap {idle} B idle before, {after} B after");
    assert_eq!(after, idle, "the server's heap after 90 more resets mid-message");
    first.echo(b"still served");
}
