//! Whole conversations through the engine, in both roles (RFC 6455 §5–§7).
#![cfg(feature = "alloc")]

mod common;

use common::*;
use core::time::Duration;
use wsmachine::*;

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

/// A client whose keys count up, from the same first key each time.
fn client() -> TestClient {
    Connection::client_with_test_masks(Config::default(), Box::new(counter_mask()))
}

/// A slice of exactly the frame's length is enough, one byte less is refused with the length
/// needed (both roles, every header length class), and a refused client send draws no key: the
/// next frame is masked as if the refusal had never happened.
#[test]
fn slice_sends_need_exactly_their_frame_length() {
    for len in [0, 1, 125, 126, 1024, 65535, 65536] {
        let data: Vec<u8> = (0..len).map(|i| (i * 5 + 1) as u8).collect();
        let mut s = server();
        let needed = s.encoded_len(len);
        let mut out = vec![0u8; needed];
        assert_eq!(s.send_binary(&data, &mut out[..needed - 1]), Err(SendError::BufferTooSmall { needed }));
        assert_eq!(s.send_binary(&data, &mut out), Ok(needed), "server, {len} bytes");
        assert_eq!(feed(&mut client(), &out, &[]).events, vec![OwnedEvent::Binary(data.clone())]);

        let mut refused = client();
        let mut twin = client();
        let needed = refused.encoded_len(len);
        let mut out = vec![0u8; needed];
        assert_eq!(refused.send_binary(&data, &mut out[..needed - 1]), Err(SendError::BufferTooSmall { needed }));
        assert_eq!(refused.send_binary(&data, &mut out), Ok(needed), "client, {len} bytes");
        let mut expected = vec![0u8; needed];
        twin.send_binary(&data, &mut expected).unwrap();
        assert_eq!(out, expected, "the refusal drew no key, {len} bytes");
        assert_eq!(feed(&mut server(), &out, &[]).events, vec![OwnedEvent::Binary(data)]);
    }
}

/// `frame_header` follows the fragment rules of `send_fragment` (§5.4): a first frame names its
/// kind, later ones are continuations of the same kind, and nothing goes out once closing.
#[test]
fn header_only_sends_follow_the_fragment_rules() {
    let mut s = server();
    let mut payload = *b"abc";
    let head = s.frame_header(MessageKind::Text, &mut payload, false).unwrap();
    assert_eq!(head.as_bytes(), [0x01, 0x03], "a first text fragment, FIN clear");
    assert_eq!(&payload, b"abc", "a server's payload is left as it is");
    assert_eq!(s.frame_header(MessageKind::Binary, &mut payload, true), Err(SendError::KindMismatch));
    assert_eq!(s.send_binary(b"x", &mut [0; 8]), Err(SendError::MessageInProgress));
    let head = s.frame_header(MessageKind::Text, &mut payload, true).unwrap();
    assert_eq!(head.as_bytes(), [0x80, 0x03], "the last fragment: a continuation with FIN");
    let head = s.frame_header(MessageKind::Binary, &mut [0; 65536], true).unwrap();
    assert_eq!(head.as_bytes(), [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0], "a new message, 64-bit length");
    s.close(CloseCode::NORMAL, "", &mut [0; 8]).unwrap();
    assert_eq!(s.frame_header(MessageKind::Binary, &mut payload, true), Err(SendError::Closed));

    let mut s = server();
    assert!(s.read_eof().is_err());
    assert_eq!(s.frame_header(MessageKind::Binary, &mut payload, true), Err(SendError::Closed));

    // After the peer's Close, with the echo left to the caller, data may still go out (§5.5.1).
    let mut s = Connection::server(Config::default().auto_close(false));
    feed(&mut s, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8], &[]);
    assert_eq!(s.frame_header(MessageKind::Binary, &mut payload, true).unwrap().as_bytes(), [0x82, 0x03]);

    // A client masks the payload in place with the key its header carries (§5.3).
    let mut c = client();
    let mut payload = *b"abc";
    let head = c.frame_header(MessageKind::Binary, &mut payload, true).unwrap();
    assert_eq!(head.as_bytes(), [0x82, 0x83, 1, 2, 3, 4]);
    assert_eq!(payload, [b'a' ^ 1, b'b' ^ 2, b'c' ^ 3]);
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
        // 1000 and 1001: one frame at exactly `fragment_size`, two one byte beyond it.
        for len in
            [0, 1, 125, 126, 1000, 1001, 1023, 1025, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 3, 65535, 65536, 100_000]
        {
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
    let mut s = server();
    s.close(CloseCode::NORMAL, "", &mut [0; 8]).unwrap(); // CloseSent, no message in progress
    assert_eq!(s.send_binary_vec(b"x", &mut out), Err(SendError::Closed));
    let mut s = server();
    assert!(s.read_eof().is_err()); // the stream ended without a Close (§7.1.5)
    assert_eq!(s.send_binary_vec(b"x", &mut out), Err(SendError::Closed));
    assert_eq!(out, b"kept");
    // After the peer's Close, with the echo left to the caller (§5.5.1: data may still go out
    // before our Close), a send is the ordinary frame.
    let mut s = Connection::server(Config::default().auto_close(false));
    feed(&mut s, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8], &[]);
    assert_eq!(s.state(), State::CloseReceived);
    assert_eq!(s.send_binary_vec(b"x", &mut out), Ok(3));
    assert_eq!(out, b"kept\x82\x01x");
}

/// With stream delivery every data event is a chunk, also for a frame found whole after its
/// header came in pieces (the general read path rather than the fast one).
#[test]
fn stream_delivery_gives_chunks_for_whole_frames_on_every_path() {
    let frame = masked(0x82, 5, b"hello");
    for cut in 0..frame.len() {
        let mut s = Connection::server(Config::default().delivery(Delivery::Stream));
        let out = feed(&mut s, &frame, &[cut]);
        assert_eq!(out.error, None);
        assert!(out.events.iter().all(|e| matches!(e, OwnedEvent::Chunk { .. })), "cut {cut}: {:?}", out.events);
        assert_eq!(normalise(&out.events), [OwnedEvent::Binary(b"hello".to_vec())], "cut {cut}");
    }
}
