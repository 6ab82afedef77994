//! `server_read` / `client_read`: arbitrary bytes into a `Connection`, split at fuzzer-chosen
//! points, compared with the same bytes fed in one buffer.
//!
//! Input layout: `[cfg, splits, s1 .. sN, wire bytes ..]` with `N = splits & 7`; each `s` is
//! the length of one read (0 allowed: an empty read), the last read takes the rest.
//! `splits >> 3` picks the size (1..=32) of the `poll_transmit` buffer in the split run.
//! `cfg`: bit 0 Stream (else Assemble); bits 1-2 max_message_len 1000/125/16 MiB/0;
//! bits 3-4 max_frame_payload = max_message_len/64/126/65536; bit 5 auto_pong off;
//! bit 6 auto_close off.

use wsmachine::{Config, Connection, Delivery, Event, MaskSource, ProtocolError, Role, State};

use crate::{Norm, Normaliser};

/// Everything observable from one run.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Norm>,
    pub error: Option<ProtocolError>,
    pub transmitted: Vec<u8>,
    pub state: State,
}

pub fn config_from(byte: u8) -> Config {
    let message = [1000, 125, 16 << 20, 0][(byte >> 1 & 3) as usize];
    let frame = [message, 64, 126, 65536][(byte >> 3 & 3) as usize];
    let delivery = if byte & 1 != 0 { Delivery::Stream } else { Delivery::Assemble };
    Config::new()
        .max_message_len(message)
        .max_frame_payload(frame)
        .delivery(delivery)
        .auto_pong(byte & 0x20 == 0)
        .auto_close(byte & 0x40 == 0)
}

/// A deterministic client mask source, so that two runs transmit identical bytes.
pub fn counter_mask() -> impl FnMut() -> [u8; 4] {
    let mut n = 0u32;
    move || {
        n = n.wrapping_add(1);
        n.wrapping_mul(0x9E37_79B9).to_le_bytes()
    }
}

/// Feeds `chunks` one `read` call at a time, draining `poll_transmit` after every call.
pub fn drive<M: MaskSource>(conn: &mut Connection<M>, chunks: &[&[u8]], out_size: usize) -> Outcome {
    let config = *conn.config();
    let deflate = conn.deflate_enabled();
    let mut norm = Normaliser::default();
    let mut error = None;
    let mut transmitted = Vec::new();
    let mut out = vec![0u8; out_size];
    // Set once the peer's Close was reported or `read` failed: from then on input is ignored.
    let mut finished = false;
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut start = 0;
        loop {
            let len = buf.len() - start;
            let state_before = conn.state();
            let result = conn.read(&mut buf[start..]);
            match result {
                Ok(r) => {
                    assert!(r.consumed <= len, "consumed {} of {len}", r.consumed);
                    if finished {
                        assert_eq!(r.consumed, len, "input after the end must be consumed");
                        assert!(r.event.is_none(), "event after the end: {:?}", r.event);
                    }
                    match &r.event {
                        None => assert_eq!(r.consumed, len, "no event but input left"),
                        // An event needs at least one new byte, else a caller could spin forever.
                        Some(_) => assert!(r.consumed > 0 || len == 0, "event without progress"),
                    }
                    if let Some(event) = &r.event {
                        check_limits(event, &config, deflate);
                        norm.push(event, config.max_message_len);
                        if let Event::Close(_) = event {
                            finished = true;
                        }
                    }
                    start += r.consumed;
                    let more = r.event.is_some();
                    drain(conn, &mut out, &mut transmitted);
                    if finished && state_before == State::Open {
                        let expect = if config.auto_close { State::Closed } else { State::CloseReceived };
                        assert_eq!(conn.state(), expect, "state after the peer's Close");
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    assert!(!finished, "error after the end");
                    assert_eq!(conn.state(), State::Failed, "an error must leave the state Failed");
                    assert!(conn.wants_write(), "a failure must queue a Close");
                    error = Some(e);
                    finished = true;
                    drain(conn, &mut out, &mut transmitted);
                    // The rest of this chunk must now be swallowed without an event.
                    let r = conn.read(&mut buf[start..]).expect("read after failure");
                    assert_eq!((r.consumed, r.event.is_none()), (len, true));
                    break;
                }
            }
        }
    }
    if let (Some(e), Role::Server) = (error, conn.role()) {
        // The failure's Close frame carries the code the error names (it is the last frame out;
        // a client's is masked, so only the server's is checked byte for byte).
        let code = e.close_code().0.to_be_bytes();
        assert!(transmitted.ends_with(&code), "failure close {code:?} not sent last: {transmitted:?}");
    }
    Outcome { events: norm.events, error, transmitted, state: conn.state() }
}

/// With permessage-deflate a chunk is inflated output: bounded by the 16 KiB inflate step, not
/// by the (compressed) frame payload limit.
fn check_limits(event: &Event<'_>, config: &Config, deflate: bool) {
    match event {
        Event::Chunk(c) => {
            assert!(config.delivery == Delivery::Stream, "chunk in Assemble mode");
            let max = if deflate { config.max_frame_payload.max(16 << 10) } else { config.max_frame_payload };
            assert!(c.data.len() as u64 <= max, "chunk of {} over {max}", c.data.len());
        }
        Event::Message(m) => {
            let n = m.as_bytes().len() as u64;
            assert!(n <= config.max_message_len, "message of {n} over the limit");
        }
        _ => {}
    }
}

fn drain<M: MaskSource>(conn: &mut Connection<M>, out: &mut [u8], transmitted: &mut Vec<u8>) {
    while conn.wants_write() {
        let n = conn.poll_transmit(out);
        assert!(n > 0, "wants_write but nothing written");
        transmitted.extend_from_slice(&out[..n]);
    }
    assert_eq!(conn.poll_transmit(out), 0);
}

/// The whole target: split run versus unsplit run, same connection constructor.
pub fn split_invariance<M: MaskSource>(data: &[u8], new: impl Fn(Config) -> Connection<M>) {
    let [cfg, splits, rest @ ..] = data else { return };
    let n = (*splits & 7) as usize;
    if rest.len() < n {
        return;
    }
    let (lens, wire) = rest.split_at(n);
    let config = config_from(*cfg);
    let mut chunks = Vec::new();
    let mut at = 0;
    for &l in lens {
        let end = (at + l as usize).min(wire.len());
        chunks.push(&wire[at..end]);
        at = end;
    }
    chunks.push(&wire[at..]);
    let split = drive(&mut new(config), &chunks, (*splits >> 3) as usize + 1);
    let mut whole = drive(&mut new(config), &[wire], 256);
    // With permessage-deflate, where corrupt compressed data stops the inflater can move with the
    // split, so inflated text just before it may or may not be seen as invalid UTF-8 first. Both
    // are 1007 with the same Close frame; the limit (1009) is always judged in stream order.
    use ProtocolError::{InvalidCompressedData, InvalidUtf8};
    let inflate_error = |e| matches!(e, Some(InvalidUtf8 | InvalidCompressedData));
    if new(config).deflate_enabled() && inflate_error(split.error) && inflate_error(whole.error) {
        whole.error = split.error;
        whole.transmitted.clone_from(&split.transmitted);
    }
    assert_eq!(split, whole, "split {lens:?} changed the outcome");
}
