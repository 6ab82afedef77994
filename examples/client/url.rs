//! `ws://` and `wss://` URLs as RFC 6455 §3 defines them:
//!
//! ```text
//! ws-URI  = "ws:"  "//" host [ ":" port ] path [ "?" query ]
//! wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]
//! ```
//!
//! No fragment (a `#` must be written `%23`), no user information, a host always. The scheme
//! is case-insensitive (RFC 3986 §3.1); the port defaults to 80 (ws) or 443 (wss).

/// A parsed WebSocket URL.
#[derive(Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: TLS.
    pub secure: bool,
    /// The host as written, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// The request target: the path (at least `/`) and the query (RFC 6455 §3, "resource name").
    pub resource: String,
}

impl WsUrl {
    pub fn parse(url: &str) -> Result<WsUrl, String> {
        // URIs are ASCII without spaces or controls (RFC 3986 §2).
        if let Some(c) = url.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!("character {c:?} must be percent-encoded"));
        }
        if url.contains('#') {
            return Err("fragment identifiers are not allowed in WebSocket URLs (RFC 6455 §3); write # as %23".into());
        }
        let (scheme, rest) = url.split_once(':').ok_or("not a URL: no scheme")?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "ws" => false,
            "wss" => true,
            _ => return Err(format!("scheme {scheme:?} is not ws or wss")),
        };
        let rest = rest.strip_prefix("//").ok_or("ws: and wss: URLs need // and a host")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user information is not allowed in WebSocket URLs (RFC 6455 §3)".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            // IP-literal (RFC 3986 §3.2.2).
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or("junk after ]")?),
                };
                (host, port)
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err("no host in the URL".into());
        }
        let default = if secure { 443 } else { 80 };
        let port = match port {
            // An empty port means the default one (RFC 3986 §6.2.3).
            None | Some("") => default,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("port {p} out of range")),
            },
            Some(p) => return Err(format!("port {p:?} is not a number")),
        };
        let resource = match resource {
            "" => "/".to_string(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_string(),
        };
        Ok(WsUrl { secure, host: host.to_string(), port, resource })
    }

    /// The `Host` header: the port only when not the default (RFC 6455 §4.1, item 4).
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == if self.secure { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WsUrl;

    fn ok(url: &str) -> (bool, String, u16, String, String) {
        let u = WsUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let header = u.host_header();
        (u.secure, u.host, u.port, u.resource, header)
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn accepts_ws_and_wss() {
        assert_eq!(ok("ws://example.com"), (false, s("example.com"), 80, s("/"), s("example.com")));
        assert_eq!(ok("wss://example.com"), (true, s("example.com"), 443, s("/"), s("example.com")));
        assert_eq!(ok("WSS://h:443/a/b?x=1&y"), (true, s("h"), 443, s("/a/b?x=1&y"), s("h")));
        assert_eq!(ok("ws://127.0.0.1:9001/chat"), (false, s("127.0.0.1"), 9001, s("/chat"), s("127.0.0.1:9001")));
        assert_eq!(ok("ws://h?q=%23"), (false, s("h"), 80, s("/?q=%23"), s("h")));
        assert_eq!(ok("ws://h:/"), (false, s("h"), 80, s("/"), s("h")));
        assert_eq!(ok("wss://[::1]:8443/p"), (true, s("::1"), 8443, s("/p"), s("[::1]:8443")));
        assert_eq!(ok("ws://[::1]"), (false, s("::1"), 80, s("/"), s("[::1]")));
    }

    #[test]
    fn rejects_what_rfc6455_section_3_rejects() {
        for bad in [
            "ws://h/#frag",
            "ws://h/p?q#",
            "wss://h#",
            "http://h/",
            "https://h/",
            "wsx://h/",
            "ws:h/path",
            "ws:/h",
            "//h/",
            "h:80/",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "wss://?x",
            "ws://[]:80/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://user@h/",
            "ws://h:0/",
            "ws://h:65536/",
            "ws://h:8o/",
            "ws://h:-1/",
            "ws://h/a b",
            "ws://h/é",
            "",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad:?} was accepted: {:?}", WsUrl::parse(bad));
        }
    }
}
