//! `RecvBuffer`: in-place delivery, bounded growth, and the text note's checks.

use super::*;
use crate::{Config, Message, MessageKind};

fn client_wire(sizes: &[usize]) -> Vec<u8> {
    let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
    let mut wire = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        client.send_binary_vec(&alloc::vec![i as u8; n], &mut wire).unwrap();
    }
    wire
}

/// Feeds `wire` in reads of at most `chunk`; returns the size of each message seen and
/// whether it was delivered inside the buffer (streamed chunks are summed), and the
/// largest capacity the buffer reached.
fn run(wire: &[u8], config: Config, chunk: usize) -> (Vec<(usize, bool)>, usize) {
    let mut conn = Connection::server(config);
    let mut buf = RecvBuffer::with_read_size(chunk);
    let (mut seen, mut max_cap, mut streamed) = (Vec::new(), 0, 0);
    let mut rest = wire;
    while !rest.is_empty() {
        let space = buf.spare(&conn);
        let n = space.len().min(rest.len()).min(chunk);
        space[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        buf.filled(n);
        max_cap = max_cap.max(buf.capacity());
        let range = buf.buf.as_ptr_range();
        while let Some(event) = buf.next(&mut conn).unwrap() {
            let index = seen.len() as u8;
            match event {
                Event::Message(Message::Binary(data)) => {
                    assert!(data.iter().all(|&b| b == index), "payload of message {index}");
                    seen.push((data.len(), range.contains(&data.as_ptr()) || data.is_empty()));
                }
                Event::Chunk(chunk) => {
                    assert!(chunk.data().iter().all(|&b| b == index), "payload of message {index}");
                    streamed += chunk.data().len();
                    if chunk.is_last() {
                        seen.push((core::mem::take(&mut streamed), false));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(buf.unused().is_empty());
    (seen, max_cap)
}

#[test]
fn large_messages_arrive_in_place_and_the_buffer_stays_bounded() {
    let sizes = [100_000, 5, 70_000, 0, 1 << 20, 300];
    let wire = client_wire(&sizes);
    let (seen, max_cap) = run(&wire, Config::default().retain_capacity(2 << 20), 16 * 1024);
    assert_eq!(seen, sizes.map(|n| (n, true)));
    // The largest frame (header included) plus one read at most.
    assert!(max_cap <= (1 << 20) + 14 + 16 * 1024, "capacity {max_cap}");
}

#[test]
fn by_default_every_message_waits_in_place_and_memory_goes_back_once_idle() {
    // `Config::default()`: whole-message delivery, 1 MiB retained between messages.
    let sizes = [100_000, 5, (1 << 20) + 1, 70_000];
    let wire = client_wire(&sizes);
    let (seen, max_cap) = run(&wire, Config::default(), 16 * 1024);
    assert_eq!(seen, sizes.map(|n| (n, true)));
    assert!(max_cap <= (1 << 20) + 1 + 14 + 16 * 1024, "capacity {max_cap}");
    // Retaining less: the same, and the 1 MiB is given back once the buffer is empty.
    let mut conn = Connection::server(Config::default().retain_capacity(50_000));
    let mut buf = RecvBuffer::with_read_size(16 * 1024);
    let mut rest = &wire[..];
    let mut delivered = 0;
    while !rest.is_empty() {
        transport_read(&mut buf, &conn, &mut rest, 16 * 1024);
        while let Some(event) = buf.next(&mut conn).unwrap() {
            assert!(matches!(event, Event::Message(Message::Binary(d)) if d.len() == sizes[delivered]));
            delivered += 1;
        }
    }
    assert_eq!(delivered, 4);
    // Idle: the driver prepares its next read (and would wait there); memory goes back.
    let _ = buf.spare(&conn);
    assert!(buf.heap_bytes() <= 50_000 + 16 * 1024, "idle heap {}", buf.heap_bytes());
}

#[test]
fn a_header_alone_commits_no_more_than_one_read() {
    // A 14-byte header announcing 16 MiB, then nothing: the buffer holds one read.
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(4096);
    let header = [0x82, 0xFF, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4];
    let mut rest = &header[..];
    transport_read(&mut buf, &conn, &mut rest, 4096);
    assert!(buf.next(&mut conn).unwrap().is_none());
    for _ in 0..3 {
        let space = buf.spare(&conn).len();
        assert!(space <= 4096, "offered {space}");
        assert!(buf.heap_bytes() <= 14 + 4096 + 4096, "heap {}", buf.heap_bytes());
    }
}

#[test]
fn streaming_it_is_a_plain_read_buffer() {
    let sizes = [100_000, 5, 70_000];
    let wire = client_wire(&sizes);
    let (seen, max_cap) = run(&wire, Config::default().delivery(crate::Delivery::Stream), 4096);
    // Streamed in pieces as they arrive; a whole small message is one chunk, first and last.
    assert_eq!(seen, [(100_000, false), (5, false), (70_000, false)]);
    assert_eq!(max_cap, 4096);
}

#[test]
fn a_waiting_frame_gets_at_most_its_missing_bytes_and_one_read_at_a_time() {
    let wire = client_wire(&[50_000]);
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(1000);
    assert_eq!(buf.spare(&conn).len(), 1000);
    buf.spare(&conn).copy_from_slice(&wire[..1000]);
    buf.filled(1000);
    assert!(buf.next(&mut conn).unwrap().is_none());
    assert_eq!(buf.unused().len(), 1000); // the frame waits, from its header on
    let mut at = 1000;
    while at < wire.len() {
        let space = buf.spare(&conn);
        // One read at a time, and never past the frame's end.
        assert_eq!(space.len(), (wire.len() - at).min(1000));
        let n = space.len();
        space.copy_from_slice(&wire[at..at + n]);
        buf.filled(n);
        at += n;
        let event = buf.next(&mut conn).unwrap();
        if at < wire.len() {
            assert!(event.is_none());
        } else {
            assert!(matches!(event, Some(Event::Message(Message::Binary(d))) if d.len() == 50_000));
        }
    }
    assert!(buf.next(&mut conn).unwrap().is_none());
    assert_eq!(buf.capacity(), wire.len()); // the frame filled the buffer exactly
    buf.shrink();
    assert_eq!(buf.capacity(), 1000);
}

#[test]
#[should_panic(expected = "beyond the")]
fn filled_beyond_the_offered_room_is_a_driver_bug() {
    let conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(100);
    let offered = buf.spare(&conn).len();
    buf.filled(offered);
    buf.filled(1); // the room was used up: even one byte more is refused
}

/// A masked text frame of `payload`, which may be invalid UTF-8 (`send_text` takes `&str`).
fn masked_text_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut wire = alloc::vec![0x81];
    match payload.len() {
        n @ 0..=125 => wire.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            wire.push(0x80 | 126);
            wire.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            wire.push(0x80 | 127);
            wire.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    wire.extend_from_slice(&key);
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    wire
}

/// Copies the next at most `n` bytes of `rest` into `buf`, as a transport read would.
fn transport_read<M: Masking>(buf: &mut RecvBuffer, conn: &Connection<M>, rest: &mut &[u8], n: usize) {
    let space = buf.spare(conn);
    let n = space.len().min(rest.len()).min(n);
    space[..n].copy_from_slice(&rest[..n]);
    *rest = &rest[n..];
    buf.filled(n);
}

#[test]
fn waiting_text_fails_as_soon_as_a_bad_byte_arrives() {
    // RFC 6455 §8.1 (Autobahn 6.4.x): a 100 000-byte text frame whose byte 500 cannot be
    // UTF-8 fails with the read that brings it, not once the frame is whole.
    let mut payload = alloc::vec![b'a'; 100_000];
    payload[500] = 0xFF;
    let wire = masked_text_frame(&payload, [1, 2, 3, 4]);
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(400);
    let mut rest = &wire[..];
    transport_read(&mut buf, &conn, &mut rest, 400);
    assert!(buf.next(&mut conn).unwrap().is_none(), "bytes 0..386 are good: the frame waits");
    transport_read(&mut buf, &conn, &mut rest, 400);
    assert_eq!(buf.next(&mut conn).unwrap_err(), ProtocolError::InvalidUtf8);
    let mut out = Vec::new();
    conn.poll_transmit_vec(&mut out);
    assert_eq!(out, [0x88, 0x02, 0x03, 0xEF]); // 1007
    assert_eq!(conn.state(), crate::State::Failed(crate::CloseCode::INVALID_PAYLOAD));

    // A bad byte that came with the frame's header is found by the next call, with the
    // next read (the buffer checks what a read left waiting before it reads on).
    let wire = masked_text_frame(&payload, [1, 2, 3, 4]);
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(600);
    let mut rest = &wire[..];
    transport_read(&mut buf, &conn, &mut rest, 600);
    assert!(buf.next(&mut conn).unwrap().is_none());
    assert_eq!(conn.state(), crate::State::Open);
    transport_read(&mut buf, &conn, &mut rest, 1);
    assert_eq!(buf.next(&mut conn).unwrap_err(), ProtocolError::InvalidUtf8);

    // A bad last byte, and a text that ends inside a character: both fail with the read
    // that completes the frame, after every earlier read left it waiting.
    for last in [&[0xFF][..], &[b'a', 0xC3][..]] {
        let mut payload = alloc::vec![b'a'; 3000 - last.len()];
        payload.extend_from_slice(last);
        let wire = masked_text_frame(&payload, [1, 2, 3, 4]);
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(400);
        let mut rest = &wire[..];
        let mut result = Ok(None);
        while !rest.is_empty() {
            assert!(matches!(result, Ok(None)), "{last:?}: only the last read fails");
            transport_read(&mut buf, &conn, &mut rest, 400);
            result = buf.next(&mut conn).map(|e| e.map(|_| ()));
        }
        assert_eq!(result, Err(ProtocolError::InvalidUtf8), "{last:?}");
    }
}

#[test]
fn waiting_text_is_checked_piece_by_piece_and_delivered_in_place() {
    // Two-, three- and four-byte characters cut by reads of every size from 1 to 9 bytes,
    // in both roles (a client's frames arrive masked, a server's do not).
    let text: alloc::string::String = "aé€😀".repeat(300);
    let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
    let mut server = Connection::server(Config::default());
    let (mut masked, mut plain) = (Vec::new(), Vec::new());
    client.send_text_vec(&text, &mut masked).unwrap();
    server.send_text_vec(&text, &mut plain).unwrap();
    fn receive<M: Masking>(mut conn: Connection<M>, wire: &[u8], read: usize) -> alloc::string::String {
        let mut buf = RecvBuffer::with_read_size(read);
        let mut rest = wire;
        let mut got = None;
        while !rest.is_empty() {
            transport_read(&mut buf, &conn, &mut rest, read);
            let range = buf.buf.as_ptr_range();
            if let Some(Event::Message(Message::Text(t))) = buf.next(&mut conn).unwrap() {
                assert!(range.contains(&t.as_ptr()), "delivered in place");
                got = Some(t.into());
            }
        }
        assert!(buf.unused().is_empty());
        got.expect("one message")
    }
    for read in 1..10 {
        assert_eq!(receive(Connection::server(Config::default()), &masked, read), text, "read size {read}");
        let client = Connection::client_with_test_masks(Config::default(), || [0; 4]);
        assert_eq!(receive(client, &plain, read), text, "read size {read}");
    }
}

#[test]
fn a_checked_frame_keeps_its_note_when_the_buffer_moves_it() {
    // A small frame first, so that the text frame waits behind used bytes: the buffer
    // moves it to the front to make room, and its note must move with it.
    let text: alloc::string::String = "aé€😀".repeat(200);
    let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
    let mut wire = Vec::new();
    client.send_binary_vec(&[1; 10], &mut wire).unwrap();
    client.send_text_vec(&text, &mut wire).unwrap();
    for shrink in [false, true] {
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(100);
        let mut rest = &wire[..];
        let mut got = Vec::new();
        while !rest.is_empty() {
            transport_read(&mut buf, &conn, &mut rest, 100);
            while let Some(event) = buf.next(&mut conn).unwrap() {
                got.push(event.into_owned());
            }
            if shrink {
                buf.shrink(); // moves the waiting frame to the front as well
            }
        }
        assert_eq!(got, [crate::OwnedEvent::Binary(alloc::vec![1; 10]), crate::OwnedEvent::Text(text.clone())]);
    }
}

#[test]
fn a_checked_frame_the_connection_cannot_take_is_given_back_as_it_arrived() {
    let text: alloc::string::String = "é".repeat(2500);
    let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
    let mut wire = Vec::new();
    client.send_text_vec(&text, &mut wire).unwrap();
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(1000);
    let mut rest = &wire[..];
    transport_read(&mut buf, &conn, &mut rest, 1000);
    assert!(buf.next(&mut conn).unwrap().is_none());
    assert_eq!(buf.unused(), &wire[..1000], "not checked yet: the buffer checks on the next call");
    transport_read(&mut buf, &conn, &mut rest, 1);
    assert!(buf.next(&mut conn).unwrap().is_none());
    assert_ne!(buf.unused(), &wire[..1001], "checked bytes are unmasked in place");
    // A misuse: the connection reads another stream in between, which starts a fragmented
    // message, so the waiting frame is no longer one it can deliver whole.
    let mut other = Vec::new();
    let mut c2 = Connection::client_with_test_masks(Config::default(), || [5, 5, 5, 5]);
    let mut frame = [0u8; 16];
    let n = c2.send_fragment(crate::MessageKind::Text, b"x", false, &mut frame).unwrap();
    other.extend_from_slice(&frame[..n]);
    assert!(conn.read(&mut other, &mut Assembly::new()).unwrap().event.is_none());
    assert_eq!(buf.next(&mut conn).unwrap_err(), ProtocolError::ExpectedContinuation);
    assert_eq!(buf.unused(), &wire[..1001], "masked again, exactly as it arrived");
}

/// The note belongs to the buffer, not to a connection: driven by two connections (a driver
/// bug), the buffer still unmasks each byte once and hands out only text it checked itself.
#[test]
fn a_buffer_shared_by_two_connections_hands_out_only_text_it_checked() {
    // "é" is C3 A9; unmasked twice with 0x40 its first byte becomes 0x83, never a lead byte.
    let payload: Vec<u8> = "é".repeat(50).bytes().chain(*b"a").collect();
    for key in [[0x40; 4], [0; 4]] {
        let wire = masked_text_frame(&payload, key);
        let (mut a, mut b) = (Connection::server(Config::default()), Connection::server(Config::default()));
        let mut buf = RecvBuffer::with_read_size(wire.len() - 1);
        let mut rest = &wire[..];
        transport_read(&mut buf, &a, &mut rest, wire.len() - 1);
        assert!(buf.next(&mut a).unwrap().is_none(), "the frame waits");
        assert!(buf.next(&mut a).unwrap().is_none(), "checked: all but the last byte");
        assert!(buf.text.is_some_and(|note| note.checked == payload.len() - 1));
        transport_read(&mut buf, &a, &mut rest, 1);
        // `b` has read a message elsewhere, so its fast path is armed and knows no frame.
        let mut other = masked_text_frame(b"hi", [1, 2, 3, 4]);
        assert!(b.read(&mut other, &mut Assembly::new()).unwrap().event.is_some());
        match buf.next(&mut b) {
            Ok(Some(Event::Message(Message::Text(t)))) => assert_eq!(t.as_bytes(), payload, "key {key:?}"),
            other => panic!("{other:?}"),
        }
        assert!(buf.unused().is_empty() && buf.text.is_none());
        // `a` still waits for its frame; what it reads next it checks itself.
        let mut bad = alloc::vec![0xFF; payload.len() - 1];
        bad.push(b'a');
        let next = masked_text_frame(&bad, key);
        let mut rest = &next[..];
        transport_read(&mut buf, &a, &mut rest, usize::MAX);
        assert_eq!(buf.next(&mut a).unwrap_err(), ProtocolError::InvalidUtf8);
    }
}

#[cfg(feature = "std")]
#[test]
fn read_from_a_reader_until_end_of_stream() {
    let wire = client_wire(&[3, 70_000, 0]);
    let mut reader = &wire[..]; // `std::io::Read` for `&[u8]`: hands out what fits
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(1000);
    let mut sizes = Vec::new();
    while buf.read_from(&mut reader, &conn).unwrap() > 0 {
        while let Some(event) = buf.next(&mut conn).unwrap() {
            let Event::Message(m) = event else { panic!("{event:?}") };
            sizes.push(m.as_bytes().len());
        }
    }
    assert_eq!(sizes, [3, 70_000, 0]);
    assert!(buf.unused().is_empty());
}

/// Copies `bytes` into `buf` through `spare`/`filled`, in as many reads as the room offered takes.
fn feed(buf: &mut RecvBuffer, conn: &Connection, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let space = buf.spare(conn);
        let n = space.len().min(bytes.len());
        space[..n].copy_from_slice(&bytes[..n]);
        buf.filled(n);
        bytes = &bytes[n..];
    }
}

fn next_binary(buf: &mut RecvBuffer, conn: &mut Connection) -> Option<Vec<u8>> {
    match buf.next(conn).unwrap() {
        Some(Event::Message(Message::Binary(data))) => Some(data.to_vec()),
        None => None,
        Some(other) => panic!("{other:?}"),
    }
}

#[test]
fn release_gives_everything_back_between_messages_and_reading_goes_on() {
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(4096);
    let wire = client_wire(&[10, 20]);
    feed(&mut buf, &conn, &wire[..16]); // the first message (6 + 10 bytes)
    assert_eq!(next_binary(&mut buf, &mut conn), Some(alloc::vec![0; 10]));
    assert_eq!(next_binary(&mut buf, &mut conn), None);
    assert_eq!(buf.heap_bytes(), 4096);
    assert!(buf.release(&conn));
    assert_eq!(buf.heap_bytes(), 0);
    assert!(buf.release(&conn), "releasing an empty buffer again is harmless");
    feed(&mut buf, &conn, &wire[16..]);
    assert_eq!(next_binary(&mut buf, &mut conn), Some(alloc::vec![1; 20]));
}

/// One frame of a client's message, masked.
fn fragment<M: Masking>(kind: MessageKind, data: &[u8], fin: bool, client: &mut Connection<M>) -> Vec<u8> {
    let mut out = alloc::vec![0; data.len() + 14];
    let n = client.send_fragment(kind, data, fin, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn release_keeps_a_frame_that_is_not_whole_yet() {
    for kind in [MessageKind::Binary, MessageKind::Text] {
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        let wire = fragment(kind, b"all of it", true, &mut client);
        // A header alone, then a header and part of the payload.
        for cut in [1, 9] {
            let mut conn = Connection::server(Config::default());
            let mut buf = RecvBuffer::with_read_size(4096);
            feed(&mut buf, &conn, &wire[..cut]);
            assert!(buf.next(&mut conn).unwrap().is_none());
            assert!(!buf.release(&conn), "{kind:?}: {cut} bytes wait");
            assert_eq!(buf.unused(), &wire[..cut]);
            feed(&mut buf, &conn, &wire[cut..]);
            match buf.next(&mut conn).unwrap() {
                Some(Event::Message(m)) => assert_eq!(m.as_bytes(), b"all of it", "{kind:?} cut at {cut}"),
                other => panic!("{kind:?} cut at {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn release_keeps_the_part_of_a_fragmented_message_already_assembled() {
    let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
    let first = fragment(MessageKind::Binary, &[1; 3000], false, &mut client);
    let rest = fragment(MessageKind::Binary, &[2; 5], true, &mut client);
    let mut conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(4096);
    feed(&mut buf, &conn, &first);
    assert_eq!(next_binary(&mut buf, &mut conn), None);
    assert!(buf.release(&conn), "no byte waits in the buffer");
    assert!(buf.heap_bytes() >= 3000, "the assembly keeps the first fragment: {}", buf.heap_bytes());
    feed(&mut buf, &conn, &rest);
    let mut whole = alloc::vec![1; 3000];
    whole.extend_from_slice(&[2; 5]);
    assert_eq!(next_binary(&mut buf, &mut conn), Some(whole));
    // Between messages the assembly goes back too.
    assert_eq!(next_binary(&mut buf, &mut conn), None);
    assert!(buf.release(&conn));
    assert_eq!(buf.heap_bytes(), 0);
}

#[test]
#[should_panic(expected = "beyond the 0 bytes spare offered")]
fn bytes_reported_after_a_release_are_refused() {
    let conn = Connection::server(Config::default());
    let mut buf = RecvBuffer::with_read_size(64);
    let _ = buf.spare(&conn);
    assert!(buf.release(&conn));
    buf.filled(1);
}
