//! `server_read` / `client_read`: arbitrary bytes into a `Connection`, split at fuzzer-chosen
//! points, compared with the same bytes fed in one buffer.
//!
//! Input layout: `[cfg, splits, s1 .. sN, wire bytes ..]` with `N = splits & 7`; each `s` is
//! the length of one read (0 allowed: an empty read), the last read takes the rest.
//! `splits >> 3` picks the size of the `poll_transmit` buffer in the split run:
//! `MAX_CONTROL_FRAME_LEN` (the least it may be given) plus 0..=31, so queued replies take one
//! call or several.
//! `cfg`: bit 0 Stream (else Assemble); bits 1-2 max_message_len 1000/125/16 MiB/0;
//! bits 3-4 max_frame_payload = max_message_len/64/126/65536; bit 5 auto_pong off;
//! bit 6 auto_close off; bit 7 through a `RecvBuffer`, which lets every unfragmented frame
//! within the limits wait in place with Assemble (whatever `retain_capacity`; with Stream it is
//! a plain read buffer), and the outcome must also equal that of plain `read` on the same bytes
//! (after one more `next` with no new input, as a driver's next wakeup).

use wsmachine::frame::{decode, Decoded, OpCode, MAX_CONTROL_FRAME_LEN};
use wsmachine::{Assembly, Config, Connection, Delivery, Event, Masking, ProtocolError, RecvBuffer, Role, State};

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

/// Whether `cfg` bit 7 asks for a `RecvBuffer` driver.
pub fn uses_recv_buffer(byte: u8) -> bool {
    byte & 0x80 != 0
}

/// Deterministic client mask keys (for `Connection::client_with_test_masks`), so that two runs
/// transmit identical bytes.
pub fn counter_mask() -> impl FnMut() -> [u8; 4] {
    let mut n = 0u32;
    move || {
        n = n.wrapping_add(1);
        n.wrapping_mul(0x9E37_79B9).to_le_bytes()
    }
}

/// Feeds `chunks` one `read` call at a time (with one `Assembly` for the connection), draining
/// `poll_transmit` after every call. With `recv_buffer`, the chunks go through a `RecvBuffer`
/// instead (each chunk in as many transport reads as the room it offers needs), which keeps the
/// bytes `read` leaves unused.
pub fn drive<M: Masking>(conn: &mut Connection<M>, chunks: &[&[u8]], out_size: usize, recv_buffer: bool) -> Outcome {
    let mut run = Run {
        config: *conn.config(),
        deflate: conn.deflate_enabled(),
        norm: Normaliser::new(conn.config().delivery),
        error: None,
        transmitted: Vec::new(),
        out: vec![0u8; out_size],
        finished: false,
    };
    if !recv_buffer {
        let mut assembly = Assembly::new();
        for chunk in chunks {
            let mut buf = chunk.to_vec();
            let mut start = 0;
            loop {
                let len = buf.len() - start;
                let state_before = conn.state();
                let (consumed, had_event, assembled) = match conn.read(&mut buf[start..], &mut assembly) {
                    Ok(r) => {
                        // A message put together in the assembly, and only such a message, can
                        // be taken out of it: exactly its bytes.
                        let assembled = match (&r.event, conn.last_message_assembled()) {
                            (Some(Event::Message(m)), true) => Some(m.as_bytes().to_vec()),
                            (_, assembled) => {
                                assert!(!assembled, "assembled, but no message");
                                None
                            }
                        };
                        (r.consumed, run.event(r.event.as_ref()), assembled)
                    }
                    Err(e) => {
                        run.failed(conn, e);
                        // The rest of this chunk must now be swallowed without an event.
                        let r = conn.read(&mut buf[start..], &mut assembly).expect("read after failure");
                        assert_eq!((r.consumed, r.event.is_none()), (len, true));
                        break;
                    }
                };
                match assembled {
                    // Every other one is taken, so that reads go on both after a take and not.
                    Some(bytes) if bytes.len() % 2 == 0 => {
                        assert_eq!(conn.take_message(&mut assembly).as_deref(), Some(&bytes[..]));
                        assert_eq!(assembly.heap_bytes(), 0);
                    }
                    Some(_) => {}
                    None => assert_eq!(conn.take_message(&mut assembly), None),
                }
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
        const READ_SIZE: usize = 64;
        let mut buf = RecvBuffer::with_read_size(READ_SIZE);
        // Bytes handed to the buffer so far: it grows only with bytes that arrived.
        let mut arrived = 0;
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                let space = buf.spare(conn);
                assert!(!space.is_empty(), "no room offered");
                let n = space.len().min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                buf.filled(n);
                arrived += n;
                assert!(buf.capacity() <= arrived + READ_SIZE, "capacity {} after {arrived} bytes", buf.capacity());
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
                        check_waiting(buf.unused(), &run.config, conn.role());
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
        // The driver's next wakeup, with nothing new: the buffer checks the text of a frame that
        // a read left waiting on the next call (`RecvBuffer::next`), so bad UTF-8 that came with
        // the last read fails here, as plain `read` failed on it at once.
        if run.error.is_none() {
            match buf.next(conn) {
                Ok(event) => assert!(event.is_none(), "an event from no new input: {event:?}"),
                Err(e) => run.failed(conn, e),
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

/// After a `RecvBuffer` read without an event, what it left unused is a frame that waits in
/// place (Assemble only; with Stream the buffer is a plain read buffer): a header cut short, or
/// the header of an unfragmented, unextended text or binary frame within the limits, masked as
/// the role requires, whose payload is not all there yet.
fn check_waiting(unused: &[u8], config: &Config, role: Role) {
    if unused.is_empty() {
        return;
    }
    assert!(config.delivery == Delivery::Assemble, "{} bytes left unused in Stream mode", unused.len());
    match decode(unused) {
        Ok(Decoded::Incomplete(n)) => assert!(n > unused.len()),
        Ok(Decoded::Complete(h, n)) => {
            let total = n as u64 + h.payload_len;
            assert!(total > unused.len() as u64, "a whole frame of {total} bytes left unused");
            assert!(h.payload_len <= config.max_frame_payload.min(config.max_message_len), "waiting over the limits");
            assert!(h.fin && h.rsv == 0 && matches!(h.opcode, OpCode::Text | OpCode::Binary), "waiting {h:?}");
            assert_eq!(h.mask.is_some(), role == Role::Server, "waiting {h:?}");
        }
        Err(e) => panic!("{} unused bytes are no frame header: {e:?}", unused.len()),
    }
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
    fn after<M: Masking>(
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

    fn failed<M: Masking>(&mut self, conn: &mut Connection<M>, e: ProtocolError) {
        assert!(!self.finished, "error after the end");
        assert_eq!(conn.state(), State::Failed(e.close_code()), "an error must leave the state Failed(its code)");
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
            assert!(c.data().len() as u64 <= max, "chunk of {} over {max}", c.data().len());
        }
        Event::Message(m) => {
            assert!(config.delivery != Delivery::Stream, "message in Stream mode");
            let n = m.as_bytes().len() as u64;
            assert!(n <= config.max_message_len, "message of {n} over the limit");
        }
        _ => {}
    }
}

fn drain<M: Masking>(conn: &mut Connection<M>, out: &mut [u8], transmitted: &mut Vec<u8>) {
    while conn.wants_write() {
        let n = conn.poll_transmit(out);
        assert!(n > 0, "wants_write but nothing written");
        transmitted.extend_from_slice(&out[..n]);
    }
    assert_eq!(conn.poll_transmit(out), 0);
}

/// The whole target: split run versus unsplit run, same connection constructor.
pub fn split_invariance<M: Masking>(data: &[u8], new: impl Fn(Config) -> Connection<M>) {
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
    let split = drive(&mut new(config), &chunks, MAX_CONTROL_FRAME_LEN + (*splits >> 3) as usize, recv_buffer);
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
        let mut plain = drive(&mut new(config), &[wire], 256, false);
        if new(config).deflate_enabled() && inflate_error(plain.error) && inflate_error(whole.error) {
            plain.error = whole.error;
            plain.transmitted.clone_from(&whole.transmitted);
        }
        assert_eq!(whole, plain, "a RecvBuffer changed the outcome");
    }
}
