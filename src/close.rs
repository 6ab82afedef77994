//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).
//!
//! This module depends on nothing else in the crate but [`crate::utf8`] (for the reason's
//! validation): errors depend on close codes, not the other way round.

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reported only; never sent (§7.4.1).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a Close frame. Reported only; never sent (§7.4.1).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed. Reported only; never sent (§7.4.1).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame on the wire (RFC 6455 §7.4.1–2).
    ///
    /// Allowed: 1000–1003, 1007–1014 (1012–1014 are registered with IANA), and 3000–4999
    /// (registered and private use). Refused: below 1000, 1004 (reserved), 1005, 1006, 1015
    /// (never sent), other values up to 2999 (reserved for the RFC and its extensions), and 5000+.
    ///
    /// ```
    /// use wsmachine::CloseCode;
    /// assert!(CloseCode::NORMAL.is_valid_on_wire());
    /// assert!(CloseCode(4000).is_valid_on_wire());
    /// assert!(!CloseCode::NO_STATUS.is_valid_on_wire());
    /// assert!(!CloseCode(1016).is_valid_on_wire());
    /// ```
    #[inline]
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl core::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// The longest close reason: a control payload is at most 125 bytes, two of which hold the code.
pub const MAX_REASON_LEN: usize = 123;

/// A received Close frame's code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code the peer gave.
    pub code: CloseCode,
    /// The UTF-8 reason (possibly empty).
    pub reason: &'a str,
}

/// Why a Close frame payload is invalid. Converts into the matching
/// [`ProtocolError`](crate::ProtocolError) (and so its close code) with `From`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseParseError {
    /// The payload is one byte long (§5.5.1): a connection fails with 1002.
    OneByte,
    /// The code may not be sent (§7.4.1, §7.4.2): a connection fails with 1002.
    InvalidCode(u16),
    /// The reason is not valid UTF-8 (§5.5.1, §8.1): a connection fails with 1007.
    InvalidUtf8,
}

impl core::fmt::Display for CloseParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseParseError::OneByte => f.write_str("close frame with a one-byte payload"),
            CloseParseError::InvalidCode(code) => write!(f, "invalid close code {code}"),
            CloseParseError::InvalidUtf8 => f.write_str("invalid UTF-8 in a close reason"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CloseParseError {}

/// Parses a Close frame payload (RFC 6455 §5.5.1). `Ok(None)`: an empty payload, no code.
///
/// ```
/// use wsmachine::{close::parse_close_payload, CloseCode, ProtocolError};
/// let frame = parse_close_payload(b"\x03\xe8bye").unwrap().unwrap();
/// assert_eq!((frame.code, frame.reason), (CloseCode::NORMAL, "bye"));
/// let error = parse_close_payload(b"\x03").unwrap_err(); // one byte
/// assert_eq!(ProtocolError::from(error).close_code(), CloseCode::PROTOCOL_ERROR);
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame<'_>>, CloseParseError> {
    match payload {
        [] => Ok(None),
        // §5.5.1: if there is a body, its first two bytes are the status code.
        [_] => Err(CloseParseError::OneByte),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(CloseParseError::InvalidCode(code.0));
            }
            // §5.5.1: the reason is UTF-8; §8.1 makes invalid data 1007.
            let reason = crate::utf8::validate(reason).ok_or(CloseParseError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_table() {
        let valid = |c: u16| CloseCode(c).is_valid_on_wire();
        for c in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            assert!(valid(c), "{c}");
        }
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!valid(c), "{c}");
        }
    }

    #[test]
    fn payload_rules() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(parse_close_payload(b"\x03"), Err(CloseParseError::OneByte));
        assert_eq!(parse_close_payload(b"\x03\xed"), Err(CloseParseError::InvalidCode(1005)));
        assert_eq!(parse_close_payload(b"\x03\xe8\xff"), Err(CloseParseError::InvalidUtf8));
        let f = parse_close_payload(b"\x0f\xa0ok").unwrap().unwrap();
        assert_eq!((f.code.0, f.reason), (4000, "ok"));
    }
}
