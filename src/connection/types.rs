//! The public value types of the connection: roles, states, read results, frame heads.

use crate::event::{Chunk, Event, MessageKind};
use crate::frame::{OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};

/// Which end of the connection this is; it decides masking (RFC 6455 §5.1, §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Sends masked frames, expects unmasked ones.
    Client,
    /// Sends unmasked frames, expects masked ones.
    Server,
}

/// Where the connection stands (RFC 6455 §7); the transitions are drawn in the docs of
/// [`Connection`](crate::Connection)'s module. It only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Data flows both ways.
    Open,
    /// This end has queued or sent its Close and waits for the peer's.
    CloseSent,
    /// The peer's Close arrived; this end's Close has not gone out yet (it is queued when
    /// `auto_close` is on).
    CloseReceived,
    /// Both Close frames have been exchanged (the clean end, §7.1.4).
    Closed,
    /// The connection failed (§7.1.7) with this code: the one of the Close this end queued for
    /// a peer's violation (1008 for a message that outlived `message_timeout`), or 1006 when
    /// the transport ended without a Close (§7.1.5).
    Failed(crate::CloseCode),
    /// A timer ended the connection: the closing handshake did not finish within
    /// `close_timeout`, the peer did not answer a keepalive ping within `pong_timeout`, or
    /// output stayed blocked for `write_stall_timeout`. No Close is sent: close the transport.
    TimedOut,
}

/// What a timer did in [`Connection::handle_timeout`](crate::Connection::handle_timeout).
///
/// Each [`Config`](crate::Config) timer fires once `now` reaches its deadline (`now >=
/// deadline`: a deadline is the first instant that is too late).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// A keepalive ping was queued (nothing arrived for `keepalive_interval`).
    KeepalivePing,
    /// Nothing arrived within `pong_timeout` of a keepalive ping: the peer is gone. The state
    /// is [`TimedOut`](State::TimedOut).
    PeerUnresponsive,
    /// The closing handshake did not finish within `close_timeout`. The state is
    /// [`TimedOut`](State::TimedOut).
    CloseHandshake,
    /// A data message was not complete within `message_timeout` of its first frame header.
    /// The connection failed with 1008 (Policy Violation, RFC 6455 §7.4.1): the state is
    /// `Failed(1008)`, the Close waits for [`poll_transmit`](crate::Connection::poll_transmit)
    /// and input is ignored from now on.
    MessageIncomplete,
    /// Output stayed blocked for `write_stall_timeout` (see
    /// [`output_blocked`](crate::Connection::output_blocked)): the peer does not read. The state
    /// is [`TimedOut`](State::TimedOut); no Close could reach the peer, so close the transport.
    WriteStalled,
}

/// The result of one [`Connection::read`](crate::Connection::read) call.
#[derive(Debug)]
pub struct Read<'a> {
    /// How many bytes of the input were used; the caller drops them from its buffer.
    pub consumed: usize,
    /// The event found, or `None` when more input is needed: then all of the input was used.
    pub event: Option<Event<'a>>,
}

/// A frame header ready to be written before its payload (for vectored writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    pub(super) bytes: [u8; MAX_HEADER_LEN],
    pub(super) len: u8,
}

impl FrameHead {
    /// The encoded header.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A control frame waiting to be sent, held inline so queuing never allocates.
#[derive(Clone, Copy)]
pub(super) struct ControlSlot {
    pub(super) pending: bool,
    pub(super) len: u8,
    pub(super) payload: [u8; MAX_CONTROL_PAYLOAD],
}

impl ControlSlot {
    pub(super) const EMPTY: ControlSlot = ControlSlot { pending: false, len: 0, payload: [0; MAX_CONTROL_PAYLOAD] };

    pub(super) fn set(&mut self, parts: &[&[u8]]) {
        let mut len = 0;
        for part in parts {
            self.payload[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        self.len = len as u8;
        self.pending = true;
    }
}

/// Where the receiver is inside the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Header,
    Data,
    Control,
}

/// What `read` found, as positions, so the event can borrow after the state is updated.
pub(super) enum Found {
    Nothing,
    /// A whole message frame at `start..end` of the input, still masked with the key.
    Whole(MessageKind, usize, usize, Option<[u8; 4]>),
    Chunk(Chunk<'static>, usize, usize),
    #[cfg(feature = "alloc")]
    Assembled(MessageKind),
    #[cfg(feature = "deflate")]
    Inflated(Chunk<'static>),
    Control(OpCode, Option<(usize, usize)>),
}

/// A timer that an event without a clock can start: `Pending` until the next `now` given arms
/// it (`At`, the first instant that is too late).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deadline {
    Off,
    Pending,
    At(core::time::Duration),
}

impl Deadline {
    /// Starts the timer when `timeout` is set and the timer is off; a running timer keeps
    /// its start.
    #[inline]
    pub(super) fn start(&mut self, timeout: Option<core::time::Duration>) {
        if *self == Deadline::Off && timeout.is_some() {
            *self = Deadline::Pending;
        }
    }

    /// Arms a started timer from `now`.
    #[inline]
    pub(super) fn arm(&mut self, timeout: Option<core::time::Duration>, now: core::time::Duration) {
        if *self == Deadline::Pending {
            *self = match timeout {
                Some(timeout) => Deadline::At(now.saturating_add(timeout)),
                None => Deadline::Off,
            };
        }
    }

    /// The deadline, once armed.
    #[inline]
    pub(super) fn at(self) -> Option<core::time::Duration> {
        match self {
            Deadline::At(at) => Some(at),
            _ => None,
        }
    }

    /// Whether it is armed and `now` has reached it.
    #[inline]
    pub(super) fn due(self, now: core::time::Duration) -> bool {
        self.at().is_some_and(|at| now >= at)
    }
}
