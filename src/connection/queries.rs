//! Read-only views of the state machine: what the driver asks between inputs. No state
//! transition happens here; `connection.rs` owns them.

use super::*;

impl<M: MaskSource> Connection<M> {
    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        if self.failed {
            State::Failed
        } else if self.eof || (self.close_sent && self.close_received) {
            State::Closed
        } else if self.close_received {
            State::CloseReceived
        } else if self.close_queued {
            State::CloseSent
        } else {
            State::Open
        }
    }

    /// The code of the peer's Close frame: 1005 if it had none (§7.1.5), `None` if none came.
    pub fn peer_close_code(&self) -> Option<CloseCode> {
        self.peer_code
    }

    /// Whether the receive state lets the fast path take the next frame: between frames with
    /// nothing staged, in no message, and still reading. Cached in `fast_ready`.
    pub(super) fn fast_path_allowed(&self) -> bool {
        self.phase == Phase::Header
            && self.header_len == 0
            && self.incoming.is_none()
            && !self.failed
            && !self.close_received
            && !self.eof
    }

    /// True while control frames wait for [`poll_transmit`](Self::poll_transmit).
    #[inline]
    pub fn wants_write(&self) -> bool {
        self.staged_pos < self.staged_len || self.pong.pending || self.ping.pending || self.close_frame.pending
    }

    /// True when the driver should close the transport (RFC 6455 §7.1.1): the server once both
    /// Close frames have been exchanged, either end after a failure once its Close is out, or
    /// when a closing timer expired. A client normally waits for the server to close TCP.
    pub fn should_close_transport(&self) -> bool {
        if self.wants_write() && !self.eof && !self.timed_out {
            return false;
        }
        self.eof
            || self.timed_out
            || self.failed
            || (self.close_sent && self.close_received && self.role == Role::Server)
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.timed_out || self.eof {
            return None;
        }
        let keepalive = match (self.config.keepalive_interval, self.pong_deadline) {
            (Some(interval), None) if !self.close_queued && !self.failed => {
                let last = if self.received != self.received_seen { self.now } else { self.last_received };
                Some(last.saturating_add(interval))
            }
            _ => None,
        };
        [self.close_deadline, self.pong_deadline, keepalive].into_iter().flatten().min()
    }
}
