//! Conversions for users of the `http` crate (hyper, axum, ...): validate an
//! upgrade from an `http::Request` and build the `101` as an `http::Response<()>`; on
//! the client side, build an `http::Request<()>` and check the `http::Response`.
//!
//! The rules are the same as for the byte-level parsers in [`server`](super::server)
//! and [`client`](super::client). After the upgrade, hand the upgraded I/O (hyper's
//! `Upgraded`, including any bytes it has buffered) to the connection.
//!
//! ```
//! use wsmachine::handshake::{client::ClientRequest, http as wshttp, server::AcceptOptions};
//!
//! let client = ClientRequest::new("example.com", "/ws", *b"0123456789abcdef").with_protocols(&["chat"]);
//! let req = client.to_http().unwrap(); // send with your HTTP/1.1 client
//!
//! let upgrade = wshttp::parse_request(&req).unwrap();
//! let resp = upgrade.accept(&AcceptOptions::new().with_protocol("chat")).unwrap();
//! assert_eq!(resp.status(), 101);
//!
//! match wshttp::check_response(&client, &resp).unwrap() {
//!     wshttp::Reply::Accepted { protocol } => assert_eq!(protocol, Some("chat")),
//!     other => panic!("{other:?}"),
//! }
//! ```

use ::http::header::{HeaderMap, HeaderValue};
use ::http::{Method, Request, Response, StatusCode, Version};
use std::vec::Vec;

use super::client::{check_response_fields, ClientRequest};
use super::head::{trim_ows, Fields};
use super::rules::{check_extras, check_selection, check_upgrade_fields};
use super::server::{AcceptOptions, Rejection};
use super::{accept_key, has_token, BuildError, Extensions, HandshakeError, Protocols};

/// The values of one header in a `HeaderMap`, trimmed.
#[derive(Debug)]
pub struct MapValues<'a> {
    map: &'a HeaderMap,
    name: &'static str,
    /// How many values `values` has yielded (to clone it: `ValueIter` is not `Clone`).
    pos: usize,
    values: http::header::ValueIter<'a, http::HeaderValue>,
}

impl<'a> MapValues<'a> {
    fn new(map: &'a HeaderMap, name: &'static str) -> Self {
        MapValues { map, name, pos: 0, values: map.get_all(name).iter() }
    }
}

impl Clone for MapValues<'_> {
    /// Walks the field's values up to the same place: linear, and rare (one walk per clone),
    /// while iteration itself stays linear in the number of repeated fields.
    fn clone(&self) -> Self {
        let mut values = self.map.get_all(self.name).iter();
        for _ in 0..self.pos {
            values.next();
        }
        MapValues { values, ..*self }
    }
}

impl<'a> Iterator for MapValues<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let v = self.values.next()?;
        self.pos += 1;
        Some(trim_ows(v.as_bytes()))
    }
}

#[derive(Clone, Copy)]
struct MapFields<'a>(&'a HeaderMap);

type MapEntry<'a> = (&'a http::HeaderName, &'a http::HeaderValue);

impl<'a> Fields<'a> for MapFields<'a> {
    type Values = MapValues<'a>;
    type All = core::iter::Map<http::header::Iter<'a, http::HeaderValue>, fn(MapEntry<'a>) -> (&'a str, &'a [u8])>;
    fn values(self, name: &'static str) -> MapValues<'a> {
        MapValues::new(self.0, name)
    }
    fn all(self) -> Self::All {
        self.0.iter().map(|(name, value)| (name.as_str(), trim_ows(value.as_bytes())))
    }
}

/// A validated upgrade request (RFC 6455 §4.2.1) borrowed from an `http::Request`.
#[derive(Debug, Clone, Copy)]
pub struct Upgrade<'a> {
    headers: &'a HeaderMap,
    host: &'a str,
    key: &'a str,
}

/// Validate an HTTP/1.1 upgrade request: GET (405), HTTP/1.1 (400; for HTTP/2 and
/// HTTP/3 use [`h2`](super::h2)), `Upgrade: websocket` (400 here, since the request
/// was routed as an upgrade), then the same field checks as the byte-level server parser.
pub fn parse_request<B>(req: &Request<B>) -> Result<Upgrade<'_>, Rejection> {
    match req.version() {
        Version::HTTP_11 => {}
        Version::HTTP_09 | Version::HTTP_10 => return Err(HandshakeError::HttpVersionTooOld.into()),
        _ => return Err(HandshakeError::HttpVersionUnsupported.into()),
    }
    if req.method() != Method::GET {
        return Err(HandshakeError::MethodNotAllowed.into());
    }
    let f = MapFields(req.headers());
    if !has_token(f.values("upgrade"), "websocket") {
        return Err(HandshakeError::MissingUpgrade.into());
    }
    let (host, key) = check_upgrade_fields(f)?;
    Ok(Upgrade { headers: req.headers(), host, key })
}

impl<'a> Upgrade<'a> {
    /// `Host`.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// `Sec-WebSocket-Key`.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// `Origin`, if sent.
    pub fn origin(&self) -> Option<&'a str> {
        self.headers.get("origin").and_then(|v| v.to_str().ok())
    }

    /// Offered subprotocols in order.
    pub fn protocols(&self) -> Protocols<'a, MapValues<'a>> {
        Protocols::new(MapFields(self.headers).values("sec-websocket-protocol"))
    }

    /// Offered extensions in order.
    pub fn extensions(&self) -> Extensions<'a, MapValues<'a>> {
        Extensions::new(MapFields(self.headers).values("sec-websocket-extensions"))
    }

    /// Build the `101 Switching Protocols` response (RFC 6455 §4.2.2), with the same
    /// checks as [`server::accept`](super::server::accept).
    pub fn accept(&self, opts: &AcceptOptions<'_>) -> Result<Response<()>, BuildError> {
        check_selection(opts.protocol, opts.extensions, self.protocols(), self.extensions())?;
        check_extras(opts.headers)?;
        let mut b = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", &accept_key(self.key.as_bytes())[..]);
        if let Some(p) = opts.protocol {
            b = b.header("sec-websocket-protocol", p);
        }
        if let Some(e) = opts.extensions {
            b = b.header("sec-websocket-extensions", e);
        }
        for (n, v) in opts.headers {
            b = b.header(*n, *v);
        }
        b.body(()).map_err(|_| BuildError::InvalidField)
    }
}

impl Rejection {
    /// The refusal as an `http::Response` with a plain-text body.
    pub fn to_http(&self) -> Response<Vec<u8>> {
        let body = [self.error().as_str(), "\n"].concat().into_bytes();
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let h = r.headers_mut();
        for (n, v) in self.extra_headers() {
            h.append(*n, HeaderValue::from_static(v));
        }
        h.insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert("connection", HeaderValue::from_static("close"));
        r
    }
}

impl ClientRequest<'_> {
    /// The request as an `http::Request<()>` (HTTP/1.1, origin-form URI = the path,
    /// `Host` as a header), after [`validate`](ClientRequest::validate).
    pub fn to_http(&self) -> Result<Request<()>, BuildError> {
        self.validate()?;
        let key = self.key();
        let mut b = Request::builder()
            .method(Method::GET)
            .uri(self.path)
            .version(Version::HTTP_11)
            .header("host", self.host)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", &key[..])
            .header("sec-websocket-version", "13");
        if let Some(o) = self.origin {
            b = b.header("origin", o);
        }
        if !self.protocols.is_empty() {
            b = b.header("sec-websocket-protocol", self.protocols.join(", "));
        }
        if let Some(e) = self.extensions {
            b = b.header("sec-websocket-extensions", e);
        }
        for (n, v) in self.headers {
            b = b.header(*n, *v);
        }
        b.body(()).map_err(|_| BuildError::InvalidField)
    }
}

/// The outcome of [`check_response`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A valid 101: the connection is open.
    Accepted {
        /// The subprotocol the server selected, if any.
        protocol: Option<&'a str>,
    },
    /// Any status other than 101 (redirect, 401, 503, ...): inspect the response.
    Rejected {
        /// The status code.
        status: u16,
    },
}

/// Check an `http::Response` to `req` (RFC 6455 §4.1); a non-101 is [`Reply::Rejected`].
pub fn check_response<'r, B>(req: &ClientRequest<'_>, resp: &'r Response<B>) -> Result<Reply<'r>, HandshakeError> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Reply::Rejected { status: resp.status().as_u16() });
    }
    let protocol =
        check_response_fields(MapFields(resp.headers()), &req.expected_accept(), req.protocols, req.extensions)?;
    Ok(Reply::Accepted { protocol })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_bad_responses() {
        let client = ClientRequest::new("h", "/", [7; 16]);
        let mut req = client.to_http().unwrap();
        *req.method_mut() = Method::POST;
        let r = parse_request(&req).unwrap_err();
        assert_eq!(r.status(), 405);
        assert_eq!(r.to_http().headers()["allow"], "GET");
        *req.method_mut() = Method::GET;
        req.headers_mut().insert("sec-websocket-version", HeaderValue::from_static("8"));
        let r = parse_request(&req).unwrap_err().to_http();
        assert_eq!(r.status(), 426);
        assert_eq!(r.headers()["sec-websocket-version"], "13");

        let good = client.to_http().unwrap();
        let mut resp = parse_request(&good).unwrap().accept(&AcceptOptions::new()).unwrap();
        assert_eq!(check_response(&client, &resp), Ok(Reply::Accepted { protocol: None }));
        resp.headers_mut().insert("sec-websocket-accept", HeaderValue::from_static("x"));
        assert_eq!(check_response(&client, &resp), Err(HandshakeError::AcceptMismatch));
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        assert_eq!(check_response(&client, &resp), Ok(Reply::Rejected { status: 401 }));
    }

    #[test]
    fn repeated_fields_iterate_in_order_and_clone_at_their_place() {
        let mut map = HeaderMap::new();
        for v in [" a ", "b", "c\t"] {
            map.append("x-test", HeaderValue::from_str(v).unwrap());
        }
        map.append("other", HeaderValue::from_static("z"));
        let mut values = MapFields(&map).values("x-test");
        assert_eq!(values.next(), Some(&b"a"[..]));
        let rest = values.clone();
        assert_eq!(values.collect::<Vec<_>>(), [&b"b"[..], &b"c"[..]]);
        assert_eq!(rest.collect::<Vec<_>>(), [&b"b"[..], &b"c"[..]]);

        // Many repeated extension fields: every value is seen once, in order.
        let client = ClientRequest::new("h", "/", [7; 16]);
        let mut req = client.to_http().unwrap();
        for _ in 0..5000 {
            req.headers_mut().append("sec-websocket-extensions", HeaderValue::from_static("x-one"));
        }
        let incoming = parse_request(&req).unwrap();
        assert_eq!(incoming.extensions().count(), 5000);
    }
}
