//! The receiving half of permessage-deflate inside [`Connection`] (RFC 7692 §6.2).

use super::*;
use crate::deflate::{Codec, DeflateParams};

impl<M: Masking> Connection<M> {
    /// Turns on permessage-deflate with parameters agreed in the opening handshake
    /// (see [`DeflateConfig`](crate::deflate::DeflateConfig)). RSV1 then marks compressed
    /// messages (RFC 7692 §6).
    pub fn with_deflate(mut self, params: &DeflateParams) -> Self {
        self.codec = Some(alloc::boxed::Box::new(params.codec(self.role == Role::Server)));
        self.config.allow_rsv1 = true;
        self
    }

    /// Whether permessage-deflate is on.
    pub fn deflate_enabled(&self) -> bool {
        self.codec.is_some()
    }

    /// A read returns no event: all input is used (or a frame waits for more), and the driver
    /// goes to wait for the network. Idle, a connection that takes no context over gives its
    /// zlib states back (see [`Codec`]); a compressed message under way keeps its inflater.
    /// Once per transport read, never per message.
    #[cold]
    pub(super) fn input_exhausted(&mut self) {
        let (in_message, received) = (self.compressed, self.received);
        if let Some(codec) = self.codec.as_deref_mut() {
            codec.release_idle(in_message, received);
        }
    }

    /// Unmasks and inflates the next piece of a compressed message's payload; returns what was
    /// found, and whether the frame and the message ended (`advance` applies those transitions).
    ///
    /// Bytes handed to the inflater are consumed; bytes it could not take yet stay in the
    /// caller's buffer, already unmasked (`unmasked_ahead`), and come back in the next call.
    pub(super) fn read_compressed(
        &mut self,
        input: &mut [u8],
        pos: &mut usize,
        assembly: &mut Assembly,
    ) -> Result<(Option<Found>, bool, bool), ProtocolError> {
        let remaining = self.frame.payload_len - self.frame_done;
        let take = remaining.min((input.len() - *pos) as u64) as usize;
        let (start, end) = (*pos, *pos + take);
        let ahead = self.unmasked_ahead.min(take);
        if let Some(key) = self.frame.mask {
            apply_mask(&mut input[start + ahead..end], key, self.frame_done as usize + ahead);
        }
        let last = self.frame.fin && take as u64 == remaining;
        let kind = self.incoming.unwrap_or(MessageKind::Binary);
        let max = self.config.max_message_len;
        let Some(codec) = self.codec.as_deref_mut() else {
            return Err(ProtocolError::ReservedBits(0b100));
        };
        // RFC 6455 §8.1 on the inflated text, failing fast, inside the inflater's loop.
        let text = if kind == MessageKind::Text { Some(&mut self.utf8) } else { None };
        let piece = &input[start..end];
        let (used, done) = match self.config.delivery {
            Delivery::Assemble => assembly.append_with(|out| codec.inflate(piece, last, out, max, false, text))?,
            Delivery::Stream => {
                let limit = max - self.inflated_len;
                assembly.chunk_with(|out| codec.inflate(piece, last, out, limit, true, text))?
            }
        };
        self.unmasked_ahead = take - used;
        *pos = start + used;
        self.frame_done += used as u64;
        let produced = match self.config.delivery {
            Delivery::Assemble => 0,
            Delivery::Stream => assembly.chunk().len(),
        };
        self.inflated_len += produced as u64;
        let frame_end = self.frame_done == self.frame.payload_len && (!self.frame.fin || done);
        let found = match self.config.delivery {
            Delivery::Assemble if done => Some(Found::Assembled(kind)),
            Delivery::Stream if produced > 0 || done => {
                let first = core::mem::replace(&mut self.first_chunk, false);
                Some(Found::Inflated(Chunk::new(kind, &[], first, done)))
            }
            _ => None,
        };
        Ok((found, frame_end, done))
    }
}

#[allow(dead_code)]
fn _assert_codec_is_send(c: Codec) -> impl Send {
    c
}

impl<M: Masking> Connection<M> {
    /// This end's compression window when permessage-deflate is on and this end keeps no
    /// history between messages (RFC 7692 §7.1.1): the connections a shared compressed
    /// [`Broadcast`](crate::Broadcast) may go to.
    pub(crate) fn context_free_window_bits(&self) -> Option<u8> {
        self.codec.as_deref().and_then(Codec::context_free_window_bits)
    }
}
