//! What [`Connection::read`](crate::Connection::read) reports.

use crate::close::CloseFrame;

/// The two kinds of data message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// A whole message, borrowed from the caller's buffer or the connection's assembly buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// A text message, already validated as UTF-8 (§8.1).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The payload bytes.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The kind of message.
    #[inline]
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }
}

/// A piece of a message in [`Delivery::Stream`](crate::Delivery::Stream) mode.
///
/// Concatenating a message's chunks gives its payload. For text, the concatenation is valid
/// UTF-8 (validated as it arrives, failing fast), but one chunk may end inside a code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The kind of the message this chunk belongs to.
    pub kind: MessageKind,
    /// Payload bytes, unmasked in place in the caller's buffer; for a compressed
    /// (permessage-deflate) message, inflated bytes in the connection's reusable buffer.
    pub data: &'a [u8],
    /// The first chunk of its message.
    pub first: bool,
    /// The last chunk of its message.
    pub last: bool,
}

/// Something the peer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A whole data message.
    Message(Message<'a>),
    /// A piece of a data message (stream delivery only).
    Chunk(Chunk<'a>),
    /// A ping; with `auto_pong` the pong is already queued (§5.5.2).
    Ping(&'a [u8]),
    /// A pong, solicited or not (§5.5.3).
    Pong(&'a [u8]),
    /// The peer's Close frame: `None` when it carried no status code (reported as 1005, §7.1.5).
    /// With `auto_close` the echo is already queued (§5.5.1).
    Close(Option<CloseFrame<'a>>),
}

#[cfg(feature = "alloc")]
mod owned {
    use super::*;
    use crate::close::CloseCode;
    use alloc::{string::String, vec::Vec};

    /// An [`Event`] that owns its data, for keeping past the next `read`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum OwnedEvent {
        /// A whole text message.
        Text(String),
        /// A whole binary message.
        Binary(Vec<u8>),
        /// A piece of a message.
        Chunk {
            /// Kind of the message.
            kind: MessageKind,
            /// Payload bytes.
            data: Vec<u8>,
            /// First chunk of its message.
            first: bool,
            /// Last chunk of its message.
            last: bool,
        },
        /// A ping payload.
        Ping(Vec<u8>),
        /// A pong payload.
        Pong(Vec<u8>),
        /// The peer's close code and reason, if any.
        Close(Option<(CloseCode, String)>),
    }

    impl Event<'_> {
        /// Copies the event's data so it outlives the buffers it borrows.
        pub fn into_owned(self) -> OwnedEvent {
            match self {
                Event::Message(Message::Text(t)) => OwnedEvent::Text(t.into()),
                Event::Message(Message::Binary(b)) => OwnedEvent::Binary(b.to_vec()),
                Event::Chunk(c) => {
                    OwnedEvent::Chunk { kind: c.kind, data: c.data.to_vec(), first: c.first, last: c.last }
                }
                Event::Ping(p) => OwnedEvent::Ping(p.to_vec()),
                Event::Pong(p) => OwnedEvent::Pong(p.to_vec()),
                Event::Close(c) => OwnedEvent::Close(c.map(|c| (c.code, c.reason.into()))),
            }
        }
    }
}

#[cfg(feature = "alloc")]
pub use owned::OwnedEvent;
