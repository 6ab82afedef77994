//! permessage-deflate (RFC 7692): the §7.2.3 examples, negotiation, round trips and bombs.
#![cfg(feature = "deflate")]

mod common;

use common::*;
use flate2::{Compress, Compression, FlushCompress};
use wsmachine::deflate::{DeflateConfig, DeflateParams};
use wsmachine::*;

fn params() -> DeflateParams {
    DeflateConfig::new().accept_offer([]).unwrap()
}

fn client_with(params: &DeflateParams, config: Config) -> Connection<TestMasks<impl FnMut() -> [u8; 4]>> {
    Connection::client_with_test_masks(config, counter_mask()).with_deflate(params)
}

#[test]
fn rfc7692_section_7_2_3_examples() {
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        let cfg = Config::default().delivery(delivery);
        let hello = OwnedEvent::Text("Hello".into());
        // §7.2.3.1: "Hello" compressed in one frame.
        let mut c = client_with(&params(), cfg);
        let out = feed(&mut c, &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &[]);
        assert_eq!((normalise(&out.events), out.error), (vec![hello.clone()], None));
        // §7.2.3.1: the same message in two fragments.
        let out = feed(&mut c, &[0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00], &[]);
        assert_eq!((normalise(&out.events), out.error), (vec![hello.clone()], None));
        // §7.2.3.2: a second "Hello" using the window of the first.
        let mut c = client_with(&params(), cfg);
        let wire =
            [&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..], &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]]
                .concat();
        for cut in 0..wire.len() {
            let mut c = client_with(&params(), cfg);
            let out = feed(&mut c, &wire, &[cut]);
            assert_eq!(normalise(&out.events), vec![hello.clone(), hello.clone()], "cut {cut}");
        }
        feed(&mut c, &wire, &[]);
        // §7.2.3.3: an uncompressed (stored) DEFLATE block.
        let mut c = client_with(&params(), cfg);
        let out = feed(&mut c, &[0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], &[]);
        assert_eq!((normalise(&out.events), out.error), (vec![hello.clone()], None));
        // §7.2.3.4: a block with BFINAL set; the next message starts a new stream.
        let mut c = client_with(&params(), cfg);
        let bfinal = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let out = feed(&mut c, &[&bfinal[..], &bfinal].concat(), &[]);
        assert_eq!((normalise(&out.events), out.error), (vec![hello.clone(), hello], None));
    }
}

#[test]
fn rsv1_without_deflate_or_on_continuations_is_a_protocol_error() {
    let mut c = Connection::client_with_test_masks(Config::default(), counter_mask());
    let out = feed(&mut c, &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &[]);
    assert_eq!(out.error, Some(ProtocolError::ReservedBits(0b100)));
    let mut c = client_with(&params(), Config::default());
    let out = feed(&mut c, &[0x01, 0x01, b'a', 0xc0, 0x01, b'b'], &[]);
    assert_eq!(out.error, Some(ProtocolError::ReservedBits(0b100)));
    let mut c = client_with(&params(), Config::default());
    let out = feed(&mut c, &[0xc9, 0x00], &[]);
    assert_eq!(out.error, Some(ProtocolError::ReservedBits(0b100)), "control frames are never compressed");
}

#[test]
fn negotiation_matrix() {
    let cfg = DeflateConfig::new();
    // A browser's offer.
    assert_eq!(cfg.accept_offer([("client_max_window_bits", None)]).unwrap().response(), "permessage-deflate");
    // Requests the server must honour.
    let p = cfg.accept_offer([("server_no_context_takeover", None), ("server_max_window_bits", Some("10"))]).unwrap();
    assert_eq!(p.response(), "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
    assert_eq!((p.server_max_window_bits, p.server_no_context_takeover), (10, true));
    let p = cfg.accept_offer([("client_max_window_bits", Some("9")), ("client_no_context_takeover", None)]).unwrap();
    assert_eq!(p.response(), "permessage-deflate; client_no_context_takeover; client_max_window_bits=9");
    // Window 8 is honoured (compression then never reaches back more than 256 bytes).
    let p = cfg.accept_offer([("server_max_window_bits", Some("8"))]).unwrap();
    assert_eq!(p.server_max_window_bits, 8);
    // Offers that must be declined: unknown, duplicated, out of range, missing value.
    for bad in [
        vec![("x-unknown", None)],
        vec![("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        vec![("server_max_window_bits", Some("7"))],
        vec![("server_max_window_bits", Some("16"))],
        vec![("server_max_window_bits", None)],
        vec![("client_max_window_bits", Some("abc"))],
        vec![("server_no_context_takeover", Some("1"))],
        // §7.1.2.1: no leading zeroes, no sign.
        vec![("server_max_window_bits", Some("09"))],
        vec![("server_max_window_bits", Some("010"))],
        vec![("client_max_window_bits", Some("+9"))],
        vec![("client_max_window_bits", Some(""))],
    ] {
        assert_eq!(cfg.accept_offer(bad.clone()), None, "{bad:?}");
    }
    // A server configured with smaller windows and no context takeover says so.
    let small = DeflateConfig::new().max_window_bits(10).no_context_takeover(true);
    let p = small.accept_offer([("client_max_window_bits", None)]).unwrap();
    assert_eq!(
        p.response(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10"
    );
    // Client side: the offer, and validation of answers (§7.1).
    assert_eq!(cfg.offer(), "permessage-deflate; client_max_window_bits");
    assert_eq!(small.offer(), "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10");
    assert!(cfg.accept_response([]).is_ok());
    assert!(cfg.accept_response([("client_max_window_bits", Some("12"))]).is_ok());
    assert!(cfg.accept_response([("client_max_window_bits", None)]).is_err(), "needs a value");
    assert!(small.accept_response([("server_no_context_takeover", None)]).is_err(), "window 15 > 10 asked");
    assert!(small
        .accept_response([("server_no_context_takeover", None), ("server_max_window_bits", Some("10"))])
        .is_ok());
    assert!(small.accept_response([("server_max_window_bits", Some("10"))]).is_err(), "takeover was refused");
    assert!(cfg.accept_response([("foo", None)]).is_err());
    // §7.1.2.2: the client fails the connection on a malformed value.
    for bad in ["012", "+12", "0x0c", "12 "] {
        assert!(cfg.accept_response([("client_max_window_bits", Some(bad))]).is_err(), "{bad}");
    }
    // Every well-formed value is accepted, by the server and (within the offer) by the client.
    for bits in 8..=15u8 {
        let v = bits.to_string();
        assert_eq!(
            cfg.accept_offer([("server_max_window_bits", Some(v.as_str()))]).unwrap().server_max_window_bits,
            bits
        );
        assert!(cfg.accept_response([("client_max_window_bits", Some(v.as_str()))]).is_ok());
    }
}

fn round_trip(server_params: &DeflateParams, client_params: &DeflateParams, delivery: Delivery, messages: &[Vec<u8>]) {
    let cfg = Config::default().delivery(delivery).max_len(1 << 22);
    let mut client = client_with(client_params, cfg);
    let mut server = Connection::server(cfg).with_deflate(server_params);
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if i % 2 == 0 {
            client.send_binary_vec(m, &mut up).unwrap();
            server.send_binary_vec(m, &mut down).unwrap();
        } else {
            let text: String = m.iter().map(|&b| (b % 64 + 32) as char).collect();
            client.send_text_vec(&text, &mut up).unwrap();
            server.send_text_vec(&text, &mut down).unwrap();
        }
        client.ping_vec(b"between", &mut up).unwrap();
    }
    let expected: Vec<OwnedEvent> = messages
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let msg = if i % 2 == 0 {
                OwnedEvent::Binary(m.clone())
            } else {
                OwnedEvent::Text(m.iter().map(|&b| (b % 64 + 32) as char).collect())
            };
            [msg, OwnedEvent::Ping(b"between".to_vec())]
        })
        .collect();
    for cut in [0, 1, 7, up.len() / 3] {
        let mut s = Connection::server(cfg).with_deflate(server_params);
        let out = feed(&mut s, &up, &[cut, cut * 2]);
        assert_eq!(out.error, None);
        assert_eq!(normalise(&out.events), expected, "{delivery:?} {server_params:?} cut {cut}");
    }
    let out = feed(&mut client, &down, &[5]);
    assert_eq!(out.error, None);
    let expected_down: Vec<_> = expected.iter().filter(|e| !matches!(e, OwnedEvent::Ping(_))).cloned().collect();
    assert_eq!(normalise(&out.events), expected_down);
    // Compression really happened on the wire for compressible messages.
    let _ = server.state();
}

#[test]
fn round_trips_for_every_parameter_combination() {
    let mut messages: Vec<Vec<u8>> = vec![b"".to_vec(), b"Hello".to_vec(), vec![b'a'; 100], vec![0; 70_000]];
    messages.push((0..300_000u32).map(|i| (i * 7 % 251) as u8).collect());
    messages.push((0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()); // incompressible
    messages.push(b"Hello".repeat(1000));
    for offer in [
        vec![],
        vec![("server_no_context_takeover", None), ("client_no_context_takeover", None)],
        vec![("server_max_window_bits", Some("8")), ("client_max_window_bits", Some("8"))],
        vec![("server_max_window_bits", Some("9")), ("client_max_window_bits", Some("15"))],
        vec![
            ("server_no_context_takeover", None),
            ("server_max_window_bits", Some("8")),
            ("client_max_window_bits", None),
        ],
    ] {
        let server_params = DeflateConfig::new().accept_offer(offer.clone()).unwrap();
        let response = server_params.response();
        let answer: Vec<(&str, Option<&str>)> = response
            .split(';')
            .skip(1)
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (p, None),
                }
            })
            .collect();
        let client_cfg = DeflateConfig::new();
        let client_params = client_cfg.accept_response(answer.clone()).unwrap();
        for delivery in [Delivery::Assemble, Delivery::Stream] {
            round_trip(&server_params, &client_params, delivery, &messages);
        }
        if server_params.server_no_context_takeover {
            // And with short messages sent plain without context takeover (mixed compressed
            // and plain messages on one connection).
            let mixed = DeflateConfig::new().min_compress_len_no_context(128);
            let server_params = mixed.accept_offer(offer.clone()).unwrap();
            let client_params = mixed.accept_response(answer).unwrap();
            round_trip(&server_params, &client_params, Delivery::Assemble, &messages);
        }
    }
}

/// RFC 7692 §6: the sender chooses per message. Without context takeover a message shorter
/// than `min_compress_len_no_context` (here 128, the measured choice; default 0) goes out plain;
/// from that length on it is compressed. With context takeover `min_compress_len` alone applies.
#[test]
fn without_context_takeover_short_messages_are_sent_plain_up_to_the_threshold() {
    let nct = [("server_no_context_takeover", None), ("client_no_context_takeover", None)];
    assert_eq!(DeflateConfig::new().min_compress_len_no_context, 0);
    assert_eq!(DeflateConfig::new().min_compress_len_no_context(7).min_compress_len_no_context, 7);
    let sent = |cfg: DeflateConfig, offer: &[(&'static str, Option<&'static str>)], len: usize| {
        let p = cfg.accept_offer(offer.iter().copied()).unwrap();
        let mut s = Connection::server(Config::default()).with_deflate(&p);
        let text = "x".repeat(len);
        let mut out = Vec::new();
        s.send_text_vec(&text, &mut out).unwrap();
        assert!(out.len() <= s.encoded_len(len), "{len}: {} > {}", out.len(), s.encoded_len(len));
        let mut c = client_with(&p, Config::default());
        assert_eq!(feed(&mut c, &out, &[]).events, vec![OwnedEvent::Text(text)]);
        out[0]
    };
    // The default compresses everything, with or without context takeover.
    assert_eq!(sent(DeflateConfig::new(), &nct, 1), 0xc1);
    assert_eq!(sent(DeflateConfig::new(), &[], 1), 0xc1);
    let measured = DeflateConfig::new().min_compress_len_no_context(128);
    assert_eq!(sent(measured, &nct, 127), 0x81, "127 B: plain");
    assert_eq!(sent(measured, &nct, 128), 0xc1, "128 B: compressed (RSV1)");
    assert_eq!(sent(measured, &nct, 0), 0x81, "empty: plain");
    // Only this end's own reset counts: the client keeping its context does not matter.
    assert_eq!(sent(measured, &[("server_no_context_takeover", None)], 127), 0x81);
    assert_eq!(sent(measured, &[("client_no_context_takeover", None)], 1), 0xc1);
    // With context takeover: everything compressed.
    assert_eq!(sent(measured, &[], 1), 0xc1);
    // A configured threshold: the larger of the two applies without context takeover.
    let custom = DeflateConfig::new().min_compress_len_no_context(10);
    assert_eq!(sent(custom, &nct, 9), 0x81);
    assert_eq!(sent(custom, &nct, 10), 0xc1);
    let both = DeflateConfig::new().min_compress_len(300).min_compress_len_no_context(10);
    assert_eq!(sent(both, &nct, 299), 0x81);
    assert_eq!(sent(both, &nct, 300), 0xc1);
    assert_eq!(sent(both, &[], 299), 0x81);
    // The client side, whose own flag is `client_no_context_takeover`.
    let p = measured.accept_offer(nct).unwrap();
    let mut c = client_with(&p, Config::default());
    let mut out = Vec::new();
    c.send_text_vec(&"y".repeat(127), &mut out).unwrap();
    c.send_text_vec(&"y".repeat(128), &mut out).unwrap();
    assert_eq!(out[0], 0x81);
    let second = 2 + 2 + 4 + 127; // header with 16-bit length and mask key, then the payload
    assert_eq!(out[second], 0xc1);
}

/// A peer that agreed to no context takeover (RFC 7692 §7.1.1.2) but refers back into its
/// previous message is caught, as when each message had an inflater of its own: the inflater
/// that messages pipelined in one read share starts each of them with an empty window.
#[test]
fn a_reference_into_the_previous_message_is_refused_without_context_takeover() {
    let text = b"a message that the next one repeats word for word";
    let mut z = Compress::new(Compression::new(6), false);
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let mut out = Vec::with_capacity(256);
        z.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        payloads.push(out);
    }
    assert!(payloads[1].len() < 10, "the second message is a back-reference");
    let mut wire = Vec::new();
    for p in &payloads {
        let key = [1, 2, 3, 4];
        wire.extend_from_slice(&[0xC1, 0x80 | p.len() as u8]);
        wire.extend_from_slice(&key);
        wire.extend(p.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    for (offer, ok) in [(&[][..], true), (&[("client_no_context_takeover", None)][..], false)] {
        let p = DeflateConfig::new().accept_offer(offer.iter().copied()).unwrap();
        let mut s = Connection::server(Config::default()).with_deflate(&p);
        let out = feed(&mut s, &wire, &[]);
        let expected = core::str::from_utf8(text).unwrap();
        assert_eq!(out.events[0], OwnedEvent::Text(expected.into()));
        if ok {
            assert_eq!((out.error, out.events.len()), (None, 2));
        } else {
            assert_eq!((out.error, out.events.len()), (Some(ProtocolError::InvalidCompressedData), 1));
        }
    }
}

/// With no context takeover, messages that follow one another in the input share one inflater,
/// reset between them (RFC 7692 §7.1.1.2), and the one that follows a message ending in a final
/// block (§7.2.3.4) is inflated from its own start however its bytes are cut.
#[test]
fn messages_after_a_final_block_inflate_whatever_the_cuts() {
    let p = DeflateConfig::new().no_context_takeover(true).accept_offer([]).unwrap();
    let masked = |payload: &[u8]| {
        let key = [9, 8, 7, 6];
        let mut f = vec![0xC1, 0x80 | payload.len() as u8];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    };
    // A first message ending with BFINAL (a finished stream), then a normal sync-flushed one.
    let mut z = Compress::new(Compression::new(6), false);
    let mut ended = Vec::with_capacity(256);
    z.compress_vec(b"the first message, ended", &mut ended, FlushCompress::Finish).unwrap();
    let mut z = Compress::new(Compression::new(6), false);
    let mut synced = Vec::with_capacity(256);
    z.compress_vec(b"the second message, synced", &mut synced, FlushCompress::Sync).unwrap();
    assert!(synced.ends_with(&[0, 0, 0xff, 0xff]));
    synced.truncate(synced.len() - 4);
    let mut wire = masked(&ended);
    wire.extend_from_slice(&masked(&synced));
    wire.extend_from_slice(&masked(&synced));
    let expected = vec![
        OwnedEvent::Text("the first message, ended".into()),
        OwnedEvent::Text("the second message, synced".into()),
        OwnedEvent::Text("the second message, synced".into()),
    ];
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        for cut in 1..wire.len() {
            let mut s = Connection::server(Config::default().delivery(delivery)).with_deflate(&p);
            let cuts: Vec<usize> = (cut..wire.len()).step_by(cut.max(1)).collect();
            let out = feed(&mut s, &wire, &cuts);
            assert_eq!(out.error, None, "{delivery:?}, cuts every {cut}");
            assert_eq!(normalise(&out.events), expected, "{delivery:?}, cuts every {cut}");
        }
    }
}

#[test]
fn sent_messages_are_compressed_with_rsv1_on_the_first_frame_only() {
    let p = params();
    let mut s = Connection::server(Config::default().fragment_size(10)).with_deflate(&p);
    let mut out = Vec::new();
    let text = "Hello ".repeat(100);
    s.send_text_vec(&text, &mut out).unwrap();
    assert!(out.len() < 100, "{} bytes", out.len());
    assert_eq!(out[0], 0x41, "RSV1 + text, not final");
    assert_eq!(out[12] & 0x7F, 0x00, "a continuation frame without RSV1");
    let mut c = client_with(&p, Config::default());
    assert_eq!(feed(&mut c, &out, &[]).events, vec![OwnedEvent::Text(text)]);
    // Every message is compressed by default, even a short one that does not shrink...
    let mut out = Vec::new();
    s.send_text_vec("hi", &mut out).unwrap();
    assert_eq!(out[0], 0xc1);
    assert_eq!(feed(&mut c, &out, &[]).events, vec![OwnedEvent::Text("hi".into())]);
    // ...unless a threshold is configured.
    let p = DeflateConfig::new().min_compress_len(64).accept_offer([]).unwrap();
    let mut s = Connection::server(Config::default()).with_deflate(&p);
    let mut out = Vec::new();
    s.send_text_vec("hi", &mut out).unwrap();
    assert_eq!(out, b"\x81\x02hi");
}

/// A DEFLATE block that inflates to 1 MiB of zeros and needs no history (full flush).
fn zero_block() -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(1 << 16);
    c.compress_vec(&vec![0u8; 1 << 20], &mut out, FlushCompress::Full).unwrap();
    out
}

#[test]
fn a_gigabyte_bomb_is_refused_at_the_limit_without_inflating_it() {
    let block = zero_block();
    assert!(block.len() < 4096, "{} bytes", block.len());
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        let cfg = Config::default().delivery(delivery).max_frame_payload(1 << 30).max_message_len(4 << 20);
        let mut c = client_with(&params(), cfg);
        // One frame of 1024 blocks: 1 GiB once inflated.
        let payload = block.repeat(1024);
        let mut frame = vec![0xc2, 127];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&payload);
        let out = feed(&mut c, &frame, &[]);
        assert_eq!(out.error, Some(ProtocolError::MessageTooLarge), "{delivery:?}");
        assert_eq!(&out.transmitted[..2], &[0x88, 0x82]);
        // In stream delivery, at most 4 MiB came out before the refusal.
        let streamed: usize =
            out.events.iter().map(|e| if let OwnedEvent::Chunk { data, .. } = e { data.len() } else { 0 }).sum();
        assert!(streamed <= 4 << 20);
    }
    // A ratio cap refuses it much earlier.
    let p = DeflateConfig::new().max_ratio(Some(100)).accept_offer([]).unwrap();
    let mut c = client_with(&p, Config::default().delivery(Delivery::Stream));
    let payload = block.repeat(4);
    let mut frame = vec![0xc2, 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(&payload);
    assert_eq!(feed(&mut c, &frame, &[]).error, Some(ProtocolError::MessageTooLarge));
}

#[test]
fn invalid_utf8_and_corrupt_data_in_compressed_messages() {
    let compress = |data: &[u8]| {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        out
    };
    let mut bad = b"valid start ".to_vec();
    bad.extend_from_slice(&[0xff; 3]);
    let payload = compress(&bad);
    let mut c = client_with(&params(), Config::default());
    let out = feed(&mut c, &[&[0xc1, payload.len() as u8][..], &payload].concat(), &[]);
    assert_eq!(out.error, Some(ProtocolError::InvalidUtf8));
    let mut c = client_with(&params(), Config::default());
    let out = feed(&mut c, &[0xc2, 0x03, 0xff, 0xff, 0xff], &[]);
    assert_eq!(out.error, Some(ProtocolError::InvalidCompressedData));
    assert_eq!(&out.transmitted[..2], &[0x88, 0x82], "a masked Close with a code");
}

#[test]
fn negotiation_through_the_handshake() {
    use wsmachine::handshake::{client, server};
    let cfg = DeflateConfig::new();
    let req = client::ClientRequest::new("example.com", "/chat", [7; 16]).with_extensions(
        "x-other, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits",
    );
    let bytes = req.request_vec().unwrap();
    let mut parser = server::RequestParser::new();
    let Ok(server::Request::Upgrade(incoming)) = parser.parse(&bytes) else { panic!("not an upgrade") };
    // The first permessage-deflate offer is invalid (16), the second is taken.
    let params = cfg.negotiate(incoming.extensions()).unwrap();
    let response_value = params.response();
    let accept = incoming.accept(&server::AcceptOptions::new().with_extensions(&response_value)).unwrap();
    let response = accept.response_vec();
    let mut parser = req.response_parser();
    let Ok(client::Reply::Accepted(accepted)) = parser.parse(&response) else { panic!("not accepted") };
    assert_eq!(cfg.negotiated(accepted.extensions()), Ok(Some(cfg.accept_response([]).unwrap())));
    // A server that accepts nothing: no deflate, and that is fine.
    assert_eq!(cfg.negotiated(core::iter::empty()), Ok(None));
}

#[test]
fn encoded_len_bounds_compressed_output_even_for_incompressible_data() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for offer in [vec![], vec![("server_max_window_bits", Some("8"))]] {
        let p = DeflateConfig::new().level(9).accept_offer(offer).unwrap();
        for fragment_size in [0, 100] {
            let mut s = Connection::server(Config::default().fragment_size(fragment_size)).with_deflate(&p);
            for len in [0, 1, 10, 255, 256, 257, 1000, 4096, 70_000, 300_000] {
                let data = noise(len);
                let mut out = vec![0u8; s.encoded_len(len)];
                let n = s.send_binary(&data, &mut out).unwrap();
                assert!(n <= out.len());
                assert_eq!(out[0] & 0x40, 0x40, "compressed (RSV1), len {len}");
            }
        }
    }
}

#[test]
fn fragmented_compressed_message_with_pings_between_fragments() {
    use wsmachine::frame::{decode, Decoded};
    let p = params();
    let mut s = Connection::server(Config::default().fragment_size(50)).with_deflate(&p);
    let mut x = 12345u32;
    let text: String = (0..3000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            char::from(b'a' + ((x >> 16) % 26) as u8)
        })
        .collect();
    let mut frames = Vec::new();
    s.send_text_vec(&text, &mut frames).unwrap();
    // Cut the wire at frame boundaries and put a ping after every fragment but the last.
    let mut wire = Vec::new();
    let mut at = 0;
    let mut fragments = 0;
    while at < frames.len() {
        let Decoded::Complete(h, n) = decode(&frames[at..]).unwrap() else { panic!("partial frame") };
        let end = at + n + h.payload_len as usize;
        assert_eq!(h.rsv, if fragments == 0 { 0b100 } else { 0 }, "RSV1 on the first fragment only");
        wire.extend_from_slice(&frames[at..end]);
        if end < frames.len() {
            wire.extend_from_slice(&[0x89, 0x01, fragments as u8]);
        }
        fragments += 1;
        at = end;
    }
    assert!(fragments > 2, "{fragments} fragments");
    for delivery in [Delivery::Assemble, Delivery::Stream] {
        for cut in [0, 3, wire.len() / 2] {
            let mut c = client_with(&p, Config::default().delivery(delivery));
            let out = feed(&mut c, &wire, &[cut]);
            assert_eq!(out.error, None);
            let events = normalise(&out.events);
            let pings = events.iter().filter(|e| matches!(e, OwnedEvent::Ping(_))).count();
            assert_eq!(pings, fragments - 1);
            assert_eq!(events.last(), Some(&OwnedEvent::Text(text.clone())), "{delivery:?} cut {cut}");
        }
    }
}

/// Letters from a xorshift: text that compresses only against an earlier copy of itself.
fn noise_text(len: usize) -> String {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

/// Inflates one server frame's payload on its own, with a fresh inflater and an empty window.
fn inflate_alone(frame: &[u8]) -> Option<Vec<u8>> {
    let (len, start) = match frame[1] {
        126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
        n => (n as usize, 2),
    };
    let mut input = frame[start..start + len].to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(64 * 1024);
    d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync).ok()?;
    Some(out)
}

/// The compressor kept for the messages of one read starts each of them with an empty window
/// (RFC 7692 §7.1.1.1): every echo of a burst inflates on its own. With context takeover the
/// same echoes refer back to each other, so the second is a fraction of the first.
#[test]
fn echoes_of_one_read_are_compressed_each_on_its_own_without_context_takeover() {
    let text = noise_text(600);
    for (offer, independent) in [(&[("server_no_context_takeover", None)][..], true), (&[][..], false)] {
        let p = DeflateConfig::new().accept_offer(offer.iter().copied()).unwrap();
        let mut client = client_with(&p, Config::default());
        let mut wire = Vec::new();
        for _ in 0..3 {
            client.send_text_vec(&text, &mut wire).unwrap();
        }
        let mut server = Connection::server(Config::default()).with_deflate(&p);
        let mut assembly = Assembly::new();
        let (mut at, mut echoes) = (0, Vec::new());
        loop {
            let read = server.read(&mut wire[at..], &mut assembly).unwrap();
            at += read.consumed;
            match read.event {
                Some(Event::Message(Message::Text(t))) => {
                    let mut echo = Vec::new();
                    server.send_text_vec(t, &mut echo).unwrap();
                    assert_eq!(echo[0], 0xc1, "compressed");
                    echoes.push(echo);
                }
                None => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(echoes.len(), 3);
        for (i, echo) in echoes.iter().enumerate() {
            let alone = inflate_alone(echo);
            if independent || i == 0 {
                assert_eq!(alone.as_deref(), Some(text.as_bytes()), "echo {i} on its own, {offer:?}");
            } else {
                assert_ne!(alone.as_deref(), Some(text.as_bytes()), "echo {i} refers back, {offer:?}");
                assert!(
                    echo.len() < echoes[0].len() / 4,
                    "context taken over: {} then {}",
                    echoes[0].len(),
                    echo.len()
                );
            }
        }
        // And the peer, which takes the same context over, reads them all.
        let all: Vec<u8> = echoes.concat();
        let expected = vec![OwnedEvent::Text(text.clone()); 3];
        assert_eq!(feed(&mut client, &all, &[]).events, expected, "{offer:?}");
    }
}
