//! Zero heap allocations per message in the steady state, counted by a global allocator.
#![cfg(feature = "std")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wsmachine::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: isize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + (bytes > 0) as usize));
    let _ = LIVE_BYTES.try_with(|n| n.set(n.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + (new_size <= layout.size()) as usize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// 64 masked client messages of `len` bytes each, alternating text and binary.
fn client_stream(len: usize) -> Vec<u8> {
    let mut client = Connection::client(Config::default(), ChaChaMask::from_seed([3; 32]));
    let text = "a".repeat(len);
    let mut wire = Vec::new();
    for i in 0..64 {
        if i % 2 == 0 {
            client.send_text_vec(&text, &mut wire).unwrap();
        } else {
            client.send_binary_vec(text.as_bytes(), &mut wire).unwrap();
        }
    }
    wire
}

/// Feeds `wire` in reads of `read_size` bytes and counts messages.
fn receive(server: &mut Connection, wire: &mut [u8], read_size: usize) -> usize {
    let mut messages = 0;
    for piece in wire.chunks_mut(read_size) {
        let mut at = 0;
        loop {
            let read = server.read(&mut piece[at..]).unwrap();
            at += read.consumed;
            match read.event {
                Some(Event::Message(m)) => {
                    assert!(!m.as_bytes().is_empty());
                    messages += 1;
                }
                Some(Event::Chunk(c)) => messages += c.last as usize,
                Some(_) => {}
                None => break,
            }
        }
    }
    messages
}

#[test]
fn receiving_allocates_nothing_per_message_in_the_steady_state() {
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        // Whole messages in one buffer, and messages split across 1000-byte reads.
        for (len, read_size) in [(16, usize::MAX), (1000, usize::MAX), (16, 1000), (3000, 1000)] {
            let pristine = client_stream(len);
            let mut server = Connection::server(Config::default().delivery(delivery));
            let mut warm = pristine.clone();
            assert_eq!(receive(&mut server, &mut warm, read_size.min(pristine.len())), 64);
            let mut wire = pristine.clone();
            let before = allocations();
            let n = receive(&mut server, &mut wire, read_size.min(pristine.len()));
            let after = allocations();
            assert_eq!(n, 64);
            assert_eq!(after - before, 0, "{delivery:?}, {len}-byte messages, reads of {read_size}");
        }
    }
}

#[test]
fn sending_allocates_nothing() {
    let mut client = Connection::client(Config::default(), ChaChaMask::from_seed([1; 32]));
    let mut server = Connection::server(Config::default());
    let payload = vec![7u8; 1024];
    let mut out = vec![0u8; 2048];
    let before = allocations();
    for _ in 0..100 {
        client.send_binary(&payload, &mut out).unwrap();
        server.send_binary(&payload, &mut out).unwrap();
        client.ping(b"p").unwrap();
        client.poll_transmit(&mut out);
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn connection_size_is_small() {
    let size = std::mem::size_of::<Connection>();
    println!("size_of::<Connection>() = {size} bytes");
    println!("size_of::<Connection<ChaChaMask>>() = {} bytes", std::mem::size_of::<Connection<ChaChaMask>>());
    assert!(size <= 1024, "Connection grew to {size} bytes");
}

#[test]
fn a_header_announcing_a_terabyte_is_refused_without_allocating() {
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        let mut server = Connection::server(Config::default().delivery(delivery));
        let mut header = [0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]; // 2^40 bytes
        let before = allocations();
        let result = server.read(&mut header).map(|r| r.consumed);
        let mut out = [0u8; 16];
        let n = server.poll_transmit(&mut out);
        assert_eq!(allocations() - before, 0);
        assert_eq!(result, Err(ProtocolError::FrameTooLarge));
        assert_eq!(&out[..n], b"\x88\x02\x03\xf1", "close 1009");
    }
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

#[cfg(feature = "deflate")]
#[test]
fn memory_per_connection_with_deflate() {
    use wsmachine::deflate::DeflateConfig;
    for (name, cfg) in [
        ("15-bit windows", DeflateConfig::new()),
        ("10-bit windows", DeflateConfig::new().max_window_bits(10)),
        ("no context takeover", DeflateConfig::new().no_context_takeover(true)),
    ] {
        let params = cfg.accept_offer([("client_max_window_bits", None)]).unwrap();
        let before = live_bytes();
        let mut server = Connection::server(Config::default()).with_deflate(&params);
        let mut client = Connection::client(Config::default(), ChaChaMask::from_seed([2; 32])).with_deflate(&params);
        let after_setup = live_bytes() - before;
        // One compressed message each way brings the windows in use.
        let mut wire = Vec::new();
        client.send_text_vec(&"hello ".repeat(100), &mut wire).unwrap();
        assert!(matches!(server.read(&mut wire).unwrap().event, Some(Event::Message(_))));
        let in_use = live_bytes() - before;
        println!(
            "deflate, {name}: {} bytes per connection pair after setup, {} after one message",
            after_setup, in_use
        );
        assert!(in_use < 1 << 20, "{in_use}");
        if name == "no context takeover" {
            // The DEFLATE state is released after each message (RFC 7692 §7.1.1); what
            // remains are the reusable message buffers (assembly and scratch, ~16 KiB each).
            assert!(in_use < 48 << 10, "{in_use}");
        }
        drop((server, client));
    }
}

/// `Config::in_place_up_to`: a large frame arriving in small reads is left in the caller's
/// buffer until whole, then delivered in place: no assembly copy, no allocation at all.
#[test]
fn in_place_mode_delivers_large_split_frames_without_copying() {
    let mut client = Connection::client(Config::default(), ChaChaMask::from_seed([4; 32]));
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    client.send_text_vec("small first", &mut wire).unwrap();
    client.send_binary_vec(&payload, &mut wire).unwrap();
    client.send_text_vec("small after", &mut wire).unwrap();

    let mut server = Connection::server(Config::default().in_place_up_to(1 << 20));
    let mut buf = vec![0u8; 256 * 1024]; // the driver's buffer, sized from `wanted()` up front here
    let (mut filled, mut start, mut fed) = (0, 0, 0);
    let mut seen = Vec::with_capacity(3);
    let before = allocations();
    while fed < wire.len() || start < filled {
        // "recv" at most 1000 bytes after the unused rest (moved to the front first).
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        let n = 1000.min(wire.len() - fed).min(buf.len() - filled);
        buf[filled..filled + n].copy_from_slice(&wire[fed..fed + n]);
        filled += n;
        fed += n;
        loop {
            let read = server.read(&mut buf[start..filled]).unwrap();
            start += read.consumed;
            match read.event {
                Some(Event::Message(m)) => seen.push(m.as_bytes().len()),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        if start < filled {
            assert!(server.wanted() <= buf.len(), "wanted {}", server.wanted());
        }
        if n == 0 && start < filled {
            panic!("stuck with {} bytes", filled - start);
        }
    }
    assert_eq!(allocations() - before, 0, "no assembly buffer was ever needed");
    assert_eq!(seen, vec![11, payload.len(), 11]);
}

/// The same through a `RecvBuffer`: once it has grown to the largest frame (first round),
/// further rounds of large in-place messages allocate nothing.
#[test]
fn recv_buffer_steady_state_allocates_nothing() {
    // The default `Config`: messages up to `retain_capacity` wait in the buffer, in place.
    let mut client = Connection::client(Config::default(), ChaChaMask::from_seed([5; 32]));
    let mut wire = Vec::new();
    for len in [200_000usize, 10, 70_000, 3, 150_000] {
        client.send_binary_vec(&vec![7u8; len], &mut wire).unwrap();
    }
    let mut server = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(64 * 1024);
    let round = |server: &mut Connection, buf: &mut RecvBuffer| {
        let (mut rest, mut bytes) = (&wire[..], 0);
        while !rest.is_empty() {
            let space = buf.spare(server);
            let n = space.len().min(rest.len()).min(64 * 1024);
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            buf.filled(n);
            while let Some(event) = buf.next(server).unwrap() {
                bytes += event_len(&event);
            }
        }
        bytes
    };
    assert_eq!(round(&mut server, &mut buf), 420_013);
    let before = allocations();
    for _ in 0..3 {
        assert_eq!(round(&mut server, &mut buf), 420_013);
    }
    assert_eq!(allocations() - before, 0);
}

fn event_len(event: &Event<'_>) -> usize {
    match event {
        Event::Message(m) => m.as_bytes().len(),
        other => panic!("unexpected {other:?}"),
    }
}
