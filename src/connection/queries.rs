//! Read-only views of the state machine: what the driver asks between inputs. No state
//! transition happens here; `connection.rs` owns them.

use super::*;

impl<M: Masking> Connection<M> {
    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the closing handshake stands (see the state diagram in the module docs).
    pub fn state(&self) -> State {
        self.state
    }

    /// Heap bytes the connection holds: with permessage-deflate, its zlib states (created on
    /// first use; when no context is taken over, kept while input is being drained and dropped
    /// by the read that runs out of it, so an idle connection holds none) and the compressed
    /// output of the last message sent; 0 otherwise. The received bytes live in your
    /// [`Assembly`](crate::Assembly) or [`RecvBuffer`](crate::RecvBuffer), which report theirs.
    pub fn heap_bytes(&self) -> usize {
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.codec.as_deref() {
            return core::mem::size_of::<crate::deflate::Codec>() + codec.heap_bytes();
        }
        0
    }

    /// The code of the peer's Close frame: 1005 if it had none (§7.1.5), `None` if none came.
    pub fn peer_close_code(&self) -> Option<CloseCode> {
        self.peer_code
    }

    /// Whether the event the last [`read`](Self::read) returned is a message put together in
    /// your [`Assembly`](crate::Assembly) (fragmented, not whole in one input, or inflated)
    /// rather than borrowed from your input: then [`take_message`](Self::take_message) can
    /// hand it over. Ask while you hold the event; this borrows neither the input nor the
    /// assembly.
    #[cfg(feature = "alloc")]
    #[inline]
    pub fn last_message_assembled(&self) -> bool {
        self.assembled_at.is_some_and(|at| at == self.received)
    }

    /// Whether the receive state lets the fast path take the next frame: between frames with
    /// nothing staged, in no message, and still reading. Cached in `fast_ready`.
    pub(super) fn fast_path_allowed(&self) -> bool {
        self.phase == Phase::Header && self.header_len == 0 && self.incoming.is_none() && self.reading()
    }

    /// True while control frames wait for [`poll_transmit`](Self::poll_transmit).
    #[inline]
    pub fn wants_write(&self) -> bool {
        self.pong.pending || self.keepalive_ping || self.close_pending
    }

    /// True when the driver should close the transport (RFC 6455 §7.1.1): the server once both
    /// Close frames have been exchanged, either end after a failure once its Close is out, or
    /// when a closing timer expired. A client normally waits for the server to close TCP.
    pub fn should_close_transport(&self) -> bool {
        if self.wants_write() && !self.eof && self.state != State::TimedOut {
            return false;
        }
        self.eof
            || match self.state {
                State::TimedOut | State::Failed(_) => true,
                State::Closed => self.role == Role::Server,
                _ => false,
            }
    }

    /// Whether this end's Close is queued or written (then no data may follow it, §5.5.1).
    #[inline]
    pub(super) fn close_queued(&self) -> bool {
        match self.state {
            State::Open => false,
            State::CloseReceived => self.close_pending,
            _ => true,
        }
    }

    /// Whether input is still taken: not after the peer's Close (§5.5.1), a failure, a timeout
    /// or the end of the stream.
    #[inline]
    pub(super) fn reading(&self) -> bool {
        matches!(self.state, State::Open | State::CloseSent) && !self.eof
    }

    /// Arms (or disarms) the fast path for the next frame, for the delivery mode in force.
    #[inline]
    pub(super) fn arm_fast_path(&mut self, allowed: bool) {
        let stream = self.config.delivery == Delivery::Stream;
        self.fast_ready = allowed && !stream;
        self.fast_stream = allowed && stream;
    }

    /// No message is being received: an [`Assembly`](crate::Assembly) may give its memory back.
    #[cfg(feature = "alloc")]
    pub(crate) fn between_messages(&self) -> bool {
        self.incoming.is_none()
    }
}
