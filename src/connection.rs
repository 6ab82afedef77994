//! The connection state machine: every state transition of RFC 6455 after the opening handshake.
//!
//! Inputs are [`Connection::read`], [`Connection::read_eof`], [`Connection::handle_timeout`] and
//! the driver's word on its output ([`Connection::output_blocked`],
//! [`Connection::output_drained`]); commands are the `send_*` encoders, [`Connection::ping`], [`Connection::pong`] and
//! [`Connection::close`]; outputs are [`Connection::poll_transmit`], [`Connection::poll_timeout`]
//! and [`Connection::should_close_transport`].
//!
//! The closing handshake (RFC 6455 §7) is one enum, [`State`], changed only in this file, as
//! are the receiver's phases (header, payload, control frame; which message is open, whether it
//! is compressed) and the sender's open fragmented message:
//!
//! ```text
//!            close(): our Close is written
//!   Open ─────────────────────────────────► CloseSent ──── peer's Close ────┐
//!    │                                                                      ▼
//!    │ peer's Close                                                       Closed
//!    └─────────────────► CloseReceived ──── our Close written ──────────────▲
//!                        (echo queued with auto_close, or close() by hand)
//!
//!   Open, CloseSent ── the peer breaks the RFC ──► Failed(code)   (our Close queued, §7.1.7)
//!   Open, CloseSent ── a message deadline ───────► Failed(1008)   (our Close queued, §7.4.1)
//!   Open, CloseSent ── end of stream ────────────► Failed(1006)   (§7.1.5)
//!   CloseReceived ──── end of stream ────────────► Closed
//!   any but TimedOut ─ a close, pong or write-stall deadline ─► TimedOut   (no Close sent)
//! ```
//!
//! Input is taken in `Open` and `CloseSent` only (§5.5.1: nothing after the peer's Close, and
//! nothing after a failure, a timeout or the end of the stream).
//!
//! Deadlines are armed only by calls that are given the time ([`Connection::handle_timeout`],
//! [`Connection::poll_timeout`]): an event without a clock (a Close written, bytes read, the
//! first header of a message taken, output reported blocked) marks its timer, and the next call
//! that knows `now` arms it from then, so no deadline is ever earlier than the moment it was
//! armed. A timer fires at the first call with `now >= deadline`.

use core::time::Duration;

use crate::assembly::Assembly;
use crate::close::{parse_close_payload, CloseCode, MAX_REASON_LEN};
use crate::config::{Config, Delivery};
use crate::error::{ProtocolError, SendError};
use crate::event::{Chunk, Event, Message, MessageKind};
use crate::frame::{self, Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::{apply_mask, apply_mask_ascii, MaskSource, Masking, NoMask};
use crate::utf8::{self, Utf8Validator};

mod types;
use payload::{whole_chunk, whole_chunk_in_place, whole_message};
use types::{ControlSlot, Deadline, Found, Phase};
pub use types::{FrameHead, Read, Role, State, Timeout};
#[cfg(feature = "alloc")]
pub(crate) use waiting::Resume;

/// A WebSocket connection after the opening handshake: a sans-IO state machine.
///
/// See the [crate documentation](crate) for the drive loop. `M` is the source of client masking
/// keys; a server uses [`NoMask`].
pub struct Connection<M: Masking = NoMask> {
    role: Role,
    config: Config,
    mask: M,
    // Receive side.
    /// The receiver is between frames with nothing staged, in no message, and still reading: the
    /// one condition the fast path checks. Recomputed after every general-path step.
    fast_ready: bool,
    /// The same, with stream delivery: a whole frame is one chunk (a second flag, so that the
    /// whole-message path tests one flag and never chooses an event shape per message).
    fast_stream: bool,
    /// `received` when the general path delivered a message from the caller's `Assembly`
    /// ([`last_message_assembled`](Self::last_message_assembled)): the next general read
    /// clears it, and a fast-path delivery moves `received` past it, so the fast path pays
    /// nothing for it.
    #[cfg(feature = "alloc")]
    assembled_at: Option<u64>,
    /// `min(max_frame_payload, max_message_len)`: the fast path's one limit comparison.
    fast_max_len: u64,
    phase: Phase,
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    frame: FrameHeader,
    frame_done: u64,
    incoming: Option<MessageKind>,
    message_len: u64,
    first_chunk: bool,
    /// Validates streamed text (whole frames and assembled messages are validated elsewhere).
    utf8: Utf8Validator,
    /// The message being received has RSV1 set: its payload goes through the extension.
    compressed: bool,
    /// Payload bytes at the start of the next input that were already unmasked in place.
    unmasked_ahead: usize,
    /// Inflated bytes of the current compressed message (stream delivery).
    inflated_len: u64,
    #[cfg(feature = "deflate")]
    codec: Option<alloc::boxed::Box<crate::deflate::Codec>>,
    // Send side. Commands encode straight into the caller's buffer; only the machine's own
    // replies wait here for `poll_transmit`: the latest pong (§5.5.2), a keepalive ping, and
    // a Close echo or failure Close (a status code at most).
    outgoing: Option<MessageKind>,
    pong: ControlSlot,
    keepalive_ping: bool,
    close_pending: bool,
    close_code: Option<CloseCode>,
    // Closing handshake: the state, and two facts beside it.
    state: State,
    peer_code: Option<CloseCode>,
    /// The transport reached end of stream.
    eof: bool,
    // Timers, in the caller's monotonic time: when input was last noticed (at the first timed
    // call after it arrived; `None` before any timed call).
    last_received: Option<Duration>,
    /// Bytes taken by `read` so far, and at the last timer update: activity is noticed there,
    /// so the receive path pays one addition rather than clock bookkeeping.
    received: u64,
    received_seen: u64,
    /// See [`Connection::wanted`].
    wanted: usize,
    /// Bytes of the waiting frame seen at the last look, and `received` then (`note_waiting`).
    waiting_seen: usize,
    waiting_mark: u64,
    close_deadline: Deadline,
    pong_deadline: Option<Duration>,
    /// Runs from a data message's first frame header (or a waiting frame's) to its end.
    message_deadline: Deadline,
    /// Runs from `output_blocked` to `output_drained`.
    write_deadline: Deadline,
}

impl<M: Masking> Connection<M> {
    // ----------------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------------

    /// Runs the receiver over `input` until it finds an event or uses all of it.
    fn advance(
        &mut self,
        input: &mut [u8],
        keeps_unused: bool,
        assembly: &mut Assembly,
    ) -> Result<(usize, Found), ProtocolError> {
        let in_place_limit = self.in_place_limit(keeps_unused);
        let mut pos = 0;
        loop {
            match self.phase {
                Phase::Header => {
                    let header = if self.header_len == 0 {
                        match frame::decode(&input[pos..])? {
                            Decoded::Complete(h, n) => {
                                if self.wait_for_whole_frame(&h, input.len() - pos - n, in_place_limit) {
                                    // The driver keeps unused bytes: leave the frame in its
                                    // buffer until all of it is there; the buffer checks text
                                    // as it arrives (§8.1; `waiting`).
                                    self.wanted = n + h.payload_len as usize;
                                    // Its message started with this header; a frame that
                                    // still waits keeps the deadline its header started.
                                    self.message_deadline.start(self.config.message_timeout);
                                    return Ok((pos, Found::Nothing));
                                }
                                pos += n;
                                h
                            }
                            Decoded::Incomplete(needed) if in_place_limit > 0 && pos < input.len() => {
                                // In place, a header cut short stays in the caller's buffer too,
                                // so whether its frame waits never depends on where input was cut.
                                self.wanted = needed;
                                return Ok((pos, Found::Nothing));
                            }
                            Decoded::Incomplete(_) => {
                                let rest = &input[pos..];
                                self.header[..rest.len()].copy_from_slice(rest);
                                self.header_len = rest.len() as u8;
                                return Ok((input.len(), Found::Nothing));
                            }
                        }
                    } else {
                        // Stage the header bytes inline until the whole header is here.
                        loop {
                            let have = self.header_len as usize;
                            let needed = match frame::decode(&self.header[..have])? {
                                Decoded::Incomplete(n) => n,
                                Decoded::Complete(h, _) => {
                                    self.header_len = 0;
                                    break h;
                                }
                            };
                            if pos == input.len() {
                                return Ok((pos, Found::Nothing));
                            }
                            let take = (needed - have).min(input.len() - pos);
                            self.header[have..have + take].copy_from_slice(&input[pos..pos + take]);
                            pos += take;
                            self.header_len += take as u8;
                        }
                    };
                    self.begin_frame(&header, assembly)?;
                    let available = (input.len() - pos) as u64;
                    if header.opcode.is_control() {
                        if header.payload_len <= available {
                            let (start, end) = (pos, pos + header.payload_len as usize);
                            if let Some(key) = header.mask {
                                apply_mask(&mut input[start..end], key, 0);
                            }
                            self.on_control(header.opcode, &input[start..end])?;
                            return Ok((end, Found::Control(header.opcode, Some((start, end)))));
                        }
                        self.phase = Phase::Control;
                        assembly.begin_control();
                    } else if header.fin
                        && header.opcode != OpCode::Continuation
                        && header.payload_len <= available
                        && !self.compressed
                    {
                        // Zero-copy path: a whole unfragmented message in the caller's buffer.
                        // Unmasked (and validated) by `whole_message` on the way out.
                        let (start, end) = (pos, pos + header.payload_len as usize);
                        self.end_message();
                        let kind = if header.opcode == OpCode::Text { MessageKind::Text } else { MessageKind::Binary };
                        return Ok((end, Found::Whole(kind, start, end, header.mask)));
                    } else {
                        // The assembly grows with bytes that arrive, never with what a header
                        // announces (memory proportional to what the peer sent).
                        self.phase = Phase::Data;
                    }
                }
                Phase::Control => {
                    pos += assembly.push_control(&input[pos..], self.frame.payload_len as usize);
                    if (assembly.control_len() as u64) < self.frame.payload_len {
                        return Ok((input.len(), Found::Nothing));
                    }
                    if let Some(key) = self.frame.mask {
                        apply_mask(assembly.control_mut(), key, 0);
                    }
                    self.phase = Phase::Header;
                    self.on_control(self.frame.opcode, assembly.control())?;
                    return Ok((pos, Found::Control(self.frame.opcode, None)));
                }
                #[cfg(feature = "deflate")]
                Phase::Data if self.compressed => {
                    let (found, frame_end, message_end) = self.read_compressed(input, &mut pos, assembly)?;
                    if frame_end {
                        self.phase = Phase::Header;
                    }
                    if message_end {
                        if !self.utf8.is_complete() {
                            return Err(ProtocolError::InvalidUtf8);
                        }
                        self.end_message();
                    }
                    if let Some(found) = found {
                        return Ok((pos, found));
                    }
                    if pos == input.len() && self.phase == Phase::Data {
                        return Ok((pos, Found::Nothing));
                    }
                }
                Phase::Data => {
                    let remaining = self.frame.payload_len - self.frame_done;
                    let take = remaining.min((input.len() - pos) as u64) as usize;
                    let (start, end) = (pos, pos + take);
                    let kind = self.incoming.unwrap_or(MessageKind::Binary);
                    self.take_payload(&mut input[start..end], kind, assembly)?;
                    pos = end;
                    self.frame_done += take as u64;
                    let frame_end = self.frame_done == self.frame.payload_len;
                    let message_end = frame_end && self.frame.fin;
                    if frame_end {
                        self.phase = Phase::Header;
                    }
                    if message_end {
                        if !self.text_complete(assembly) {
                            return Err(ProtocolError::InvalidUtf8);
                        }
                        self.end_message();
                    }
                    match self.config.delivery {
                        Delivery::Stream => {
                            if take > 0 || message_end {
                                let first = core::mem::replace(&mut self.first_chunk, false);
                                let chunk = Chunk::new(kind, &[], first, message_end);
                                return Ok((pos, Found::Chunk(chunk, start, end)));
                            }
                        }
                        #[cfg(feature = "alloc")]
                        Delivery::Assemble => {
                            if message_end {
                                return Ok((pos, Found::Assembled(kind)));
                            }
                        }
                    }
                    if pos == input.len() && !frame_end {
                        return Ok((pos, Found::Nothing));
                    }
                }
            }
            if pos == input.len() && self.phase == Phase::Header {
                return Ok((pos, Found::Nothing));
            }
        }
    }

    /// Checks a new frame header against the connection's state and limits.
    #[inline]
    fn begin_frame(&mut self, h: &FrameHeader, assembly: &mut Assembly) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them.
        let allowed =
            if self.config.allow_rsv1 && matches!(h.opcode, OpCode::Text | OpCode::Binary) { 0b100 } else { 0 };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv));
        }
        // RFC 6455 §5.1: clients mask every frame; servers never do.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        self.frame = *h;
        self.frame_done = 0;
        if h.opcode.is_control() {
            return Ok(());
        }
        // RFC 6455 §5.4: fragments of one message are not interleaved with another's.
        match (h.opcode, self.incoming) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (OpCode::Continuation, Some(_)) => {}
            (op, _) => {
                self.incoming = Some(if op == OpCode::Text { MessageKind::Text } else { MessageKind::Binary });
                // Its deadline runs from here (or from the header of the frame that waited).
                self.message_deadline.start(self.config.message_timeout);
                // RFC 7692 §6: RSV1 on a message's first frame marks it compressed.
                self.compressed = h.rsv & 0b100 != 0;
                #[cfg(feature = "deflate")]
                if let Some(codec) = self.codec.as_deref_mut() {
                    codec.begin_inflated_message();
                }
                self.inflated_len = 0;
                self.unmasked_ahead = 0;
                self.message_len = 0;
                self.first_chunk = true;
                self.utf8.reset();
                #[cfg(feature = "alloc")]
                assembly.begin(self.config.retain_capacity);
                #[cfg(not(feature = "alloc"))]
                let _ = assembly;
            }
        }
        // Limits are checked on the header, before any payload byte is accepted.
        if h.payload_len > self.config.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge);
        }
        self.message_len = self.message_len.saturating_add(h.payload_len);
        // Compressed bytes get slack for incompressible data; inflated bytes are checked as
        // they are produced.
        let max = self.config.max_message_len;
        let limit = if self.compressed { max.saturating_add(max / 8 + 1024) } else { max };
        if self.message_len > limit {
            return Err(ProtocolError::MessageTooLarge);
        }
        Ok(())
    }

    /// A whole message frame waiting in a [`RecvBuffer`](crate::RecvBuffer) is taken: the
    /// bookkeeping of any new frame, and the end of its message.
    #[cfg(feature = "alloc")]
    pub(super) fn accept_waiting_frame(
        &mut self,
        h: &FrameHeader,
        assembly: &mut Assembly,
    ) -> Result<(), ProtocolError> {
        self.begin_frame(h, assembly)?;
        self.end_message();
        Ok(())
    }

    /// The message being received is complete (§5.4): the next data frame starts a new one.
    fn end_message(&mut self) {
        self.incoming = None;
        self.compressed = false;
        self.message_deadline = Deadline::Off;
    }

    /// The opcode of the next outgoing data frame of `kind`, and the new state of the outgoing
    /// message: a first frame opens it, a continuation goes on, `fin` ends it (§5.4).
    pub(super) fn next_data_opcode(&mut self, kind: MessageKind, fin: bool) -> Result<OpCode, SendError> {
        let opcode = match self.outgoing {
            None => OpCode::starting(kind),
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::KindMismatch),
        };
        self.outgoing = if fin { None } else { Some(kind) };
        Ok(opcode)
    }

    /// Applies a whole control frame's effect (RFC 6455 §5.5).
    fn on_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), ProtocolError> {
        match opcode {
            // §5.5.2: answer with a pong carrying the same payload; only the latest counts.
            OpCode::Ping if self.config.auto_pong && !self.close_queued() => self.pong.set(&[payload]),
            OpCode::Close => {
                let frame = parse_close_payload(payload)?;
                self.peer_code = Some(frame.map_or(CloseCode::NO_STATUS, |f| f.code));
                self.state = match self.state {
                    // Ours is on the wire already (`close` writes it): both Close frames are
                    // exchanged (§7.1.4).
                    State::CloseSent => State::Closed,
                    _ => State::CloseReceived,
                };
                // §5.5.1: echo the status code; nothing but the Close may follow it.
                if self.config.auto_close && !self.close_queued() {
                    self.queue_close(frame.map(|f| f.code));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7) for a peer's violation: see `fail_with`.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.fail_with(error.close_code());
        error
    }

    /// Fails the connection with `code`: queues the Close (unless one is out already) and
    /// stops reading.
    fn fail_with(&mut self, code: CloseCode) {
        let queued = self.close_queued();
        self.state = State::Failed(code);
        self.arm_fast_path(false);
        self.pong.pending = false;
        self.keepalive_ping = false;
        self.message_deadline = Deadline::Off;
        if !queued {
            self.queue_close(Some(code));
        }
    }

    /// Reports that the transport reached end of stream.
    ///
    /// `Ok` when the peer's Close came first (or the connection had failed already); otherwise
    /// the closure is abnormal (1006, §7.1.5) and the state becomes `Failed(1006)`.
    pub fn read_eof(&mut self) -> Result<(), ProtocolError> {
        self.eof = true;
        self.arm_fast_path(false);
        match self.state {
            State::Closed | State::CloseReceived => {
                self.state = State::Closed;
                Ok(())
            }
            State::Failed(_) => Ok(()),
            State::TimedOut => Err(ProtocolError::AbnormalClosure),
            State::Open | State::CloseSent => {
                self.peer_code = Some(CloseCode::ABNORMAL);
                self.state = State::Failed(CloseCode::ABNORMAL);
                Err(ProtocolError::AbnormalClosure)
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Control commands and output
    // ----------------------------------------------------------------------------------------

    /// Queues the machine's own Close: an echo of the peer's `code` (§5.5.1), none if it had
    /// none, or the code of a failure (§7.1.7).
    fn queue_close(&mut self, code: Option<CloseCode>) {
        self.close_code = code;
        self.close_pending = true;
    }

    /// This end's Close is on the wire: nothing may follow it (§5.5.1), and its timer starts.
    fn on_close_written(&mut self) {
        self.close_pending = false;
        self.pong.pending = false;
        self.keepalive_ping = false;
        self.state = match self.state {
            State::Open => State::CloseSent,
            State::CloseReceived => State::Closed,
            other => other,
        };
        // Armed from the next `now` given (`sync_clock`).
        self.close_deadline.start(self.config.close_timeout);
    }

    /// Writes the machine's queued replies (pongs, keepalive pings, a Close echo or failure
    /// Close) into `out`, whole frames only; returns the bytes written.
    ///
    /// Call it until [`wants_write`](Self::wants_write) is false, after every `read` and before
    /// sending data, so that replies go out in order.
    ///
    /// # Panics
    /// If a reply is queued and `out` cannot hold it: a driver bug, which would otherwise spin
    /// forever. [`MAX_CONTROL_FRAME_LEN`](crate::frame::MAX_CONTROL_FRAME_LEN) (131 bytes)
    /// always suffices.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        // Pongs first since they answer the peer; the Close last, as nothing may follow it.
        loop {
            let rest = &mut out[written..];
            let n = if self.pong.pending {
                let pong = self.pong;
                let n = self.write_control(OpCode::Pong, &pong.payload[..pong.len as usize], rest);
                self.pong.pending &= n.is_err();
                n
            } else if self.keepalive_ping {
                let n = self.write_control(OpCode::Ping, &[], rest);
                self.keepalive_ping &= n.is_err();
                n
            } else if self.close_pending {
                let code = self.close_code.map(|c| c.0.to_be_bytes());
                let n = self.write_control(OpCode::Close, code.as_ref().map_or(&[][..], |c| &c[..]), rest);
                if n.is_ok() {
                    self.on_close_written();
                }
                n
            } else {
                return written;
            };
            match n {
                Ok(n) => written += n,
                // The next reply goes in the next call; at least one must fit in each.
                Err(SendError::BufferTooSmall { needed }) if written == 0 => {
                    panic!("poll_transmit needs {needed} bytes of room, got {}", out.len())
                }
                Err(_) => return written,
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    /// Tells the connection the time (any monotonic origin) and fires expired timers.
    ///
    /// Call it whenever the driver wakes, then sleep until [`poll_timeout`](Self::poll_timeout).
    /// `now` must not go backwards. The connection keeps no clock: timers started by events
    /// since the last timed call (a Close written, input read, a message's first header taken,
    /// [`output_blocked`](Self::output_blocked)) count from this `now`. A timer fires once
    /// `now >= deadline` (the deadline is the first instant too late), one per call, in this
    /// order: [`CloseHandshake`](Timeout::CloseHandshake),
    /// [`PeerUnresponsive`](Timeout::PeerUnresponsive) and
    /// [`WriteStalled`](Timeout::WriteStalled) end the connection as
    /// [`TimedOut`](State::TimedOut) (close the transport: no Close is sent);
    /// [`MessageIncomplete`](Timeout::MessageIncomplete) fails it with 1008, the Close queued
    /// for [`poll_transmit`](Self::poll_transmit) (its close timer then runs as usual);
    /// [`KeepalivePing`](Timeout::KeepalivePing) queues a ping.
    pub fn handle_timeout(&mut self, now: Duration) -> Option<Timeout> {
        self.sync_clock(now);
        if self.state == State::TimedOut || self.eof {
            return None;
        }
        if self.close_deadline.due(now) {
            self.close_deadline = Deadline::Off;
            return Some(self.time_out(Timeout::CloseHandshake));
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.pong_deadline = None;
            return Some(self.time_out(Timeout::PeerUnresponsive));
        }
        if self.write_deadline.due(now) {
            self.write_deadline = Deadline::Off;
            return Some(self.time_out(Timeout::WriteStalled));
        }
        // Only while input is taken: after the peer's Close the message can never end.
        if self.reading() && self.message_deadline.due(now) {
            // RFC 6455 §7.4.1: 1008, a message that violates this endpoint's policy.
            self.fail_with(CloseCode::POLICY_VIOLATION);
            return Some(Timeout::MessageIncomplete);
        }
        if let (Some(interval), None, State::Open) = (self.config.keepalive_interval, self.pong_deadline, self.state) {
            if now >= self.last_received.unwrap_or(now).saturating_add(interval) {
                self.keepalive_ping = true;
                self.pong_deadline = Some(now.saturating_add(self.config.pong_timeout));
                return Some(Timeout::KeepalivePing);
            }
        }
        None
    }

    /// A timer ended the connection: nothing more is read or sent.
    fn time_out(&mut self, timeout: Timeout) -> Timeout {
        self.state = State::TimedOut;
        self.arm_fast_path(false);
        timeout
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work to do,
    /// given that it is `now`; `None` when no timer runs (always after `TimedOut` or the end of
    /// the stream).
    ///
    /// Call it after each round of input and output, and sleep until the answer. Timers that
    /// events started since the last timed call are armed from this `now`, so the answer is
    /// never earlier than the moment they were armed. It covers every timer: close handshake,
    /// keepalive ping and pong, message and write stall.
    pub fn poll_timeout(&mut self, now: Duration) -> Option<Duration> {
        self.sync_clock(now);
        if self.state == State::TimedOut || self.eof {
            return None;
        }
        let keepalive = match (self.config.keepalive_interval, self.pong_deadline, self.state) {
            (Some(interval), None, State::Open) => Some(self.last_received.unwrap_or(now).saturating_add(interval)),
            _ => None,
        };
        let message = self.message_deadline.at().filter(|_| self.reading());
        [self.close_deadline.at(), self.pong_deadline, self.write_deadline.at(), message, keepalive]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reports that the driver could not write everything it has: the peer stopped reading and
    /// output piles up past the driver's limit (e.g. a write would block with more than the
    /// driver will buffer still pending). With
    /// [`write_stall_timeout`](Config::write_stall_timeout) set, the write-stall timer starts,
    /// armed from the next `now` given; calling this again while blocked does not restart it.
    /// If output is still blocked when it expires, [`handle_timeout`](Self::handle_timeout)
    /// returns [`Timeout::WriteStalled`] and the state becomes [`TimedOut`](State::TimedOut).
    ///
    /// ```
    /// use core::time::Duration;
    /// use wsmachine::{Config, Connection, State, Timeout};
    /// let secs = Duration::from_secs;
    /// let mut server = Connection::server(Config::default().write_stall_timeout(Some(secs(5))));
    /// server.output_blocked(); // the socket is full
    /// assert_eq!(server.poll_timeout(secs(1)), Some(secs(6)));
    /// server.output_drained(); // it took everything after all
    /// assert_eq!(server.handle_timeout(secs(6)), None);
    /// server.output_blocked();
    /// assert_eq!(server.handle_timeout(secs(7)), None);
    /// assert_eq!(server.handle_timeout(secs(12)), Some(Timeout::WriteStalled));
    /// assert!(server.state() == State::TimedOut && server.should_close_transport());
    /// ```
    pub fn output_blocked(&mut self) {
        self.write_deadline.start(self.config.write_stall_timeout);
    }

    /// Reports that the driver wrote everything it had: the write-stall timer stops.
    pub fn output_drained(&mut self) {
        self.write_deadline = Deadline::Off;
    }

    /// Brings the timers up to `now`: input that arrived since the last timed call counts as
    /// traffic at `now`, and timers started since are armed from `now`.
    fn sync_clock(&mut self, now: Duration) {
        if self.received != self.received_seen || self.last_received.is_none() {
            self.received_seen = self.received;
            self.last_received = Some(now);
            if self.received != 0 {
                self.pong_deadline = None;
            }
        }
        self.close_deadline.arm(self.config.close_timeout, now);
        self.message_deadline.arm(self.config.message_timeout, now);
        self.write_deadline.arm(self.config.write_stall_timeout, now);
    }
}

mod construct;
#[cfg(feature = "deflate")]
mod inflate;
mod payload;
mod queries;
mod read;
mod send;
mod waiting;
