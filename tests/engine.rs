//! Whole conversations through the engine, in both roles (RFC 6455 §5–§7).
#![cfg(feature = "alloc")]

mod common;

use common::*;
use core::time::Duration;
use wsmachine::*;

fn server() -> Connection {
    Connection::server(Config::default())
}

/// A client whose keys count up (predictable, for tests).
type TestClient = Connection<TestMasks<Box<dyn FnMut() -> [u8; 4]>>>;

/// A masked client frame, built by a client connection with a counter mask.
fn client_frames(f: impl FnOnce(&mut TestClient, &mut Vec<u8>)) -> Vec<u8> {
    let mut client: TestClient = Connection::client_with_test_masks(Config::default(), Box::new(counter_mask()));
    let mut out = Vec::new();
    f(&mut client, &mut out);
    out
}

#[test]
fn rfc6455_section_5_7_single_frames() {
    // A masked "Hello" to a server.
    let mut s = server();
    let ev = read_one(&mut s, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]).unwrap();
    assert_eq!(ev, Some(OwnedEvent::Text("Hello".into())));
    // An unmasked "Hello" to a client.
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    assert_eq!(read_one(&mut c, b"\x81\x05Hello").unwrap(), Some(OwnedEvent::Text("Hello".into())));
    // Fragmented "Hel" + "lo" to a client.
    let out = feed(&mut c, b"\x01\x03Hel\x80\x02lo", &[]);
    assert_eq!(out.events, vec![OwnedEvent::Text("Hello".into())]);
    // An unmasked ping "Hello": the pong is queued, masked, with the same payload (§5.5.2).
    let out = feed(&mut c, b"\x89\x05Hello", &[]);
    assert_eq!(out.events, vec![OwnedEvent::Ping(b"Hello".to_vec())]);
    assert_eq!(&out.transmitted[..2], &[0x8a, 0x85]);
    let key = [out.transmitted[2], out.transmitted[3], out.transmitted[4], out.transmitted[5]];
    let mut payload = out.transmitted[6..].to_vec();
    mask::apply_mask(&mut payload, key, 0);
    assert_eq!(payload, b"Hello");
    // 256 bytes and 64 KiB of binary data in one unmasked frame.
    let mut frame = vec![0x82, 0x7E, 0x01, 0x00];
    frame.extend(std::iter::repeat_n(7u8, 256));
    assert_eq!(read_one(&mut c, &frame).unwrap(), Some(OwnedEvent::Binary(vec![7; 256])));
    let mut frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    frame.extend(std::iter::repeat_n(9u8, 65536));
    assert_eq!(read_one(&mut c, &frame).unwrap(), Some(OwnedEvent::Binary(vec![9; 65536])));
}

#[test]
fn server_sends_rfc_bytes() {
    let mut s = server();
    let mut out = [0u8; 300];
    let n = s.send_text("Hello", &mut out).unwrap();
    assert_eq!(&out[..n], b"\x81\x05Hello");
    let n = s.send_binary(&[0; 256], &mut out).unwrap();
    assert_eq!(&out[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(n, 260);
    let mut c = Connection::client_with_test_masks(Config::default(), || [0x37, 0xfa, 0x21, 0x3d]);
    let n = c.send_text("Hello", &mut out).unwrap();
    assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
}

#[test]
fn fragmented_messages_with_interleaved_pings_in_both_modes() {
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
        let mut wire = Vec::new();
        let mut buf = [0u8; 64];
        for (i, part) in ["κό", "σμε", " ", "𝄞"].iter().enumerate() {
            let n = client.send_fragment(MessageKind::Text, part.as_bytes(), i == 3, &mut buf).unwrap();
            wire.extend_from_slice(&buf[..n]);
            client.ping_vec(&[i as u8], &mut wire).unwrap();
        }
        for cut in 0..wire.len() {
            let mut s = Connection::server(Config::default().delivery(delivery));
            let out = feed(&mut s, &wire, &[cut]);
            assert_eq!(out.error, None);
            let events = normalise(&out.events);
            assert_eq!(events.len(), 5, "{delivery:?} cut {cut} {out:?}");
            let pings: Vec<_> = (0..4u8).map(|i| OwnedEvent::Ping(vec![i])).collect();
            assert_eq!(events[..3], pings[..3], "{delivery:?} cut {cut}");
            assert_eq!(events[3], OwnedEvent::Text("κόσμε 𝄞".into()));
            assert_eq!(events[4], pings[3]);
            // Four pongs went out, in order, unmasked.
            assert_eq!(out.transmitted, b"\x8a\x01\x00\x8a\x01\x01\x8a\x01\x02\x8a\x01\x03");
        }
    }
}

#[test]
fn client_initiated_close() {
    let mut pair =
        Pair { client: Connection::client_with_test_masks(Config::default(), counter_mask()), server: server() };
    let mut close = Vec::new();
    pair.client.close_vec(CloseCode::NORMAL, "done", &mut close).unwrap();
    assert_eq!(pair.client.state(), State::CloseSent);
    assert_eq!(pair.client.send_text("late", &mut [0; 64]), Err(SendError::Closed));
    assert!(drain(&mut pair.client).is_empty());
    let event = read_one(&mut pair.server, &close).unwrap();
    assert_eq!(event, Some(OwnedEvent::Close(Some((CloseCode::NORMAL, "done".into())))));
    assert_eq!(pair.server.state(), State::CloseReceived);
    assert!(!pair.server.should_close_transport(), "echo not sent yet");
    let echo = drain(&mut pair.server);
    assert_eq!(echo, b"\x88\x02\x03\xe8", "the code is echoed (§5.5.1)");
    assert_eq!(pair.server.state(), State::Closed);
    assert!(pair.server.should_close_transport(), "the server closes TCP first (§7.1.1)");
    let out = feed(&mut pair.client, &echo, &[]);
    assert_eq!(out.events, vec![OwnedEvent::Close(Some((CloseCode::NORMAL, String::new())))]);
    assert_eq!(pair.client.state(), State::Closed);
    assert!(!pair.client.should_close_transport(), "the client waits for the server's TCP close");
    assert_eq!(pair.client.read_eof(), Ok(()));
    assert!(pair.client.should_close_transport());
}

#[test]
fn server_initiated_close_and_data_after_close_is_ignored() {
    let mut pair =
        Pair { client: Connection::client_with_test_masks(Config::default(), counter_mask()), server: server() };
    let mut close = Vec::new();
    pair.server.close_vec(CloseCode::GOING_AWAY, "", &mut close).unwrap();
    let out = pair.deliver_to_client(&close);
    assert_eq!(out.events, vec![OwnedEvent::Close(Some((CloseCode::GOING_AWAY, String::new())))]);
    let echo = out.transmitted;
    assert_eq!(pair.client.peer_close_code(), Some(CloseCode::GOING_AWAY));
    // The client's echo, followed by data the server must ignore (§5.5.1).
    let late = client_frames(|c, out| {
        c.send_text_vec("ignored", out).unwrap();
    });
    let out = feed(&mut pair.server, &[echo, late.clone()].concat(), &[]);
    assert_eq!(out.events.len(), 1);
    assert!(matches!(out.events[0], OwnedEvent::Close(Some((CloseCode::GOING_AWAY, _)))));
    assert_eq!(pair.server.state(), State::Closed);
    assert!(pair.server.should_close_transport());
    assert_eq!(feed(&mut pair.server, &late, &[]).events, vec![]);
}

#[test]
fn close_without_status_is_reported_as_1005_and_echoed_empty() {
    let mut s = server();
    let out = feed(&mut s, &[0x88, 0x80, 1, 2, 3, 4], &[]);
    assert_eq!(out.events, vec![OwnedEvent::Close(None)]);
    assert_eq!(out.transmitted, b"\x88\x00");
    assert_eq!(s.peer_close_code(), Some(CloseCode::NO_STATUS));
}

/// Each malformed input, as a server would receive it, and the close code it must get.
/// A frame masked with a key of zeros (the payload goes on the wire as it is).
fn masked(b0: u8, len: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0, 0x80 | len, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

#[test]
fn failures_queue_the_close_code_the_rfc_names() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (masked(0xC1, 0, b""), ProtocolError::ReservedBits(0b100)),
        (masked(0x91, 0, b""), ProtocolError::ReservedBits(0b001)),
        (masked(0x83, 0, b""), ProtocolError::ReservedOpcode(3)),
        (masked(0x8B, 0, b""), ProtocolError::ReservedOpcode(0xB)),
        (masked(0x09, 0, b""), ProtocolError::FragmentedControlFrame),
        (vec![0x89, 0xFE, 0, 126], ProtocolError::ControlFrameTooLong),
        (vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], ProtocolError::InvalidLength),
        (b"\x81\x05Hello".to_vec(), ProtocolError::UnmaskedFrame),
        (masked(0x80, 1, b"a"), ProtocolError::UnexpectedContinuation),
        ([masked(0x01, 1, b"a"), masked(0x81, 1, b"b")].concat(), ProtocolError::ExpectedContinuation),
        (masked(0x81, 2, b"\xc3\x28"), ProtocolError::InvalidUtf8),
        (masked(0x81, 1, b"\xce"), ProtocolError::InvalidUtf8),
        (masked(0x88, 1, b"\x03"), ProtocolError::InvalidClosePayload),
        (masked(0x88, 2, b"\x03\xed"), ProtocolError::InvalidCloseCode(1005)),
        (masked(0x88, 2, b"\x03\xe7"), ProtocolError::InvalidCloseCode(999)),
        (masked(0x88, 2, b"\x03\xf8"), ProtocolError::InvalidCloseCode(1016)),
        (masked(0x88, 2, b"\x13\x88"), ProtocolError::InvalidCloseCode(5000)),
        (masked(0x88, 4, b"\x03\xe8\xff\xfe"), ProtocolError::InvalidUtf8),
        (vec![0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4], ProtocolError::FrameTooLarge),
    ];
    for (bytes, expected) in cases {
        for delivery in [Delivery::Assemble, Delivery::Stream] {
            let mut s = Connection::server(Config::default().delivery(delivery));
            let out = feed(&mut s, &bytes, &[]);
            assert_eq!(out.error, Some(expected), "{bytes:02x?}");
            let code = expected.close_code().0.to_be_bytes();
            assert_eq!(out.transmitted, [&[0x88, 0x02][..], &code].concat(), "{expected:?}");
            assert_eq!(s.state(), State::Failed(expected.close_code()));
            assert!(s.should_close_transport());
            // Further input is ignored.
            let mut more = masked(0x81, 1, b"x");
            let len = more.len();
            let mut assembly = Assembly::new();
            let read = s.read(&mut more, &mut assembly).unwrap();
            assert_eq!((read.consumed, read.event), (len, None));
        }
    }
    // A client must refuse masked frames.
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    assert_eq!(feed(&mut c, &masked(0x81, 0, b""), &[]).error, Some(ProtocolError::MaskedFrame));
}

#[test]
fn limits_are_checked_on_the_header_before_any_payload() {
    // A header announcing 2^40 bytes is refused at once, with 1009, and nothing is allocated.
    let mut s = Connection::server(Config::default().max_frame_payload(u64::MAX).max_message_len(1 << 20));
    let header = [0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 9, 9, 9, 9];
    let out = feed(&mut s, &header, &[]);
    assert_eq!(out.error, Some(ProtocolError::MessageTooLarge));
    assert_eq!(out.transmitted, b"\x88\x02\x03\xf1");
    // The message limit counts across fragments.
    let mut s = Connection::server(Config::default().max_len(10).delivery(Delivery::Stream));
    let mut wire = Vec::new();
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    wire.extend(frag(&mut c, b"123456", false));
    wire.extend(frag(&mut c, b"78901", true));
    let out = feed(&mut s, &wire, &[]);
    assert_eq!(normalise(&out.events), vec![]);
    assert_eq!(out.error, Some(ProtocolError::MessageTooLarge));
}

fn frag<M: MaskSource>(c: &mut Connection<M>, data: &[u8], fin: bool) -> Vec<u8> {
    let mut out = vec![0u8; data.len() + 14];
    let n = c.send_fragment(MessageKind::Binary, data, fin, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn invalid_utf8_fails_fast_inside_a_partial_frame() {
    // A 1000-byte text frame whose 3rd byte is invalid: only the first 10 bytes arrive.
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    let mut frame = vec![0x81, 0x7E, 0x03, 0xE8, b'a', b'b', 0xFF];
    frame.extend(std::iter::repeat_n(b'c', 997));
    let out = feed(&mut c, &frame[..10], &[]);
    assert_eq!(out.error, Some(ProtocolError::InvalidUtf8));
    assert_eq!(out.transmitted[..2], [0x88, 0x82], "masked close from the client");
}

#[test]
fn send_errors_leave_the_connection_untouched() {
    let mut s = server();
    let mut out = [0u8; 8];
    let mut big = [0u8; 256];
    assert_eq!(s.ping(&[0; 126], &mut big), Err(SendError::ControlPayloadTooLong(126)));
    assert_eq!(s.pong(&[0; 126], &mut big), Err(SendError::ControlPayloadTooLong(126)));
    assert_eq!(s.ping(&[0; 125], &mut big[..126]), Err(SendError::BufferTooSmall { needed: 127 }));
    assert_eq!(s.close(CloseCode::NORMAL, &"x".repeat(124), &mut big), Err(SendError::ReasonTooLong(124)));
    assert_eq!(s.close(CloseCode::NO_STATUS, "", &mut big), Err(SendError::InvalidCloseCode(1005)));
    assert_eq!(s.close(CloseCode(1016), "", &mut big), Err(SendError::InvalidCloseCode(1016)));
    assert_eq!(s.close(CloseCode::NORMAL, "abc", &mut out[..6]), Err(SendError::BufferTooSmall { needed: 7 }));
    assert_eq!(s.send_binary(&[0; 7], &mut out), Err(SendError::BufferTooSmall { needed: 9 }));
    assert_eq!(s.send_fragment(MessageKind::Text, b"a", false, &mut out), Ok(3));
    assert_eq!(s.send_binary(b"b", &mut out), Err(SendError::MessageInProgress));
    assert_eq!(s.send_fragment(MessageKind::Binary, b"b", true, &mut out), Err(SendError::KindMismatch));
    assert_eq!(s.send_fragment(MessageKind::Text, b"b", true, &mut out), Ok(3));
    assert_eq!(&out[..3], b"\x80\x01b", "a continuation frame");
    assert_eq!(s.state(), State::Open);
    assert!(!s.wants_write());
    assert_eq!(s.close(CloseCode::NORMAL, &"x".repeat(123), &mut big), Ok(2 + 125));
    assert_eq!(s.close(CloseCode::NORMAL, "", &mut big), Err(SendError::Closed));
    assert_eq!(s.ping(b"", &mut big), Err(SendError::Closed));
    assert_eq!(s.pong(b"", &mut big), Err(SendError::Closed));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn automatic_fragmentation_and_exact_lengths() {
    let mut c = Connection::client_with_test_masks(Config::default().fragment_size(100), counter_mask());
    let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
    let mut out = vec![0u8; c.encoded_len(data.len())];
    assert_eq!(out.len(), 10 * (2 + 4 + 100));
    let n = c.send_binary(&data, &mut out).unwrap();
    assert_eq!(n, out.len());
    let mut s = server();
    let got = feed(&mut s, &out, &[]);
    assert_eq!(got.events, vec![OwnedEvent::Binary(data)]);
}

#[test]
fn header_only_sends_for_vectored_writes() {
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    let mut payload = b"vectored".to_vec();
    let head = c.frame_header(MessageKind::Binary, &mut payload, true).unwrap();
    let wire = [head.as_bytes(), &payload].concat();
    let mut s = server();
    assert_eq!(feed(&mut s, &wire, &[]).events, vec![OwnedEvent::Binary(b"vectored".to_vec())]);
}

#[test]
fn control_frames_go_out_between_outgoing_fragments() {
    let mut s = server();
    let mut wire = Vec::new();
    let mut buf = [0u8; 32];
    let n = s.send_fragment(MessageKind::Binary, b"ab", false, &mut buf).unwrap();
    wire.extend_from_slice(&buf[..n]);
    s.pong_vec(b"hb", &mut wire).unwrap();
    let n = s.send_fragment(MessageKind::Binary, b"cd", true, &mut buf).unwrap();
    wire.extend_from_slice(&buf[..n]);
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    let out = feed(&mut c, &wire, &[]);
    assert_eq!(out.events, vec![OwnedEvent::Pong(b"hb".to_vec()), OwnedEvent::Binary(b"abcd".to_vec())]);
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server();
    assert_eq!(s.read_eof(), Err(ProtocolError::AbnormalClosure));
    assert_eq!(s.peer_close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(ProtocolError::AbnormalClosure.close_code(), CloseCode::ABNORMAL);
    assert_eq!(s.state(), State::Failed(CloseCode::ABNORMAL));
    assert!(s.should_close_transport());
}

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

#[test]
fn auto_replies_can_be_turned_off() {
    let mut s = Connection::server(Config::default().auto_pong(false).auto_close(false));
    let out = feed(&mut s, &[0x89, 0x80, 0, 0, 0, 0, 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8], &[]);
    assert_eq!(out.events.len(), 2);
    assert!(out.transmitted.is_empty());
    assert_eq!(s.state(), State::CloseReceived);
    let mut wire = Vec::new();
    s.close_vec(CloseCode::NORMAL, "by hand", &mut wire).unwrap();
    assert_eq!(wire, b"\x88\x09\x03\xe8by hand");
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn poll_transmit_writes_whole_replies_in_order_into_any_room_of_a_control_frame() {
    // A ping with 125 bytes, a keepalive ping, and a Close from the peer: the pong, the ping
    // and the Close echo are queued (133 bytes in all).
    let mut s = Connection::server(Config::default().keepalive(Some(Duration::from_secs(1)), Duration::from_secs(9)));
    s.handle_timeout(Duration::ZERO);
    assert_eq!(s.handle_timeout(Duration::from_secs(1)), Some(Timeout::KeepalivePing));
    read_one(&mut s, &masked(0x89, 125, &[b'p'; 125])).unwrap();
    read_one(&mut s, &masked(0x88, 2, &[0x03, 0xe8])).unwrap();
    // Exactly one control frame of room: the pong and the ping, then the Close next time.
    let mut out = [0u8; frame::MAX_CONTROL_FRAME_LEN];
    let n = s.poll_transmit(&mut out);
    assert_eq!((n, &out[..2], &out[127..129]), (129, &[0x8a, 125][..], &[0x89, 0][..]));
    assert!(s.wants_write());
    let n = s.poll_transmit(&mut out);
    assert_eq!(&out[..n], b"\x88\x02\x03\xe8");
    assert!(!s.wants_write());
    assert_eq!(s.poll_transmit(&mut [0u8; 1]), 0, "nothing queued: any buffer will do");
}

#[test]
#[should_panic(expected = "poll_transmit needs 127 bytes of room, got 126")]
fn poll_transmit_refuses_a_buffer_that_cannot_hold_a_reply() {
    let mut s = server();
    read_one(&mut s, &masked(0x89, 125, &[0; 125])).unwrap();
    s.poll_transmit(&mut [0u8; 126]);
}

#[test]
fn assembled_messages_carry_only_their_own_bytes_after_longer_ones() {
    // The assembly buffer keeps its bytes between messages (so that payload can be unmasked
    // straight into it); a shorter message after a longer one must not show any of them.
    let wire = client_frames(|c, out| {
        for (text, len) in [(false, 5000), (true, 3000), (false, 10), (true, 1), (false, 0), (true, 4000)] {
            let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let kind = if text { MessageKind::Text } else { MessageKind::Binary };
            // Two fragments, so every message is assembled.
            let half = len / 2;
            let mut buf = vec![0; 64 + len];
            let n = c.send_fragment(kind, &data[..half], false, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
            let n = c.send_fragment(kind, &data[half..], true, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
    });
    let expected: Vec<OwnedEvent> = [(false, 5000), (true, 3000), (false, 10), (true, 1), (false, 0), (true, 4000)]
        .into_iter()
        .map(|(text, len)| {
            let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            if text {
                OwnedEvent::Text(String::from_utf8(data).unwrap())
            } else {
                OwnedEvent::Binary(data)
            }
        })
        .collect();
    for cuts in [&[][..], &[1, 700, 5003, 5010, 8100][..]] {
        let mut s = server();
        let out = feed(&mut s, &wire, cuts);
        assert_eq!(out.error, None);
        assert_eq!(out.events, expected, "cuts {cuts:?}");
    }
}

/// A masked text frame carrying any bytes, valid UTF-8 or not.
fn masked_text_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

#[test]
fn large_text_is_validated_wherever_its_non_ascii_bytes_are() {
    // ASCII blocks skip the validator (the unmasking loop saw no high bit); these put the
    // non-ASCII bytes at piece edges, after ASCII blocks, and at the very end (§8.1).
    const EDGE: usize = 16 * 1024;
    for len in [40_000usize, 70_000] {
        let ascii = vec![b'a'; len];
        let mut straddling = ascii.clone();
        straddling[EDGE - 2..EDGE + 2].copy_from_slice("🌍".as_bytes());
        let mut late_invalid = ascii.clone();
        late_invalid[len - 1000] = 0xFF;
        let mut cut_at_end = ascii.clone();
        cut_at_end[len - 2..].copy_from_slice(&[0xE2, 0x82]);
        let mut carry_then_ascii = ascii.clone();
        carry_then_ascii[EDGE - 1] = 0xC3; // wants a continuation byte, gets 'a'
        let cases: [(&[u8], bool); 5] = [
            (&ascii, true),
            (&straddling, true),
            (&late_invalid, false),
            (&cut_at_end, false),
            (&carry_then_ascii, false),
        ];
        for (payload, valid) in cases {
            let frame = masked_text_frame(payload, [0x37, 0xFA, 0x21, 0x3D]);
            let header = frame.len() - len;
            for (config, via_recv_buffer) in [
                (Config::default(), false),
                (Config::default().delivery(Delivery::Stream), false),
                (Config::default(), true),
            ] {
                // Whole, and in pieces of which one ends at payload byte EDGE.
                for cuts in [&[][..], &[5, header + 1000, header + EDGE, header + 33_000][..]] {
                    let mut s = Connection::server(config);
                    let out = if via_recv_buffer {
                        // The same cuts as read sizes (a frame waits in the buffer).
                        let mut sizes: Vec<usize> =
                            cuts.iter().scan(0, |at, &c| Some(c - std::mem::replace(at, c))).collect();
                        sizes.push(usize::MAX);
                        feed_recv_buffer(&mut s, &frame, &sizes)
                    } else {
                        feed(&mut s, &frame, cuts)
                    };
                    let what =
                        format!("len {len}, valid {valid}, {config:?} (RecvBuffer {via_recv_buffer}), cuts {cuts:?}");
                    if valid {
                        assert_eq!(out.error, None, "{what}");
                        let text = String::from_utf8(payload.to_vec()).unwrap();
                        assert_eq!(normalise(&out.events), vec![OwnedEvent::Text(text)], "{what}");
                    } else {
                        assert_eq!(out.error, Some(ProtocolError::InvalidUtf8), "{what}");
                    }
                }
            }
        }
        // Fail fast: the unfinished code point at the end of one piece fails on the ASCII that
        // starts the next, long before the frame ends.
        let frame = masked_text_frame(&carry_then_ascii, [1, 2, 3, 4]);
        let header = frame.len() - len;
        for config in [Config::default(), Config::default().delivery(Delivery::Stream)] {
            let mut s = Connection::server(config);
            let out = feed(&mut s, &frame[..header + EDGE + 20], &[header + EDGE]);
            assert_eq!(out.error, Some(ProtocolError::InvalidUtf8), "len {len}, {config:?}");
        }
    }
}

/// The `Vec` senders write, in one pass, exactly the bytes the slice senders write, at every
/// length class of the header (RFC 6455 §5.2: 7-bit, 16-bit, 64-bit) and across the 16 KiB
/// blocks a client masks one at a time; fragmented sends take the sized path.
#[test]
fn vec_sends_equal_slice_sends_byte_for_byte() {
    for fragment_size in [0, 1000] {
        for len in [0, 1, 125, 126, 1023, 1025, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 3, 65535, 65536, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let config = Config::default().fragment_size(fragment_size);
            // Same keys on both clients.
            let mut a = Connection::client_with_test_masks(config, counter_mask());
            let mut b = Connection::client_with_test_masks(config, counter_mask());
            let mut slice = vec![0u8; a.encoded_len(len)];
            let n = a.send_binary(&data, &mut slice).unwrap();
            let mut vec = b"prefix".to_vec();
            assert_eq!(b.send_binary_vec(&data, &mut vec), Ok(n), "client, {len} bytes");
            assert_eq!(&vec[..6], b"prefix");
            assert_eq!(vec[6..], slice[..n], "client, {len} bytes, fragment_size {fragment_size}");
            let (mut s, mut t) = (Connection::server(config), Connection::server(config));
            let n = s.send_binary(&data, &mut slice).unwrap();
            let mut vec = Vec::new();
            assert_eq!(t.send_binary_vec(&data, &mut vec), Ok(n));
            assert_eq!(vec[..], slice[..n], "server, {len} bytes");
        }
    }
    // Refusals leave the Vec as it was.
    let mut s = server();
    let mut out = b"kept".to_vec();
    s.send_fragment(MessageKind::Text, b"a", false, &mut [0; 8]).unwrap();
    assert_eq!(s.send_text_vec("x", &mut out), Err(SendError::MessageInProgress));
    s.close(CloseCode::NORMAL, "", &mut [0; 8]).unwrap();
    assert_eq!(s.send_binary_vec(b"x", &mut out), Err(SendError::Closed));
    assert_eq!(out, b"kept");
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
