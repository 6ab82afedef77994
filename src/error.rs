//! Errors: what the peer did wrong ([`ProtocolError`]) versus what the caller did wrong
//! ([`SendError`]). The two are never mixed: a `SendError` leaves the connection untouched.

use crate::close::{CloseCode, CloseParseError};
use core::fmt;

/// The peer broke RFC 6455 (or a configured limit); the connection has failed (§7.1.7).
///
/// When [`Connection::read`](crate::Connection::read) returns one, a Close frame with
/// [`close_code`](ProtocolError::close_code) is already queued for
/// [`poll_transmit`](crate::Connection::poll_transmit) and further input is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV bits set that no negotiated extension defines (§5.2). Holds the three bits.
    ReservedBits(u8),
    /// A reserved opcode, 0x3–0x7 or 0xB–0xF (§5.2).
    ReservedOpcode(u8),
    /// A control frame with FIN clear (§5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlFrameTooLong,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    InvalidLength,
    /// A server received an unmasked frame (§5.1).
    UnmaskedFrame,
    /// A client received a masked frame (§5.1).
    MaskedFrame,
    /// A continuation frame with no message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still open (§5.4).
    ExpectedContinuation,
    /// Text that is not valid UTF-8, in a message or a close reason (§8.1).
    InvalidUtf8,
    /// A frame announced a payload over `max_frame_payload`.
    FrameTooLarge,
    /// A message grew (or announced it would grow) over `max_message_len`.
    MessageTooLarge,
    /// A Close frame whose payload is one byte long (§5.5.1).
    InvalidClosePayload,
    /// A Close frame with a code that may not be sent (§7.4.1, §7.4.2).
    InvalidCloseCode(u16),
    /// Compressed data that does not inflate (RFC 7692 §6.2).
    InvalidCompressedData,
    /// The transport ended without a closing handshake (reported by
    /// [`read_eof`](crate::Connection::read_eof); nothing is queued).
    AbnormalClosure,
}

impl ProtocolError {
    /// The close code RFC 6455 names for this failure (§7.4.1).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::AbnormalClosure => CloseCode::ABNORMAL,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits(bits) => {
                write!(f, "reserved bits {bits:#05b} set without an extension")
            }
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong => f.write_str("control frame payload over 125 bytes"),
            ProtocolError::InvalidLength => f.write_str("64-bit payload length with the top bit set"),
            ProtocolError::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            ProtocolError::MaskedFrame => f.write_str("masked frame from a server"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation frame without a message in progress"),
            ProtocolError::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::FrameTooLarge => f.write_str("frame payload over the configured limit"),
            ProtocolError::MessageTooLarge => f.write_str("message over the configured limit"),
            ProtocolError::InvalidClosePayload => f.write_str("close frame with a one-byte payload"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidCompressedData => f.write_str("compressed data does not inflate"),
            ProtocolError::AbnormalClosure => f.write_str("connection closed without a closing handshake"),
        }?;
        write!(f, " (close code {})", self.close_code())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}

/// A received Close frame's invalid payload, as the connection fails on it (so that `?` on
/// [`parse_close_payload`](crate::close::parse_close_payload) gives the RFC's close code).
impl From<CloseParseError> for ProtocolError {
    #[inline]
    fn from(e: CloseParseError) -> Self {
        match e {
            CloseParseError::OneByte => ProtocolError::InvalidClosePayload,
            CloseParseError::InvalidCode(code) => ProtocolError::InvalidCloseCode(code),
            CloseParseError::InvalidUtf8 => ProtocolError::InvalidUtf8,
        }
    }
}

/// The caller asked for something the protocol or the connection's state does not allow.
/// The connection is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A Close frame has already been sent or queued, or the connection has closed or failed.
    Closed,
    /// A ping or pong payload over 125 bytes (§5.5).
    ControlPayloadTooLong(usize),
    /// A close reason over 123 bytes (§5.5.1).
    ReasonTooLong(usize),
    /// A close code that may not be sent, such as 1005 or 1006 (§7.4.1).
    InvalidCloseCode(u16),
    /// The output buffer is smaller than the encoded frames; nothing was written.
    BufferTooSmall {
        /// The bytes the call needs.
        needed: usize,
    },
    /// A whole message was sent while a fragmented one is still open (§5.4).
    MessageInProgress,
    /// A fragment of another kind than the open message's first fragment.
    KindMismatch,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::ControlPayloadTooLong(n) => {
                write!(f, "control payload of {n} bytes (at most 125)")
            }
            SendError::ReasonTooLong(n) => write!(f, "close reason of {n} bytes (at most 123)"),
            SendError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            SendError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            SendError::MessageInProgress => f.write_str("a fragmented message is still being sent"),
            SendError::KindMismatch => f.write_str("fragment kind differs from the message being sent"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::parse_close_payload;

    #[test]
    fn close_payload_errors_keep_their_close_codes() {
        let fail = |payload: &[u8]| ProtocolError::from(parse_close_payload(payload).unwrap_err());
        assert_eq!(fail(b"\x03"), ProtocolError::InvalidClosePayload);
        assert_eq!(fail(b"\x03\xed"), ProtocolError::InvalidCloseCode(1005));
        assert_eq!(fail(b"\x03\xe8\xff"), ProtocolError::InvalidUtf8);
        assert_eq!(fail(b"\x03").close_code(), CloseCode::PROTOCOL_ERROR);
        assert_eq!(ProtocolError::InvalidCloseCode(1005).close_code(), CloseCode::PROTOCOL_ERROR);
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    }
}
