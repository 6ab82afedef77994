//! The opening handshake (RFC 6455 §4), separable from framing.
//!
//! - [`server`]: parse a request head from your buffer (bounded, resumable, linear),
//!   inspect the [`server::Incoming`] upgrade, then `accept` or `reject` it; both
//!   produce exact response bytes. Plain HTTP requests are reported as such.
//! - [`client`]: build the request from an injected 16-byte nonce and validate the
//!   server's response.
//! - [`h2`]: the extended CONNECT of RFC 8441 (HTTP/2) and RFC 9220 (HTTP/3), as
//!   header lists, with no HTTP/2 dependency.
//! - `http` (feature `http`): the same checks over `http::Request` / `http::Response`.
//!
//! In every case, bytes that follow the head in your buffer already belong to the
//! WebSocket connection (a client may send its first frame together with the
//! request): hand `&buf[head_len..]` to the connection, never drop it.
//!
//! Nothing here allocates unless you call a `*_vec` convenience (feature `alloc`).

use core::fmt;

mod fields;
mod head;
mod rules;

pub mod client;
pub mod h2;
#[cfg(feature = "http")]
pub mod http;
pub mod server;

pub use fields::{check_extensions, has_token, Extension, Extensions, ListItems, Params, Protocols};
pub use head::{HeaderValues, Headers};

/// RFC 6455 §1.3 / §4.2.2: the GUID appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 §4.1, §11.6).
pub const VERSION: &str = "13";

/// Compute `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value.
///
/// RFC 6455 §4.2.2: base64 (with padding) of the SHA-1 of the key, as sent (trimmed of
/// surrounding whitespace), concatenated with [`GUID`]. The result is 28 ASCII bytes.
///
/// ```
/// // RFC 6455 §1.3
/// let a = wsmachine::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(&a, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    use base64::Engine as _;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    let digest = sha.digest().bytes();
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 base64 characters, so this cannot fail;
    // `unwrap_or` keeps the function total without a panic path.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out).unwrap_or(0);
    out
}

/// [`accept_key`] as a string, written into `out` and borrowed from it.
///
/// ```
/// let mut out = [0u8; 28];
/// let s = wsmachine::handshake::accept_key_str("dGhlIHNhbXBsZSBub25jZQ==", &mut out);
/// assert_eq!(s, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key_str<'o>(key: &str, out: &'o mut [u8; 28]) -> &'o str {
    *out = accept_key(key.as_bytes());
    core::str::from_utf8(out).unwrap_or("")
}

/// Decode a `Sec-WebSocket-Key` value; RFC 6455 §4.2.1 item 5 / §11.3.1: it must be
/// the base64 encoding of exactly 16 bytes.
pub(crate) fn decode_key(key: &[u8]) -> Option<[u8; 16]> {
    use base64::Engine as _;
    if key.len() != 24 {
        return None;
    }
    let mut out = [0u8; 18];
    let n = base64::engine::general_purpose::STANDARD.decode_slice(key, &mut out).ok()?;
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(out.get(..16).filter(|_| n == 16)?);
    Some(nonce)
}

/// Encode a 16-byte nonce as a `Sec-WebSocket-Key` value (24 ASCII bytes).
pub(crate) fn encode_key(nonce: &[u8; 16]) -> [u8; 24] {
    use base64::Engine as _;
    let mut out = [0u8; 24];
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut out).unwrap_or(0);
    out
}

/// Why an opening handshake failed: the peer's bytes broke RFC 6455 / RFC 9112.
///
/// On the server side each variant maps to a response status (see
/// [`server::Rejection`]); on the client side any of them means the client must
/// _Fail the WebSocket Connection_ (RFC 6455 §4.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeError {
    /// The head did not end within the configured maximum length (431).
    HeadTooLarge,
    /// A line ended in a bare LF (RFC 9112 §2.2; refused to avoid smuggling).
    BareLf,
    /// The request line or status line is malformed (RFC 9112 §3, §4).
    MalformedStartLine,
    /// A header line is malformed: no colon, a name that is not a token, whitespace
    /// before the colon or a control character in the value (RFC 9112 §5).
    MalformedHeader,
    /// A header line was continued with obsolete line folding (RFC 9112 §5.2).
    ObsFold,
    /// An upgrade was asked with HTTP/1.0; RFC 6455 §4.2.1 needs HTTP/1.1 or later.
    HttpVersionTooOld,
    /// An HTTP major version other than 1 in HTTP/1 syntax (RFC 9112 §2.3; 505).
    HttpVersionUnsupported,
    /// The method is not GET (RFC 6455 §4.2.1 item 1; 405 with `Allow: GET`).
    MethodNotAllowed,
    /// `Host` missing, repeated or empty (RFC 6455 §4.2.1 item 2, RFC 9112 §3.2).
    InvalidHost,
    /// `Upgrade` does not carry `websocket` (RFC 6455 §4.2.1 item 3, §4.1).
    MissingUpgrade,
    /// `Connection` does not carry the token `upgrade` (RFC 6455 §4.2.1 item 4, §4.1).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` missing or repeated (RFC 6455 §4.2.1 item 5, §11.3.1).
    MissingKey,
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes (RFC 6455 §4.2.1 item 5).
    InvalidKey,
    /// `Sec-WebSocket-Version` missing or repeated (RFC 6455 §4.2.1 item 6).
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13 (RFC 6455 §4.4; 426 with the supported version).
    UnsupportedVersion,
    /// An upgrade request announced a body (`Content-Length` other than 0 or
    /// `Transfer-Encoding`); bytes after the head must be WebSocket frames.
    UnexpectedBody,
    /// `Sec-WebSocket-Protocol` has an element that is not a token (RFC 6455 §4.1).
    MalformedProtocols,
    /// `Sec-WebSocket-Extensions` breaks the grammar of RFC 6455 §9.1.
    MalformedExtensions,
    /// Client: `Sec-WebSocket-Accept` missing or repeated (RFC 6455 §4.1, §11.3.3).
    MissingAccept,
    /// Client: `Sec-WebSocket-Accept` does not match the key sent (RFC 6455 §4.1).
    AcceptMismatch,
    /// Client: the server selected a subprotocol that was not offered, or several
    /// (RFC 6455 §4.1).
    UnofferedProtocol,
    /// Client: the server selected an extension that was not offered (RFC 6455 §4.1).
    UnofferedExtension,
    /// HTTP/2 or HTTP/3: the pseudo-header fields are not a valid extended CONNECT
    /// (RFC 8441 §4, RFC 9113 §8.3): the stream is malformed.
    MalformedPseudoHeaders,
    /// HTTP/2 or HTTP/3: a connection-specific field such as `connection` or
    /// `upgrade` was present (RFC 9113 §8.2.2).
    ConnectionSpecificField,
}

impl HandshakeError {
    /// A short English description, also used as the body of refusal responses.
    pub fn as_str(&self) -> &'static str {
        use HandshakeError::*;
        match self {
            HeadTooLarge => "request head too large",
            BareLf => "bare LF line terminator",
            MalformedStartLine => "malformed start line",
            MalformedHeader => "malformed header line",
            ObsFold => "obsolete line folding",
            HttpVersionTooOld => "WebSocket needs HTTP/1.1 or later",
            HttpVersionUnsupported => "unsupported HTTP version",
            MethodNotAllowed => "WebSocket upgrade needs GET",
            InvalidHost => "missing, repeated or empty Host",
            MissingUpgrade => "Upgrade: websocket missing",
            MissingConnectionUpgrade => "Connection: upgrade missing",
            MissingKey => "Sec-WebSocket-Key missing or repeated",
            InvalidKey => "Sec-WebSocket-Key is not base64 of 16 bytes",
            MissingVersion => "Sec-WebSocket-Version missing or repeated",
            UnsupportedVersion => "unsupported Sec-WebSocket-Version",
            UnexpectedBody => "upgrade request with a body",
            MalformedProtocols => "malformed Sec-WebSocket-Protocol",
            MalformedExtensions => "malformed Sec-WebSocket-Extensions",
            MissingAccept => "Sec-WebSocket-Accept missing or repeated",
            AcceptMismatch => "Sec-WebSocket-Accept does not match the key",
            UnofferedProtocol => "server selected a subprotocol that was not offered",
            UnofferedExtension => "server selected an extension that was not offered",
            MalformedPseudoHeaders => "malformed extended CONNECT pseudo-headers",
            ConnectionSpecificField => "connection-specific field in HTTP/2 or HTTP/3",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HandshakeError {}

/// Misuse by the caller while building a request or response (never the peer's fault).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildError {
    /// The output buffer is too small; `needed` bytes are required. The buffer may
    /// hold a partial write.
    BufferTooSmall {
        /// Exact number of bytes the encoding needs.
        needed: usize,
    },
    /// A header name is not a token, or a value (host, path, origin, reason, extra
    /// header, ...) contains CR, LF or another control character (response splitting).
    InvalidField,
    /// A subprotocol is not a token, repeated, or (server) was not offered by the client
    /// (RFC 6455 §4.2.2 item 5.4).
    InvalidProtocol,
    /// The extensions value breaks the RFC 6455 §9.1 grammar.
    InvalidExtensions,
    /// A refusal's status code is outside 200..=599 (a 1xx status, 101 included, is not a
    /// final answer that refuses the upgrade).
    InvalidStatus,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            BuildError::InvalidField => f.write_str("invalid header name or value"),
            BuildError::InvalidProtocol => f.write_str("invalid or unoffered subprotocol"),
            BuildError::InvalidExtensions => f.write_str("invalid extensions value"),
            BuildError::InvalidStatus => f.write_str("invalid status code"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BuildError {}

/// The standard reason phrase for the status codes this crate emits (RFC 9110 §15).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_1_3_accept_key() {
        assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn key_round_trip_and_strictness() {
        let nonce = *b"the sample nonce";
        let key = encode_key(&nonce);
        assert_eq!(&key, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(decode_key(&key), Some(nonce));
        assert_eq!(decode_key(b"dGhlIHNhbXBsZSBub25jZQ"), None); // unpadded
        assert_eq!(decode_key(b"dGhlIHNhbXBsZSBub25jZQ=a"), None);
        assert_eq!(decode_key(b"dGhlIHNhbXBsZSBub25jZR=="), None); // trailing bits
        assert_eq!(decode_key(b"AAAAAAAAAAAAAAAAAAAAAAAA"), None); // 18 bytes
        assert_eq!(decode_key(b""), None);
    }
}
