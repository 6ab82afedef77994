//! WebSockets over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220): the extended CONNECT.
//!
//! Your HTTP/2 or HTTP/3 stack decodes the header block; this module only looks at the
//! resulting `(name, value)` pairs, so it needs no HTTP/2 dependency. There is no
//! `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` here (RFC 8441 §5: the stream itself
//! already ties request to response). The server must have sent
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (RFC 8441 §3) for clients to try this.
//!
//! Once the server answers 200, run a [`Connection`](crate) over the stream's DATA bytes
//! exactly as over TCP: server role on the server and client role on the client, with
//! client-to-server masking as in RFC 6455 §5.3 (RFC 8441 §5 keeps the framing as is).
//! Closing the WebSocket ends with END_STREAM rather than a TCP close.
//!
//! ```
//! use wsmachine::handshake::h2::{self, ConnectRequest};
//! use wsmachine::handshake::server::AcceptOptions;
//!
//! // Client: the header list to send.
//! let req = ConnectRequest::new("server.example.com", "/chat").with_protocols(&["chat"]);
//! let sent: Vec<(&str, &[u8])> = req.fields().collect();
//! assert_eq!(sent[0], (":method", &b"CONNECT"[..]));
//!
//! // Server: validate what arrived and answer.
//! let connect = h2::parse_request(sent.iter().copied()).unwrap();
//! assert_eq!(connect.path(), "/chat");
//! let resp = connect.accept(&AcceptOptions::new().with_protocol("chat")).unwrap();
//! let answer: Vec<(&str, &[u8])> = resp.fields().collect();
//! assert_eq!(answer, [(":status", &b"200"[..]), ("sec-websocket-protocol", b"chat")]);
//!
//! // Client: check the answer.
//! match req.check_response(answer.iter().copied()).unwrap() {
//!     h2::ConnectReply::Accepted { protocol } => assert_eq!(protocol, Some("chat")),
//!     other => panic!("{other:?}"),
//! }
//! ```

use super::head::is_field_value;
use super::server::{check_extras, check_selection, AcceptOptions};
use super::{BuildError, Extensions, HandshakeError, ListItems, Protocols};

/// Values of every field called `name` in a header list, in order.
#[derive(Debug, Clone)]
pub struct FieldValues<'a, I> {
    fields: I,
    name: &'a str,
}

impl<'a, I: Iterator<Item = (&'a str, &'a [u8])>> Iterator for FieldValues<'a, I> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let name = self.name;
        self.fields
            .by_ref()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The values of every field called `name` (ASCII case-insensitive) in `fields`.
pub fn field_values<'a, I>(fields: I, name: &'a str) -> FieldValues<'a, I::IntoIter>
where
    I: IntoIterator<Item = (&'a str, &'a [u8])>,
{
    FieldValues {
        fields: fields.into_iter(),
        name,
    }
}

/// A validated extended CONNECT request for the WebSocket protocol.
#[derive(Debug, Clone)]
pub struct ExtendedConnect<'a, I> {
    fields: I,
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
}

fn utf8(v: &[u8]) -> Result<&str, HandshakeError> {
    core::str::from_utf8(v).map_err(|_| HandshakeError::MalformedHeader)
}

/// RFC 9113 §8.2.2: fields that only make sense for one HTTP/1.1 connection.
fn is_connection_specific(name: &str) -> bool {
    [
        "connection",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
    ]
    .iter()
    .any(|c| c.eq_ignore_ascii_case(name))
}

/// Validate an extended CONNECT header list (RFC 8441 §4–5, RFC 9220 §3).
///
/// Rules: pseudo-header fields come first, each at most once, only `:method`,
/// `:scheme`, `:authority`, `:path` and `:protocol` (RFC 9113 §8.3.1); `:method` is
/// `CONNECT`, `:protocol` is `websocket`, and `:scheme`, `:path` and `:authority` are
/// present and non-empty (RFC 8441 §4); names are lowercase and values have no CR, LF,
/// NUL or surrounding whitespace (RFC 9113 §8.2.1); no connection-specific fields
/// (RFC 9113 §8.2.2); `sec-websocket-version` is `13` (RFC 8441 §5, RFC 6455 §4.4);
/// subprotocols and extensions are well-formed.
///
/// Errors: [`HandshakeError::MalformedPseudoHeaders`], [`MalformedHeader`](HandshakeError::MalformedHeader)
/// and [`ConnectionSpecificField`](HandshakeError::ConnectionSpecificField) make the
/// request malformed: reset the stream with PROTOCOL_ERROR (RFC 9113 §8.1.1; H3_MESSAGE_ERROR
/// in HTTP/3). A missing or other `:protocol` is [`HandshakeError::MissingUpgrade`]:
/// not a WebSocket request. [`UnsupportedVersion`](HandshakeError::UnsupportedVersion) and
/// [`MissingVersion`](HandshakeError::MissingVersion): answer `:status` 400 with
/// `sec-websocket-version: 13`; others: 400.
pub fn parse_request<'a, I>(fields: I) -> Result<ExtendedConnect<'a, I::IntoIter>, HandshakeError>
where
    I: IntoIterator<Item = (&'a str, &'a [u8])>,
    I::IntoIter: Clone,
{
    let fields = fields.into_iter();
    let malformed = HandshakeError::MalformedPseudoHeaders;
    let mut pseudo: [Option<&'a [u8]>; 5] = [None; 5];
    let mut regular_seen = false;
    for (name, value) in fields.clone() {
        if name.bytes().any(|b| b.is_ascii_uppercase()) || !is_field_value(value) {
            return Err(HandshakeError::MalformedHeader);
        }
        if value.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || value.last().is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            return Err(HandshakeError::MalformedHeader);
        }
        if let Some(p) = name.strip_prefix(':') {
            let slot = match p {
                "method" => 0,
                "scheme" => 1,
                "authority" => 2,
                "path" => 3,
                "protocol" => 4,
                _ => return Err(malformed),
            };
            let s = pseudo.get_mut(slot).ok_or(malformed)?;
            if regular_seen || s.is_some() {
                return Err(malformed);
            }
            *s = Some(value);
        } else {
            if !super::head::is_token(name.as_bytes()) {
                return Err(HandshakeError::MalformedHeader);
            }
            if is_connection_specific(name) {
                return Err(HandshakeError::ConnectionSpecificField);
            }
            regular_seen = true;
        }
    }
    let [method, scheme, authority, path, protocol] = pseudo;
    // RFC 8441 §4: :protocol only with CONNECT; and it names the protocol.
    match protocol {
        Some(p) if p == b"websocket" => {}
        _ => return Err(HandshakeError::MissingUpgrade),
    }
    if method != Some(&b"CONNECT"[..]) {
        return Err(malformed);
    }
    let nonempty = |v: Option<&'a [u8]>| v.filter(|v| !v.is_empty()).ok_or(malformed);
    let (scheme, authority, path) = (nonempty(scheme)?, nonempty(authority)?, nonempty(path)?);
    let values = |n| field_values(fields.clone(), n);
    // RFC 8441 §5 keeps RFC 6455's version negotiation: exactly one, and 13.
    let mut ver = values("sec-websocket-version");
    match (ver.next(), ver.next()) {
        (Some(b"13"), None) => {}
        (Some(_), None) => return Err(HandshakeError::UnsupportedVersion),
        _ => return Err(HandshakeError::MissingVersion),
    }
    super::fields::check_protocols(values("sec-websocket-protocol"))?;
    super::check_extensions(values("sec-websocket-extensions"))?;
    Ok(ExtendedConnect {
        fields,
        scheme: utf8(scheme)?,
        authority: utf8(authority)?,
        path: utf8(path)?,
    })
}

impl<'a, I: Iterator<Item = (&'a str, &'a [u8])> + Clone> ExtendedConnect<'a, I> {
    /// `:scheme`, e.g. `https`.
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// `:authority`: host and optional port.
    pub fn authority(&self) -> &'a str {
        self.authority
    }

    /// `:path`: path and query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// `origin`, if sent.
    pub fn origin(&self) -> Option<&'a str> {
        self.header("origin")
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The first field called `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.fields
            .clone()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Offered subprotocols in order.
    pub fn protocols(&self) -> Protocols<'a, FieldValues<'a, I>> {
        Protocols::new(field_values(self.fields.clone(), "sec-websocket-protocol"))
    }

    /// Offered extensions in order.
    pub fn extensions(&self) -> Extensions<'a, FieldValues<'a, I>> {
        Extensions::new(field_values(
            self.fields.clone(),
            "sec-websocket-extensions",
        ))
    }

    /// Accept: check the selection against the offer and prepare the response fields.
    /// Extra header names must be lowercase tokens (RFC 9113 §8.2.1).
    pub fn accept<'o>(&self, opts: &AcceptOptions<'o>) -> Result<ConnectResponse<'o>, BuildError> {
        check_selection(
            opts.protocol,
            opts.extensions,
            self.protocols(),
            self.extensions(),
        )?;
        check_h2_extras(opts.headers)?;
        Ok(ConnectResponse {
            protocol: opts.protocol,
            extensions: opts.extensions,
            headers: opts.headers,
        })
    }
}

fn check_h2_extras(headers: &[(&str, &str)]) -> Result<(), BuildError> {
    check_extras(headers)?;
    if headers
        .iter()
        .any(|(n, _)| n.bytes().any(|b| b.is_ascii_uppercase()) || is_connection_specific(n))
    {
        return Err(BuildError::InvalidField);
    }
    Ok(())
}

/// The server's `:status 200` response to an extended CONNECT (RFC 8441 §5).
#[derive(Debug, Clone, Copy)]
pub struct ConnectResponse<'a> {
    protocol: Option<&'a str>,
    extensions: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> ConnectResponse<'a> {
    /// The fields to send: `:status: 200`, then the selected subprotocol and extensions,
    /// then your extra fields.
    pub fn fields(&self) -> ResponseFields<'a> {
        ResponseFields {
            resp: *self,
            step: 0,
        }
    }
}

/// Iterator over a [`ConnectResponse`]'s fields.
#[derive(Debug, Clone)]
pub struct ResponseFields<'a> {
    resp: ConnectResponse<'a>,
    step: usize,
}

impl<'a> Iterator for ResponseFields<'a> {
    type Item = (&'a str, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let step = self.step;
            self.step += 1;
            let item = match step {
                0 => Some((":status", &b"200"[..])),
                1 => self
                    .resp
                    .protocol
                    .map(|p| ("sec-websocket-protocol", p.as_bytes())),
                2 => self
                    .resp
                    .extensions
                    .map(|e| ("sec-websocket-extensions", e.as_bytes())),
                n => {
                    let (name, value) = self.resp.headers.get(n - 3)?;
                    Some((*name, value.as_bytes()))
                }
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

/// Client side: the extended CONNECT request to send (RFC 8441 §4–5).
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct ConnectRequest<'a> {
    /// `:authority`: host and optional port.
    pub authority: &'a str,
    /// `:path`: path and query, starting with `/`.
    pub path: &'a str,
    /// `:scheme`: `https` by default (`http` over cleartext HTTP/2).
    pub scheme: &'a str,
    /// `origin`, if any.
    pub origin: Option<&'a str>,
    /// Offered subprotocols, most preferred first.
    pub protocols: &'a [&'a str],
    /// The `sec-websocket-extensions` offer.
    pub extensions: Option<&'a str>,
    /// Extra fields; names must be lowercase.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ConnectRequest<'a> {
    /// A request for `path` at `authority` over `https`.
    pub const fn new(authority: &'a str, path: &'a str) -> Self {
        ConnectRequest {
            authority,
            path,
            scheme: "https",
            origin: None,
            protocols: &[],
            extensions: None,
            headers: &[],
        }
    }

    /// Set `:scheme`.
    pub const fn with_scheme(mut self, scheme: &'a str) -> Self {
        self.scheme = scheme;
        self
    }

    /// Send an `origin`.
    pub const fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offer subprotocols.
    pub const fn with_protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Offer extensions.
    pub const fn with_extensions(mut self, extensions: &'a str) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Add extra fields (lowercase names).
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Check every field as [`ClientRequest::validate`](super::client::ClientRequest::validate)
    /// does, plus lowercase extra names.
    pub fn validate(&self) -> Result<(), BuildError> {
        let mut as_h1 = super::client::ClientRequest::new(self.authority, self.path, [0; 16])
            .with_protocols(self.protocols)
            .with_headers(self.headers);
        as_h1.origin = self.origin;
        as_h1.extensions = self.extensions;
        as_h1.validate()?;
        if !super::fields::is_token_str(self.scheme) {
            return Err(BuildError::InvalidField);
        }
        check_h2_extras(self.headers)
    }

    /// The fields to send: the five pseudo-headers, `sec-websocket-version: 13`, then
    /// `origin`, one `sec-websocket-protocol` per offered subprotocol (repeated fields
    /// form one list, RFC 9110 §5.3), `sec-websocket-extensions` and your fields.
    /// Call [`validate`](Self::validate) first.
    pub fn fields(&self) -> RequestFields<'a> {
        RequestFields {
            req: *self,
            step: 0,
        }
    }

    /// Check the server's response fields (RFC 8441 §5 and RFC 6455 §4.1): a 2xx
    /// `:status` accepts, with at most one offered subprotocol and only offered
    /// extensions; any other status is [`ConnectReply::Rejected`].
    pub fn check_response<I>(&self, fields: I) -> Result<ConnectReply<'a>, HandshakeError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
        I::IntoIter: Clone,
    {
        let fields = fields.into_iter();
        let mut st = field_values(fields.clone(), ":status");
        let status = match (st.next(), st.next()) {
            (Some(&[a, b, c]), None) if [a, b, c].iter().all(u8::is_ascii_digit) => [a, b, c]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
            _ => return Err(HandshakeError::MalformedPseudoHeaders),
        };
        if !(200..=299).contains(&status) {
            return Ok(ConnectReply::Rejected { status });
        }
        let offered = || Extensions::new(self.extensions.map(str::as_bytes).into_iter());
        super::check_extensions(field_values(fields.clone(), "sec-websocket-extensions"))?;
        for e in Extensions::new(field_values(fields.clone(), "sec-websocket-extensions")) {
            if !offered().any(|o| o.name().eq_ignore_ascii_case(e.name())) {
                return Err(HandshakeError::UnofferedExtension);
            }
        }
        let mut sel = ListItems::new(field_values(fields, "sec-websocket-protocol"));
        let protocol = match (sel.next(), sel.next()) {
            (None, _) => None,
            (Some(p), None) => {
                let found = self.protocols.iter().find(|o| o.as_bytes() == p);
                Some(*found.ok_or(HandshakeError::UnofferedProtocol)?)
            }
            _ => return Err(HandshakeError::UnofferedProtocol),
        };
        Ok(ConnectReply::Accepted { protocol })
    }
}

/// The outcome of [`ConnectRequest::check_response`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReply<'a> {
    /// 2xx: run the connection (client role) over the stream's DATA.
    Accepted {
        /// The subprotocol the server selected, if any.
        protocol: Option<&'a str>,
    },
    /// Any other status.
    Rejected {
        /// The `:status` value.
        status: u16,
    },
}

/// Iterator over a [`ConnectRequest`]'s fields.
#[derive(Debug, Clone)]
pub struct RequestFields<'a> {
    req: ConnectRequest<'a>,
    step: usize,
}

impl<'a> Iterator for RequestFields<'a> {
    type Item = (&'a str, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let r = &self.req;
        let np = r.protocols.len();
        loop {
            let step = self.step;
            self.step += 1;
            let item = match step {
                0 => Some((":method", &b"CONNECT"[..])),
                1 => Some((":protocol", &b"websocket"[..])),
                2 => Some((":scheme", r.scheme.as_bytes())),
                3 => Some((":path", r.path.as_bytes())),
                4 => Some((":authority", r.authority.as_bytes())),
                5 => Some(("sec-websocket-version", &b"13"[..])),
                6 => r.origin.map(|o| ("origin", o.as_bytes())),
                7 => r
                    .extensions
                    .map(|e| ("sec-websocket-extensions", e.as_bytes())),
                n if n - 8 < np => r
                    .protocols
                    .get(n - 8)
                    .map(|p| ("sec-websocket-protocol", p.as_bytes())),
                n => {
                    let (name, value) = r.headers.get(n - 8 - np)?;
                    Some((*name, value.as_bytes()))
                }
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: [(&str, &[u8]); 6] = [
        (":method", b"CONNECT"),
        (":protocol", b"websocket"),
        (":scheme", b"https"),
        (":path", b"/chat?x=1"),
        (":authority", b"example.com"),
        ("sec-websocket-version", b"13"),
    ];

    fn with(extra: (&'static str, &'static [u8]), at: usize) -> Result<(), HandshakeError> {
        let mut f: [(&str, &[u8]); 7] = [("", b""); 7];
        let (a, b) = f.split_at_mut(at);
        a.copy_from_slice(&OK[..at]);
        b[0] = extra;
        b[1..].copy_from_slice(&OK[at..]);
        parse_request(f.iter().copied()).map(|_| ())
    }

    #[test]
    fn valid_and_getters() {
        let c = parse_request(OK.iter().copied()).unwrap();
        assert_eq!(
            (c.scheme(), c.authority(), c.path()),
            ("https", "example.com", "/chat?x=1")
        );
        assert_eq!(c.origin(), None);
        assert_eq!(with(("origin", b"https://a"), 6), Ok(()));
    }

    #[test]
    fn malformed_lists() {
        use HandshakeError::*;
        assert_eq!(with((":status", b"200"), 0), Err(MalformedPseudoHeaders));
        assert_eq!(with((":path", b"/x"), 1), Err(MalformedPseudoHeaders));
        assert_eq!(with(("origin", b"x"), 1), Err(MalformedPseudoHeaders)); // pseudo after regular
        assert_eq!(with(("Origin", b"x"), 6), Err(MalformedHeader));
        assert_eq!(with(("x", b"a\r\nb"), 6), Err(MalformedHeader));
        assert_eq!(
            with(("connection", b"upgrade"), 6),
            Err(ConnectionSpecificField)
        );
        assert_eq!(
            with(("sec-websocket-version", b"13"), 6),
            Err(MissingVersion)
        );
        assert_eq!(
            with(("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="), 6),
            Ok(())
        );
        let mut f = OK;
        f[0].1 = b"GET";
        assert_eq!(
            parse_request(f.iter().copied()).err(),
            Some(MalformedPseudoHeaders)
        );
        f = OK;
        f[1].1 = b"webtransport";
        assert_eq!(parse_request(f.iter().copied()).err(), Some(MissingUpgrade));
        f = OK;
        f[5].1 = b"8";
        assert_eq!(
            parse_request(f.iter().copied()).err(),
            Some(UnsupportedVersion)
        );
        f = OK;
        f[3].1 = b"";
        assert_eq!(
            parse_request(f.iter().copied()).err(),
            Some(MalformedPseudoHeaders)
        );
    }

    #[test]
    fn client_response_checks() {
        let req = ConnectRequest::new("a", "/")
            .with_protocols(&["x"])
            .with_extensions("permessage-deflate");
        assert!(req.validate().is_ok());
        assert_eq!(
            ConnectRequest::new("a", "/")
                .with_headers(&[("X-A", "1")])
                .validate(),
            Err(BuildError::InvalidField)
        );
        let ok: [(&str, &[u8]); 2] = [
            (":status", b"200"),
            ("sec-websocket-extensions", b"permessage-deflate"),
        ];
        assert_eq!(
            req.check_response(ok.iter().copied()),
            Ok(ConnectReply::Accepted { protocol: None })
        );
        let bad: [(&str, &[u8]); 2] = [(":status", b"200"), ("sec-websocket-protocol", b"y")];
        assert_eq!(
            req.check_response(bad.iter().copied()),
            Err(HandshakeError::UnofferedProtocol)
        );
        let bad: [(&str, &[u8]); 2] = [(":status", b"200"), ("sec-websocket-extensions", b"foo")];
        assert_eq!(
            req.check_response(bad.iter().copied()),
            Err(HandshakeError::UnofferedExtension)
        );
        let no: [(&str, &[u8]); 1] = [(":status", b"403")];
        assert_eq!(
            req.check_response(no.iter().copied()),
            Ok(ConnectReply::Rejected { status: 403 })
        );
        let junk: [(&str, &[u8]); 1] = [(":status", b"2000")];
        assert_eq!(
            req.check_response(junk.iter().copied()),
            Err(HandshakeError::MalformedPseudoHeaders)
        );
        let mut n = 0;
        for (name, _) in req.with_origin("o").with_headers(&[("x-a", "1")]).fields() {
            n += 1;
            assert!(!name.is_empty());
        }
        assert_eq!(n, 10);
    }
}
