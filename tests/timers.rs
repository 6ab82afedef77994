//! Time as input: keepalive, the close-handshake timeout, message and write-stall deadlines, each
//! armed from the `now` of the call that armed it (RFC 6455 §5.5.2, §7.1.1; issue #15, #17).
#![cfg(feature = "alloc")]

mod common;

use common::*;
use core::time::Duration;
use wsmachine::*;

#[test]
fn keepalive_and_dead_peer_detection() {
    let cfg = Config::default().keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
    let mut s = Connection::server(cfg);
    // The clock starts at the first time given: the first ping is due 30 s after it.
    assert_eq!(s.handle_timeout(Duration::from_secs(1)), None);
    assert_eq!(s.poll_timeout(Duration::from_secs(1)), Some(Duration::from_secs(31)));
    // Traffic at t=20 moves the ping.
    s.handle_timeout(Duration::from_secs(20));
    feed(&mut s, &[0x8a, 0x80, 0, 0, 0, 0], &[]);
    assert_eq!(s.poll_timeout(Duration::from_secs(20)), Some(Duration::from_secs(50)));
    assert_eq!(s.handle_timeout(Duration::from_secs(50)), Some(Timeout::KeepalivePing));
    assert_eq!(drain(&mut s), b"\x89\x00");
    assert_eq!(s.poll_timeout(Duration::from_secs(50)), Some(Duration::from_secs(60)));
    assert_eq!(s.handle_timeout(Duration::from_secs(60)), Some(Timeout::PeerUnresponsive));
    assert_eq!(s.state(), State::TimedOut);
    assert!(s.should_close_transport());
    assert_eq!(s.poll_timeout(Duration::from_secs(60)), None);
}

#[test]
fn close_handshake_timeout() {
    let mut c = Connection::client_with_test_masks(
        Config::default().close_timeout(Some(Duration::from_secs(5))),
        counter_mask(),
    );
    c.handle_timeout(Duration::from_secs(100));
    c.close_vec(CloseCode::NORMAL, "", &mut Vec::new()).unwrap();
    assert_eq!(c.poll_timeout(Duration::from_secs(100)), Some(Duration::from_secs(105)));
    assert!(!c.should_close_transport());
    assert_eq!(c.handle_timeout(Duration::from_secs(104)), None);
    assert_eq!(c.handle_timeout(Duration::from_secs(105)), Some(Timeout::CloseHandshake));
    assert!(c.should_close_transport());
}

/// A large frame arriving slowly waits unused in a `RecvBuffer`, yet its bytes are traffic: no
/// keepalive ping and no dead-peer verdict while they keep coming. Looking again at the same
/// bytes is not traffic: a peer that goes silent mid-frame is still found out.
#[test]
fn a_frame_waiting_in_a_recv_buffer_counts_as_traffic() {
    let cfg = Config::default().keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
    for text in [false, true] {
        let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
        let mut wire = Vec::new();
        for _ in 0..2 {
            if text {
                client.send_text_vec(&"a".repeat(100_000), &mut wire).unwrap();
            } else {
                client.send_binary_vec(&[7; 100_000], &mut wire).unwrap();
            }
        }
        let mut s = Connection::server(cfg);
        let mut buf = RecvBuffer::new();
        let mut rest = &wire[..];
        let (mut t, mut messages) = (0, 0);
        // 2 KiB a second: the first frame takes 50 s, more than interval and timeout together.
        while messages == 0 {
            t += 1;
            assert_eq!(s.handle_timeout(Duration::from_secs(t)), None, "t = {t} s");
            let space = buf.spare(&s);
            let n = space.len().min(2048);
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            buf.filled(n);
            while let Some(event) = buf.next(&mut s).unwrap() {
                assert!(matches!(event, Event::Message(m) if m.as_bytes().len() == 100_000));
                messages += 1;
            }
        }
        assert!(t >= 49, "{t}");
        // The second frame stops after a few reads; the driver keeps polling what it has.
        for _ in 0..3 {
            t += 1;
            s.handle_timeout(Duration::from_secs(t));
            let space = buf.spare(&s);
            let n = space.len().min(2048);
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            buf.filled(n);
            assert!(buf.next(&mut s).unwrap().is_none());
            // The drive loop asks for its next wakeup after each round: the bytes count as
            // traffic at this `now`.
            s.poll_timeout(Duration::from_secs(t));
        }
        let last = t;
        let mut timeouts = Vec::new();
        while s.state() != State::TimedOut && t < last + 100 {
            t += 1;
            assert!(buf.next(&mut s).unwrap().is_none());
            if let Some(timeout) = s.handle_timeout(Duration::from_secs(t)) {
                timeouts.push((timeout, t - last));
            }
        }
        assert_eq!(timeouts, [(Timeout::KeepalivePing, 30), (Timeout::PeerUnresponsive, 40)], "text: {text}");
    }
}

/// The read that leaves bytes waiting may first use a frame before them (here a fragment, put
/// in the assembly, then the first byte of the next fragment's header): only the waiting bytes
/// are counted as seen, so the next byte is traffic.
#[test]
fn bytes_waiting_after_a_read_that_used_a_frame_before_them_count_as_traffic() {
    let cfg = Config::default().keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
    let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
    let mut wire = vec![0; 200];
    let n = client.send_fragment(MessageKind::Binary, &[1; 100], false, &mut wire).unwrap();
    wire.truncate(n);
    let mut last = vec![0; 10_100];
    let n = client.send_fragment(MessageKind::Binary, &[2; 10_000], true, &mut last).unwrap();
    wire.extend_from_slice(&last[..n]);
    let mut s = Connection::server(cfg);
    let mut buf = RecvBuffer::new();
    // At 1 s: the first fragment and a byte of the second's 8-byte header; at 25 s: one more
    // byte; the rest at 40 s.
    let mut fed = 0;
    for (t, end, waiting) in [(1, 106 + 1, 1), (25, 106 + 2, 2), (40, wire.len(), 0)] {
        let now = Duration::from_secs(t);
        assert_eq!(s.handle_timeout(now), None, "t = {t} s: the last traffic was at most 24 s ago");
        while fed < end {
            let space = buf.spare(&s);
            let n = space.len().min(end - fed);
            space[..n].copy_from_slice(&wire[fed..fed + n]);
            buf.filled(n);
            fed += n;
        }
        let event = buf.next(&mut s).unwrap().map(|e| e.into_owned());
        s.poll_timeout(now);
        assert_eq!(buf.unused().len(), waiting, "t = {t} s");
        if t == 40 {
            let mut whole = vec![1; 100];
            whole.extend_from_slice(&[2; 10_000]);
            assert_eq!(event, Some(OwnedEvent::Binary(whole)));
        } else {
            assert_eq!(event, None, "t = {t} s");
        }
    }
}

/// `Duration::MAX` reads as "never": deadlines saturate instead of overflowing.
#[test]
fn timers_of_duration_max_never_fire_and_never_overflow() {
    let cfg = Config::default().close_timeout(Some(Duration::MAX)).keepalive(Some(Duration::MAX), Duration::MAX);
    let mut c = Connection::client_with_test_masks(cfg, counter_mask());
    let late = Duration::from_secs(1 << 40);
    assert_eq!(c.handle_timeout(late), None);
    feed(&mut c, &[0x8a, 0x00], &[]); // traffic moves the keepalive base to `late`
    assert_eq!(c.poll_timeout(late), Some(Duration::MAX));
    assert_eq!(c.handle_timeout(late + Duration::from_secs(1)), None);
    c.close_vec(CloseCode::NORMAL, "", &mut Vec::new()).unwrap();
    assert_eq!(c.poll_timeout(late + Duration::from_secs(1)), Some(Duration::MAX));
    assert_eq!(c.handle_timeout(Duration::MAX - Duration::from_secs(1)), None);
    assert!(!c.should_close_transport());

    // A ping due 1 s after the clock started, with a pong timeout of "never".
    let cfg = Config::default().keepalive(Some(Duration::from_secs(1)), Duration::MAX);
    let mut s = Connection::server(cfg);
    assert_eq!(s.handle_timeout(late), None);
    assert_eq!(s.handle_timeout(late + Duration::from_secs(1)), Some(Timeout::KeepalivePing));
    assert_eq!(s.poll_timeout(late + Duration::from_secs(1)), Some(Duration::MAX));
    assert_eq!(s.handle_timeout(Duration::MAX - Duration::from_secs(1)), None);
}

/// The stale-clock scenarios of the API issue: a driver that last gave the time at 0 s and
/// then closes, or receives, at 1000 s. Deadlines count from the time of the call that armed
/// them (1000 s), never from a remembered clock.
#[test]
fn deadlines_count_from_the_call_that_armed_them_not_from_a_stale_clock() {
    let secs = Duration::from_secs;
    // Close at 1000 s, keepalive off: the close deadline is 1010 s.
    let mut s = Connection::server(Config::default().close_timeout(Some(secs(10))));
    assert_eq!(s.handle_timeout(secs(0)), None);
    s.close_vec(CloseCode::NORMAL, "", &mut Vec::new()).unwrap();
    assert_eq!(s.poll_timeout(secs(1000)), Some(secs(1010)));
    assert_eq!(s.handle_timeout(secs(1000)), None, "not timed out at once");
    assert_eq!(s.handle_timeout(secs(1009)), None);
    assert_eq!(s.handle_timeout(secs(1010)), Some(Timeout::CloseHandshake));

    // The same when the driver wakes with `handle_timeout` first.
    let mut s = Connection::server(Config::default().close_timeout(Some(secs(10))));
    assert_eq!(s.handle_timeout(secs(0)), None);
    s.close_vec(CloseCode::NORMAL, "", &mut Vec::new()).unwrap();
    assert_eq!(s.handle_timeout(secs(1000)), None);
    assert_eq!(s.poll_timeout(secs(1000)), Some(secs(1010)));

    // Keepalive: input read at 1000 s moves the next ping to 1030 s (not 30 s).
    let mut s = Connection::server(Config::default().close_timeout(None).keepalive(Some(secs(30)), secs(10)));
    assert_eq!(s.handle_timeout(secs(0)), None);
    assert_eq!(s.poll_timeout(secs(0)), Some(secs(30)));
    feed(&mut s, &masked(0x8a, 0, b""), &[]); // a pong, read at 1000 s
    assert_eq!(s.poll_timeout(secs(1000)), Some(secs(1030)));
    assert_eq!(s.handle_timeout(secs(1000)), None, "no ping at once");
    assert_eq!(s.handle_timeout(secs(1029)), None);
    assert_eq!(s.handle_timeout(secs(1030)), Some(Timeout::KeepalivePing));
}

const MESSAGE_CLOSE: &[u8] = b"\x88\x02\x03\xf0"; // a server's Close with 1008 (§7.4.1)

/// The message deadline runs from the first timed call after the message's first header was
/// taken (not from an earlier call) and is inclusive like every timer: the last byte must be
/// taken before `start + message_timeout`; at that instant `handle_timeout` fails the
/// connection with 1008. Pings and continuations in between do not move it; a message that
/// ends stops it, and the next message starts its own. Each of a fragmented message and a
/// single frame cut short, in both delivery modes.
#[test]
fn message_deadline_boundaries() {
    let (secs, ms) = (Duration::from_secs, Duration::from_millis);
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        for fragmented in [true, false] {
            for (last_byte, verdict) in [(ms(4999), None), (ms(5000), Some(Timeout::MessageIncomplete))] {
                let what = format!("{delivery:?}, fragmented {fragmented}, last byte at start + {last_byte:?}");
                let cfg = Config::default().delivery(delivery).message_timeout(Some(secs(5)));
                let mut s = Connection::server(cfg);
                let mut assembly = Assembly::new();
                let mut events = Vec::new();
                assert_eq!(s.handle_timeout(secs(100)), None);
                assert_eq!(s.poll_timeout(secs(100)), None, "no message, no deadline");
                // The first header arrives after the call at 100 s: the message starts at
                // the next timed call, 103 s.
                let (first, middle, last) = if fragmented {
                    (masked(0x01, 3, b"abc"), masked(0x00, 1, b"d"), masked(0x80, 2, b"ef"))
                } else {
                    let frame = masked(0x81, 6, b"abcdef");
                    (frame[..9].to_vec(), frame[9..10].to_vec(), frame[10..].to_vec())
                };
                let out = feed_with(&mut s, &mut assembly, &first, &[]);
                events.extend(out.events);
                assert_eq!(s.poll_timeout(secs(103)), Some(secs(108)), "{what}");
                // A ping in between (between fragments, or before the rest of the frame when
                // fragmented) and more of the message: the deadline stays.
                assert_eq!(s.handle_timeout(secs(105)), None);
                if fragmented {
                    let out = feed_with(&mut s, &mut assembly, &masked(0x89, 1, b"p"), &[]);
                    assert_eq!(out.events, vec![OwnedEvent::Ping(b"p".to_vec())]);
                    assert_eq!(out.transmitted, b"\x8a\x01p");
                }
                events.extend(feed_with(&mut s, &mut assembly, &middle, &[]).events);
                assert_eq!(s.poll_timeout(secs(106)), Some(secs(108)), "{what}");
                // The driver wakes when the last bytes come, handles the timers, then reads.
                let t = secs(103) + last_byte;
                assert_eq!(s.handle_timeout(t), verdict, "{what}");
                let out = feed_with(&mut s, &mut assembly, &last, &[]);
                events.extend(out.events);
                assert_eq!(out.error, None, "{what}");
                if verdict.is_none() {
                    assert_eq!(normalise(&events), vec![OwnedEvent::Text("abcdef".into())], "{what}");
                    assert_eq!(s.poll_timeout(t), None, "{what}: the deadline stopped with the message");
                    assert_eq!(s.handle_timeout(secs(108)), None, "{what}");
                    // The next message has its own deadline, from its own start.
                    feed_with(&mut s, &mut assembly, &first, &[]);
                    assert_eq!(s.poll_timeout(secs(200)), Some(secs(205)), "{what}");
                    assert_eq!(s.handle_timeout(secs(205)), Some(Timeout::MessageIncomplete), "{what}");
                    assert_eq!(drain(&mut s), MESSAGE_CLOSE, "{what}");
                } else {
                    // Failed with 1008: the Close went out with the read's replies, the last
                    // bytes were ignored.
                    assert_eq!(normalise(&events), vec![], "{what}");
                    assert_eq!(out.transmitted, MESSAGE_CLOSE, "{what}");
                }
                assert_eq!(s.state(), State::Failed(CloseCode::POLICY_VIOLATION), "{what}");
                assert!(s.should_close_transport());
            }
        }
    }
}

/// After `MessageIncomplete` the connection has failed like after a protocol violation: the
/// Close (1008) waits for `poll_transmit`, sends are refused, input is ignored, and the close
/// timer runs from the first timed call after the Close went out.
#[test]
fn after_a_message_timeout_the_connection_has_failed() {
    let secs = Duration::from_secs;
    let cfg = Config::default().message_timeout(Some(secs(5))).close_timeout(Some(secs(3)));
    let mut s = Connection::server(cfg);
    assert!(read_one(&mut s, &masked(0x02, 1, b"a")).unwrap().is_none());
    assert_eq!(s.handle_timeout(secs(1)), None);
    assert_eq!(s.handle_timeout(secs(6)), Some(Timeout::MessageIncomplete));
    assert_eq!(s.state(), State::Failed(CloseCode::POLICY_VIOLATION));
    assert!(s.wants_write());
    assert!(!s.should_close_transport(), "the Close is not out yet");
    assert_eq!(s.poll_timeout(secs(6)), None, "the close timer starts when the Close is written");
    assert_eq!(s.handle_timeout(secs(6)), None, "one verdict");
    let mut out = [0u8; 64];
    assert_eq!(s.send_text("late", &mut out), Err(SendError::Closed));
    assert_eq!(s.ping(b"", &mut out), Err(SendError::Closed));
    assert_eq!(s.close(CloseCode::NORMAL, "", &mut out), Err(SendError::Closed));
    let mut input = [masked(0x80, 1, b"b"), masked(0x81, 1, b"c")].concat();
    let len = input.len();
    let mut assembly = Assembly::new();
    let read = s.read(&mut input, &mut assembly).unwrap();
    assert_eq!((read.consumed, read.event), (len, None), "input is ignored");
    assert_eq!(drain(&mut s), MESSAGE_CLOSE);
    assert!(s.should_close_transport());
    assert_eq!(s.poll_timeout(secs(7)), Some(secs(10)));
    assert_eq!(s.handle_timeout(secs(10)), Some(Timeout::CloseHandshake));
    assert_eq!(s.state(), State::TimedOut);
    assert_eq!(s.poll_timeout(secs(10)), None);
}

/// A message cut short by the peer's Close can never end: no deadline runs for it after the
/// Close (input is no longer taken, §5.5.1), and the closing handshake goes on as usual.
#[test]
fn no_message_deadline_after_the_peers_close() {
    let secs = Duration::from_secs;
    let cfg = Config::default().message_timeout(Some(secs(5))).close_timeout(None);
    let mut s = Connection::server(cfg);
    feed(&mut s, &masked(0x01, 1, b"a"), &[]);
    assert_eq!(s.poll_timeout(secs(1)), Some(secs(6)));
    let out = feed(&mut s, &masked(0x88, 2, b"\x03\xe8"), &[]);
    assert_eq!(out.transmitted, b"\x88\x02\x03\xe8");
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.poll_timeout(secs(2)), None);
    assert_eq!(s.handle_timeout(secs(60)), None);
    assert_eq!(s.state(), State::Closed);
}

/// A frame that waits whole in a `RecvBuffer` (left unused until all of it is there) is a
/// message started: the deadline counts from the first timed call after its header arrived, is
/// not restarted by looking at it again or by more of its bytes (traffic, which keeps the
/// keepalive quiet: `a_frame_waiting_in_a_recv_buffer_counts_as_traffic`, but no progress that
/// matters), and fails the connection with 1008. Binary and text (whose bytes are checked as
/// they arrive).
#[test]
fn a_frame_waiting_in_a_recv_buffer_with_only_its_header_fails_with_1008() {
    let (secs, ms) = (Duration::from_secs, Duration::from_millis);
    let cfg = Config::default().message_timeout(Some(secs(5))).close_timeout(Some(secs(1)));
    for (text, more) in [(false, 0), (true, 0), (false, 1000), (true, 1000)] {
        let what = format!("text {text}, {more} payload bytes after the header");
        let wire = client_frames(|c, out| {
            if text {
                c.send_text_vec(&"a".repeat(100_000), out).unwrap();
            } else {
                c.send_binary_vec(&[7; 100_000], out).unwrap();
            }
        });
        let mut s = Connection::server(cfg);
        let mut buf = RecvBuffer::new();
        let mut rest = &wire[..];
        assert_eq!(s.handle_timeout(secs(10)), None);
        assert_eq!(arrive(&mut buf, &mut s, &mut rest, 14), []); // the header of a 100 000-byte frame
        assert_eq!(buf.unused().len(), 14, "{what}: the frame waits");
        assert_eq!(s.poll_timeout(secs(11)), Some(secs(16)), "{what}");
        let mut t = secs(11);
        // The peer sends `more` bytes a second, then nothing: looking again is no new start.
        while t < ms(15_999) {
            t = (t + secs(1)).min(ms(15_999));
            assert_eq!(s.handle_timeout(t), None, "{what}, t = {t:?}");
            assert_eq!(arrive(&mut buf, &mut s, &mut rest, more), []);
            s.poll_timeout(t);
        }
        assert_eq!(s.poll_timeout(t), Some(secs(16)), "{what}");
        assert_eq!(s.handle_timeout(secs(16)), Some(Timeout::MessageIncomplete), "{what}");
        assert_eq!(s.state(), State::Failed(CloseCode::POLICY_VIOLATION));
        assert_eq!(drain(&mut s), MESSAGE_CLOSE, "{what}");
        assert!(s.should_close_transport());
        // Later bytes, even the rest of the frame, are ignored.
        let n = rest.len().min(buf.spare(&s).len());
        assert_eq!(arrive(&mut buf, &mut s, &mut rest, n), []);
        assert_eq!(s.state(), State::Failed(CloseCode::POLICY_VIOLATION));
        assert_eq!(s.poll_timeout(secs(16)), Some(secs(17)), "{what}: the close timer");
    }
}

/// Moves the next `n` bytes of `rest` into `buf` (one transport read) and reads all it can;
/// returns the sizes of the messages delivered.
fn arrive(buf: &mut RecvBuffer, s: &mut Connection, rest: &mut &[u8], n: usize) -> Vec<usize> {
    let space = buf.spare(s);
    space[..n].copy_from_slice(&rest[..n]);
    *rest = &rest[n..];
    buf.filled(n);
    let mut sizes = Vec::new();
    while let Some(event) = buf.next(s).unwrap() {
        match event {
            Event::Message(m) => sizes.push(m.as_bytes().len()),
            other => panic!("{other:?}"),
        }
    }
    sizes
}

/// A waiting frame that is whole in time is delivered and stops its deadline (whichever path
/// delivers it); the next waiting frame starts a deadline of its own, from its own header.
#[test]
fn a_waiting_frame_delivered_in_time_stops_its_deadline() {
    let (secs, ms) = (Duration::from_secs, Duration::from_millis);
    let cfg = Config::default().message_timeout(Some(secs(5)));
    // 1000 bytes: whole, such a frame could take the fast path (16-bit length).
    for (text, len) in [(false, 1000), (true, 1000), (false, 100_000), (true, 100_000)] {
        let what = format!("text {text}, {len} bytes");
        let wire = client_frames(|c, out| {
            for _ in 0..2 {
                if text {
                    c.send_text_vec(&"a".repeat(len), out).unwrap();
                } else {
                    c.send_binary_vec(&vec![7; len], out).unwrap();
                }
            }
        });
        let frame_len = wire.len() / 2;
        let mut s = Connection::server(cfg);
        let mut buf = RecvBuffer::with_read_size(1 << 20);
        let mut rest = &wire[..];
        let mut messages = Vec::new();
        messages.extend(arrive(&mut buf, &mut s, &mut rest, 20));
        assert_eq!(s.poll_timeout(secs(1)), Some(secs(6)), "{what}");
        assert_eq!(s.handle_timeout(ms(5999)), None);
        messages.extend(arrive(&mut buf, &mut s, &mut rest, frame_len - 20));
        assert_eq!(messages, [len], "{what}");
        assert_eq!(s.poll_timeout(ms(5999)), None, "{what}: delivered, the deadline stopped");
        assert_eq!(s.handle_timeout(secs(6)), None, "{what}");
        // The second frame's header arrives after 20 s.
        assert_eq!(s.handle_timeout(secs(20)), None);
        messages.extend(arrive(&mut buf, &mut s, &mut rest, 20));
        assert_eq!(s.poll_timeout(secs(21)), Some(secs(26)), "{what}");
        assert_eq!(s.handle_timeout(ms(25_999)), None, "{what}");
        assert_eq!(s.handle_timeout(secs(26)), Some(Timeout::MessageIncomplete), "{what}");
        assert_eq!(messages, [len]);
    }
}

/// Write stall: `output_blocked` starts the timer, armed from the next timed call; calling it
/// again while blocked does not restart it; `output_drained` stops it. Blocked past the limit
/// (inclusive, like every timer), the connection is `TimedOut`: no Close (the peer does not
/// read), close the transport, sends refused, input ignored, no more timers.
#[test]
fn write_stall_deadline() {
    let (secs, ms) = (Duration::from_secs, Duration::from_millis);
    // Not configured: reporting changes nothing.
    let mut s = server();
    s.output_blocked();
    assert_eq!(s.poll_timeout(secs(1)), None);
    assert_eq!(s.handle_timeout(secs(1000)), None);

    let mut s = Connection::server(Config::default().write_stall_timeout(Some(secs(5))));
    assert_eq!(s.handle_timeout(secs(1)), None);
    s.output_blocked(); // blocked since the call at 1 s: armed at the next one, 10 s
    assert_eq!(s.poll_timeout(secs(10)), Some(secs(15)));
    assert_eq!(s.handle_timeout(secs(12)), None);
    s.output_blocked(); // still blocked: the deadline stays
    assert_eq!(s.poll_timeout(secs(12)), Some(secs(15)));
    assert_eq!(s.handle_timeout(ms(14_999)), None);
    s.output_drained(); // everything was written just in time
    assert_eq!(s.poll_timeout(ms(14_999)), None);
    assert_eq!(s.handle_timeout(secs(15)), None);
    assert_eq!(s.state(), State::Open);
    // Blocked again at 20 s: a deadline of its own.
    s.output_blocked();
    assert_eq!(s.handle_timeout(secs(20)), None);
    assert_eq!(s.poll_timeout(secs(20)), Some(secs(25)));
    assert_eq!(s.handle_timeout(ms(24_999)), None);
    assert_eq!(s.handle_timeout(secs(25)), Some(Timeout::WriteStalled));
    assert_eq!(s.state(), State::TimedOut);
    assert!(s.should_close_transport());
    assert!(!s.wants_write(), "no Close for a peer that does not read");
    assert_eq!(s.poll_timeout(secs(25)), None);
    assert_eq!(s.handle_timeout(secs(1000)), None);
    let mut out = [0u8; 64];
    assert_eq!(s.send_text("late", &mut out), Err(SendError::Closed));
    assert_eq!(s.send_binary(b"late", &mut out), Err(SendError::Closed));
    assert_eq!(s.pong(b"", &mut out), Err(SendError::Closed));
    assert_eq!(s.close(CloseCode::NORMAL, "", &mut out), Err(SendError::Closed));
    let mut input = masked(0x89, 1, b"p");
    let mut assembly = Assembly::new();
    let read = s.read(&mut input, &mut assembly).unwrap();
    assert_eq!((read.consumed, read.event), (7, None), "input is ignored");
    assert!(!s.wants_write(), "no pong");
    assert_eq!(s.read_eof(), Err(ProtocolError::AbnormalClosure));
    assert_eq!(s.state(), State::TimedOut);
}

/// The write-stall timer runs in the closing handshake too (our Close may be what piles up):
/// whichever of it and the close timer is due first decides, and the other never fires.
#[test]
fn write_stall_during_the_closing_handshake() {
    let secs = Duration::from_secs;
    for (stall, expected) in [(2, Timeout::WriteStalled), (4, Timeout::CloseHandshake)] {
        let cfg = Config::default().write_stall_timeout(Some(secs(stall))).close_timeout(Some(secs(3)));
        let mut c = Connection::client_with_test_masks(cfg, counter_mask());
        c.handle_timeout(secs(1));
        c.close_vec(CloseCode::NORMAL, "", &mut Vec::new()).unwrap();
        c.output_blocked();
        assert_eq!(c.poll_timeout(secs(1)), Some(secs(1 + stall.min(3))));
        assert_eq!(c.handle_timeout(secs(1 + stall.min(3))), Some(expected));
        assert_eq!(c.state(), State::TimedOut);
        assert_eq!(c.poll_timeout(secs(10)), None);
        assert_eq!(c.handle_timeout(secs(10)), None, "one verdict: the other timer is over too");
    }
    // After the end of the stream no timer runs: the transport is to be closed anyway.
    let mut s = Connection::server(Config::default().write_stall_timeout(Some(secs(2))));
    s.output_blocked();
    assert_eq!(s.poll_timeout(secs(1)), Some(secs(3)));
    assert_eq!(s.read_eof(), Err(ProtocolError::AbnormalClosure));
    assert_eq!(s.poll_timeout(secs(1)), None);
    assert_eq!(s.handle_timeout(secs(3)), None);
    assert_eq!(s.state(), State::Failed(CloseCode::ABNORMAL));
}
