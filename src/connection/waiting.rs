//! A frame that waits, whole, in the driver's buffer ([`RecvBuffer`](crate::RecvBuffer)): the
//! connection's side of it. The connection leaves such a frame unread until all of it is there
//! (`advance`); for text, the buffer unmasks and validates the bytes as they arrive, so that a
//! bad byte fails the connection with the next read rather than once the frame is whole (RFC
//! 6455 §8.1; Autobahn 6.4.x), and asks here, at each step, whether the connection still
//! takes the frame. The buffer keeps that progress, and the `&str` it hands out rests on its
//! own checks only.

use super::*;

/// What the connection says of the text frame waiting at the start of a
/// [`RecvBuffer`](crate::RecvBuffer)'s unused bytes.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Not whole yet: check the new bytes and wait for more.
    Wait,
    /// Whole, and taken (its bookkeeping is done): check the rest and deliver it.
    Whole,
    /// The connection can no longer take it whole (its state changed in between, e.g. it
    /// failed): give the bytes back exactly as they arrived, and read them the ordinary way.
    Reread,
}

#[cfg(feature = "alloc")]
impl<M: Masking> Connection<M> {
    /// The text frame with header `h` (`header_len` bytes) waits at the start of the buffer's
    /// unused bytes, `available` of which are there: may it go on waiting, or be taken whole?
    #[cold]
    #[inline(never)]
    pub(crate) fn resume_waiting_text(
        &mut self,
        h: &FrameHeader,
        header_len: usize,
        available: usize,
        assembly: &mut Assembly,
    ) -> Result<Resume, ProtocolError> {
        let ours = h.opcode == OpCode::Text && self.fast_path_allowed() && self.may_wait(h, self.in_place_limit(true));
        if !ours {
            return Ok(Resume::Reread);
        }
        // `may_wait` bounded the length by `max_frame_payload`, a `usize` setting.
        let end = header_len + h.payload_len as usize;
        if end > available {
            self.note_waiting(available);
            self.wanted = end;
            return Ok(Resume::Wait);
        }
        self.wanted = 0;
        if let Err(e) = self.accept_waiting_frame(h, assembly) {
            return Err(self.fail(e));
        }
        self.received = self.received.wrapping_add(end as u64);
        self.arm_fast_path(self.fast_path_allowed());
        Ok(Resume::Whole)
    }

    /// The waiting text frame is not UTF-8 (§8.1): the connection fails, with 1007.
    #[cold]
    pub(crate) fn fail_waiting_text(&mut self) -> ProtocolError {
        self.wanted = 0;
        self.fail(ProtocolError::InvalidUtf8)
    }
}

impl<M: Masking> Connection<M> {
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
