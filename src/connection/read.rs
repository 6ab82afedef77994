//! Input: `read` and the events it returns, built from what the receiver (`advance` in
//! `connection.rs`, where every transition lives) found. Events borrow the caller's input or
//! [`Assembly`], never the connection.

use super::*;

impl<M: Masking> Connection<M> {
    /// Feeds received bytes; returns how many were used and at most one event.
    ///
    /// Payloads are unmasked in place, so the input is `&mut`. The one contract: call again
    /// with the unused rest until `event` is `None`; then every byte was used, so keep nothing
    /// and read more. Events borrow `input` and `assembly` (your memory, where pieces that are
    /// not whole in `input` are put together), never the connection: you can send, even echo
    /// the very message, while you hold an event. Drain [`poll_transmit`](Self::poll_transmit)
    /// after each call so that automatic pongs and close echoes go out before later data.
    ///
    /// On `Err`, the connection has failed: the Close frame with the error's code is queued and
    /// all later input is ignored. After the peer's Close, later input is ignored too (§5.5.1).
    ///
    /// ```
    /// use wsmachine::{Assembly, Config, Connection, Event, Message};
    ///
    /// let mut server = Connection::server(Config::default());
    /// let mut assembly = Assembly::new();
    /// // A masked "Hello" from a client (RFC 6455 §5.7), then an echo of it.
    /// let mut input = *b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    /// let mut out = [0u8; 16];
    /// let read = server.read(&mut input, &mut assembly).unwrap();
    /// if let Some(Event::Message(Message::Text(text))) = read.event {
    ///     let n = server.send_text(text, &mut out).unwrap(); // no copy, no second validation
    ///     assert_eq!(&out[..n], b"\x81\x05Hello");
    /// }
    /// ```
    #[inline(always)]
    pub fn read<'a>(&mut self, input: &'a mut [u8], assembly: &'a mut Assembly) -> Result<Read<'a>, ProtocolError> {
        self.read_buffer(input, false, assembly)
    }

    /// Hands over, with no copy, the message the last [`read`](Self::read) put together in
    /// `assembly` ([`last_message_assembled`](Self::last_message_assembled)): the bytes of the
    /// [`Message`] you just got (a text message's are UTF-8, already validated), in a `Vec` you
    /// own. `None` if the last read returned anything else; then the message, if any, is in your
    /// input, where you can still use it until you overwrite it.
    ///
    /// For a driver that writes large messages out (an echo, a proxy, a relay) from its own
    /// event loop and cannot write them before its next read: keep the `Vec` until the socket
    /// took all of it, after the header from [`frame_header`](Self::frame_header), while the
    /// connection reads on. The assembly is left empty ([`Assembly::heap_bytes`] is 0) and
    /// allocates again for the next message it puts together; the memory you took is yours to
    /// count.
    ///
    /// ```
    /// use wsmachine::{Assembly, Config, Connection, Event, Message, MessageKind};
    ///
    /// let mut server = Connection::server(Config::default());
    /// let mut assembly = Assembly::new();
    /// // A binary message in two fragments, "he" and "llo" (masked with all-zero keys).
    /// let mut input = *b"\x02\x82\0\0\0\0he\x80\x83\0\0\0\0llo";
    /// let mut start = 0;
    /// let mut taken = None;
    /// while let Ok(read) = server.read(&mut input[start..], &mut assembly) {
    ///     start += read.consumed;
    ///     match read.event {
    ///         // Decide while you hold the event; take once you no longer use it.
    ///         Some(Event::Message(m)) if m.as_bytes().len() > 4 && server.last_message_assembled() => {
    ///             taken = server.take_message(&mut assembly);
    ///         }
    ///         Some(_) => {}
    ///         None => break,
    ///     }
    /// }
    /// let mut payload = taken.unwrap();
    /// assert_eq!(payload, b"hello");
    /// assert_eq!(assembly.heap_bytes(), 0);
    /// // The echo, for a vectored write: this header, then the payload you own.
    /// let head = server.frame_header(MessageKind::Binary, &mut payload, true).unwrap();
    /// assert_eq!(head.as_bytes(), b"\x82\x05");
    /// ```
    #[cfg(feature = "alloc")]
    pub fn take_message(&mut self, assembly: &mut Assembly) -> Option<alloc::vec::Vec<u8>> {
        if !self.last_message_assembled() {
            return None;
        }
        self.assembled_at = None;
        Some(assembly.take())
    }

    /// [`read`](Self::read) for a driver that keeps what a read leaves unused
    /// ([`RecvBuffer`](crate::RecvBuffer)): whole messages then wait in its buffer (see
    /// `Connection::in_place_limit`), and a read may leave a waiting frame unused, saying how
    /// many bytes it wants ([`wanted`](Self::wanted)).
    #[cfg(feature = "alloc")]
    #[inline(always)]
    pub(crate) fn read_keeping_unused<'a>(
        &mut self,
        input: &'a mut [u8],
        assembly: &'a mut Assembly,
    ) -> Result<Read<'a>, ProtocolError> {
        self.read_buffer(input, true, assembly)
    }

    /// `keeps_unused`: the driver keeps what a read leaves unused, so frames may wait in it.
    #[inline(always)]
    fn read_buffer<'a>(
        &mut self,
        input: &'a mut [u8],
        keeps_unused: bool,
        assembly: &'a mut Assembly,
    ) -> Result<Read<'a>, ProtocolError> {
        // Small enough to inline into the caller's loop: the common whole message costs no call.
        if self.fast_ready {
            if let Some((kind, start, end, key)) = self.whole_frame(input) {
                self.received = self.received.wrapping_add(end as u64);
                let payload: &'a mut [u8] = &mut input[start..end];
                return match whole_message(payload, kind, key) {
                    Some(message) => Ok(Read { consumed: end, event: Some(Event::Message(message)) }),
                    None => Err(self.fail(ProtocolError::InvalidUtf8)),
                };
            }
        } else if self.fast_stream {
            return self.read_stream(input, keeps_unused, assembly);
        }
        self.read_general(input, keeps_unused, assembly)
    }

    /// The fast path of stream delivery, where a whole frame is one chunk, first and last. A
    /// path of its own after the whole-message one, so that each produces one event shape and
    /// the caller's loop never chooses a shape per message (choosing cost the whole-message
    /// path 14 instructions per 16-byte message, measured with `benches/ab`). The chunk's kind
    /// and flags are one word (see [`Chunk`]), so the caller's loop gets them in a register.
    #[inline(always)]
    fn read_stream<'a>(
        &mut self,
        input: &'a mut [u8],
        keeps_unused: bool,
        assembly: &'a mut Assembly,
    ) -> Result<Read<'a>, ProtocolError> {
        if let Some((kind, start, end, key)) = self.whole_frame(input) {
            self.received = self.received.wrapping_add(end as u64);
            let data: &'a mut [u8] = &mut input[start..end];
            let Some(chunk) = whole_chunk_in_place(data, kind, key) else {
                return Err(self.fail(ProtocolError::InvalidUtf8));
            };
            return Ok(Read { consumed: end, event: Some(Event::Chunk(chunk)) });
        }
        self.read_general(input, keeps_unused, assembly)
    }

    /// Everything but the fast path: staged headers, fragments, control frames, compression.
    /// Cold for the caller's loop: called once per read (or per large frame), it must not shape
    /// the inlined fast path's code around it (with it, the 16-byte stream row runs 3 fewer
    /// instructions per message, `benches/ab`).
    #[inline(never)]
    #[cold]
    fn read_general<'a>(
        &mut self,
        input: &'a mut [u8],
        keeps_unused: bool,
        assembly: &'a mut Assembly,
    ) -> Result<Read<'a>, ProtocolError> {
        // The assembly is about to move on (see `take_message`).
        #[cfg(feature = "alloc")]
        {
            self.assembled_at = None;
        }
        if !self.reading() {
            #[cfg(feature = "deflate")]
            self.input_exhausted();
            return Ok(Read { consumed: input.len(), event: None });
        }
        // Between messages, memory a larger earlier message needed goes back (idle stays small).
        #[cfg(feature = "alloc")]
        if self.incoming.is_none() {
            assembly.shrink_to(self.config.retain_capacity);
        }
        // Every read that returns no event passes here, so `wanted()` never speaks of a frame
        // that was delivered since.
        self.wanted = 0;
        let (consumed, found) = match self.advance(input, keeps_unused, assembly) {
            Ok(found) => found,
            Err(e) => return Err(self.fail(e)),
        };
        self.received = self.received.wrapping_add(consumed as u64);
        if self.wanted > 0 {
            self.note_waiting(input.len() - consumed);
        }
        #[cfg(feature = "deflate")]
        if matches!(found, Found::Nothing) {
            self.input_exhausted();
        }
        // A frame that waits with its message deadline running may not take the fast path, which
        // would deliver it without stopping the deadline (`end_message`).
        self.arm_fast_path(self.fast_path_allowed() && self.message_deadline == Deadline::Off);
        if let Found::Whole(kind, start, end, key) = found {
            let payload: &'a mut [u8] = &mut input[start..end];
            return match whole_message(payload, kind, key) {
                Some(message) if self.config.delivery == Delivery::Stream => {
                    Ok(Read { consumed, event: Some(whole_chunk(message)) })
                }
                Some(message) => Ok(Read { consumed, event: Some(Event::Message(message)) }),
                None => Err(self.fail(ProtocolError::InvalidUtf8)),
            };
        }
        let input: &'a [u8] = input;
        let assembly: &'a Assembly = assembly;
        let event = match found {
            Found::Nothing | Found::Whole(..) => None,
            Found::Chunk(chunk, start, end) => Some(Event::Chunk(chunk.with_data(&input[start..end]))),
            #[cfg(feature = "alloc")]
            Found::Assembled(kind) => match assembly.message(kind) {
                Some(message) => {
                    self.assembled_at = Some(self.received);
                    Some(Event::Message(message))
                }
                None => return Err(self.fail(ProtocolError::InvalidUtf8)),
            },
            #[cfg(feature = "deflate")]
            Found::Inflated(chunk) => Some(Event::Chunk(chunk.with_data(assembly.chunk()))),
            Found::Control(opcode, range) => {
                let payload = match range {
                    Some((start, end)) => &input[start..end],
                    None => assembly.control(),
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
}
