//! The sending half of [`Connection`]: data and control frames encoded straight into the caller's
//! buffer. What a Close written changes (state, timer) is `on_close_written`, in `connection.rs`.

use super::*;

impl<M: Masking> Connection<M> {
    pub(super) fn check_open(&self) -> Result<(), SendError> {
        if self.close_queued() || self.eof {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Whether a whole data message may be sent now: open, and no fragmented message of ours
    /// open (§5.4). Shared with [`Broadcast`](crate::Broadcast), whose frame is encoded once.
    pub(crate) fn check_whole_message(&self) -> Result<(), SendError> {
        self.check_open()?;
        if self.outgoing.is_some() {
            return Err(SendError::MessageInProgress);
        }
        Ok(())
    }

    /// Encodes a ping with `payload` (at most 125 bytes, §5.5.2) into `out`; returns its
    /// length. The peer's pong arrives as [`Event::Pong`](crate::Event::Pong).
    pub fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.check_open()?;
        self.write_control(OpCode::Ping, payload, out)
    }

    /// Encodes an unsolicited pong (a heartbeat that expects no answer, §5.5.3) into `out`.
    pub fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.check_open()?;
        self.write_control(OpCode::Pong, payload, out)
    }

    /// Writes one control frame into `out`, if it fits and the payload is legal (§5.5).
    pub(super) fn write_control(&mut self, opcode: OpCode, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        let needed = frame::header_len(payload.len() as u64, self.role == Role::Client) + payload.len();
        if out.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        Ok(self.write_frame(opcode, true, 0, payload, out))
    }

    /// The number of bytes [`send_text`](Self::send_text) or [`send_binary`](Self::send_binary)
    /// needs for a payload of `payload_len` bytes, counting the headers of automatic fragments
    /// (`fragment_size`) and client masking keys. Exact without compression; with
    /// permessage-deflate an upper bound (the send returns the bytes actually written).
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        let raw = self.frames_len(payload_len);
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.codec.as_deref() {
            if payload_len >= codec.min_compress_len {
                return raw.max(self.frames_len(codec.compress_bound(payload_len)));
            }
        }
        raw
    }

    /// The bytes of a message's frames (headers included) for a payload of `payload_len`.
    fn frames_len(&self, payload_len: usize) -> usize {
        let masked = self.role == Role::Client;
        let size = self.config.fragment_size;
        if size == 0 || payload_len <= size {
            return frame::header_len(payload_len as u64, masked) + payload_len;
        }
        let (full, rest) = (payload_len / size, payload_len % size);
        let rest_header = if rest > 0 { frame::header_len(rest as u64, masked) } else { 0 };
        full * frame::header_len(size as u64, masked) + rest_header + payload_len
    }

    /// Encodes a text message into `out`, returning the bytes written
    /// ([`encoded_len`](Self::encoded_len) of them).
    ///
    /// ```
    /// use wsmachine::{Config, Connection};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = [0u8; 16];
    /// let n = server.send_text("Hello", &mut out).unwrap();
    /// assert_eq!(&out[..n], b"\x81\x05Hello"); // RFC 6455 §5.7
    /// ```
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, SendError> {
        self.send_message(OpCode::Text, text.as_bytes(), out)
    }

    /// Encodes a binary message into `out`, returning the bytes written.
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.send_message(OpCode::Binary, data, out)
    }

    /// The common case (open, one uncompressed frame) is tested first, in one condition, as in
    /// [`send_message_vec`](Self::send_message_vec); the rest is
    /// [`send_message_other`](Self::send_message_other), out of line.
    #[inline]
    fn send_message(&mut self, opcode: OpCode, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        if !self.sends_one_plain_frame(data.len()) {
            return self.send_message_other(opcode, data, out);
        }
        if self.role == Role::Server {
            // The header without a key (§5.1: a server never masks), then the payload.
            let (head, n) = unmasked_header(opcode, true, data.len());
            let needed = n + data.len();
            let Some(dst) = out.get_mut(..needed) else {
                return Err(SendError::BufferTooSmall { needed });
            };
            crate::mask::write_frame(dst, &head, n, data);
            return Ok(needed);
        }
        // Sized before the key is drawn: a refused send leaves the key stream untouched.
        let needed = frame::header_len(data.len() as u64, true) + data.len();
        if out.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        Ok(self.write_frame(opcode, true, 0, data, out))
    }

    /// Every whole-message send into a slice that is not the common case: refusals, compressed
    /// and automatically fragmented messages, a send after the peer's Close.
    #[inline(never)]
    fn send_message_other(&mut self, opcode: OpCode, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.check_whole_message()?;
        let needed = self.encoded_len(data.len());
        if out.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        #[cfg(feature = "deflate")]
        if let Some(mut codec) = self.codec.take() {
            // RFC 7692 §6.1: compress the whole message, RSV1 on its first frame.
            let sent = if data.len() >= codec.min_compress_len && codec.compress(data, self.received) {
                let compressed = core::mem::take(&mut codec.scratch);
                let n = if self.frames_len(compressed.len()) <= out.len() {
                    Some(self.write_frames(opcode, 0b100, &compressed, out))
                } else {
                    // Beyond the bound (never seen): send it as is, with the history dropped.
                    codec.reset_compressor();
                    None
                };
                codec.scratch = compressed;
                // A large message's output buffer is not kept beyond `retain_capacity`.
                if codec.scratch.capacity() > self.config.retain_capacity {
                    codec.scratch.clear();
                    codec.scratch.shrink_to(self.config.retain_capacity);
                }
                n
            } else {
                None
            };
            self.codec = Some(codec);
            if let Some(n) = sent {
                return Ok(n);
            }
        }
        Ok(self.write_frames(opcode, 0, data, out))
    }

    /// Writes a message as one frame, or as fragments of `fragment_size` (§5.4); the RSV bits
    /// go on the first frame only (RFC 7692 §6.1).
    fn write_frames(&mut self, opcode: OpCode, rsv: u8, data: &[u8], out: &mut [u8]) -> usize {
        let size = self.config.fragment_size;
        if size == 0 || data.len() <= size {
            return self.write_frame(opcode, true, rsv, data, out);
        }
        let (mut written, mut opcode, mut rsv) = (0, opcode, rsv);
        let mut pieces = data.chunks(size).peekable();
        while let Some(piece) = pieces.next() {
            written += self.write_frame(opcode, pieces.peek().is_none(), rsv, piece, &mut out[written..]);
            opcode = OpCode::Continuation;
            rsv = 0;
        }
        written
    }

    /// Encodes one fragment of a message (§5.4); `fin` ends the message.
    ///
    /// The first fragment opens a message of `kind`; later ones must name the same kind. Control
    /// frames (queued pongs, pings, a Close) may be sent between fragments through
    /// [`poll_transmit`](Self::poll_transmit). For text, the fragments together must be UTF-8.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_open()?;
        let needed = frame::header_len(data.len() as u64, self.role == Role::Client) + data.len();
        if out.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        let opcode = self.next_data_opcode(kind, fin)?;
        Ok(self.write_frame(opcode, fin, 0, data, out))
    }

    /// Produces only the header of a data frame, for a vectored write of header and payload.
    ///
    /// A client's payload must be masked, so it is masked here, in place; a server's is left
    /// untouched. `fin` and `kind` follow the rules of [`send_fragment`](Self::send_fragment).
    #[inline]
    pub fn frame_header(&mut self, kind: MessageKind, payload: &mut [u8], fin: bool) -> Result<FrameHead, SendError> {
        if self.state == State::Open && self.outgoing.is_none() && self.role == Role::Server {
            // The common case, a server's first frame of a message while open, in one test and
            // small enough to be inlined: no key, the payload untouched (§5.1).
            self.outgoing = if fin { None } else { Some(kind) };
            let (bytes, n) = unmasked_header(OpCode::starting(kind), fin, payload.len());
            return Ok(FrameHead { bytes, len: n as u8 });
        }
        self.frame_header_other(kind, payload, fin)
    }

    /// [`frame_header`](Self::frame_header) for a client (which masks the payload), a
    /// continuation, or a refusal.
    #[inline(never)]
    fn frame_header_other(&mut self, kind: MessageKind, payload: &mut [u8], fin: bool) -> Result<FrameHead, SendError> {
        self.check_open()?;
        let opcode = self.next_data_opcode(kind, fin)?;
        let mut head = FrameHead { bytes: [0; MAX_HEADER_LEN], len: 0 };
        let n = self.encode_header(opcode, fin, 0, payload.len(), &mut head.bytes);
        head.len = n as u8;
        if let Some(key) = self.tx_mask(&head.bytes[..n]) {
            apply_mask(payload, key, 0);
        }
        Ok(head)
    }

    /// Appends a text message to `out` (which is never shrunk).
    #[cfg(feature = "alloc")]
    pub fn send_text_vec(&mut self, text: &str, out: &mut alloc::vec::Vec<u8>) -> Result<usize, SendError> {
        self.send_message_vec(OpCode::Text, text.as_bytes(), out)
    }

    /// Appends a binary message to `out`.
    #[cfg(feature = "alloc")]
    pub fn send_binary_vec(&mut self, data: &[u8], out: &mut alloc::vec::Vec<u8>) -> Result<usize, SendError> {
        self.send_message_vec(OpCode::Binary, data, out)
    }

    /// Appends a whole message in one pass over its bytes: the header, then the payload
    /// appended after it, with no zero-filling first (a client's is masked as it is copied, by
    /// `mask::append`). The common case (open, one uncompressed frame) is tested first, in one
    /// condition; the rest (errors, compressed or automatically fragmented messages, a send after
    /// the peer's Close) is [`send_message_vec_other`](Self::send_message_vec_other), out of line.
    #[cfg(feature = "alloc")]
    #[inline]
    fn send_message_vec(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        if !self.sends_one_plain_frame(data.len()) {
            return self.send_message_vec_other(opcode, data, out);
        }
        if self.role == Role::Server {
            // Small enough to be inlined into the caller: the header without a key, then the
            // payload (§5.1: a server never masks).
            let (head, n) = unmasked_header(opcode, true, data.len());
            crate::mask::extend_frame(out, &head, n, data);
            return Ok(n + data.len());
        }
        Ok(self.append_frame(opcode, data, out))
    }

    /// Whether a message of `len` bytes may go out now as one uncompressed frame: open, no
    /// message of ours in progress (§5.4), under the compression and fragmenting thresholds.
    /// `false` never refuses by itself: `send_message_vec_other` decides. (The end of the stream
    /// needs no test of its own: `read_eof` always leaves `Open`.)
    #[inline]
    fn sends_one_plain_frame(&self, len: usize) -> bool {
        self.state == State::Open && self.outgoing.is_none() && !self.takes_sized_path(len)
    }

    /// A message of `len` bytes is compressed or automatically fragmented: it is encoded by
    /// [`send_message_other`](Self::send_message_other) into a sized buffer, not appended as one
    /// frame.
    #[inline]
    fn takes_sized_path(&self, len: usize) -> bool {
        #[cfg(feature = "deflate")]
        let compressing = self.codec.as_deref().is_some_and(|c| len >= c.min_compress_len);
        #[cfg(not(feature = "deflate"))]
        let compressing = false;
        compressing || self.config.fragment_size != 0 && len > self.config.fragment_size
    }

    /// The sends that are not the common case: compressed or automatically fragmented messages
    /// take the sized path of [`send_message_other`](Self::send_message_other); the rest is checked and
    /// appended as one frame.
    #[cfg(feature = "alloc")]
    #[inline(never)]
    fn send_message_vec_other(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        if self.takes_sized_path(data.len()) {
            let start = out.len();
            out.resize(start + self.encoded_len(data.len()), 0);
            let result = self.send_message_other(opcode, data, &mut out[start..]);
            out.truncate(start + *result.as_ref().unwrap_or(&0));
            return result;
        }
        self.check_whole_message()?;
        Ok(self.append_frame(opcode, data, out))
    }

    /// Appends one whole-message frame; returns its length. The header and the payload go in
    /// through `mask::append`: for a client, one fused copy-and-mask pass into the spare capacity
    /// (§5.3); for a server, a plain copy.
    #[cfg(feature = "alloc")]
    #[inline]
    fn append_frame(&mut self, opcode: OpCode, data: &[u8], out: &mut alloc::vec::Vec<u8>) -> usize {
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = self.encode_header(opcode, true, 0, data.len(), &mut head);
        match self.tx_mask(&head[..n]) {
            Some(key) => crate::mask::extend_frame_masked(out, &head, n, data, key),
            None => crate::mask::extend_frame(out, &head, n, data),
        }
        n + data.len()
    }

    /// Appends a ping to `out` (the `Vec` form of [`ping`](Self::ping)).
    #[cfg(feature = "alloc")]
    pub fn ping_vec(&mut self, payload: &[u8], out: &mut alloc::vec::Vec<u8>) -> Result<usize, SendError> {
        self.control_vec(out, |conn, room| conn.ping(payload, room))
    }

    /// Appends an unsolicited pong to `out` (the `Vec` form of [`pong`](Self::pong)).
    #[cfg(feature = "alloc")]
    pub fn pong_vec(&mut self, payload: &[u8], out: &mut alloc::vec::Vec<u8>) -> Result<usize, SendError> {
        self.control_vec(out, |conn, room| conn.pong(payload, room))
    }

    /// Appends a Close to `out` (the `Vec` form of [`close`](Self::close)).
    #[cfg(feature = "alloc")]
    pub fn close_vec(
        &mut self,
        code: CloseCode,
        reason: &str,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        self.control_vec(out, |conn, room| conn.close(code, reason, room))
    }

    #[cfg(feature = "alloc")]
    fn control_vec(
        &mut self,
        out: &mut alloc::vec::Vec<u8>,
        encode: impl FnOnce(&mut Self, &mut [u8]) -> Result<usize, SendError>,
    ) -> Result<usize, SendError> {
        let start = out.len();
        out.resize(start + frame::MAX_CONTROL_FRAME_LEN, 0);
        let result = encode(self, &mut out[start..]);
        out.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Appends the queued replies to `out` (the `Vec` form of `poll_transmit`).
    #[cfg(feature = "alloc")]
    pub fn poll_transmit_vec(&mut self, out: &mut alloc::vec::Vec<u8>) -> usize {
        let mut total = 0;
        while self.wants_write() {
            let start = out.len();
            out.resize(start + 2 * frame::MAX_CONTROL_FRAME_LEN, 0);
            let n = self.poll_transmit(&mut out[start..]);
            out.truncate(start + n);
            total += n;
        }
        total
    }

    /// Writes one frame; the caller has checked that `out` is large enough.
    #[inline]
    fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, data: &[u8], out: &mut [u8]) -> usize {
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = self.encode_header(opcode, fin, rsv, data.len(), &mut head);
        let end = n + data.len();
        match self.tx_mask(&head[..n]) {
            Some(key) => crate::mask::write_frame_masked(&mut out[..end], &head, n, data, key),
            None => crate::mask::write_frame(&mut out[..end], &head, n, data),
        }
        end
    }

    /// Encodes a header; a client draws a fresh masking key for every frame (§5.3).
    #[inline]
    pub(super) fn encode_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        len: usize,
        out: &mut [u8; MAX_HEADER_LEN],
    ) -> usize {
        let mask = match self.role {
            Role::Client => Some(self.mask.next_mask_key()),
            Role::Server => None,
        };
        FrameHeader { fin, rsv, opcode, mask, payload_len: len as u64 }.encode(out)
    }

    /// The key an encoded header carries (its last four bytes when masked).
    #[inline]
    pub(super) fn tx_mask(&self, head: &[u8]) -> Option<[u8; 4]> {
        match (self.role, head) {
            (Role::Client, [.., a, b, c, d]) => Some([*a, *b, *c, *d]),
            _ => None,
        }
    }

    /// Starts (or answers) the closing handshake: encodes a Close with `code` and a UTF-8
    /// `reason` into `out` (§5.5.1) and returns its length (at most
    /// [`MAX_CONTROL_FRAME_LEN`](crate::frame::MAX_CONTROL_FRAME_LEN)).
    ///
    /// After this no data may be sent, and replies still queued for
    /// [`poll_transmit`](Self::poll_transmit) are dropped (nothing follows a Close), so drain it
    /// first. Codes that may not be sent (1005, 1006, 1015, reserved ranges) and reasons over
    /// 123 bytes are refused. The close timer starts now, armed from the next `now` you give.
    ///
    /// ```
    /// use wsmachine::{CloseCode, Config, Connection, State};
    /// let mut server = Connection::server(Config::default());
    /// let mut out = [0u8; 16];
    /// let n = server.close(CloseCode::NORMAL, "bye", &mut out).unwrap();
    /// assert_eq!(&out[..n], b"\x88\x05\x03\xe8bye");
    /// assert_eq!(server.state(), State::CloseSent);
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str, out: &mut [u8]) -> Result<usize, SendError> {
        self.check_open()?;
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        let n = self.write_control(OpCode::Close, &payload[..2 + reason.len()], out)?;
        self.on_close_written();
        Ok(n)
    }
}

/// A server's header (§5.1: no key) and its length, composed without `encode_header`'s role
/// test, for the fast paths that have made that test already.
#[inline(always)]
fn unmasked_header(opcode: OpCode, fin: bool, len: usize) -> ([u8; MAX_HEADER_LEN], usize) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = FrameHeader { fin, rsv: 0, opcode, mask: None, payload_len: len as u64 }.encode(&mut head);
    (head, n)
}
