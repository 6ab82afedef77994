//! Validation rules shared by the HTTP/1.1 parsers, the `http` conversions and the
//! HTTP/2 extended CONNECT: one place for each RFC 6455 §4 requirement.

use super::head::{self, Fields};
use super::{decode_key, has_token, BuildError, Extensions, HandshakeError};

/// RFC 6455 §4.2.1 items 2–6 (plus body and list syntax), over any header source.
/// Returns `(host, key)`. The caller has checked the method, version and `Upgrade`.
///
/// One pass over the fields gathers what every rule needs (a lookup per rule was a pass each,
/// most of a handshake's cost); the rules are then judged in a fixed order, so a request with
/// several faults always gets the same answer.
pub(crate) fn check_upgrade_fields<'a, F: Fields<'a>>(f: F) -> Result<(&'a str, &'a str), HandshakeError> {
    /// The first value of a field that must appear once, and whether it appeared again.
    #[derive(Default)]
    struct Single<'a> {
        value: Option<&'a [u8]>,
        repeated: bool,
    }
    impl<'a> Single<'a> {
        fn add(&mut self, v: &'a [u8]) {
            self.repeated |= self.value.is_some();
            self.value.get_or_insert(v);
        }
        fn get(&self) -> Result<Option<&'a [u8]>, ()> {
            if self.repeated {
                Err(())
            } else {
                Ok(self.value)
            }
        }
    }
    let (mut host, mut version, mut key) = (Single::default(), Single::default(), Single::default());
    let (mut connection_upgrade, mut body, mut protocols_ok, mut extensions_ok) = (false, false, true, true);
    for (name, value) in f.all() {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            host.add(value);
        } else if is("connection") {
            connection_upgrade = connection_upgrade || has_token(core::iter::once(value), "upgrade");
        } else if is("sec-websocket-version") {
            version.add(value);
        } else if is("sec-websocket-key") {
            key.add(value);
        } else if is("transfer-encoding") {
            body = true;
        } else if is("content-length") {
            body = body || value != b"0";
        } else if is("sec-websocket-protocol") {
            protocols_ok = protocols_ok && super::fields::check_protocols(core::iter::once(value)).is_ok();
        } else if is("sec-websocket-extensions") {
            extensions_ok = extensions_ok && super::check_extensions(core::iter::once(value)).is_ok();
        }
    }
    // RFC 6455 §4.2.1 item 2 and RFC 9112 §3.2: exactly one, non-empty Host.
    let host = match host.get() {
        Ok(Some(h)) if !h.is_empty() => core::str::from_utf8(h).map_err(|_| HandshakeError::InvalidHost)?,
        _ => return Err(HandshakeError::InvalidHost),
    };
    // RFC 6455 §4.2.1 item 4: Connection includes the token "Upgrade" (any case).
    if !connection_upgrade {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // RFC 6455 §4.2.1 item 6 / §4.4: version 13, else 426 advertising 13.
    match version.get() {
        Ok(Some(b"13")) => {}
        Ok(Some(_)) => return Err(HandshakeError::UnsupportedVersion),
        _ => return Err(HandshakeError::MissingVersion),
    }
    // RFC 6455 §4.2.1 item 5, §11.3.1: one key, base64 of exactly 16 bytes.
    let key = match key.get() {
        Ok(Some(k)) => k,
        _ => return Err(HandshakeError::MissingKey),
    };
    if decode_key(key).is_none() {
        return Err(HandshakeError::InvalidKey);
    }
    let key = core::str::from_utf8(key).map_err(|_| HandshakeError::InvalidKey)?;
    // RFC 9112 §6.3: a body would sit where the first frames go; refuse it.
    if body {
        return Err(HandshakeError::UnexpectedBody);
    }
    if !protocols_ok {
        return Err(HandshakeError::MalformedProtocols);
    }
    if !extensions_ok {
        return Err(HandshakeError::MalformedExtensions);
    }
    Ok((host, key))
}

/// Header names this crate writes itself; callers may not add them as extras.
fn is_reserved(name: &str) -> bool {
    [
        "upgrade",
        "connection",
        "content-length",
        "transfer-encoding",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "sec-websocket-key",
        "sec-websocket-version",
    ]
    .iter()
    .any(|r| r.eq_ignore_ascii_case(name))
}

pub(crate) fn check_extras(headers: &[(&str, &str)]) -> Result<(), BuildError> {
    for (n, v) in headers {
        head::check_field(n, v)?;
        if is_reserved(n) {
            return Err(BuildError::InvalidField);
        }
    }
    Ok(())
}

/// Check a server's choice of subprotocol and extensions against an offer.
pub(crate) fn check_selection<'o>(
    protocol: Option<&str>,
    extensions: Option<&str>,
    mut offered_protocols: impl Iterator<Item = &'o str>,
    offered_extensions: impl Iterator<Item = super::Extension<'o>> + Clone,
) -> Result<(), BuildError> {
    // RFC 6455 §4.2.2 item 5.4: the selected subprotocol must be one the client offered.
    if let Some(p) = protocol {
        if !offered_protocols.any(|o| o == p) {
            return Err(BuildError::InvalidProtocol);
        }
    }
    if let Some(e) = extensions {
        head::check_field("x", e)?;
        // RFC 6455 §9.1: the response lists extensions from the offer only.
        super::check_extensions(core::iter::once(e.as_bytes())).map_err(|_| BuildError::InvalidExtensions)?;
        for sel in Extensions::new(core::iter::once(e.as_bytes())) {
            if !offered_extensions.clone().any(|o| o.name().eq_ignore_ascii_case(sel.name())) {
                return Err(BuildError::InvalidExtensions);
            }
        }
    }
    Ok(())
}
