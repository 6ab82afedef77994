//! A frame that waits, whole, in the driver's buffer ([`RecvBuffer`](crate::RecvBuffer)):
//! its text is checked as it arrives, so that a bad byte fails the connection at once (RFC 6455
//! §8.1; Autobahn 6.4.x) rather than when the last byte of a frame of up to `retain_capacity`
//! is in, and yet no byte is unmasked or validated twice.

use super::*;

/// How far the connection got with the text frame waiting at the start of a
/// [`RecvBuffer`](crate::RecvBuffer)'s unused bytes: the first `checked` payload bytes are
/// unmasked in place and `utf8` accepted them.
///
/// It is kept by the `RecvBuffer`, beside the bytes it speaks of, because that is what makes
/// trusting it sound: only reads through that buffer write those bytes, and the buffer keeps
/// them (or moves them together with the frame start) until a read reports them used. The note
/// names its frame by where it starts in everything the buffer ever received (`at`); the buffer
/// hands each read that position of its first unused byte (`Kept::position`), which moves
/// whenever anything is used, whichever path used it, so a stale note is never trusted. A
/// failed read (which may have unmasked bytes it did not use) drops the note.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Waiting {
    checked: usize,
    utf8: Utf8Validator,
    at: u64,
}

/// What a driver that keeps unused bytes hands to `read`: its note, and the position of the
/// input's first byte in everything it ever received (computed from the buffer's offsets, so
/// keeping it costs the buffer nothing per message).
pub(crate) struct Kept<'w> {
    note: &'w mut Waiting,
    position: u64,
}

impl<'w> Kept<'w> {
    #[cfg(feature = "alloc")]
    #[inline(always)]
    pub(crate) fn new(note: &'w mut Waiting, position: u64) -> Self {
        Kept { note, position }
    }

    /// The same, for a call that returns before this one uses it again.
    #[inline(always)]
    pub(super) fn reborrow(&mut self) -> Kept<'_> {
        Kept { note: &mut *self.note, position: self.position }
    }

    /// Whether a note was taken, current or stale.
    #[inline]
    pub(super) fn has_note(&self) -> bool {
        self.note.checked > 0
    }

    /// Forgets the note.
    #[cfg(feature = "alloc")]
    pub(super) fn clear_note(&mut self) {
        self.note.clear();
    }

    /// Whether the frame at the start of the input has its text checked in part.
    #[inline]
    pub(super) fn is_started(&self) -> bool {
        self.note.checked > 0 && self.note.at == self.position
    }
}

impl Waiting {
    #[cfg(feature = "alloc")]
    pub(crate) const fn new() -> Self {
        Waiting { checked: 0, utf8: Utf8Validator::new(), at: 0 }
    }

    /// Forgets the frame.
    pub(crate) fn clear(&mut self) {
        self.checked = 0;
        self.utf8 = Utf8Validator::new();
    }
}

impl<M: Masking> Connection<M> {
    /// `read` for a `RecvBuffer` whose unused bytes start with a text frame checked in part.
    ///
    /// That frame either still waits (check the new bytes), or is whole (check the rest and
    /// deliver it), or, if the connection can no longer deliver it in place (its state changed
    /// in between, e.g. it failed), has its checked bytes masked again, exactly as they arrived,
    /// and takes the ordinary path.
    #[cfg(feature = "alloc")]
    #[cold]
    #[inline(never)]
    pub(super) fn read_waiting<'a>(
        &mut self,
        input: &'a mut [u8],
        kept: &mut Kept<'_>,
        assembly: &'a mut Assembly,
    ) -> Result<Read<'a>, ProtocolError> {
        let checked = kept.note.checked;
        let Ok(Decoded::Complete(h, n)) = frame::decode(input) else {
            // Cannot happen: these bytes decoded whole when the frame was first checked, and the
            // RecvBuffer keeps them. Were it to, the ordinary path would fail the connection.
            debug_assert!(false, "a RecvBuffer keeps a waiting frame's bytes");
            kept.note.clear();
            return self.read_buffer(input, Some(kept.reborrow()), assembly);
        };
        let len = h.payload_len as usize;
        let ours = h.opcode == OpCode::Text
            && self.fast_path_allowed()
            && self.may_wait(&h, self.in_place_limit(true))
            && checked <= len
            && n + checked <= input.len();
        if !ours {
            if let (Some(key), Some(prefix)) = (h.mask, input.get_mut(n..n + checked)) {
                apply_mask(prefix, key, 0);
            }
            kept.note.clear();
            return self.read_buffer(input, Some(kept.reborrow()), assembly);
        }
        if n + len > input.len() {
            self.note_waiting(input.len());
            self.wanted = n + len;
            if let Err(e) = check_waiting_text(&mut input[n..], h.mask, kept, 0) {
                return Err(self.fail(e));
            }
            return Ok(Read { consumed: 0, event: None });
        }
        // Whole: the bookkeeping of any whole frame (`advance`), then the unchecked rest.
        let mut utf8 = kept.note.utf8;
        kept.note.clear();
        self.wanted = 0;
        if let Err(e) = self.accept_waiting_frame(&h, assembly) {
            return Err(self.fail(e));
        }
        self.received = self.received.wrapping_add((n + len) as u64);
        self.arm_fast_path(self.fast_path_allowed());
        let payload = &mut input[n..n + len];
        let rest = &mut payload[checked..];
        let ascii = h.mask.is_some_and(|key| apply_mask_ascii(rest, key, checked));
        // ASCII after a code point boundary needs no validator (as in `take_payload`).
        let valid = ascii && utf8.is_complete() || utf8.feed(rest);
        if !valid || !utf8.is_complete() {
            return Err(self.fail(ProtocolError::InvalidUtf8));
        }
        // SAFETY: `utf8` accepted `payload[..checked]` (the `RecvBuffer` kept those bytes
        // unchanged since, see `Waiting`) and then the rest, in order, ending at a code point
        // boundary; or, where the rest was reported ASCII after a boundary, it needed no check.
        // `payload` is borrowed mutably here, so nothing has written it since.
        #[allow(unsafe_code)]
        let text = unsafe { crate::utf8::validated_str(payload) };
        Ok(Read { consumed: n + len, event: Some(Event::Message(Message::Text(text))) })
    }

    /// A read left a frame (or a frame header) waiting, with `available` bytes of it, from its
    /// start, in the buffer. Bytes that arrived since the last look count as traffic for the
    /// keepalive timer, although `read` leaves them unused: a large frame arriving slowly is
    /// not a silent peer. Nothing can be used behind a waiting frame, so if `received` moved
    /// since the last look, that frame is gone and this is a new one.
    pub(super) fn note_waiting(&mut self, available: usize) {
        let seen = if self.received == self.waiting_mark { self.waiting_seen } else { 0 };
        self.received = self.received.wrapping_add(available.saturating_sub(seen) as u64);
        self.waiting_seen = available;
        self.waiting_mark = self.received;
    }
}

/// Unmasks in place and validates the payload bytes of a waiting text frame that arrived since
/// the last check (`part`: all of its payload in the buffer so far). The frame starts `before`
/// bytes into this read's input, which the read reports used.
pub(super) fn check_waiting_text(
    part: &mut [u8],
    mask: Option<[u8; 4]>,
    kept: &mut Kept<'_>,
    before: usize,
) -> Result<(), ProtocolError> {
    if !kept.is_started() {
        kept.note.clear();
    }
    let note = &mut *kept.note;
    let Some(new) = part.get_mut(note.checked..) else { return Ok(()) };
    let ascii = mask.is_some_and(|key| apply_mask_ascii(new, key, note.checked));
    if !(ascii && note.utf8.is_complete() || note.utf8.feed(new)) {
        return Err(ProtocolError::InvalidUtf8);
    }
    note.checked = part.len();
    note.at = kept.position.wrapping_add(before as u64);
    Ok(())
}
