//! Server side of the opening handshake (RFC 6455 §4.2).
//!
//! Append incoming bytes to one buffer and call [`RequestParser::parse`] with the whole
//! filled prefix until it returns something other than [`Request::Partial`]. The parser
//! remembers how far it has searched, so the total work is linear in the head size, and
//! it never looks past the configured maximum head length.
//!
//! ```
//! use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser};
//!
//! let buf = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
//!             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!             Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
//!             Sec-WebSocket-Version: 13\r\n\r\n";
//! let mut parser = RequestParser::new();
//! let incoming = match parser.parse(buf) {
//!     Ok(Request::Upgrade(incoming)) => incoming,
//!     Ok(Request::Partial) => return, // read more, call parse again
//!     Ok(Request::Plain(req)) => return, // answer it yourself (e.g. serve a page)
//!     Ok(_) => return,
//!     Err(rejection) => {
//!         let mut out = [0u8; 256];
//!         let n = rejection.write_response(&mut out).unwrap();
//!         // send &out[..n], then close the transport
//!         return;
//!     }
//! };
//! assert_eq!(incoming.path(), "/chat");
//! assert_eq!(incoming.origin(), Some("http://example.com"));
//! let opts = AcceptOptions::new().with_protocol("chat");
//! let accept = incoming.accept(&opts).unwrap();
//! let mut out = [0u8; 256];
//! let n = accept.write_response(&mut out).unwrap();
//! assert_eq!(n, accept.response_len());
//! assert!(out[..n].ends_with(b"Sec-WebSocket-Protocol: chat\r\n\r\n"));
//! // The connection's first bytes are whatever follows the head:
//! let leftover = &buf[incoming.head_len()..];
//! assert!(leftover.is_empty());
//! ```

use super::head::{self, is_token, parse_field_line, HeaderValues, Headers, Lines, Scan, Scanner, Sink};
use super::rules::{check_extras, check_selection, UpgradeFields};
use super::{accept_key, reason_phrase, BuildError, Extensions, HandshakeError, Protocols};

/// Default bound on the request head, terminator included: 16 KiB.
pub const DEFAULT_MAX_HEAD_LEN: usize = 16 * 1024;

/// The three ways to get a response's bytes, the same for every response type: each type only
/// says how to `emit` itself into a `Sink` (which measures or writes).
macro_rules! response_bytes {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// The exact length of the response in bytes.
            pub fn response_len(&self) -> usize {
                head::measure(|s| self.emit(s))
            }

            /// Write the response into `out`; returns the bytes written.
            pub fn write_response(&self, out: &mut [u8]) -> Result<usize, BuildError> {
                let mut s = Sink::new(out);
                self.emit(&mut s);
                s.finish()
            }

            /// The response as a new vector.
            #[cfg(feature = "alloc")]
            pub fn response_vec(&self) -> alloc::vec::Vec<u8> {
                head::to_vec(|s| self.emit(s))
            }
        }
    )*};
}

response_bytes!(Accept<'_>, Rejection, Response<'_>);

/// Resumable, bounded parser for an HTTP/1.1 request head.
///
/// Feed it the whole filled prefix of one growing buffer each time; do not shift or
/// truncate the buffer between calls (if the buffer gets shorter the parser restarts).
#[derive(Debug, Clone)]
pub struct RequestParser {
    max_head_len: usize,
    scanner: Scanner,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser with the default maximum head length ([`DEFAULT_MAX_HEAD_LEN`]).
    pub fn new() -> Self {
        Self::with_max_head_len(DEFAULT_MAX_HEAD_LEN)
    }

    /// A parser refusing heads longer than `max` bytes (terminator included) with 431.
    pub fn with_max_head_len(max: usize) -> Self {
        RequestParser { max_head_len: max, scanner: Scanner::default() }
    }

    /// The configured maximum head length.
    pub fn max_head_len(&self) -> usize {
        self.max_head_len
    }

    /// Total bytes examined so far while looking for the end of the head. Because
    /// scanning resumes where it stopped, this never exceeds the bytes fed.
    pub fn scanned(&self) -> usize {
        self.scanner.scanned()
    }

    /// Parse `buf`, the bytes received so far (from the first byte of the request).
    ///
    /// Returns [`Request::Partial`] until the head is complete. A complete head that
    /// asks for `Upgrade: websocket` is validated per RFC 6455 §4.2.1 and returned as
    /// [`Request::Upgrade`], or refused with a [`Rejection`] carrying a ready response.
    /// Any other well-formed request is [`Request::Plain`].
    ///
    /// Strictness (documented choices): lines must end in CRLF (a bare LF is 400,
    /// RFC 9112 §2.2 permits refusing it); obsolete line folding is 400 (RFC 9112 §5.2);
    /// a leading empty line is 400; an HTTP major version other than 1 is 505.
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Request<'b>, Rejection> {
        let len = match self.scanner.scan(buf, self.max_head_len) {
            Scan::Partial => return Ok(Request::Partial),
            Scan::TooLarge => return Err(HandshakeError::HeadTooLarge.into()),
            Scan::BareLf => return Err(HandshakeError::BareLf.into()),
            Scan::Complete(n) => n,
        };
        let head = buf.get(..len).unwrap_or(&[]);
        let req = HttpRequest::parse(head)?;
        // RFC 6455 §4.2.1 item 3: only a request asking for `websocket` is an upgrade.
        if !req.upgrade.upgrade_websocket {
            return Ok(Request::Plain(req));
        }
        // RFC 6455 §4.2.1: "An HTTP/1.1 or higher GET request".
        if req.minor < 1 {
            return Err(HandshakeError::HttpVersionTooOld.into());
        }
        if req.method != "GET" {
            return Err(HandshakeError::MethodNotAllowed.into());
        }
        let (host, key) = req.upgrade.check()?;
        Ok(Request::Upgrade(Incoming { req, host, key }))
    }
}

/// What [`RequestParser::parse`] found.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Request<'b> {
    /// The head is not complete yet: read more bytes and call `parse` again.
    Partial,
    /// A valid WebSocket upgrade request: accept or reject it.
    Upgrade(Incoming<'b>),
    /// A well-formed HTTP request that does not ask for `Upgrade: websocket`.
    Plain(HttpRequest<'b>),
}

/// A parsed HTTP/1.1 request head, borrowed from the caller's buffer.
#[derive(Debug, Clone)]
pub struct HttpRequest<'b> {
    head: &'b [u8],
    method: &'b str,
    target: &'b str,
    minor: u8,
    fields_start: usize,
    /// What the upgrade rules need, gathered while the lines were validated.
    upgrade: UpgradeFields<'b>,
}

impl<'b> HttpRequest<'b> {
    /// Parse a complete head (ending in CRLF CRLF). RFC 9112 §3: request-line =
    /// method SP request-target SP HTTP-version.
    fn parse(head: &'b [u8]) -> Result<Self, HandshakeError> {
        let mut lines = Lines::new(head);
        let line = lines.next().unwrap_or(&[]);
        let mut parts = line.split(|&b| b == b' ');
        let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v), None) => (m, t, v),
            _ => return Err(HandshakeError::MalformedStartLine),
        };
        // RFC 9110 §9.1: method is a token; RFC 9112 §3.2: the target has no whitespace
        // or controls (visible ASCII only; we do not accept raw non-ASCII either).
        if !is_token(method) || target.is_empty() || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(HandshakeError::MalformedStartLine);
        }
        let (major, minor) = head::parse_http_version(version)?;
        if major != 1 {
            return Err(HandshakeError::HttpVersionUnsupported);
        }
        let mut upgrade = UpgradeFields::default();
        for l in lines {
            if l.is_empty() {
                break;
            }
            let (name, value) = parse_field_line(l)?;
            // A token, so ASCII.
            upgrade.add(head::to_str(name).unwrap_or(""), value);
        }
        let s = |b| head::to_str(b).ok_or(HandshakeError::MalformedStartLine);
        Ok(HttpRequest { head, method: s(method)?, target: s(target)?, minor, fields_start: line.len() + 2, upgrade })
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request target as sent: path and query (or an absolute URI).
    pub fn path(&self) -> &'b str {
        self.target
    }

    /// The minor HTTP version: `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub fn http_minor_version(&self) -> u8 {
        self.minor
    }

    /// All header fields in order, as `(name, value)` with the value trimmed.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head.get(self.fields_start..).unwrap_or(&[]))
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The values of every header called `name`, in order.
    pub fn header_values<'n>(&self, name: &'n str) -> HeaderValues<'n>
    where
        'b: 'n,
    {
        HeaderValues::new(self.headers(), name)
    }

    /// Length of the head in bytes, final CRLF CRLF included. A body, if any, starts
    /// at `&buf[head_len..]` and is yours to read.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }
}

/// A validated WebSocket upgrade request (RFC 6455 §4.2.1), borrowed from your buffer.
///
/// Inspect it, then [`accept`](Incoming::accept) or answer with [`reject`] /
/// [`Response::forbidden`]. **Bytes after the head** (`&buf[incoming.head_len()..]`)
/// may already hold the client's first frames: hand them to the connection.
#[derive(Debug, Clone)]
pub struct Incoming<'b> {
    req: HttpRequest<'b>,
    host: &'b str,
    key: &'b str,
}

impl<'b> Incoming<'b> {
    /// The underlying HTTP request.
    pub fn request(&self) -> &HttpRequest<'b> {
        &self.req
    }

    /// Always `GET` for a valid upgrade.
    pub fn method(&self) -> &'b str {
        self.req.method
    }

    /// The request target as sent (path and query): the WebSocket resource name.
    pub fn path(&self) -> &'b str {
        self.req.target
    }

    /// The `Host` value (host and optional port).
    pub fn host(&self) -> &'b str {
        self.host
    }

    /// The `Origin` value, if sent (browsers always send it; RFC 6455 §4.2.1 item 7,
    /// §10.2). Check it against your policy and answer 403 with
    /// [`Response::forbidden`] if it does not pass.
    pub fn origin(&self) -> Option<&'b str> {
        self.req.header("origin").and_then(head::to_str)
    }

    /// The `Sec-WebSocket-Key` value as sent (24 base64 characters).
    pub fn key(&self) -> &'b str {
        self.key
    }

    /// The WebSocket protocol version: always 13 once validated.
    pub fn version(&self) -> u8 {
        13
    }

    /// Offered subprotocols in the client's order of preference, across repeated
    /// `Sec-WebSocket-Protocol` fields.
    pub fn protocols(&self) -> Protocols<'b, HeaderValues<'b>> {
        Protocols::new(self.req.header_values("sec-websocket-protocol"))
    }

    /// Offered extensions in order, across repeated `Sec-WebSocket-Extensions` fields.
    pub fn extensions(&self) -> Extensions<'b, HeaderValues<'b>> {
        Extensions::new(self.req.header_values("sec-websocket-extensions"))
    }

    /// All header fields in order.
    pub fn headers(&self) -> Headers<'b> {
        self.req.headers()
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.req.header(name)
    }

    /// Length of the head in bytes; frames start at `&buf[head_len..]`.
    pub fn head_len(&self) -> usize {
        self.req.head_len()
    }

    /// Accept the upgrade; see [`accept`].
    pub fn accept<'a>(&self, opts: &AcceptOptions<'a>) -> Result<Accept<'a>, BuildError> {
        accept(self, opts)
    }
}

/// How to accept an upgrade: the selected subprotocol and extensions, extra headers.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptOptions<'a> {
    /// The subprotocol to select; must be one the client offered (RFC 6455 §4.2.2).
    pub protocol: Option<&'a str>,
    /// The exact `Sec-WebSocket-Extensions` response value (e.g. as built by the
    /// permessage-deflate negotiation); every extension named must have been offered.
    pub extensions: Option<&'a str>,
    /// Extra header fields, e.g. `Set-Cookie`.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> AcceptOptions<'a> {
    /// No subprotocol, no extensions, no extra headers.
    pub const fn new() -> Self {
        AcceptOptions { protocol: None, extensions: None, headers: &[] }
    }

    /// Select a subprotocol.
    pub const fn with_protocol(mut self, protocol: &'a str) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Set the `Sec-WebSocket-Extensions` response value.
    pub const fn with_extensions(mut self, extensions: &'a str) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Add extra header fields.
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// Accept an upgrade: validate the options and prepare the 101 response (RFC 6455 §4.2.2).
///
/// Fails with [`BuildError::InvalidProtocol`] if `opts.protocol` was not offered, with
/// [`BuildError::InvalidExtensions`] if an extension named was not offered or the value
/// is malformed, and with [`BuildError::InvalidField`] for CR/LF/controls in any value,
/// a header name that is not a token, or an extra header this crate writes itself.
pub fn accept<'a>(incoming: &Incoming<'_>, opts: &AcceptOptions<'a>) -> Result<Accept<'a>, BuildError> {
    check_selection(opts.protocol, opts.extensions, incoming.protocols(), incoming.extensions())?;
    check_extras(opts.headers)?;
    Ok(Accept {
        accept: accept_key(incoming.key.as_bytes()),
        protocol: opts.protocol,
        extensions: opts.extensions,
        headers: opts.headers,
    })
}

/// A prepared `101 Switching Protocols` response.
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    accept: [u8; 28],
    protocol: Option<&'a str>,
    extensions: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> Accept<'a> {
    /// The `Sec-WebSocket-Accept` value.
    pub fn accept_key(&self) -> &[u8; 28] {
        &self.accept
    }

    /// The selected subprotocol, if any.
    pub fn protocol(&self) -> Option<&'a str> {
        self.protocol
    }

    fn emit(&self, s: &mut Sink<'_>) {
        // RFC 6455 §4.2.2 item 5: status line, Upgrade, Connection, Accept, then the
        // optional selected subprotocol and extensions.
        s.put(b"HTTP/1.1 101 Switching Protocols\r\n");
        s.field("Upgrade", b"websocket");
        s.field("Connection", b"Upgrade");
        s.field("Sec-WebSocket-Accept", &self.accept);
        if let Some(p) = self.protocol {
            s.field("Sec-WebSocket-Protocol", p.as_bytes());
        }
        if let Some(e) = self.extensions {
            s.field("Sec-WebSocket-Extensions", e.as_bytes());
        }
        for (n, v) in self.headers {
            s.field(n, v.as_bytes());
        }
        s.put(b"\r\n");
    }
}

/// A refused handshake: the error and a ready-to-send response (`Connection: close`).
///
/// Send the response, then close the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    error: HandshakeError,
}

impl From<HandshakeError> for Rejection {
    fn from(error: HandshakeError) -> Self {
        Rejection { error }
    }
}

impl Rejection {
    /// Why the request was refused.
    pub fn error(&self) -> HandshakeError {
        self.error
    }

    /// The response status: 431 (head too large), 405 (not GET), 426 (version not 13),
    /// 505 (HTTP major version not 1), otherwise 400.
    pub fn status(&self) -> u16 {
        match self.error {
            HandshakeError::HeadTooLarge => 431,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::HttpVersionUnsupported => 505,
            _ => 400,
        }
    }

    /// Header fields the response carries besides `Content-Type`, `Content-Length` and
    /// `Connection: close`.
    pub fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        match self.status() {
            // RFC 9110 §15.5.6: a 405 lists the allowed methods.
            405 => &[("Allow", "GET")],
            // RFC 9110 §15.5.22: 426 carries Upgrade; RFC 6455 §4.4: and the versions.
            426 => &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
            _ => &[],
        }
    }

    fn emit(&self, s: &mut Sink<'_>) {
        let status = self.status();
        let body = self.error.as_str();
        s.put(b"HTTP/1.1 ");
        s.put_usize(status.into());
        s.put(b" ");
        s.put_str(reason_phrase(status));
        s.put(b"\r\n");
        for (n, v) in self.extra_headers() {
            s.field(n, v.as_bytes());
        }
        s.field("Content-Type", b"text/plain; charset=utf-8");
        s.put(b"Content-Length: ");
        s.put_usize(body.len() + 1);
        s.put(b"\r\nConnection: close\r\n\r\n");
        s.put_str(body);
        s.put(b"\n");
    }
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.error, self.status())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Any response of your own (a refusal for policy, a redirect, a plain page):
/// status line, your headers, `Content-Length`, `Connection: close`, body.
///
/// ```
/// use wsmachine::handshake::server::{reject, Response};
/// let r = Response::forbidden();
/// let mut out = [0u8; 128];
/// let n = r.write_response(&mut out).unwrap();
/// assert_eq!(&out[..n], b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
/// let r = reject(503, "", &[("Retry-After", "5")], b"busy").unwrap();
/// let n = r.write_response(&mut out).unwrap();
/// assert!(out[..n].starts_with(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"));
/// assert!(reject(403, "No\r\nX: y", &[], b"").is_err()); // response splitting refused
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    status: u16,
    reason: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

/// Build a response of your own; an empty `reason` uses the standard phrase.
///
/// Refuses a status outside 200..=599 ([`BuildError::InvalidStatus`]), CR/LF or
/// controls in the reason or a header, a header name that is not a token, and
/// `Content-Length`, `Transfer-Encoding` or `Connection` among `headers`, which this
/// function writes itself ([`BuildError::InvalidField`]).
pub fn reject<'a>(
    status: u16,
    reason: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> Result<Response<'a>, BuildError> {
    if !(200..=599).contains(&status) {
        return Err(BuildError::InvalidStatus);
    }
    head::check_field("x", reason)?;
    for (n, v) in headers {
        head::check_field(n, v)?;
        if ["content-length", "transfer-encoding", "connection"].iter().any(|r| r.eq_ignore_ascii_case(n)) {
            return Err(BuildError::InvalidField);
        }
    }
    Ok(Response { status, reason, headers, body })
}

impl<'a> Response<'a> {
    /// `403 Forbidden` with an empty body: the answer to an `Origin` your policy refuses
    /// (RFC 6455 §4.2.2 item 4, §10.2).
    pub const fn forbidden() -> Response<'static> {
        Response { status: 403, reason: "Forbidden", headers: &[], body: &[] }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    fn emit(&self, s: &mut Sink<'_>) {
        s.put(b"HTTP/1.1 ");
        s.put_usize(self.status.into());
        s.put(b" ");
        s.put_str(if self.reason.is_empty() { reason_phrase(self.status) } else { self.reason });
        s.put(b"\r\n");
        for (n, v) in self.headers {
            s.field(n, v.as_bytes());
        }
        s.put(b"Content-Length: ");
        s.put_usize(self.body.len());
        s.put(b"\r\nConnection: close\r\n\r\n");
        s.put(self.body);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const OK: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn err(req: &[u8]) -> Rejection {
        match RequestParser::new().parse(req) {
            Err(r) => r,
            Ok(_) => panic!("accepted {:?}", core::str::from_utf8(req)),
        }
    }

    #[test]
    fn ok_and_partial() {
        let mut p = RequestParser::new();
        assert!(matches!(p.parse(&OK[..10]), Ok(Request::Partial)));
        match p.parse(OK) {
            Ok(Request::Upgrade(i)) => assert_eq!(i.head_len(), OK.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn start_line_errors() {
        assert_eq!(err(b"GET  / HTTP/1.1\r\n\r\n").error(), HandshakeError::MalformedStartLine);
        assert_eq!(err(b"\r\nGET / HTTP/1.1\r\n\r\n").error(), HandshakeError::MalformedStartLine);
        assert_eq!(err(b"GET / HTTP/2.0\r\n\r\n").status(), 505);
        assert_eq!(err(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n").error(), HandshakeError::ObsFold);
        assert_eq!(err(b"GET /\x7f HTTP/1.1\r\n\r\n").error(), HandshakeError::MalformedStartLine);
    }

    #[test]
    fn body_refused() {
        let mut v = OK[..OK.len() - 2].to_vec();
        v.extend_from_slice(b"Content-Length: 5\r\n\r\n");
        assert_eq!(err(&v).error(), HandshakeError::UnexpectedBody);
    }

    #[test]
    fn reject_validation() {
        assert_eq!(reject(101, "", &[], b"").err(), Some(BuildError::InvalidStatus));
        assert_eq!(reject(400, "", &[("Content-Length", "1")], b"").err(), Some(BuildError::InvalidField));
        assert_eq!(reject(400, "", &[("X", "a\nb")], b"").err(), Some(BuildError::InvalidField));
        assert_eq!(reject(400, "", &[("X y", "a")], b"").err(), Some(BuildError::InvalidField));
    }
}
