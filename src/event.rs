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
/// A whole frame found in the input is one chunk, both first and last.
///
/// ```
/// use wsmachine::{Assembly, Config, Connection, Delivery, Event, MessageKind};
///
/// let mut server = Connection::server(Config::default().delivery(Delivery::Stream));
/// let mut assembly = Assembly::new();
/// // A masked text frame "Hi" (RFC 6455 §5.7): one whole frame, so one chunk.
/// let mut input = *b"\x81\x82\x00\x00\x00\x00Hi";
/// let read = server.read(&mut input, &mut assembly).unwrap();
/// let Some(Event::Chunk(chunk)) = read.event else { panic!() };
/// assert_eq!((chunk.kind(), chunk.data()), (MessageKind::Text, &b"Hi"[..]));
/// assert!(chunk.is_first() && chunk.is_last());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
// The kind and both flags share one word, placed first: built in a register and stored whole,
// never as narrow stores that a wide load must wait for (a store-forwarding stall that cost
// the stream path ~1.8x at 16 B, found with `benches/ab`).
#[repr(C)]
pub struct Chunk<'a> {
    bits: u64,
    data: &'a [u8],
}

const TEXT: u64 = 1;
const FIRST: u64 = 2;
const LAST: u64 = 4;

impl<'a> Chunk<'a> {
    #[inline(always)]
    pub(crate) const fn new(kind: MessageKind, data: &'a [u8], first: bool, last: bool) -> Self {
        let text = match kind {
            MessageKind::Text => TEXT,
            MessageKind::Binary => 0,
        };
        let first = if first { FIRST } else { 0 };
        let last = if last { LAST } else { 0 };
        Chunk { bits: text | first | last, data }
    }

    /// The same chunk over other bytes (where inflated or staged bytes end up).
    #[inline(always)]
    pub(crate) const fn with_data<'b>(&self, data: &'b [u8]) -> Chunk<'b> {
        Chunk { bits: self.bits, data }
    }

    /// The kind of the message this chunk belongs to.
    #[inline(always)]
    pub const fn kind(&self) -> MessageKind {
        if self.bits & TEXT != 0 {
            MessageKind::Text
        } else {
            MessageKind::Binary
        }
    }

    /// Payload bytes, unmasked in place in your input; for a compressed (permessage-deflate)
    /// message, inflated bytes in your [`Assembly`](crate::Assembly).
    #[inline(always)]
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The first chunk of its message.
    #[inline(always)]
    pub const fn is_first(&self) -> bool {
        self.bits & FIRST != 0
    }

    /// The last chunk of its message: the message is complete.
    #[inline(always)]
    pub const fn is_last(&self) -> bool {
        self.bits & LAST != 0
    }
}

impl core::fmt::Debug for Chunk<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chunk")
            .field("kind", &self.kind())
            .field("data", &self.data)
            .field("first", &self.is_first())
            .field("last", &self.is_last())
            .finish()
    }
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
                Event::Chunk(c) => OwnedEvent::Chunk {
                    kind: c.kind(),
                    data: c.data().to_vec(),
                    first: c.is_first(),
                    last: c.is_last(),
                },
                Event::Ping(p) => OwnedEvent::Ping(p.to_vec()),
                Event::Pong(p) => OwnedEvent::Pong(p.to_vec()),
                Event::Close(c) => OwnedEvent::Close(c.map(|c| (c.code, c.reason.into()))),
            }
        }
    }
}

#[cfg(feature = "alloc")]
pub use owned::OwnedEvent;

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn a_chunk_reads_back_what_it_was_built_from() {
        for kind in [MessageKind::Text, MessageKind::Binary] {
            for (first, last) in [(false, false), (false, true), (true, false), (true, true)] {
                let chunk = Chunk::new(kind, b"ab", first, last);
                assert_eq!(
                    (chunk.kind(), chunk.data(), chunk.is_first(), chunk.is_last()),
                    (kind, &b"ab"[..], first, last)
                );
                assert_eq!(chunk.with_data(b"c"), Chunk::new(kind, b"c", first, last));
            }
        }
    }

    #[test]
    fn a_chunk_debugs_as_its_fields() {
        let chunk = Chunk::new(MessageKind::Text, b"hi", true, false);
        assert_eq!(format!("{chunk:?}"), "Chunk { kind: Text, data: [104, 105], first: true, last: false }");
    }
}
