//! Comma-separated header lists, subprotocol lists and the extension grammar of
//! RFC 6455 §9.1, as allocation-free iterators over borrowed header values.

use super::head::{is_tchar, is_token, trim_ows};
use super::HandshakeError;

/// Split `s` at the first `sep` that is not inside a quoted string (RFC 9110 §5.6.4).
fn split_unquoted(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quote && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quote = !in_quote;
        } else if b == sep && !in_quote {
            return (
                s.get(..i).unwrap_or(&[]),
                Some(s.get(i + 1..).unwrap_or(&[])),
            );
        }
    }
    (s, None)
}

/// The elements of a comma-separated list spread over any number of header values.
///
/// RFC 9110 §5.6.1: elements are separated by commas with optional whitespace, empty
/// elements are ignored, and repeated fields concatenate into one list (§5.3). Commas
/// inside quoted strings do not split. Items are yielded trimmed, in order.
///
/// ```
/// use wsmachine::handshake::ListItems;
/// let values = [&b"keep-alive, Upgrade"[..], b" ,close"];
/// let items: Vec<&[u8]> = ListItems::new(values.into_iter()).collect();
/// assert_eq!(items, [&b"keep-alive"[..], b"Upgrade", b"close"]);
/// ```
#[derive(Debug, Clone)]
pub struct ListItems<'a, I> {
    values: I,
    current: Option<&'a [u8]>,
}

impl<'a, I: Iterator<Item = &'a [u8]>> ListItems<'a, I> {
    /// Iterate the list elements of `values` (each one header field value).
    pub fn new(values: I) -> Self {
        ListItems {
            values,
            current: None,
        }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for ListItems<'a, I> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let cur = match self.current.take() {
                Some(c) => c,
                None => self.values.next()?,
            };
            let (item, rest) = split_unquoted(cur, b',');
            self.current = rest;
            let item = trim_ows(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Does the list in `values` contain `token`, compared ASCII case-insensitively?
///
/// This is the check RFC 6455 §4.2.1 asks for on `Connection` (token `Upgrade`) and
/// `Upgrade` (token `websocket`), across repeated fields and comma lists.
///
/// ```
/// use wsmachine::handshake::has_token;
/// let values = [&b"keep-alive"[..], b"Upgrade"];
/// assert!(has_token(values.into_iter(), "upgrade"));
/// assert!(!has_token([&b"upgraded"[..]].into_iter(), "upgrade"));
/// ```
pub fn has_token<'a>(values: impl Iterator<Item = &'a [u8]>, token: &str) -> bool {
    ListItems::new(values).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Offered or selected subprotocols (`Sec-WebSocket-Protocol`, RFC 6455 §4.1 / §11.3.4),
/// in the order sent. Items that are not tokens are skipped (parsers reject them first).
#[derive(Debug, Clone)]
pub struct Protocols<'a, I> {
    items: ListItems<'a, I>,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Protocols<'a, I> {
    /// Iterate the subprotocols listed in `values`.
    pub fn new(values: I) -> Self {
        Protocols {
            items: ListItems::new(values),
        }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for Protocols<'a, I> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.items
            .by_ref()
            .filter(|i| is_token(i))
            .find_map(|i| core::str::from_utf8(i).ok())
    }
}

/// RFC 6455 §4.1: subprotocol values are tokens (U+0021..U+007E minus separators).
pub(crate) fn check_protocols<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<(), HandshakeError> {
    if ListItems::new(values).all(is_token) {
        Ok(())
    } else {
        Err(HandshakeError::MalformedProtocols)
    }
}

/// One extension from a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1):
/// `extension-token *( ";" extension-param )`.
///
/// ```
/// use wsmachine::handshake::Extensions;
/// let v = [&b"permessage-deflate; client_max_window_bits, x-foo; a=\"1\""[..]];
/// let mut exts = Extensions::new(v.into_iter());
/// let pmd = exts.next().unwrap();
/// assert_eq!(pmd.name(), "permessage-deflate");
/// assert_eq!(pmd.params().collect::<Vec<_>>(), [("client_max_window_bits", None)]);
/// let foo = exts.next().unwrap();
/// assert_eq!(foo.params().collect::<Vec<_>>(), [("a", Some("1"))]);
/// assert!(exts.next().is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    name: &'a str,
    params: &'a [u8],
}

impl<'a> Extension<'a> {
    /// The extension token, e.g. `permessage-deflate`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The parameters in the order sent: `(name, value)`; `value` is `None` for a bare
    /// parameter and is unquoted when sent as a quoted string.
    pub fn params(&self) -> Params<'a> {
        Params {
            rest: Some(self.params),
        }
    }

    /// The value of the first parameter called `name` (case-insensitive):
    /// `None` if absent, `Some(None)` if present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Parameters of one [`Extension`], in order.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: Option<&'a [u8]>,
}

/// Parse one `name [= value]` parameter; `None` if it breaks the §9.1 grammar.
fn parse_param(p: &[u8]) -> Option<(&str, Option<&str>)> {
    let (name, value) = match memchr::memchr(b'=', p) {
        Some(i) => (trim_ows(p.get(..i)?), Some(trim_ows(p.get(i + 1..)?))),
        None => (trim_ows(p), None),
    };
    if !is_token(name) {
        return None;
    }
    let name = core::str::from_utf8(name).ok()?;
    let value = match value {
        None => None,
        Some(v) => {
            // RFC 6455 §9.1: a value is a token, or a quoted-string whose unescaped
            // content is a token. We accept quoted values only without backslash
            // escapes (nobody sends them and it keeps values borrowable).
            let inner = match v {
                [b'"', inner @ .., b'"'] => inner,
                _ => v,
            };
            if !is_token(inner) {
                return None;
            }
            Some(core::str::from_utf8(inner).ok()?)
        }
    };
    Some((name, value))
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (p, rest) = split_unquoted(self.rest?, b';');
            self.rest = rest;
            if let Some(kv) = parse_param(p) {
                return Some(kv);
            }
        }
    }
}

/// The extensions of `Sec-WebSocket-Extensions` fields in order, across repeated fields
/// and comma lists (RFC 6455 §9.1). Malformed entries are skipped; the request and
/// response parsers reject them before an application sees this iterator.
#[derive(Debug, Clone)]
pub struct Extensions<'a, I> {
    items: ListItems<'a, I>,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Extensions<'a, I> {
    /// Iterate the extensions listed in `values` (each one header field value).
    pub fn new(values: I) -> Self {
        Extensions {
            items: ListItems::new(values),
        }
    }
}

fn parse_extension(item: &[u8]) -> Option<Extension<'_>> {
    let (name, params) = split_unquoted(item, b';');
    let name = trim_ows(name);
    if !is_token(name) {
        return None;
    }
    Some(Extension {
        name: core::str::from_utf8(name).ok()?,
        params: params.unwrap_or(&[]),
    })
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for Extensions<'a, I> {
    type Item = Extension<'a>;
    fn next(&mut self) -> Option<Extension<'a>> {
        self.items.by_ref().find_map(parse_extension)
    }
}

/// Check a list of extension offers or selections against the RFC 6455 §9.1 grammar.
///
/// ```
/// use wsmachine::handshake::check_extensions;
/// assert!(check_extensions([&b"permessage-deflate; client_max_window_bits=15"[..]].into_iter()).is_ok());
/// assert!(check_extensions([&b"permessage-deflate; =1"[..]].into_iter()).is_err());
/// ```
pub fn check_extensions<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<(), HandshakeError> {
    for item in ListItems::new(values) {
        let (name, mut rest) = split_unquoted(item, b';');
        if !is_token(trim_ows(name)) {
            return Err(HandshakeError::MalformedExtensions);
        }
        while let Some(r) = rest {
            let (p, next) = split_unquoted(r, b';');
            if parse_param(p).is_none() {
                return Err(HandshakeError::MalformedExtensions);
            }
            rest = next;
        }
    }
    Ok(())
}

/// Is every byte of `s` a `tchar`? (Used to validate caller-supplied tokens.)
pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn exts<'a>(v: &'a [&'static [u8]]) -> impl Iterator<Item = Extension<'static>> + 'a {
        Extensions::new(v.iter().copied())
    }

    #[test]
    fn list_items_quotes_and_empties() {
        let v = [&b" a ,, \"b,c\" ,"[..], b"", b"d"];
        let got: Vec<&[u8]> = ListItems::new(v.into_iter()).collect();
        assert_eq!(got, [&b"a"[..], b"\"b,c\"", b"d"]);
    }

    #[test]
    fn extension_offer_order_and_params() {
        let v: [&[u8]; 2] = [
            b"permessage-deflate; client_max_window_bits; server_no_context_takeover",
            b"permessage-deflate ; client_max_window_bits = \"10\" ;server_max_window_bits=12",
        ];
        let all: Vec<_> = exts(&v).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].params().collect::<Vec<_>>(),
            [
                ("client_max_window_bits", None),
                ("server_no_context_takeover", None)
            ]
        );
        assert_eq!(
            all[1].params().collect::<Vec<_>>(),
            [
                ("client_max_window_bits", Some("10")),
                ("server_max_window_bits", Some("12"))
            ]
        );
        assert_eq!(all[1].param("SERVER_max_window_bits"), Some(Some("12")));
        assert_eq!(all[0].param("server_no_context_takeover"), Some(None));
        assert_eq!(all[0].param("nope"), None);
        assert!(check_extensions(v.into_iter()).is_ok());
    }

    #[test]
    fn malformed_extensions() {
        for bad in [
            &b"a; b=\"x y\""[..],
            b"a; b=\"unterminated",
            b"a; =1",
            b"a b",
            b"; x",
            b"a; b=\"1\\2\"",
            b"a; b=",
        ] {
            assert_eq!(
                check_extensions([bad].into_iter()),
                Err(HandshakeError::MalformedExtensions),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        // Skipped by the infallible iterator, never a panic.
        assert_eq!(
            exts(&[b"; x, ok"]).map(|e| e.name()).collect::<Vec<_>>(),
            ["ok"]
        );
    }

    #[test]
    fn protocols_in_order() {
        let v = [&b"chat, superchat"[..], b"v2.json"];
        let got: Vec<&str> = Protocols::new(v.into_iter()).collect();
        assert_eq!(got, ["chat", "superchat", "v2.json"]);
        assert!(check_protocols(v.into_iter()).is_ok());
        assert!(check_protocols([&b"a b"[..]].into_iter()).is_err());
    }
}
