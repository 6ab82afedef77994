//! `Connection::take_message`: a message put together in the `Assembly` is handed over with no
//! copy, exactly when `last_message_assembled` says so, and never a stale or partial one.
#![cfg(feature = "alloc")]

mod common;

use common::*;
use wsmachine::*;

/// One read event as a test sees it: the message's bytes, whether the connection said it was
/// assembled, and what `take_message` then gave.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    bytes: Vec<u8>,
    assembled: bool,
    taken: Option<Vec<u8>>,
}

/// Feeds `wire` in the pieces `cuts` makes (one fixed buffer per piece, as a socket driver
/// does), taking every message the connection says is assembled.
fn feed_taking<M: Masking>(
    conn: &mut Connection<M>,
    assembly: &mut Assembly,
    wire: &[u8],
    cuts: &[usize],
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([wire.len()]) {
        let mut piece = wire[start..end].to_vec();
        start = end;
        let mut at = 0;
        while let Ok(read) = conn.read(&mut piece[at..], assembly) {
            at += read.consumed;
            let Some(Event::Message(m)) = read.event else {
                if read.event.is_none() {
                    // No event: nothing is the connection's to hand over.
                    assert!(!conn.last_message_assembled());
                    assert_eq!(conn.take_message(assembly), None);
                    break;
                }
                continue;
            };
            let bytes = m.as_bytes().to_vec();
            let assembled = conn.last_message_assembled();
            let taken = conn.take_message(assembly);
            if let Some(taken) = &taken {
                assert_eq!(taken.capacity(), taken.len(), "the message and no more");
                assert_eq!(assembly.heap_bytes(), 0, "the assembly's buffer went with the message");
                assert!(!conn.last_message_assembled());
                assert_eq!(conn.take_message(assembly), None, "taken once");
            }
            seen.push(Seen { bytes, assembled, taken });
        }
    }
    seen
}

/// `send_fragment` appended to `out`.
fn fragment<M: Masking>(c: &mut Connection<M>, kind: MessageKind, data: &[u8], fin: bool, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + data.len() + 14, 0);
    let n = c.send_fragment(kind, data, fin, &mut out[at..]).unwrap();
    out.truncate(at + n);
}

fn whole(bytes: &[u8]) -> Seen {
    Seen { bytes: bytes.to_vec(), assembled: false, taken: None }
}

fn assembled(bytes: &[u8]) -> Seen {
    Seen { bytes: bytes.to_vec(), assembled: true, taken: Some(bytes.to_vec()) }
}

#[test]
fn assembled_messages_are_handed_over_and_messages_in_the_input_are_not() {
    let text = "héllo wörld, assembled";
    let big = vec![0xA5u8; 3000];
    let wire = client_frames(|c, out| {
        // 1: whole in the first piece, delivered in place.
        c.send_binary_vec(b"in place", out).unwrap();
        // 2: fragmented text with a ping between the fragments (RFC 6455 §5.4, §5.5).
        fragment(c, MessageKind::Text, &text.as_bytes()[..2], false, out);
        c.ping_vec(b"p", out).unwrap();
        fragment(c, MessageKind::Text, &text.as_bytes()[2..], true, out);
        // 3: a whole frame that the cut below splits across two reads: assembled.
        c.send_binary_vec(&big, out).unwrap();
        // 4: right after an assembled message, one whole in the same read (the fast path).
        c.send_text_vec("after", out).unwrap();
        // 5: an empty fragmented message.
        fragment(c, MessageKind::Binary, b"", false, out);
        fragment(c, MessageKind::Binary, b"", true, out);
    });
    let big_start = wire.windows(4).position(|w| w == [0x82, 0xFE, 0x0B, 0xB8]).unwrap();
    let mut server = common::server();
    let mut assembly = Assembly::new();
    let seen = feed_taking(&mut server, &mut assembly, &wire, &[big_start + 1000]);
    assert_eq!(
        seen,
        [whole(b"in place"), assembled(text.as_bytes()), assembled(&big), whole(b"after"), assembled(b"")]
    );
    // The connection reads on: the assembly allocates again for the next message it assembles.
    let more = client_frames(|c, out| {
        fragment(c, MessageKind::Binary, b"ab", false, out);
        fragment(c, MessageKind::Binary, b"cd", true, out);
    });
    assert_eq!(feed_taking(&mut server, &mut assembly, &more, &[3]), [assembled(b"abcd")]);
}

#[test]
fn a_message_not_taken_is_not_handed_over_after_the_next_read() {
    let wire = client_frames(|c, out| {
        fragment(c, MessageKind::Binary, b"one", false, out);
        fragment(c, MessageKind::Binary, b"two", true, out);
        c.send_binary_vec(b"three", out).unwrap();
    });
    for cut_after_first in [false, true] {
        let mut server = common::server();
        let mut assembly = Assembly::new();
        let mut input = wire.clone();
        let split = wire.len() - 11; // where "three" starts
        let first_end = if cut_after_first { split } else { wire.len() };
        let read = server.read(&mut input[..first_end], &mut assembly).unwrap();
        assert!(matches!(read.event, Some(Event::Message(Message::Binary(b"onetwo")))));
        assert!(server.last_message_assembled());
        let consumed = read.consumed;
        // The next read: an empty one, then the whole "three" (delivered in place).
        if cut_after_first {
            let read = server.read(&mut input[consumed..consumed], &mut assembly).unwrap();
            assert!(read.event.is_none());
            assert!(!server.last_message_assembled());
        }
        let read = server.read(&mut input[consumed..], &mut assembly).unwrap();
        assert!(matches!(read.event, Some(Event::Message(Message::Binary(b"three")))));
        assert!(!server.last_message_assembled());
        assert_eq!(server.take_message(&mut assembly), None, "never the stale \"onetwo\"");
    }
}

#[test]
fn nothing_is_handed_over_after_a_failure_or_a_control_frame() {
    // Text that ends inside a code point fails the connection (1007, RFC 6455 §8.1).
    let wire = client_frames(|c, out| {
        fragment(c, MessageKind::Binary, b"x", false, out);
        fragment(c, MessageKind::Binary, b"y", true, out);
    });
    let mut bad = wire.clone();
    bad.extend(masked(0x01, 1, b"a"));
    bad.extend(masked(0x80, 1, &[0xC3]));
    let mut server = common::server();
    let mut assembly = Assembly::new();
    let out = feed_with(&mut server, &mut assembly, &bad, &[]);
    assert_eq!(out.error, Some(ProtocolError::InvalidUtf8));
    assert!(!server.last_message_assembled());
    assert_eq!(server.take_message(&mut assembly), None);

    // A ping split across reads is put together in the assembly too, but it is no message.
    let ping = client_frames(|c, out| {
        c.ping_vec(b"split ping", out).unwrap();
    });
    let mut server = common::server();
    let mut assembly = Assembly::new();
    let seen = feed_taking(&mut server, &mut assembly, &ping, &[4]);
    assert!(seen.is_empty());
    assert!(!server.last_message_assembled());
    assert_eq!(server.take_message(&mut assembly), None);
}

#[test]
fn a_client_takes_a_fragmented_message_from_a_server() {
    let mut server = common::server();
    let mut wire = Vec::new();
    fragment(&mut server, MessageKind::Text, "pièce ".as_bytes(), false, &mut wire);
    fragment(&mut server, MessageKind::Text, "montée".as_bytes(), true, &mut wire);
    let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
    let mut assembly = Assembly::new();
    let seen = feed_taking(&mut client, &mut assembly, &wire, &[]);
    assert_eq!(seen, [assembled("pièce montée".as_bytes())]);
    assert_eq!(String::from_utf8(seen[0].taken.clone().unwrap()).unwrap(), "pièce montée");
}

#[cfg(feature = "deflate")]
#[test]
fn an_inflated_message_is_handed_over_inflated() {
    use wsmachine::deflate::DeflateConfig;
    let params = DeflateConfig::new().accept_offer([]).unwrap();
    let mut client = Connection::client_with_test_masks(Config::default(), counter_mask()).with_deflate(&params);
    let mut assembly = Assembly::new();
    // RFC 7692 §7.2.3.1: "Hello" compressed in one frame, then in two fragments.
    let wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(feed_taking(&mut client, &mut assembly, &wire, &[]), [assembled(b"Hello")]);
    let wire = [0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(feed_taking(&mut client, &mut assembly, &wire, &[4]), [assembled(b"Hello")]);
    // 1 MiB of zeros inflated from 10 KB: the inflater's buffer grew by doubling, and the
    // `Vec` handed over holds the message and no more (checked in `feed_taking`).
    let mut server = Connection::server(Config::default()).with_deflate(&params);
    let mut wire = Vec::new();
    server.send_binary_vec(&vec![0; 1 << 20], &mut wire).unwrap();
    assert!(wire[0] & 0x40 != 0 && wire.len() < 16384, "compressed");
    let seen = feed_taking(&mut client, &mut assembly, &wire, &[]);
    assert_eq!(seen, [assembled(&vec![0; 1 << 20])]);
}
