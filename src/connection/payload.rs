//! The receive hot path of [`Connection`]: whole frames in place, and payload pieces unmasked and
//! validated block by block. No state transition happens here; `connection.rs` owns them.

use super::*;

impl<M: Masking> Connection<M> {
    /// The largest frame left to wait in the driver's buffer: for a driver that keeps unused
    /// bytes ([`RecvBuffer`](crate::RecvBuffer)) and wants whole messages, any frame within the
    /// limits (the buffer grows only with bytes that arrived, as assembly would); 0 (never
    /// wait) otherwise.
    #[cfg_attr(not(feature = "alloc"), allow(unused_variables))]
    #[inline]
    pub(super) fn in_place_limit(&self, keeps_unused: bool) -> usize {
        match self.config.delivery {
            #[cfg(feature = "alloc")]
            Delivery::Assemble if keeps_unused => usize::MAX,
            _ => 0,
        }
    }

    /// Whether to leave a frame unread until it is whole: only for a frame the fast path will then
    /// deliver in place (final, unextended text or binary, not inside a fragmented message,
    /// masked as the role requires, within the limits) and no larger than `limit`.
    #[inline]
    pub(super) fn wait_for_whole_frame(&self, h: &FrameHeader, available: usize, limit: usize) -> bool {
        h.payload_len > available as u64 && self.may_wait(h, limit)
    }

    /// Everything `wait_for_whole_frame` asks but that the frame is still incomplete.
    #[inline]
    pub(super) fn may_wait(&self, h: &FrameHeader, limit: usize) -> bool {
        limit > 0
            && h.payload_len <= limit as u64
            && h.fin
            && h.rsv == 0
            && matches!(h.opcode, OpCode::Text | OpCode::Binary)
            && self.incoming.is_none()
            && h.mask.is_some() == (self.role == Role::Server)
            && h.payload_len <= self.config.max_frame_payload
            && h.payload_len <= self.config.max_message_len
    }

    /// After a `read` through a [`RecvBuffer`](crate::RecvBuffer) that returned no event and
    /// left input unused: how many bytes, counted from the first unused one, must be in the
    /// buffer before the next `read` can go on (a whole waiting frame, or a whole frame header);
    /// 0 when nothing waits.
    #[cfg(feature = "alloc")]
    #[inline]
    pub(crate) fn wanted(&self) -> usize {
        self.wanted
    }

    /// Unmasks and validates a piece of payload (stream delivery: in place; assembly: into the
    /// [`Assembly`]), block by block so that each block is still in L1 cache when the next pass
    /// reads it: one pass over cold memory instead of up to three.
    #[inline]
    pub(super) fn take_payload(
        &mut self,
        piece: &mut [u8],
        kind: MessageKind,
        assembly: &mut Assembly,
    ) -> Result<(), ProtocolError> {
        const BLOCK: usize = 16 * 1024;
        let text = kind == MessageKind::Text;
        let mut offset = self.frame_done as usize;
        for block in piece.chunks_mut(BLOCK) {
            let key = self.frame.mask.map(|key| crate::mask::rotate(key, offset));
            offset += block.len();
            #[cfg(feature = "alloc")]
            if self.config.delivery == Delivery::Assemble {
                // RFC 6455 §8.1: the assembly validates text as it lands, failing fast.
                if !assembly.push(block, key, text) {
                    return Err(ProtocolError::InvalidUtf8);
                }
                continue;
            }
            #[cfg(not(feature = "alloc"))]
            let _ = &assembly;
            // Whether the unmasking loop saw only ASCII (checked for masked text only).
            let ascii = match key {
                Some(key) if text => apply_mask_ascii(block, key, 0),
                Some(key) => {
                    apply_mask(block, key, 0);
                    false
                }
                None => false,
            };
            // RFC 6455 §8.1: fail fast on the first byte that cannot be valid UTF-8. ASCII after
            // a code point boundary needs no validator.
            if text && !(ascii && self.utf8.is_complete()) && !self.utf8.feed(block) {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        Ok(())
    }

    /// The common case in one place: a whole, final, unextended text or binary frame with a 7- or
    /// 16-bit length, masked as the role requires, at the start of the input and within the
    /// limits. Every rule of `begin_frame` holds for such a frame by construction, so it is
    /// unmasked and delivered with no other bookkeeping. Anything else takes the general path.
    /// Called only while `fast_ready` or `fast_stream` holds.
    #[inline(always)]
    pub(super) fn whole_frame(&mut self, input: &[u8]) -> Option<(MessageKind, usize, usize, Option<[u8; 4]>)> {
        debug_assert!(self.fast_path_allowed());
        let (b0, b1) = match *input {
            [b0, b1, ..] => (b0, b1),
            _ => return None,
        };
        // FIN set, RSV clear, opcode 1 or 2, and the mask bit as the peer's role requires (§5.1),
        // in one comparison each.
        let masked = self.role == Role::Server;
        let head = u16::from_be_bytes([b0, b1 & 0x80]) ^ if masked { 0x0080 } else { 0 };
        let kind = match head {
            0x8100 => MessageKind::Text,
            0x8200 => MessageKind::Binary,
            _ => return None,
        };
        let (len, mut start) = match b1 & 0x7F {
            n @ 0..=125 => (n as usize, 2),
            126 => match input.get(2..4) {
                Some(&[hi, lo]) => (u16::from_be_bytes([hi, lo]) as usize, 4),
                _ => return None,
            },
            _ => return None,
        };
        let key = if masked {
            let key: [u8; 4] = input.get(start..start + 4)?.try_into().ok()?;
            start += 4;
            Some(key)
        } else {
            None
        };
        let end = start + len;
        if end > input.len() || len as u64 > self.fast_max_len {
            return None;
        }
        Some((kind, start, end, key))
    }

    /// Whether the text of the message ending now ends at a code point boundary (§8.1).
    pub(super) fn text_complete(&self, assembly: &Assembly) -> bool {
        match self.config.delivery {
            #[cfg(feature = "alloc")]
            Delivery::Assemble => assembly.utf8_complete(),
            _ => {
                let _ = assembly;
                self.utf8.is_complete()
            }
        }
    }
}

/// A whole message payload: unmasked in place with `key` and, for text, validated (RFC 6455
/// §5.3, §8.1); `None` if the text is not UTF-8.
#[inline(always)]
pub(super) fn whole_message(payload: &mut [u8], kind: MessageKind, key: Option<[u8; 4]>) -> Option<Message<'_>> {
    match (kind, key) {
        (MessageKind::Binary, key) => {
            if let Some(key) = key {
                apply_mask(payload, key, 0);
            }
            Some(Message::Binary(payload))
        }
        (MessageKind::Text, Some(key)) => {
            if !apply_mask_ascii(payload, key, 0) {
                return utf8::validate_not_ascii(payload).map(Message::Text);
            }
            // SAFETY: `apply_mask_ascii` wrote every byte of `payload` and saw none with the high
            // bit set, so all of it is ASCII, which is valid UTF-8; `payload` is borrowed mutably
            // here, so nothing wrote it since.
            #[allow(unsafe_code)]
            Some(Message::Text(unsafe { crate::utf8::validated_str(payload) }))
        }
        (MessageKind::Text, None) => utf8::validate(payload).map(Message::Text),
    }
}

/// [`whole_message`] for stream delivery, where the event is bytes even for text: unmasks in
/// place and gives the chunk (first and last), or `None` for text that is not UTF-8.
#[inline(always)]
pub(super) fn whole_chunk_in_place(payload: &mut [u8], kind: MessageKind, key: Option<[u8; 4]>) -> Option<Chunk<'_>> {
    let ok = match (kind, key) {
        (MessageKind::Binary, Some(key)) => {
            apply_mask(payload, key, 0);
            return Some(Chunk::new(MessageKind::Binary, payload, true, true));
        }
        (MessageKind::Binary, None) => return Some(Chunk::new(MessageKind::Binary, payload, true, true)),
        (MessageKind::Text, Some(key)) => {
            apply_mask_ascii(payload, key, 0) || utf8::validate_not_ascii(payload).is_some()
        }
        (MessageKind::Text, None) => utf8::validate(payload).is_some(),
    };
    ok.then_some(Chunk::new(MessageKind::Text, payload, true, true))
}

/// A whole message as the one kind of data event of stream delivery: a chunk, first and last.
#[inline(always)]
pub(super) fn whole_chunk(message: Message<'_>) -> Event<'_> {
    Event::Chunk(Chunk::new(message.kind(), message.as_bytes(), true, true))
}
