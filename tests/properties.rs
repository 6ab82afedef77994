//! Properties: round trip, split-anywhere invariance and never-panic (proptest).
#![cfg(feature = "alloc")]

mod common;

use common::*;
use proptest::prelude::*;
use wsmachine::*;

#[derive(Clone, Debug)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Fragments(bool, Vec<Vec<u8>>),
    Ping(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<String>().prop_map(Op::Text),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Op::Binary),
        (any::<bool>(), prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..5))
            .prop_map(|(t, p)| Op::Fragments(t, p)),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
    ]
}

/// Encodes `ops` with `sender`, returning the wire bytes and the events the receiver must see.
fn encode<M: MaskSource>(sender: &mut Connection<M>, ops: &[Op]) -> (Vec<u8>, Vec<OwnedEvent>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for op in ops {
        match op {
            Op::Text(t) => {
                sender.send_text_vec(t, &mut wire).unwrap();
                expected.push(OwnedEvent::Text(t.clone()));
            }
            Op::Binary(b) => {
                sender.send_binary_vec(b, &mut wire).unwrap();
                expected.push(OwnedEvent::Binary(b.clone()));
            }
            Op::Fragments(text, parts) => {
                // Text fragments carry a valid string split at byte boundaries of the parts.
                let whole: Vec<u8> = parts.concat();
                let (kind, payload, event) = if *text {
                    let s: String = whole.iter().map(|&b| (b % 26 + b'a') as char).collect();
                    (MessageKind::Text, s.clone().into_bytes(), OwnedEvent::Text(s))
                } else {
                    (MessageKind::Binary, whole.clone(), OwnedEvent::Binary(whole))
                };
                let mut at = 0;
                for (i, part) in parts.iter().enumerate() {
                    let piece = &payload[at..at + part.len()];
                    at += part.len();
                    let mut buf = vec![0u8; piece.len() + 14];
                    let n = sender.send_fragment(kind, piece, i + 1 == parts.len(), &mut buf).unwrap();
                    wire.extend_from_slice(&buf[..n]);
                }
                expected.push(event);
            }
            Op::Ping(p) => {
                sender.ping(p).unwrap();
                sender.poll_transmit_vec(&mut wire);
                expected.push(OwnedEvent::Ping(p.clone()));
            }
        }
    }
    (wire, expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (a) Whatever one role sends, the other receives identically, in any chunking and mode.
    #[test]
    fn round_trip_both_directions(ops in prop::collection::vec(op(), 0..12), cuts in prop::collection::vec(any::<usize>(), 0..6), stream in any::<bool>()) {
        let delivery = if stream { Delivery::Stream } else { Delivery::Assemble };
        let mut client = Connection::client(Config::default(), counter_mask());
        let (wire, expected) = encode(&mut client, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let mut server = Connection::server(Config::default().delivery(delivery));
        let out = feed(&mut server, &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected.clone());

        let mut server = Connection::server(Config::default());
        let (wire, expected) = encode(&mut server, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let mut client = Connection::client(Config::default().delivery(delivery), counter_mask());
        let out = feed(&mut client, &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);
    }

    /// (a') With `Config::in_place_up_to` (the driver keeps unused bytes), any chunking delivers
    /// the same messages as the default mode; `feed_in_place` checks `wanted()` on the way.
    #[test]
    fn round_trip_in_place(ops in prop::collection::vec(op(), 0..12), cuts in prop::collection::vec(any::<usize>(), 0..6), up_to in 0usize..400) {
        let config = Config::default().in_place_up_to(up_to);
        let mut client = Connection::client(Config::default(), counter_mask());
        let (wire, expected) = encode(&mut client, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let out = feed_in_place(&mut Connection::server(config), &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected.clone());

        let mut server = Connection::server(Config::default());
        let (wire, expected) = encode(&mut server, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let out = feed_in_place(&mut Connection::client(config, counter_mask()), &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);
    }

    /// (a'') Through a `RecvBuffer`, whatever the read sizes and with or without in-place
    /// delivery, the same messages arrive.
    #[test]
    fn round_trip_through_recv_buffer(ops in prop::collection::vec(op(), 0..12), reads in prop::collection::vec(1usize..600, 1..6), up_to in 0usize..400) {
        let config = Config::default().in_place_up_to(up_to);
        let mut client = Connection::client(Config::default(), counter_mask());
        let (wire, expected) = encode(&mut client, &ops);
        let out = feed_recv_buffer(&mut Connection::server(config), &wire, &reads);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);
    }

    /// (a''') Through a `RecvBuffer`, where a text frame waits until it is whole, its text is
    /// still checked as it arrives (RFC 6455 §8.1): on any stream, also one cut short inside a
    /// corrupted text frame, the events, the error and the bytes sent back are those of plain
    /// `read`, which fails on the first byte that cannot be UTF-8. Both roles.
    #[test]
    fn recv_buffer_fails_as_fast_as_plain_read(before in prop::collection::vec(op(), 0..3), text in "\\PC{0,300}", flips in prop::collection::vec((any::<usize>(), 0u8..8), 0..3), keep in any::<usize>(), reads in prop::collection::vec(1usize..300, 1..6), client_role in any::<bool>()) {
        let mut wire;
        let start = if client_role {
            let mut server = Connection::server(Config::default());
            wire = encode(&mut server, &before).0;
            let at = wire.len();
            server.send_text_vec(&text, &mut wire).unwrap();
            at
        } else {
            let mut client = Connection::client(Config::default(), counter_mask());
            wire = encode(&mut client, &before).0;
            let at = wire.len();
            client.send_text_vec(&text, &mut wire).unwrap();
            at
        };
        // Flip bits of the text payload (masked or not, a flipped wire bit flips that bit of the
        // text), then cut the stream anywhere.
        let payload_start = wire.len() - text.len();
        prop_assert!(payload_start > start);
        for (at, bit) in flips {
            if !text.is_empty() {
                wire[payload_start + at % text.len()] ^= 1 << bit;
            }
        }
        wire.truncate(keep % (wire.len() + 1));
        let run = |plain: bool| {
            let out = match (client_role, plain) {
                (true, true) => feed(&mut Connection::client(Config::default(), counter_mask()), &wire, &[]),
                (true, false) => feed_recv_buffer(&mut Connection::client(Config::default(), counter_mask()), &wire, &reads),
                (false, true) => feed(&mut Connection::server(Config::default()), &wire, &[]),
                (false, false) => feed_recv_buffer(&mut Connection::server(Config::default()), &wire, &reads),
            };
            (normalise(&out.events), out.error, out.transmitted)
        };
        prop_assert_eq!(run(false), run(true));
    }

    /// (b') Split invariance in place, on arbitrary (mostly valid) streams.
    #[test]
    fn split_invariance_in_place(ops in prop::collection::vec(op(), 0..8), junk in prop::collection::vec(any::<u8>(), 0..40), cuts in prop::collection::vec(any::<usize>(), 0..8), up_to in 0usize..400) {
        let config = Config::default().in_place_up_to(up_to).max_len(200);
        let mut wire = encode(&mut Connection::client(Config::default(), counter_mask()), &ops).0;
        wire.extend_from_slice(&junk);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let run = |cuts: &[usize]| {
            let out = feed_in_place(&mut Connection::server(config), &wire, cuts);
            (normalise(&out.events), out.transmitted, out.error)
        };
        prop_assert_eq!(run(&cuts), run(&[]));
    }

    /// (b) Split invariance on arbitrary (mostly valid) streams: same events, same output bytes,
    /// same error, whatever the chunking.
    #[test]
    fn split_invariance(ops in prop::collection::vec(op(), 0..8), junk in prop::collection::vec(any::<u8>(), 0..40), cuts in prop::collection::vec(any::<usize>(), 0..8), stream in any::<bool>(), client_role in any::<bool>()) {
        let delivery = if stream { Delivery::Stream } else { Delivery::Assemble };
        let config = Config::default().delivery(delivery).max_len(200);
        let mut wire = if client_role {
            encode(&mut Connection::server(Config::default()), &ops).0
        } else {
            encode(&mut Connection::client(Config::default(), counter_mask()), &ops).0
        };
        wire.extend_from_slice(&junk);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let run = |cuts: &[usize]| {
            if client_role {
                let mut c = Connection::client(config, counter_mask());
                let out = feed(&mut c, &wire, cuts);
                (normalise(&out.events), out.transmitted, out.error)
            } else {
                let mut s = Connection::server(config);
                let out = feed(&mut s, &wire, cuts);
                (normalise(&out.events), out.transmitted, out.error)
            }
        };
        prop_assert_eq!(run(&cuts), run(&[]));
    }

    /// (c) Arbitrary bytes never panic, and every event respects the limits.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(any::<usize>(), 0..8), stream in any::<bool>(), client_role in any::<bool>()) {
        let delivery = if stream { Delivery::Stream } else { Delivery::Assemble };
        let config = Config::default().delivery(delivery).max_len(100);
        let out = if client_role {
            feed(&mut Connection::client(config, counter_mask()), &bytes, &cuts)
        } else {
            feed(&mut Connection::server(config), &bytes, &cuts)
        };
        for e in &out.events {
            match e {
                OwnedEvent::Text(t) => prop_assert!(t.len() <= 100),
                OwnedEvent::Binary(b) => prop_assert!(b.len() <= 100),
                OwnedEvent::Chunk { data, .. } => prop_assert!(data.len() <= 100),
                OwnedEvent::Ping(p) | OwnedEvent::Pong(p) => prop_assert!(p.len() <= 125),
                _ => {}
            }
        }
        for m in normalise(&out.events) {
            if let OwnedEvent::Binary(b) = m { prop_assert!(b.len() <= 100) }
        }
        if let Some(e) = out.error {
            // The failure Close went out with the error's code (unless a Close went out before).
            let code = e.close_code().0.to_be_bytes();
            let close_at = out.transmitted.len().saturating_sub(if client_role { 8 } else { 4 });
            let tail = &out.transmitted[close_at..];
            prop_assert_eq!(tail[0], 0x88);
            if !client_role { prop_assert_eq!(&tail[2..], &code[..]); }
        }
    }
}
