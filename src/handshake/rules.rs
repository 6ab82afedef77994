//! Validation rules shared by the HTTP/1.1 parsers, the `http` conversions and the
//! HTTP/2 extended CONNECT: one place for each RFC 6455 §4 requirement.

use super::head::{self, Fields};
use super::{decode_key, has_token, BuildError, Extensions, HandshakeError};

/// RFC 6455 §4.2.1 items 2–6 (plus body and list syntax), over any header source.
/// Returns `(host, key)`. The caller has checked the method, version and `Upgrade`.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn check_upgrade_fields<'a, F: Fields<'a>>(f: F) -> Result<(&'a str, &'a str), HandshakeError> {
    let mut fields = UpgradeFields::default();
    for (name, value) in f.all() {
        fields.add(name, value);
    }
    fields.check()
}

/// The first value of a field that must appear once, and whether it appeared again.
#[derive(Debug, Clone, Copy, Default)]
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

/// What the RFC 6455 §4.2.1 rules need from a request's fields, gathered in one pass (the
/// HTTP/1.1 parser does it while validating each line): a lookup per rule was a pass each and
/// most of a handshake's cost. [`check`](Self::check) then judges the rules in a fixed order, so
/// a request with several faults always gets the same answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpgradeFields<'a> {
    /// `Upgrade` includes the token `websocket` (RFC 6455 §4.2.1 item 3).
    pub(crate) upgrade_websocket: bool,
    connection_upgrade: bool,
    host: Single<'a>,
    version: Single<'a>,
    key: Single<'a>,
    body: bool,
    protocols_ok: bool,
    extensions_ok: bool,
}

impl Default for UpgradeFields<'_> {
    fn default() -> Self {
        UpgradeFields {
            upgrade_websocket: false,
            connection_upgrade: false,
            host: Single::default(),
            version: Single::default(),
            key: Single::default(),
            body: false,
            protocols_ok: true,
            extensions_ok: true,
        }
    }
}

impl<'a> UpgradeFields<'a> {
    /// Takes one field (name as sent, value trimmed).
    pub(crate) fn add(&mut self, name: &str, value: &'a [u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            self.host.add(value);
        } else if is("upgrade") {
            self.upgrade_websocket = self.upgrade_websocket || has_token(core::iter::once(value), "websocket");
        } else if is("connection") {
            self.connection_upgrade = self.connection_upgrade || has_token(core::iter::once(value), "upgrade");
        } else if is("sec-websocket-version") {
            self.version.add(value);
        } else if is("sec-websocket-key") {
            self.key.add(value);
        } else if is("transfer-encoding") {
            self.body = true;
        } else if is("content-length") {
            self.body = self.body || value != b"0";
        } else if is("sec-websocket-protocol") {
            self.protocols_ok = self.protocols_ok && super::fields::check_protocols(core::iter::once(value)).is_ok();
        } else if is("sec-websocket-extensions") {
            self.extensions_ok = self.extensions_ok && super::check_extensions(core::iter::once(value)).is_ok();
        }
    }

    /// Judges RFC 6455 §4.2.1 items 2 and 4–6, the body and the list syntax, in that order.
    /// Returns `(host, key)`.
    pub(crate) fn check(&self) -> Result<(&'a str, &'a str), HandshakeError> {
        // RFC 6455 §4.2.1 item 2 and RFC 9112 §3.2: exactly one, non-empty Host.
        let host = match self.host.get() {
            Ok(Some(h)) if !h.is_empty() => head::to_str(h).ok_or(HandshakeError::InvalidHost)?,
            _ => return Err(HandshakeError::InvalidHost),
        };
        // RFC 6455 §4.2.1 item 4: Connection includes the token "Upgrade" (any case).
        if !self.connection_upgrade {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // RFC 6455 §4.2.1 item 6 / §4.4: version 13, else 426 advertising 13.
        match self.version.get() {
            Ok(Some(b"13")) => {}
            Ok(Some(_)) => return Err(HandshakeError::UnsupportedVersion),
            _ => return Err(HandshakeError::MissingVersion),
        }
        // RFC 6455 §4.2.1 item 5, §11.3.1: one key, base64 of exactly 16 bytes.
        let key = match self.key.get() {
            Ok(Some(k)) => k,
            _ => return Err(HandshakeError::MissingKey),
        };
        if decode_key(key).is_none() {
            return Err(HandshakeError::InvalidKey);
        }
        let key = head::to_str(key).ok_or(HandshakeError::InvalidKey)?;
        // RFC 9112 §6.3: a body would sit where the first frames go; refuse it.
        if self.body {
            return Err(HandshakeError::UnexpectedBody);
        }
        if !self.protocols_ok {
            return Err(HandshakeError::MalformedProtocols);
        }
        if !self.extensions_ok {
            return Err(HandshakeError::MalformedExtensions);
        }
        Ok((host, key))
    }
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
