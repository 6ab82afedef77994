//! Client side of the opening handshake (RFC 6455 §4.1).
//!
//! Build the request with [`ClientRequest`] (the 16-byte nonce is an input: the crate
//! has no RNG inside, except [`ClientRequest::with_random_nonce`] under `std`), send
//! it, then feed the server's bytes to the [`ResponseParser`] it gives you.
//!
//! ```
//! use wsmachine::handshake::client::{ClientRequest, Reply};
//!
//! let req = ClientRequest::new("server.example.com", "/chat", *b"the sample nonce")
//!     .with_origin("http://example.com")
//!     .with_protocols(&["chat", "superchat"]);
//! let mut out = [0u8; 512];
//! let n = req.write_request(&mut out).unwrap();
//! assert!(out[..n].starts_with(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
//!
//! // RFC 6455 §1.3 response, followed by the server's first frame (a text "Hi").
//! let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
//!     Sec-WebSocket-Protocol: chat\r\n\r\n\x81\x02Hi";
//! let mut parser = req.response_parser();
//! match parser.parse(resp).unwrap() {
//!     Reply::Accepted(a) => {
//!         assert_eq!(a.protocol(), Some("chat"));
//!         // Bytes after the head belong to the connection:
//!         assert_eq!(&resp[a.head_len()..], b"\x81\x02Hi");
//!     }
//!     Reply::Partial => { /* read more and call parse again */ }
//!     Reply::Rejected(r) => panic!("refused with {}", r.status()),
//!     _ => {}
//! }
//! ```

use super::head::{
    self, is_field_value, parse_field_line, Fields, HeaderValues, Headers, Lines, Scan, Scanner,
    Sink,
};
use super::server::{check_extras, DEFAULT_MAX_HEAD_LEN};
use super::{accept_key, encode_key, has_token, BuildError, Extensions, HandshakeError, ListItems};

/// An opening-handshake request (RFC 6455 §4.1), validated when encoded.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// `Host` value: host and optional port (RFC 6455 §4.1 item 4).
    pub host: &'a str,
    /// Resource name: path and query, starting with `/` (RFC 6455 §3).
    pub path: &'a str,
    /// The 16 random bytes behind `Sec-WebSocket-Key` (RFC 6455 §4.1 item 7).
    pub nonce: [u8; 16],
    /// `Origin`, sent by browser clients (RFC 6455 §4.1 item 8).
    pub origin: Option<&'a str>,
    /// Offered subprotocols, most preferred first (RFC 6455 §4.1 item 10).
    pub protocols: &'a [&'a str],
    /// The `Sec-WebSocket-Extensions` offer, verbatim (RFC 6455 §4.1 item 11, §9.1).
    pub extensions: Option<&'a str>,
    /// Extra header fields (cookies, authorization, ...).
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ClientRequest<'a> {
    /// A request for `path` on `host`, keyed by `nonce`. RFC 6455 §4.1 item 7: the nonce
    /// MUST be freshly and randomly chosen for every connection.
    pub const fn new(host: &'a str, path: &'a str, nonce: [u8; 16]) -> Self {
        ClientRequest {
            host,
            path,
            nonce,
            origin: None,
            protocols: &[],
            extensions: None,
            headers: &[],
        }
    }

    /// Like [`new`](Self::new), with a nonce drawn from the operating system.
    ///
    /// ```
    /// let req = wsmachine::handshake::client::ClientRequest::with_random_nonce("h", "/").unwrap();
    /// assert_eq!(req.key().len(), 24);
    /// ```
    #[cfg(feature = "std")]
    pub fn with_random_nonce(host: &'a str, path: &'a str) -> std::io::Result<Self> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        Ok(Self::new(host, path, nonce))
    }

    /// Send an `Origin`.
    pub const fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offer subprotocols, most preferred first.
    pub const fn with_protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Offer extensions, e.g. `permessage-deflate; client_max_window_bits`.
    pub const fn with_extensions(mut self, extensions: &'a str) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Add extra header fields.
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// The `Sec-WebSocket-Key` value: base64 of the nonce.
    pub fn key(&self) -> [u8; 24] {
        encode_key(&self.nonce)
    }

    /// The `Sec-WebSocket-Accept` value a correct server will send back.
    pub fn expected_accept(&self) -> [u8; 28] {
        accept_key(&self.key())
    }

    /// Check every field: a host and origin without whitespace or controls, a path
    /// starting with `/` in visible ASCII, unique token subprotocols, an extensions
    /// offer in the §9.1 grammar, token header names and values without CR/LF, and no
    /// extra header this crate writes itself (`Host`, `Upgrade`, `Sec-WebSocket-*`, ...).
    pub fn validate(&self) -> Result<(), BuildError> {
        let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !visible(self.host) || !self.path.starts_with('/') || !visible(self.path) {
            return Err(BuildError::InvalidField);
        }
        if let Some(o) = self.origin {
            if !visible(o) {
                return Err(BuildError::InvalidField);
            }
        }
        // RFC 6455 §4.1 item 10: tokens, unique.
        for (i, p) in self.protocols.iter().enumerate() {
            let dup = self.protocols.get(..i).unwrap_or(&[]).contains(p);
            if dup || !super::fields::is_token_str(p) {
                return Err(BuildError::InvalidProtocol);
            }
        }
        if let Some(e) = self.extensions {
            if !is_field_value(e.as_bytes()) {
                return Err(BuildError::InvalidField);
            }
            super::check_extensions(core::iter::once(e.as_bytes()))
                .map_err(|_| BuildError::InvalidExtensions)?;
        }
        check_extras(self.headers)?;
        if self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("origin"))
        {
            return Err(BuildError::InvalidField);
        }
        Ok(())
    }

    fn emit(&self, s: &mut Sink<'_>) {
        // RFC 6455 §4.1: the opening handshake request, fields as in §1.3.
        s.put(b"GET ");
        s.put_str(self.path);
        s.put(b" HTTP/1.1\r\n");
        s.field("Host", self.host.as_bytes());
        s.field("Upgrade", b"websocket");
        s.field("Connection", b"Upgrade");
        s.field("Sec-WebSocket-Key", &self.key());
        if let Some(o) = self.origin {
            s.field("Origin", o.as_bytes());
        }
        if let Some((first, rest)) = self.protocols.split_first() {
            s.put(b"Sec-WebSocket-Protocol: ");
            s.put_str(first);
            for p in rest {
                s.put(b", ");
                s.put_str(p);
            }
            s.put(b"\r\n");
        }
        if let Some(e) = self.extensions {
            s.field("Sec-WebSocket-Extensions", e.as_bytes());
        }
        s.field("Sec-WebSocket-Version", b"13");
        for (n, v) in self.headers {
            s.field(n, v.as_bytes());
        }
        s.put(b"\r\n");
    }

    /// The exact length of the request in bytes (after validation).
    pub fn request_len(&self) -> Result<usize, BuildError> {
        self.validate()?;
        Ok(head::measure(|s| self.emit(s)))
    }

    /// Validate and write the request into `out`; returns the bytes written.
    pub fn write_request(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        self.validate()?;
        let mut s = Sink::new(out);
        self.emit(&mut s);
        s.finish()
    }

    /// Validate and return the request as a new vector.
    #[cfg(feature = "alloc")]
    pub fn request_vec(&self) -> Result<alloc::vec::Vec<u8>, BuildError> {
        self.validate()?;
        Ok(head::to_vec(|s| self.emit(s)))
    }

    /// A parser for the server's response to this request.
    pub fn response_parser(&self) -> ResponseParser<'a> {
        ResponseParser {
            max_head_len: DEFAULT_MAX_HEAD_LEN,
            scanner: Scanner::default(),
            accept: self.expected_accept(),
            protocols: self.protocols,
            extensions: self.extensions,
        }
    }
}

/// Resumable, bounded parser for the server's handshake response (RFC 6455 §4.1).
///
/// Feed it the whole filled prefix of one growing buffer each time, like the server's
/// [`RequestParser`](super::server::RequestParser).
#[derive(Debug, Clone)]
pub struct ResponseParser<'a> {
    max_head_len: usize,
    scanner: Scanner,
    accept: [u8; 28],
    protocols: &'a [&'a str],
    extensions: Option<&'a str>,
}

impl<'a> ResponseParser<'a> {
    /// Refuse response heads longer than `max` bytes (default 16 KiB).
    pub fn with_max_head_len(mut self, max: usize) -> Self {
        self.max_head_len = max;
        self
    }

    /// Total bytes examined so far (never more than the bytes fed).
    pub fn scanned(&self) -> usize {
        self.scanner.scanned()
    }

    /// Parse `buf`, the bytes received so far from the server.
    ///
    /// A `101` is validated per RFC 6455 §4.1 (any failure is a [`HandshakeError`] and
    /// the client must _Fail the WebSocket Connection_); any other status is returned as
    /// [`Reply::Rejected`] for you to act on (redirect, authenticate, retry later).
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Reply<'b>, HandshakeError> {
        let len = match self.scanner.scan(buf, self.max_head_len) {
            Scan::Partial => return Ok(Reply::Partial),
            Scan::TooLarge => return Err(HandshakeError::HeadTooLarge),
            Scan::BareLf => return Err(HandshakeError::BareLf),
            Scan::Complete(n) => n,
        };
        let resp = HttpResponse::parse(buf.get(..len).unwrap_or(&[]))?;
        // RFC 6455 §4.1: "If the status code received from the server is not 101, the
        // client handles the response per HTTP [RFC2616] procedures."
        if resp.status != 101 {
            return Ok(Reply::Rejected(resp));
        }
        if resp.minor < 1 {
            return Err(HandshakeError::HttpVersionTooOld);
        }
        let protocol = check_response_fields(
            resp.headers(),
            &self.accept,
            self.protocols,
            self.extensions,
        )?;
        Ok(Reply::Accepted(Accepted { resp, protocol }))
    }
}

/// RFC 6455 §4.1 checks on a 101 response's fields; returns the selected subprotocol.
pub(crate) fn check_response_fields<'b, F: Fields<'b>>(
    f: F,
    accept: &[u8; 28],
    protocols: &[&str],
    extensions: Option<&str>,
) -> Result<Option<&'b str>, HandshakeError> {
    // §4.1 item 2: Upgrade is `websocket` (case-insensitive) and nothing else.
    let mut up = ListItems::new(f.values("upgrade"));
    match (up.next(), up.next()) {
        (Some(v), None) if v.eq_ignore_ascii_case(b"websocket") => {}
        _ => return Err(HandshakeError::MissingUpgrade),
    }
    // §4.1 item 3: Connection contains the token `Upgrade`.
    if !has_token(f.values("connection"), "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // §4.1 item 4, §11.3.3: exactly one Sec-WebSocket-Accept, equal to the expected value.
    match f.single("sec-websocket-accept") {
        Ok(Some(v)) if v == accept => {}
        Ok(Some(_)) => return Err(HandshakeError::AcceptMismatch),
        _ => return Err(HandshakeError::MissingAccept),
    }
    // §4.1 item 5, §9.1: every extension in use must have been offered (by name).
    super::check_extensions(f.values("sec-websocket-extensions"))?;
    let offered = || Extensions::new(extensions.map(str::as_bytes).into_iter());
    for e in Extensions::new(f.values("sec-websocket-extensions")) {
        if !offered().any(|o| o.name().eq_ignore_ascii_case(e.name())) {
            return Err(HandshakeError::UnofferedExtension);
        }
    }
    // §4.1 item 6, §11.3.4: at most one subprotocol, and one that was offered.
    let mut sel = ListItems::new(f.values("sec-websocket-protocol"));
    match (sel.next(), sel.next(), f.count("sec-websocket-protocol")) {
        (None, _, 0) => Ok(None),
        (Some(p), None, 1) => match protocols.iter().find(|o| o.as_bytes() == p) {
            Some(_) => Ok(core::str::from_utf8(p).ok()),
            None => Err(HandshakeError::UnofferedProtocol),
        },
        _ => Err(HandshakeError::UnofferedProtocol),
    }
}

/// What [`ResponseParser::parse`] found.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Reply<'b> {
    /// The head is not complete yet: read more bytes and call `parse` again.
    Partial,
    /// A valid `101 Switching Protocols`: the connection is open.
    Accepted(Accepted<'b>),
    /// The server answered with another status (a redirect, 401, 503, ...). Any body
    /// follows at `&buf[head_len..]` per its `Content-Length`.
    Rejected(HttpResponse<'b>),
}

/// A validated 101 response.
///
/// **Bytes after the head** (`&buf[accepted.head_len()..]`) are the server's first
/// WebSocket frames: hand them to the connection.
#[derive(Debug, Clone)]
pub struct Accepted<'b> {
    resp: HttpResponse<'b>,
    protocol: Option<&'b str>,
}

impl<'b> Accepted<'b> {
    /// The subprotocol the server selected, if any (one of those offered).
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The extensions the server selected, in order, with their parameters.
    pub fn extensions(&self) -> Extensions<'b, HeaderValues<'b>> {
        Extensions::new(self.resp.header_values("sec-websocket-extensions"))
    }

    /// Length of the head in bytes; frames start at `&buf[head_len..]`.
    pub fn head_len(&self) -> usize {
        self.resp.head_len()
    }

    /// The underlying HTTP response (all headers, e.g. `Set-Cookie`).
    pub fn response(&self) -> &HttpResponse<'b> {
        &self.resp
    }
}

/// A parsed HTTP/1.1 response head, borrowed from the caller's buffer.
#[derive(Debug, Clone)]
pub struct HttpResponse<'b> {
    head: &'b [u8],
    status: u16,
    reason: &'b str,
    minor: u8,
    fields_start: usize,
}

impl<'b> HttpResponse<'b> {
    /// RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
    /// A missing SP before an empty reason is tolerated.
    fn parse(head: &'b [u8]) -> Result<Self, HandshakeError> {
        let mut lines = Lines::new(head);
        let line = lines.next().unwrap_or(&[]);
        let bad = HandshakeError::MalformedStartLine;
        let (version, rest) = match memchr::memchr(b' ', line) {
            Some(i) => (
                line.get(..i).unwrap_or(&[]),
                line.get(i + 1..).unwrap_or(&[]),
            ),
            None => return Err(bad),
        };
        let (major, minor) = head::parse_http_version(version)?;
        if major != 1 {
            return Err(HandshakeError::HttpVersionUnsupported);
        }
        let (code, reason) = match rest {
            [a, b, c] => ([*a, *b, *c], &[][..]),
            [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
            _ => return Err(bad),
        };
        if !code.iter().all(u8::is_ascii_digit) || !is_field_value(reason) {
            return Err(bad);
        }
        let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if !(100..=599).contains(&status) {
            return Err(bad);
        }
        for l in lines {
            if l.is_empty() {
                break;
            }
            parse_field_line(l)?;
        }
        Ok(HttpResponse {
            head,
            status,
            reason: core::str::from_utf8(reason).unwrap_or(""),
            minor,
            fields_start: line.len() + 2,
        })
    }

    /// The status code, e.g. 101, 302, 401, 503.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent (empty if absent or not UTF-8).
    pub fn reason(&self) -> &'b str {
        self.reason
    }

    /// The minor HTTP version: `1` for HTTP/1.1.
    pub fn http_minor_version(&self) -> u8 {
        self.minor
    }

    /// All header fields in order, as `(name, value)` with the value trimmed.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head.get(self.fields_start..).unwrap_or(&[]))
    }

    /// The value of the first header called `name` (ASCII case-insensitive), e.g.
    /// `Location` on a redirect or `WWW-Authenticate` on a 401.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The values of every header called `name`, in order.
    pub fn header_values<'n>(&self, name: &'n str) -> HeaderValues<'n>
    where
        'b: 'n,
    {
        HeaderValues::new(self.headers(), name)
    }

    /// Length of the head in bytes, final CRLF CRLF included.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn parse(req: &ClientRequest<'_>, resp: &[u8]) -> Result<bool, HandshakeError> {
        req.response_parser()
            .parse(resp)
            .map(|r| matches!(r, Reply::Accepted(_)))
    }

    #[test]
    fn validation_refuses_bad_fields() {
        let base = ClientRequest::new("h", "/", [0; 16]);
        assert!(base.validate().is_ok());
        assert_eq!(
            ClientRequest::new("h\r\nX: y", "/", [0; 16]).validate(),
            Err(BuildError::InvalidField)
        );
        assert_eq!(
            ClientRequest::new("h", "x", [0; 16]).validate(),
            Err(BuildError::InvalidField)
        );
        assert_eq!(
            ClientRequest::new("h", "/a b", [0; 16]).validate(),
            Err(BuildError::InvalidField)
        );
        assert_eq!(
            base.with_origin("o\n").validate(),
            Err(BuildError::InvalidField)
        );
        assert_eq!(
            base.with_protocols(&["a", "a"]).validate(),
            Err(BuildError::InvalidProtocol)
        );
        assert_eq!(
            base.with_protocols(&["a b"]).validate(),
            Err(BuildError::InvalidProtocol)
        );
        assert_eq!(
            base.with_extensions("x; =").validate(),
            Err(BuildError::InvalidExtensions)
        );
        assert_eq!(
            base.with_headers(&[("Host", "x")]).validate(),
            Err(BuildError::InvalidField)
        );
        assert_eq!(
            base.with_headers(&[("X", "a\rb")]).validate(),
            Err(BuildError::InvalidField)
        );
        let mut small = [0u8; 10];
        let need = base.request_len().unwrap();
        assert_eq!(
            base.write_request(&mut small),
            Err(BuildError::BufferTooSmall { needed: need })
        );
    }

    #[test]
    fn status_line_variants() {
        let req = ClientRequest::new("h", "/", [0; 16]);
        assert_eq!(parse(&req, b"HTTP/1.1 503\r\n\r\n"), Ok(false));
        assert_eq!(
            parse(&req, b"HTTP/1.1 50\r\n\r\n"),
            Err(HandshakeError::MalformedStartLine)
        );
        assert_eq!(
            parse(&req, b"HTTP/1.1 099 x\r\n\r\n"),
            Err(HandshakeError::MalformedStartLine)
        );
        assert_eq!(
            parse(&req, b"HTTP/1.0 101 x\r\n\r\n"),
            Err(HandshakeError::HttpVersionTooOld)
        );
        assert_eq!(
            parse(&req, b"HTTP/3.0 101 x\r\n\r\n"),
            Err(HandshakeError::HttpVersionUnsupported)
        );
    }

    #[test]
    fn protocol_must_be_single_and_offered() {
        let req = ClientRequest::new("h", "/", *b"the sample nonce").with_protocols(&["a", "b"]);
        let base =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let with = |extra: &str| {
            let mut v = [0u8; 512];
            let s = [base, extra, "\r\n"].concat();
            v[..s.len()].copy_from_slice(s.as_bytes());
            parse(&req, &v[..s.len()])
        };
        assert_eq!(with("Sec-WebSocket-Protocol: b\r\n"), Ok(true));
        assert_eq!(with(""), Ok(true));
        assert_eq!(
            with("Sec-WebSocket-Protocol: a, b\r\n"),
            Err(HandshakeError::UnofferedProtocol)
        );
        assert_eq!(
            with("Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: a\r\n"),
            Err(HandshakeError::UnofferedProtocol)
        );
        assert_eq!(
            with("Sec-WebSocket-Protocol: B\r\n"),
            Err(HandshakeError::UnofferedProtocol)
        );
        assert_eq!(
            with("Upgrade: h2c\r\n"),
            Err(HandshakeError::MissingUpgrade)
        );
        assert_eq!(
            with("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            Err(HandshakeError::MissingAccept)
        );
    }
}
