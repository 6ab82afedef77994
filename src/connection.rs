//! The connection state machine: every state transition of RFC 6455 after the opening handshake.
//!
//! Inputs are [`Connection::read`], [`Connection::read_eof`] and [`Connection::handle_timeout`];
//! commands are the `send_*` encoders, [`Connection::ping`], [`Connection::pong`] and
//! [`Connection::close`]; outputs are [`Connection::poll_transmit`], [`Connection::poll_timeout`]
//! and [`Connection::should_close_transport`].

use core::time::Duration;

use crate::close::{parse_close_payload, CloseCode, MAX_REASON_LEN};
use crate::config::{Config, Delivery};
use crate::error::{ProtocolError, SendError};
use crate::event::{Chunk, Event, Message, MessageKind};
use crate::frame::{self, Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::{apply_mask, apply_mask_ascii, copy_masked, MaskSource, NoMask};
use crate::utf8::{self, Utf8Validator};

mod types;
use payload::whole_message;
use types::{ControlSlot, Found, Phase};
pub use types::{FrameHead, Read, Role, State, Timeout};
pub(crate) use waiting::{Kept, Waiting};

/// A WebSocket connection after the opening handshake: a sans-IO state machine.
///
/// See the [crate documentation](crate) for the drive loop. `M` is the source of client masking
/// keys; a server uses [`NoMask`].
pub struct Connection<M: MaskSource = NoMask> {
    role: Role,
    config: Config,
    mask: M,
    // Receive side.
    /// The receiver is between frames with nothing staged, in no message, and still reading: the
    /// one condition the fast path checks. Recomputed after every general-path step.
    fast_ready: bool,
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
    utf8: Utf8Validator,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    /// The message being assembled is `assembly[..assembled]`. Bytes past it are left from
    /// earlier messages: keeping them initialised lets payload be unmasked straight into the
    /// buffer in one pass, with no zero-filling and no `unsafe`.
    #[cfg(feature = "alloc")]
    assembly: alloc::vec::Vec<u8>,
    #[cfg(feature = "alloc")]
    assembled: usize,
    /// The message being received has RSV1 set: its payload goes through the extension.
    compressed: bool,
    /// Payload bytes at the start of the next input that were already unmasked in place.
    unmasked_ahead: usize,
    /// Inflated bytes of the current compressed message (stream delivery).
    inflated_len: u64,
    #[cfg(feature = "deflate")]
    codec: Option<alloc::boxed::Box<crate::deflate::Codec>>,
    // Send side.
    outgoing: Option<MessageKind>,
    pong: ControlSlot,
    ping: ControlSlot,
    close_frame: ControlSlot,
    staged: [u8; MAX_CONTROL_PAYLOAD + MAX_HEADER_LEN],
    staged_len: u8,
    staged_pos: u8,
    // Closing handshake.
    close_queued: bool,
    close_sent: bool,
    close_received: bool,
    peer_code: Option<CloseCode>,
    failed: bool,
    eof: bool,
    timed_out: bool,
    // Timers, in the caller's monotonic time.
    now: Duration,
    last_received: Duration,
    /// Bytes taken by `read` so far, and at the last timer update: activity is noticed there,
    /// so the receive path pays one addition rather than clock bookkeeping.
    received: u64,
    received_seen: u64,
    /// See [`Connection::wanted`].
    wanted: usize,
    /// Bytes of the waiting frame seen at the last look, and `received` then (`note_waiting`).
    waiting_seen: usize,
    waiting_mark: u64,
    close_deadline: Option<Duration>,
    pong_deadline: Option<Duration>,
}

impl Connection<NoMask> {
    /// A server-side connection: expects masked frames, sends unmasked ones.
    pub fn server(config: Config) -> Self {
        Connection::new(Role::Server, config, NoMask)
    }
}

impl<M: MaskSource> Connection<M> {
    /// A client-side connection, masking every frame with keys from `mask` (RFC 6455 §5.3).
    ///
    /// With `std`, [`ChaChaMask::from_entropy`](crate::ChaChaMask::from_entropy) is the
    /// unpredictable source the RFC asks for; tests may pass a closure.
    pub fn client(config: Config, mask: M) -> Self {
        Connection::new(Role::Client, config, mask)
    }

    fn new(role: Role, config: Config, mask: M) -> Self {
        Connection {
            role,
            mask,
            fast_ready: true,
            fast_max_len: if config.max_frame_payload < config.max_message_len {
                config.max_frame_payload
            } else {
                config.max_message_len
            },
            phase: Phase::Header,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 0 },
            frame_done: 0,
            incoming: None,
            message_len: 0,
            first_chunk: true,
            utf8: Utf8Validator::new(),
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            #[cfg(feature = "alloc")]
            assembly: alloc::vec::Vec::new(),
            #[cfg(feature = "alloc")]
            assembled: 0,
            compressed: false,
            unmasked_ahead: 0,
            inflated_len: 0,
            #[cfg(feature = "deflate")]
            codec: None,
            outgoing: None,
            pong: ControlSlot::EMPTY,
            ping: ControlSlot::EMPTY,
            close_frame: ControlSlot::EMPTY,
            staged: [0; MAX_CONTROL_PAYLOAD + MAX_HEADER_LEN],
            staged_len: 0,
            staged_pos: 0,
            close_queued: false,
            close_sent: false,
            close_received: false,
            peer_code: None,
            failed: false,
            eof: false,
            timed_out: false,
            now: Duration::ZERO,
            last_received: Duration::ZERO,
            received: 0,
            received_seen: 0,
            wanted: 0,
            waiting_seen: 0,
            waiting_mark: 0,
            close_deadline: None,
            pong_deadline: None,
            config,
        }
    }

    // ----------------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------------

    /// Feeds received bytes; returns how many were used and at most one event.
    ///
    /// Payloads are unmasked in place, so the input is `&mut`. Call again with the unused rest
    /// until `event` is `None`: then every byte was used (keep nothing, read more), unless
    /// [`Config::in_place_up_to`](crate::Config::in_place_up_to) lets frames wait in your buffer
    /// (keep the rest, see [`wanted`](Self::wanted)). Drain
    /// [`poll_transmit`](Self::poll_transmit) after each call so that automatic pongs and close
    /// echoes go out before later data.
    ///
    /// On `Err`, the connection has failed: the Close frame with the error's code is queued and
    /// all later input is ignored. After the peer's Close, later input is ignored too (§5.5.1).
    #[inline(always)]
    pub fn read<'a>(&'a mut self, input: &'a mut [u8]) -> Result<Read<'a>, ProtocolError> {
        self.read_buffer(input, None)
    }

    /// [`read`](Self::read) for a driver that keeps what a read leaves unused
    /// ([`RecvBuffer`](crate::RecvBuffer)): whole messages then wait in its buffer (see
    /// `Connection::in_place_limit`).
    #[cfg(feature = "alloc")]
    #[inline(always)]
    pub(crate) fn read_keeping_unused<'a>(
        &'a mut self,
        input: &'a mut [u8],
        kept: Kept<'_>,
    ) -> Result<Read<'a>, ProtocolError> {
        self.read_buffer(input, Some(kept))
    }

    /// `kept`: from a driver that keeps unused bytes, with its note on a waiting text frame.
    #[inline(always)]
    fn read_buffer<'a>(&'a mut self, input: &'a mut [u8], kept: Option<Kept<'_>>) -> Result<Read<'a>, ProtocolError> {
        // Small enough to inline into the caller's loop: the common whole message costs no call.
        if let Some((kind, start, end, key)) = self.whole_message_fast_path(input) {
            self.received = self.received.wrapping_add(end as u64);
            let payload: &'a mut [u8] = &mut input[start..end];
            return match whole_message(payload, kind, key) {
                Some(message) => Ok(Read { consumed: end, event: Some(Event::Message(message)) }),
                None => Err(self.fail(ProtocolError::InvalidUtf8)),
            };
        }
        self.read_general(input, kept)
    }

    /// Everything but the fast path: staged headers, fragments, control frames, compression.
    #[inline(never)]
    fn read_general<'a>(
        &'a mut self,
        input: &'a mut [u8],
        mut kept: Option<Kept<'_>>,
    ) -> Result<Read<'a>, ProtocolError> {
        #[cfg(feature = "alloc")]
        if let Some(k) = kept.as_mut().filter(|k| k.has_note()) {
            if k.is_started() {
                return self.read_waiting(input, k);
            }
            k.clear_note(); // stale: something else used the buffer since (a driver bug)
        }
        if self.failed || self.close_received || self.eof {
            return Ok(Read { consumed: input.len(), event: None });
        }
        // Every read that returns no event passes here, so `wanted()` never speaks of a frame
        // that was delivered since.
        self.wanted = 0;
        let (consumed, found) = match self.advance(input, kept.as_mut().map(Kept::reborrow)) {
            Ok(found) => found,
            Err(e) => return Err(self.fail(e)),
        };
        self.received = self.received.wrapping_add(consumed as u64);
        if self.wanted > 0 {
            self.note_waiting(input.len() - consumed);
        }
        // A frame whose text is checked in part must come back here (`read_waiting`).
        self.fast_ready = self.fast_path_allowed() && !kept.is_some_and(|k| k.has_note());
        if let Found::Whole(kind, start, end, key) = found {
            let payload: &'a mut [u8] = &mut input[start..end];
            return match whole_message(payload, kind, key) {
                Some(message) => Ok(Read { consumed, event: Some(Event::Message(message)) }),
                None => Err(self.fail(ProtocolError::InvalidUtf8)),
            };
        }
        let input: &'a [u8] = input;
        let event = match found {
            Found::Nothing | Found::Whole(..) => None,
            Found::Chunk(chunk, start, end) => Some(Event::Chunk(Chunk { data: &input[start..end], ..chunk })),
            #[cfg(feature = "alloc")]
            Found::Assembled(MessageKind::Binary) => {
                let this: &'a Self = self;
                Some(Event::Message(Message::Binary(&this.assembly[..this.assembled])))
            }
            #[cfg(feature = "alloc")]
            Found::Assembled(MessageKind::Text) => {
                let this: &'a Self = self;
                let bytes = &this.assembly[..this.assembled];
                // SAFETY: every byte of an assembled text message was fed in order to `self.utf8`
                // as it was written (`take_payload`, or the inflater for compressed messages),
                // which accepted all of it; `Found::Assembled` is returned only once the message
                // is complete and the validator ended at a code point boundary (§8.1). Nothing
                // writes `assembly[..assembled]` after its bytes were validated.
                #[allow(unsafe_code)]
                let text = unsafe { crate::utf8::validated_str(bytes) };
                Some(Event::Message(Message::Text(text)))
            }
            #[cfg(feature = "deflate")]
            Found::Inflated(chunk) => {
                let this: &'a Self = self;
                let data = this.codec.as_deref().map_or(&[][..], |c| &c.scratch[..]);
                Some(Event::Chunk(Chunk { data, ..chunk }))
            }
            Found::Control(opcode, range) => {
                let this: &'a Self = self;
                let payload = match range {
                    Some((start, end)) => &input[start..end],
                    None => &this.control[..this.control_len as usize],
                };
                Some(match opcode {
                    OpCode::Ping => Event::Ping(payload),
                    OpCode::Pong => Event::Pong(payload),
                    // Validated by `on_control` already.
                    _ => Event::Close(parse_close_payload(payload).ok().flatten()),
                })
            }
        };
        Ok(Read { consumed, event })
    }

    /// Runs the receiver over `input` until it finds an event or uses all of it.
    fn advance(&mut self, input: &mut [u8], kept: Option<Kept<'_>>) -> Result<(usize, Found), ProtocolError> {
        let in_place_limit = self.in_place_limit(kept.is_some());
        let mut pos = 0;
        loop {
            match self.phase {
                Phase::Header => {
                    let header = if self.header_len == 0 {
                        match frame::decode(&input[pos..])? {
                            Decoded::Complete(h, n) => {
                                if self.wait_for_whole_frame(&h, input.len() - pos - n, in_place_limit) {
                                    // The driver keeps unused bytes: leave the frame in its
                                    // buffer until all of it is there; text is checked as it
                                    // arrives where the driver keeps that progress (§8.1).
                                    self.wanted = n + h.payload_len as usize;
                                    if let (Some(mut k), OpCode::Text) = (kept, h.opcode) {
                                        waiting::check_waiting_text(&mut input[pos + n..], h.mask, &mut k, pos)?;
                                    }
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
                    self.begin_frame(&header)?;
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
                        self.control_len = 0;
                    } else if header.fin
                        && header.opcode != OpCode::Continuation
                        && header.payload_len <= available
                        && !self.compressed
                    {
                        // Zero-copy path: a whole unfragmented message in the caller's buffer.
                        // Unmasked (and validated) by `whole_message` on the way out.
                        let (start, end) = (pos, pos + header.payload_len as usize);
                        self.incoming = None;
                        let kind = if header.opcode == OpCode::Text { MessageKind::Text } else { MessageKind::Binary };
                        return Ok((end, Found::Whole(kind, start, end, header.mask)));
                    } else {
                        self.phase = Phase::Data;
                        // Size the assembly buffer once for the announced frame, rather than
                        // doubling it as pieces arrive; only up to what is kept between messages
                        // anyway, so a header alone cannot make the connection hold more.
                        #[cfg(feature = "alloc")]
                        if self.config.delivery == Delivery::Assemble
                            && !self.compressed
                            && header.payload_len <= self.config.retain_capacity as u64
                        {
                            let need = self.assembled + header.payload_len as usize;
                            self.assembly.reserve(need.saturating_sub(self.assembly.len()));
                        }
                    }
                }
                Phase::Control => {
                    let have = self.control_len as usize;
                    let take = (self.frame.payload_len as usize - have).min(input.len() - pos);
                    self.control[have..have + take].copy_from_slice(&input[pos..pos + take]);
                    pos += take;
                    self.control_len += take as u8;
                    if (self.control_len as u64) < self.frame.payload_len {
                        return Ok((input.len(), Found::Nothing));
                    }
                    let len = self.control_len as usize;
                    if let Some(key) = self.frame.mask {
                        apply_mask(&mut self.control[..len], key, 0);
                    }
                    self.phase = Phase::Header;
                    let payload = self.control;
                    self.on_control(self.frame.opcode, &payload[..len])?;
                    return Ok((pos, Found::Control(self.frame.opcode, None)));
                }
                #[cfg(feature = "deflate")]
                Phase::Data if self.compressed => {
                    if let Some(found) = self.read_compressed(input, &mut pos)? {
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
                    self.take_payload(&mut input[start..end], kind)?;
                    pos = end;
                    self.frame_done += take as u64;
                    let frame_end = self.frame_done == self.frame.payload_len;
                    let message_end = frame_end && self.frame.fin;
                    if frame_end {
                        self.phase = Phase::Header;
                    }
                    if message_end {
                        if !self.utf8.is_complete() {
                            return Err(ProtocolError::InvalidUtf8);
                        }
                        self.incoming = None;
                    }
                    match self.config.delivery {
                        Delivery::Stream => {
                            if take > 0 || message_end {
                                let first = core::mem::replace(&mut self.first_chunk, false);
                                let chunk = Chunk { kind, data: &[], first, last: message_end };
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
    fn begin_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
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
                self.reset_assembly();
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

    #[cfg(feature = "alloc")]
    fn reset_assembly(&mut self) {
        self.assembled = 0;
        if self.assembly.capacity() > self.config.retain_capacity {
            self.assembly.clear();
            self.assembly.shrink_to(self.config.retain_capacity);
        }
    }

    /// Applies a whole control frame's effect (RFC 6455 §5.5).
    fn on_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), ProtocolError> {
        match opcode {
            // §5.5.2: answer with a pong carrying the same payload; only the latest counts.
            OpCode::Ping if self.config.auto_pong && !self.close_queued => self.pong.set(&[payload]),
            OpCode::Close => {
                let frame = parse_close_payload(payload)?;
                self.close_received = true;
                self.peer_code = Some(frame.map_or(CloseCode::NO_STATUS, |f| f.code));
                // §5.5.1: echo the status code; nothing but the Close may follow it.
                if self.config.auto_close && !self.close_queued {
                    let code = frame.map(|f| f.code.0.to_be_bytes());
                    self.queue_close(code.as_ref().map_or(&[][..], |c| &c[..]), &[]);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7): queues the Close and stops reading.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.failed = true;
        self.fast_ready = false;
        self.pong.pending = false;
        self.ping.pending = false;
        if !self.close_queued {
            self.queue_close(&error.close_code().0.to_be_bytes(), &[]);
        }
        error
    }

    /// Reports that the transport reached end of stream.
    ///
    /// `Ok` when the peer's Close came first; otherwise the closure is abnormal (1006, §7.1.5).
    pub fn read_eof(&mut self) -> Result<(), ProtocolError> {
        self.eof = true;
        self.fast_ready = false;
        if self.close_received || self.failed {
            Ok(())
        } else {
            self.peer_code = Some(CloseCode::ABNORMAL);
            Err(ProtocolError::AbnormalClosure)
        }
    }

    // ----------------------------------------------------------------------------------------
    // Control commands and output
    // ----------------------------------------------------------------------------------------

    /// Starts (or answers) the closing handshake with `code` and a UTF-8 `reason` (§5.5.1).
    ///
    /// After this no data may be sent. Codes that may not be sent (1005, 1006, 1015, reserved
    /// ranges) and reasons over 123 bytes are refused.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        self.queue_close(&code.0.to_be_bytes(), reason.as_bytes());
        Ok(())
    }

    fn queue_close(&mut self, code: &[u8], reason: &[u8]) {
        self.close_frame.set(&[code, reason]);
        self.close_queued = true;
    }

    /// Writes queued control frames (pongs, pings, Close) into `out`; returns the bytes written.
    ///
    /// Any size of `out` works: a frame that does not fit continues in the next call. Call it
    /// until [`wants_write`](Self::wants_write) is false.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        loop {
            if self.staged_pos < self.staged_len {
                let staged = &self.staged[self.staged_pos as usize..self.staged_len as usize];
                let n = staged.len().min(out.len() - written);
                out[written..written + n].copy_from_slice(&staged[..n]);
                written += n;
                self.staged_pos += n as u8;
                if self.staged_pos < self.staged_len {
                    return written;
                }
            }
            // §5.5.1: after the Close, nothing more; pongs first since they answer the peer.
            let (opcode, slot) = if self.close_sent {
                return written;
            } else if self.pong.pending {
                (OpCode::Pong, self.pong)
            } else if self.ping.pending {
                (OpCode::Ping, self.ping)
            } else if self.close_frame.pending {
                (OpCode::Close, self.close_frame)
            } else {
                return written;
            };
            match opcode {
                OpCode::Pong => self.pong.pending = false,
                OpCode::Ping => self.ping.pending = false,
                _ => {
                    self.close_frame.pending = false;
                    self.close_sent = true;
                    self.pong.pending = false;
                    self.ping.pending = false;
                    self.close_deadline = self.config.close_timeout.map(|t| self.now.saturating_add(t));
                }
            }
            let payload = &slot.payload[..slot.len as usize];
            let mut head = [0u8; MAX_HEADER_LEN];
            let n = self.encode_header(opcode, true, 0, payload.len(), &mut head);
            self.staged[..n].copy_from_slice(&head[..n]);
            let end = n + payload.len();
            self.staged[n..end].copy_from_slice(payload);
            if let Some(key) = self.tx_mask(&head[..n]) {
                apply_mask(&mut self.staged[n..end], key, 0);
            }
            self.staged_len = end as u8;
            self.staged_pos = 0;
        }
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    /// Tells the connection the time (any monotonic origin) and fires expired timers.
    ///
    /// Call it whenever the driver wakes, before [`poll_timeout`](Self::poll_timeout); the
    /// connection keeps no clock and measures its timers from the last `now` it was given.
    pub fn handle_timeout(&mut self, now: Duration) -> Option<Timeout> {
        if self.received != self.received_seen {
            // Input arrived since the last call: it counts from the time known then.
            self.received_seen = self.received;
            self.last_received = self.now;
            self.pong_deadline = None;
        }
        self.now = now;
        if self.timed_out || self.eof {
            return None;
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.close_deadline = None;
            self.timed_out = true;
            return Some(Timeout::CloseHandshake);
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.pong_deadline = None;
            self.timed_out = true;
            self.failed = true;
            self.fast_ready = false;
            return Some(Timeout::PeerUnresponsive);
        }
        if let (Some(interval), None, false) = (self.config.keepalive_interval, self.pong_deadline, self.close_queued) {
            if !self.failed && now >= self.last_received.saturating_add(interval) {
                self.ping.set(&[]);
                self.pong_deadline = Some(now.saturating_add(self.config.pong_timeout));
                return Some(Timeout::KeepalivePing);
            }
        }
        None
    }
}

#[cfg(feature = "deflate")]
mod inflate;
mod payload;
mod queries;
mod send;
mod waiting;
