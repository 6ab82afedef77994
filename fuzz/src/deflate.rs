//! `deflate`: permessage-deflate (RFC 7692) in a `Connection`.
//!
//! Input: `[sel, ..]`. `sel & 1 == 0`: **read** — `[sel, cfg, splits, s1 .. sN, shape, c1 .. cM,
//! payload ..]`: the payload, cut at `c1 .. cM` (`M = shape & 7`), becomes the payloads of one
//! message's frames (RSV1 on the first, text if `shape & 8`, last frame without FIN if
//! `shape & 16`, the whole message twice if `shape & 32`, a ping after the first frame if
//! `shape & 64`, an uncompressed binary message after it if `shape & 128`), sent by a server
//! to a client `Connection` with default deflate parameters; then `read::split_invariance`
//! (config from `cfg`, reads split at `s1 .. sN`). Otherwise **round trip**: the rest is an
//! `arbitrary` [`Script`].

use arbitrary::{Arbitrary, Unstructured};
use wsmachine::deflate::{DeflateConfig, DeflateParams};
use wsmachine::handshake::Extensions;
use wsmachine::{Assembly, Config, Connection, Delivery, Masking};

use crate::read::{counter_mask, split_invariance};
use crate::{Norm, Normaliser};

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel & 1 == 0 {
        read(rest);
    } else if let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(rest)) {
        round_trip(script);
    }
}

/// An unmasked frame header (server to client).
fn frame(out: &mut Vec<u8>, fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) {
    out.push((fin as u8) << 7 | (rsv1 as u8) << 6 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

fn read(data: &[u8]) {
    let [cfg, splits, rest @ ..] = data else { return };
    let Some((lens, rest)) = rest.split_at_checked((splits & 7) as usize) else { return };
    let Some((&shape, rest)) = rest.split_first() else { return };
    let Some((cuts, payload)) = rest.split_at_checked((shape & 7) as usize) else { return };
    let mut pieces = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let end = (at + c as usize).min(payload.len());
        pieces.push(&payload[at..end]);
        at = end;
    }
    pieces.push(&payload[at..]);
    let mut message = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let opcode = if i > 0 {
            0
        } else if shape & 8 != 0 {
            1
        } else {
            2
        };
        frame(&mut message, last && shape & 16 == 0, i == 0, opcode, piece);
        if i == 0 && shape & 64 != 0 {
            frame(&mut message, true, false, 9, b"between");
        }
    }
    // Without FIN on the last frame the message stays open (so a repeat is an error).
    let mut wire = message.clone();
    if shape & 32 != 0 {
        wire.extend_from_slice(&message);
    }
    if shape & 128 != 0 {
        frame(&mut wire, true, false, 2, b"plain");
    }
    let params = DeflateConfig::new().accept_response([]).expect("an empty answer is valid");
    let mut input = vec![*cfg, *splits];
    input.extend_from_slice(lens);
    input.extend_from_slice(&wire);
    // `drive` checks: no panic, messages and chunk sums <= max_message_len (after inflation),
    // text joins to UTF-8, errors leave `Failed` with a Close queued, split == whole.
    split_invariance(&input, |config| Connection::client_with_test_masks(config, counter_mask()).with_deflate(&params));
}

/// A client's `permessage-deflate` offer (RFC 7692 §7.1); window bits are mapped to 8..=15.
#[derive(Arbitrary, Debug)]
pub struct Offer {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<Option<u8>>,
}

#[derive(Arbitrary, Debug)]
pub struct Msg {
    pub from_client: bool,
    pub text: bool,
    pub data: Vec<u8>,
    /// Deliver everything in flight after this message (else it waits for later ones).
    pub deliver: bool,
}

#[derive(Arbitrary, Debug)]
pub struct Script {
    pub offer: Offer,
    /// The server's own limits: window bits (8..=15, the low 3 bits) and no context takeover.
    /// Bit 7: both ends send messages under 128 B plain without context takeover.
    pub server_bits: u8,
    pub server_no_context_takeover: bool,
    pub level: u8,
    pub min_compress_len: u8,
    pub stream: bool,
    pub fragment_size: u8,
    pub chunks: Vec<u8>,
    pub messages: Vec<Msg>,
}

fn bits(b: u8) -> u8 {
    8 + b % 8
}

/// Both ends' `min_compress_len_no_context`: 128 (the measured choice), or 0 (the default).
fn no_context_min(script: &Script) -> usize {
    if script.server_bits & 0x80 != 0 {
        128
    } else {
        0
    }
}

/// The length from which an end compresses: with no context takeover on its side, the larger
/// of its two thresholds (RFC 7692 §6: the sender chooses per message).
fn compress_from(min: usize, no_context: bool, script: &Script) -> usize {
    if no_context {
        min.max(no_context_min(script))
    } else {
        min
    }
}

/// The negotiation: the server answers the offer, the client checks the answer; both ends must
/// agree on every parameter.
fn negotiate(script: &Script) -> (DeflateParams, DeflateParams) {
    let o = &script.offer;
    let server_bits = o.server_max_window_bits.map(bits);
    let client_bits = o.client_max_window_bits.map(|b| b.map(bits));
    let (sv, cv) = (server_bits.map(|b| b.to_string()), client_bits.flatten().map(|b| b.to_string()));
    let mut offer: Vec<(&str, Option<&str>)> = Vec::new();
    if o.server_no_context_takeover {
        offer.push(("server_no_context_takeover", None));
    }
    if o.client_no_context_takeover {
        offer.push(("client_no_context_takeover", None));
    }
    if let Some(v) = &sv {
        offer.push(("server_max_window_bits", Some(v)));
    }
    if client_bits.is_some() {
        offer.push(("client_max_window_bits", cv.as_deref()));
    }
    let server_cfg = DeflateConfig::new()
        .max_window_bits(bits(script.server_bits))
        .no_context_takeover(script.server_no_context_takeover)
        .level((script.level % 10) as u32)
        .min_compress_len(script.min_compress_len as usize % 64)
        .min_compress_len_no_context(no_context_min(script));
    let server = server_cfg.accept_offer(offer.iter().copied()).expect("a valid offer is accepted");
    // The client that sent this offer.
    let mut client_cfg = DeflateConfig::new().level((script.level / 10 % 10) as u32);
    client_cfg.min_compress_len = script.min_compress_len as usize / 64;
    client_cfg.min_compress_len_no_context = no_context_min(script);
    client_cfg.local_max_window_bits = client_bits.flatten().unwrap_or(15);
    client_cfg.remote_max_window_bits = server_bits.unwrap_or(15);
    client_cfg.local_no_context_takeover = o.client_no_context_takeover;
    client_cfg.remote_no_context_takeover = o.server_no_context_takeover;
    let response = server.response();
    let mut exts = Extensions::new(core::iter::once(response.as_bytes()));
    let ext = exts.next().expect("one extension in the response");
    assert!(exts.next().is_none() && ext.name() == "permessage-deflate", "{response}");
    let client = client_cfg.accept_response(ext.params()).unwrap_or_else(|_| panic!("client refused {response:?}"));
    let public = |p: &DeflateParams| {
        (p.server_no_context_takeover, p.client_no_context_takeover, p.server_max_window_bits, p.client_max_window_bits)
    };
    assert_eq!(public(&server), public(&client), "the ends disagree on {response:?} for {offer:?}");
    if let Some(b) = server_bits {
        assert!(server.server_max_window_bits <= b, "server window over the client's limit");
    }
    (server, client)
}

struct End<M: Masking> {
    conn: Connection<M>,
    assembly: Assembly,
    /// Bytes in flight towards the other end.
    pipe: Vec<u8>,
    /// What the other end must see.
    expect: Vec<Norm>,
    seen: Normaliser,
    min_compress_len: usize,
}

impl<M: Masking> End<M> {
    fn send(&mut self, msg: &Msg) {
        let text = msg.text.then(|| String::from_utf8_lossy(&msg.data).into_owned());
        let len = text.as_ref().map_or(msg.data.len(), String::len);
        let needed = self.conn.encoded_len(len);
        let mut out = vec![0u8; needed];
        let n = match &text {
            Some(t) => self.conn.send_text(t, &mut out),
            None => self.conn.send_binary(&msg.data, &mut out),
        }
        .expect("send on an open connection");
        assert!(n <= needed, "wrote {n} bytes, encoded_len promised at most {needed}");
        // RSV1 (compressed) exactly for messages of at least `min_compress_len` bytes.
        assert_eq!(out[0] & 0x40 != 0, len >= self.min_compress_len, "RSV1 on a {len}-byte message");
        self.pipe.extend_from_slice(&out[..n]);
        self.expect.push(match text {
            Some(t) => Norm::Text(t),
            None => Norm::Binary(msg.data.clone()),
        });
    }
}

/// Delivers all of `from.pipe` to `to` in chunks of the sizes in `chunks` (cycled; 0 = all).
fn deliver<A: Masking, B: Masking>(from: &mut End<A>, to: &mut End<B>, chunks: &[u8], at: &mut usize) {
    let mut bytes = core::mem::take(&mut from.pipe);
    let mut pos = 0;
    while pos < bytes.len() {
        let size = match chunks.get(*at % chunks.len().max(1)) {
            None | Some(0) => usize::MAX,
            Some(&s) => s as usize,
        };
        *at += 1;
        let end = pos.saturating_add(size).min(bytes.len());
        // Until `read` reports no event (an inflater may have output left for the same input);
        // then it has used all of `bytes[pos..end]`.
        loop {
            let max = to.conn.config().max_message_len;
            let r = to
                .conn
                .read(&mut bytes[pos..end], &mut to.assembly)
                .expect("a peer's compressed frames must be accepted");
            assert!(r.consumed <= end - pos);
            pos += r.consumed;
            match r.event {
                Some(e) => to.seen.push(&e, max),
                None => break,
            }
        }
        assert_eq!(pos, end, "read left input without an event");
        assert!(!to.conn.wants_write(), "nothing to answer in a data-only exchange");
    }
}

fn round_trip(script: Script) {
    let (server_params, client_params) = negotiate(&script);
    let delivery = if script.stream { Delivery::Stream } else { Delivery::Assemble };
    let config = Config::new().delivery(delivery).fragment_size(script.fragment_size as usize).max_len(1 << 20);
    let mut client = End {
        conn: Connection::client_with_test_masks(config, counter_mask()).with_deflate(&client_params),
        assembly: Assembly::new(),
        pipe: Vec::new(),
        expect: Vec::new(),
        seen: Normaliser::new(delivery),
        min_compress_len: compress_from(
            script.min_compress_len as usize / 64,
            client_params.client_no_context_takeover,
            &script,
        ),
    };
    let mut server = End {
        conn: Connection::server(config).with_deflate(&server_params),
        assembly: Assembly::new(),
        pipe: Vec::new(),
        expect: Vec::new(),
        seen: Normaliser::new(delivery),
        min_compress_len: compress_from(
            script.min_compress_len as usize % 64,
            server_params.server_no_context_takeover,
            &script,
        ),
    };
    let mut at = 0;
    for msg in &script.messages {
        if msg.from_client {
            client.send(msg);
        } else {
            server.send(msg);
        }
        if msg.deliver {
            deliver(&mut client, &mut server, &script.chunks, &mut at);
            deliver(&mut server, &mut client, &script.chunks, &mut at);
        }
    }
    deliver(&mut client, &mut server, &script.chunks, &mut at);
    deliver(&mut server, &mut client, &script.chunks, &mut at);
    assert_eq!(server.seen.events, client.expect, "client -> server");
    assert_eq!(client.seen.events, server.expect, "server -> client");
}
