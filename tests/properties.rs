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
fn encode<M: Masking>(sender: &mut Connection<M>, ops: &[Op]) -> (Vec<u8>, Vec<OwnedEvent>) {
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
                sender.ping_vec(p, &mut wire).unwrap();
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
        let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
        let (wire, expected) = encode(&mut client, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let mut server = Connection::server(Config::default().delivery(delivery));
        let out = feed(&mut server, &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected.clone());

        let mut server = Connection::server(Config::default());
        let (wire, expected) = encode(&mut server, &ops);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let mut client = Connection::client_with_test_masks(Config::default().delivery(delivery), counter_mask());
        let out = feed(&mut client, &wire, &cuts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);
    }

    /// (a') Through a `RecvBuffer` (where whole frames wait in place), whatever the read sizes
    /// and the memory retained between messages, the same messages arrive, in both roles.
    #[test]
    fn round_trip_through_recv_buffer(ops in prop::collection::vec(op(), 0..12), reads in prop::collection::vec(1usize..600, 1..6), retain in 0usize..400) {
        let config = Config::default().retain_capacity(retain);
        let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
        let (wire, expected) = encode(&mut client, &ops);
        let out = feed_recv_buffer(&mut Connection::server(config), &wire, &reads);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);

        let mut server = Connection::server(Config::default());
        let (wire, expected) = encode(&mut server, &ops);
        let out = feed_recv_buffer(&mut Connection::client_with_test_masks(config, counter_mask()), &wire, &reads);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(normalise(&out.events), expected);
    }

    /// (a''') Through a `RecvBuffer`, where a text frame waits until it is whole, its text is
    /// still checked as it arrives (RFC 6455 §8.1): on any stream, also one cut short inside a
    /// corrupted text frame, the events, the error and the bytes sent back are those of plain
    /// `read`, which fails on the first byte that cannot be UTF-8 (the buffer by the next call
    /// of `next`, see `feed_recv_buffer`). Both roles.
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
            let mut client = Connection::client_with_test_masks(Config::default(), counter_mask());
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
                (true, true) => feed(&mut Connection::client_with_test_masks(Config::default(), counter_mask()), &wire, &[]),
                (true, false) => feed_recv_buffer(&mut Connection::client_with_test_masks(Config::default(), counter_mask()), &wire, &reads),
                (false, true) => feed(&mut Connection::server(Config::default()), &wire, &[]),
                (false, false) => feed_recv_buffer(&mut Connection::server(Config::default()), &wire, &reads),
            };
            (normalise(&out.events), out.error, out.transmitted)
        };
        prop_assert_eq!(run(false), run(true));
    }

    /// (b') Split invariance through a `RecvBuffer`, on arbitrary (mostly valid) streams: the
    /// same events, output and error whatever the read sizes.
    #[test]
    fn split_invariance_through_recv_buffer(ops in prop::collection::vec(op(), 0..8), junk in prop::collection::vec(any::<u8>(), 0..40), reads in prop::collection::vec(1usize..300, 1..8), retain in 0usize..400) {
        let config = Config::default().retain_capacity(retain).max_len(200);
        let mut wire = encode(&mut Connection::client_with_test_masks(Config::default(), counter_mask()), &ops).0;
        wire.extend_from_slice(&junk);
        let run = |reads: &[usize]| {
            let out = feed_recv_buffer(&mut Connection::server(config), &wire, reads);
            (normalise(&out.events), out.transmitted, out.error)
        };
        prop_assert_eq!(run(&reads), run(&[usize::MAX]));
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
            encode(&mut Connection::client_with_test_masks(Config::default(), counter_mask()), &ops).0
        };
        wire.extend_from_slice(&junk);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        let run = |cuts: &[usize]| {
            if client_role {
                let mut c = Connection::client_with_test_masks(config, counter_mask());
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
            feed(&mut Connection::client_with_test_masks(config, counter_mask()), &bytes, &cuts)
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

/// One step of a driver, at the time the steps before it reached.
#[derive(Clone, Debug)]
enum Step {
    /// The clock moves on.
    Wait(u8),
    /// The peer (a client) queues a text message, a ping or its Close on the wire.
    PeerText,
    PeerPing,
    PeerClose,
    /// The peer queues a fragment that starts (or continues) a message, or the final one.
    PeerFragment,
    PeerFinish,
    /// The driver reads up to this many of the bytes on the wire.
    Read(u8),
    PollTransmit,
    HandleTimeout,
    PollTimeout,
    Close,
    /// The driver reports its output backed up, or drained.
    OutputBlocked,
    OutputDrained,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..40).prop_map(Step::Wait),
        1 => Just(Step::PeerText),
        1 => Just(Step::PeerPing),
        1 => Just(Step::PeerClose),
        1 => Just(Step::PeerFragment),
        1 => Just(Step::PeerFinish),
        3 => (1u8..30).prop_map(Step::Read),
        2 => Just(Step::PollTransmit),
        2 => Just(Step::HandleTimeout),
        2 => Just(Step::PollTimeout),
        1 => Just(Step::Close),
        1 => Just(Step::OutputBlocked),
        1 => Just(Step::OutputDrained),
    ]
}

/// Whether `out` (a server's frames, unmasked) holds a Close frame.
fn has_close(out: &[u8]) -> bool {
    let mut at = 0;
    while at + 2 <= out.len() {
        if out[at] & 0x0F == 0x8 {
            return true;
        }
        at += 2 + (out[at + 1] & 0x7F) as usize; // control frames: 7-bit lengths
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Time is an input: whatever the order of reads, writes, timer calls, closes, messages in
    /// fragments and blocked output, no deadline is ever earlier than the event that started
    /// it plus its timeout, and no timer fires before that. The connection keeps no clock, so a
    /// driver that calls `handle_timeout` rarely cannot make it judge with a stale one.
    #[test]
    fn no_deadline_is_earlier_than_the_call_that_armed_it(steps in prop::collection::vec(step(), 1..60)) {
        use std::time::Duration;
        const CLOSE: u64 = 10;
        const KEEPALIVE: u64 = 30;
        const PONG: u64 = 20;
        const MESSAGE: u64 = 15;
        const STALL: u64 = 25;
        let secs = Duration::from_secs;
        let config = Config::default()
            .close_timeout(Some(secs(CLOSE)))
            .keepalive(Some(secs(KEEPALIVE)), secs(PONG))
            .message_timeout(Some(secs(MESSAGE)))
            .write_stall_timeout(Some(secs(STALL)));
        let mut server = Connection::server(config);
        let mut assembly = Assembly::new();
        let mut peer = Connection::client_with_test_masks(Config::default(), counter_mask());
        let mut wire: Vec<u8> = Vec::new();
        let mut now = 0u64;
        // The model: when the clock started, when input last arrived, when our Close went out,
        // when a keepalive ping was queued (and no input came since).
        let mut clock_start: Option<u64> = None;
        let mut last_input = 0u64;
        let mut close_written: Option<u64> = None;
        let mut ping_at: Option<u64> = None;
        // Bytes the peer ever wrote, and bytes handed to the server. The messages the peer sent
        // (whole or in fragments): where the first header ends in the stream, where the message
        // ends (once finished), and when the server was handed that header (it took it then).
        let (mut written, mut handed) = (0u64, 0u64);
        let mut messages: std::collections::VecDeque<(u64, Option<u64>, Option<u64>)> = Default::default();
        let mut peer_in_message = false;
        // Since when output is blocked.
        let mut blocked: Option<u64> = None;
        for step in steps {
            let before = wire.len();
            match step {
                Step::Wait(s) => now += s as u64,
                Step::PeerText => {
                    if peer.send_text_vec("hi", &mut wire).is_ok() {
                        // A message too: one that a read cut after its header has started.
                        let end = written + (wire.len() - before) as u64;
                        messages.push_back((end - 2, Some(end), None));
                    }
                }
                Step::PeerPing => { peer.ping_vec(b"p", &mut wire).ok(); }
                Step::PeerClose => { peer.close_vec(CloseCode::NORMAL, "", &mut wire).ok(); }
                Step::PeerFragment | Step::PeerFinish => {
                    let fin = matches!(step, Step::PeerFinish);
                    let mut out = [0u8; 16];
                    if peer_in_message || !fin {
                        if let Ok(n) = peer.send_fragment(MessageKind::Binary, b"ab", fin, &mut out) {
                            wire.extend_from_slice(&out[..n]);
                            if !peer_in_message {
                                messages.push_back((written + n as u64 - 2, None, None));
                            }
                            if fin {
                                messages.back_mut().unwrap().1 = Some(written + n as u64);
                            }
                            peer_in_message = !fin;
                        }
                    }
                }
                Step::OutputBlocked => {
                    server.output_blocked();
                    blocked.get_or_insert(now);
                }
                Step::OutputDrained => {
                    server.output_drained();
                    blocked = None;
                }
                Step::Read(n) => {
                    let n = (n as usize).min(wire.len());
                    let mut input: Vec<u8> = wire.drain(..n).collect();
                    let mut at = 0;
                    let mut used = 0;
                    while let Ok(read) = server.read(&mut input[at..], &mut assembly) {
                        at += read.consumed;
                        used += read.consumed;
                        if read.event.is_none() { break; }
                    }
                    if used > 0 && server.state() != State::TimedOut {
                        last_input = now;
                        ping_at = None;
                    }
                    handed += n as u64;
                    for m in messages.iter_mut().filter(|m| handed >= m.0) {
                        m.2.get_or_insert(now);
                    }
                    while messages.front().is_some_and(|m| m.1.is_some_and(|end| handed >= end)) {
                        messages.pop_front();
                    }
                }
                Step::PollTransmit => {
                    let mut out = Vec::new();
                    server.poll_transmit_vec(&mut out);
                    if has_close(&out) { close_written.get_or_insert(now); }
                }
                Step::Close => {
                    let mut out = [0u8; 131];
                    if server.close(CloseCode::NORMAL, "", &mut out).is_ok() { close_written.get_or_insert(now); }
                }
                Step::HandleTimeout | Step::PollTimeout => {
                    clock_start.get_or_insert(now);
                    let floor_keepalive = last_input.max(clock_start.unwrap()) + KEEPALIVE;
                    if let Step::HandleTimeout = step {
                        match server.handle_timeout(secs(now)) {
                            Some(Timeout::CloseHandshake) => prop_assert!(now >= close_written.unwrap() + CLOSE, "close verdict at {now}, written at {close_written:?}"),
                            Some(Timeout::KeepalivePing) => {
                                prop_assert!(now >= floor_keepalive, "ping at {now}, input at {last_input}");
                                ping_at = Some(now);
                            }
                            Some(Timeout::PeerUnresponsive) => prop_assert!(ping_at.is_some_and(|p| now >= p + PONG), "dead-peer verdict at {now}, ping at {ping_at:?}"),
                            // The message the server is in is the first one not finished.
                            Some(Timeout::MessageIncomplete) => {
                                let started = messages.front().and_then(|m| m.2);
                                prop_assert!(started.is_some_and(|t| now >= t + MESSAGE), "message verdict at {now}, header taken at {started:?}");
                            }
                            Some(Timeout::WriteStalled) => prop_assert!(blocked.is_some_and(|b| now >= b + STALL), "write-stall verdict at {now}, blocked since {blocked:?}"),
                            _ => {}
                        }
                    } else if let Some(deadline) = server.poll_timeout(secs(now)) {
                        // The earliest any running timer may be due.
                        let mut floor = u64::MAX;
                        if let Some(w) = close_written { floor = floor.min(w + CLOSE); }
                        if let Some(p) = ping_at { floor = floor.min(p + PONG); }
                        if close_written.is_none() && ping_at.is_none() { floor = floor.min(floor_keepalive); }
                        if let Some(t) = messages.front().and_then(|m| m.2) { floor = floor.min(t + MESSAGE); }
                        if let Some(b) = blocked { floor = floor.min(b + STALL); }
                        prop_assert!(deadline >= secs(floor), "deadline {deadline:?} at {now} s, floor {floor} s");
                    }
                }
            }
            written += wire.len().saturating_sub(before) as u64; // a read only drains
        }
    }
}
