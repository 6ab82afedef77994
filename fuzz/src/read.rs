//! `server_read` / `client_read`: arbitrary bytes into a `Connection`, split at fuzzer-chosen
//! points, compared with the same bytes fed in one buffer.
//!
//! Input layout: `[cfg, splits, s1 .. sN, wire bytes ..]` with `N = splits & 7`; each `s` is
//! the length of one read (0 allowed: an empty read), the last read takes the rest.
//! `splits >> 3` picks the size (1..=32) of the `poll_transmit` buffer in the split run.
//! `cfg`: bit 0 Stream (else Assemble); bits 1-2 max_message_len 1000/125/16 MiB/0;
//! bits 3-4 max_frame_payload = max_message_len/64/126/65536; bit 5 auto_pong off;
//! bit 6 auto_close off; bit 7 through a `RecvBuffer`, which lets frames wait in place (with
//! Stream: `in_place_up_to` 300; with Assemble: the default bound, `retain_capacity`), and the
//! outcome must also equal that of plain `read` on the same bytes.

use wsmachine::{Config, Connection, Delivery, Event, MaskSource, ProtocolError, RecvBuffer, Role, State};

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
        .in_place_up_to(if byte & 0x80 != 0 && delivery == Delivery::Stream { 300 } else { 0 })
}

/// Whether `cfg` bit 7 asks for a `RecvBuffer` driver.
pub fn uses_recv_buffer(byte: u8) -> bool {
    byte & 0x80 != 0
}

/// A deterministic client mask source, so that two runs transmit identical bytes.
pub fn counter_mask() -> impl FnMut() -> [u8; 4] {
    let mut n = 0u32;
    move || {
        n = n.wrapping_add(1);
        n.wrapping_mul(0x9E37_79B9).to_le_bytes()
    }
}

/// Feeds `chunks` one `read` call at a time, draining `poll_transmit` after every call. With
/// `recv_buffer`, the chunks go through a `RecvBuffer` instead (each chunk in as many transport
/// reads as the room it offers needs), which keeps the bytes `read` leaves unused.
pub fn drive<M: MaskSource>(conn: &mut Connection<M>, chunks: &[&[u8]], out_size: usize, recv_buffer: bool) -> Outcome {
    let mut run = Run {
        config: *conn.config(),
        deflate: conn.deflate_enabled(),
        norm: Normaliser::default(),
        error: None,
        transmitted: Vec::new(),
        out: vec![0u8; out_size],
        finished: false,
    };
    if !recv_buffer {
        for chunk in chunks {
            let mut buf = chunk.to_vec();
            let mut start = 0;
            loop {
                let len = buf.len() - start;
                let state_before = conn.state();
                let (consumed, had_event) = match conn.read(&mut buf[start..]) {
                    Ok(r) => (r.consumed, run.event(r.event.as_ref())),
                    Err(e) => {
                        run.failed(conn, e);
                        // The rest of this chunk must now be swallowed without an event.
                        let r = conn.read(&mut buf[start..]).expect("read after failure");
                        assert_eq!((r.consumed, r.event.is_none()), (len, true));
                        break;
                    }
                };
                assert!(consumed <= len, "consumed {consumed} of {len}");
                if !had_event {
                    assert_eq!(consumed, len, "no event but input left");
                }
                start += consumed;
                if !run.after(conn, len, consumed, had_event, state_before) {
                    break;
                }
            }
        }
    } else {
        let mut buf = RecvBuffer::with_read_size(64);
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                let space = buf.spare(conn);
                assert!(!space.is_empty(), "no room offered");
                let n = space.len().min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                buf.filled(n);
                loop {
                    let len = buf.unused().len();
                    let state_before = conn.state();
                    let had_event = match buf.next(conn) {
                        Ok(event) => run.event(event.as_ref()),
                        Err(e) => {
                            run.failed(conn, e);
                            assert!(buf.next(conn).expect("read after failure").is_none());
                            assert!(buf.unused().is_empty(), "input after a failure must be swallowed");
                            break;
                        }
                    };
                    let consumed = len - buf.unused().len();
                    if !had_event {
                        let unused = buf.unused().len();
                        assert!(unused == 0 || conn.wanted() > unused, "{unused} unused, wanted {}", conn.wanted());
                    }
                    if !run.after(conn, len, consumed, had_event, state_before) {
                        break;
                    }
                }
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    if let (Some(e), Role::Server) = (run.error, conn.role()) {
        // The failure's Close frame carries the code the error names (it is the last frame out;
        // a client's is masked, so only the server's is checked byte for byte).
        let code = e.close_code().0.to_be_bytes();
        assert!(run.transmitted.ends_with(&code), "failure close {code:?} not sent last: {:?}", run.transmitted);
    }
    Outcome { events: run.norm.events, error: run.error, transmitted: run.transmitted, state: conn.state() }
}

/// What one drive has observed so far, and the checks made on every `read`.
struct Run {
    config: Config,
    deflate: bool,
    norm: Normaliser,
    error: Option<ProtocolError>,
    transmitted: Vec<u8>,
    out: Vec<u8>,
    /// Set once the peer's Close was reported or `read` failed: from then on input is ignored.
    finished: bool,
}

impl Run {
    /// Records an event (checked against the limits); whether there was one.
    fn event(&mut self, event: Option<&Event<'_>>) -> bool {
        let Some(event) = event else { return false };
        assert!(!self.finished, "event after the end: {event:?}");
        check_limits(event, &self.config, self.deflate);
        self.norm.push(event, self.config.max_message_len);
        if let Event::Close(_) = event {
            self.finished = true;
        }
        true
    }

    /// The checks after a successful `read` of `len` bytes; whether to call `read` again.
    fn after<M: MaskSource>(
        &mut self,
        conn: &mut Connection<M>,
        len: usize,
        consumed: usize,
        had_event: bool,
        state_before: State,
    ) -> bool {
        if self.finished && !had_event {
            assert_eq!(consumed, len, "input after the end must be consumed");
        }
        // An event needs at least one new byte, else a caller could spin forever.
        if had_event {
            assert!(consumed > 0 || len == 0, "event without progress");
        }
        drain(conn, &mut self.out, &mut self.transmitted);
        if self.finished && had_event && state_before == State::Open {
            let expect = if self.config.auto_close { State::Closed } else { State::CloseReceived };
            assert_eq!(conn.state(), expect, "state after the peer's Close");
        }
        had_event
    }

    fn failed<M: MaskSource>(&mut self, conn: &mut Connection<M>, e: ProtocolError) {
        assert!(!self.finished, "error after the end");
        assert_eq!(conn.state(), State::Failed, "an error must leave the state Failed");
        assert!(conn.wants_write(), "a failure must queue a Close");
        self.error = Some(e);
        self.finished = true;
        drain(conn, &mut self.out, &mut self.transmitted);
    }
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
    let recv_buffer = uses_recv_buffer(*cfg);
    let split = drive(&mut new(config), &chunks, (*splits >> 3) as usize + 1, recv_buffer);
    let mut whole = drive(&mut new(config), &[wire], 256, recv_buffer);
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
    if recv_buffer {
        // Letting frames wait in the buffer changes nothing observable (RFC 6455 §8.1: text that
        // waits is checked as it arrives, as plain `read` checks it): same events, same error at
        // the same point, same bytes sent back, as the same bytes through plain `read`.
        let mut plain = drive(&mut new(config.in_place_up_to(0)), &[wire], 256, false);
        if new(config).deflate_enabled() && inflate_error(plain.error) && inflate_error(whole.error) {
            plain.error = whole.error;
            plain.transmitted.clone_from(&whole.transmitted);
        }
        assert_eq!(whole, plain, "a RecvBuffer changed the outcome");
    }
}
