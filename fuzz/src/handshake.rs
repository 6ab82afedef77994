//! `handshake_server` / `handshake_client`: arbitrary head bytes fed to the resumable parsers the
//! way a server or client does (one growing buffer, `parse(&buf[..filled])` after every read),
//! compared with one parse of the whole buffer.
//!
//! Server input: `[mode, s1 .. sN, request ..]`; client input: `[nonce(16), mode, s1 .. sN,
//! response ..]`. `N = mode & 7` read lengths (the last read takes the rest); `mode & 8` sets a
//! small head limit `32 * (1 + (mode >> 4))` bytes (else the default 16 KiB).

use wsmachine::deflate::DeflateConfig;
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser, DEFAULT_MAX_HEAD_LEN};
use wsmachine::handshake::{accept_key, BuildError, HandshakeError};

/// What one parse found, copied out of the buffer so that two runs can be compared.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Partial,
    Upgrade { head_len: usize, host: String, path: String, key: String },
    Plain { head_len: usize, method: String, path: String },
    Accepted { head_len: usize, protocol: Option<String> },
    Rejected { head_len: usize, status: u16 },
    Error { error: HandshakeError, status: u16 },
}

/// The read boundaries: cumulative lengths (clamped to `len`), then `len` itself.
fn ends(lens: &[u8], len: usize) -> Vec<usize> {
    let mut at = 0;
    let mut v: Vec<usize> = lens
        .iter()
        .map(|&l| {
            at = (at + l as usize).min(len);
            at
        })
        .collect();
    v.push(len);
    v
}

fn mode_split(mode: u8, rest: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    let (lens, bytes) = rest.split_at_checked((mode & 7) as usize)?;
    let max = if mode & 8 != 0 { 32 * (1 + (mode >> 4) as usize) } else { DEFAULT_MAX_HEAD_LEN };
    Some((lens, bytes, max))
}

/// Feeds growing prefixes to `parse` until it stops answering `Partial`, checking `scanned`;
/// then checks that one fresh parse of the whole buffer finds the same thing.
fn split_invariance<P>(
    lens: &[u8],
    bytes: &[u8],
    new: impl Fn() -> P,
    mut parse: impl FnMut(&mut P, &[u8]) -> (Found, usize),
) {
    let mut parser = new();
    let mut split = Found::Partial;
    for end in ends(lens, bytes.len()) {
        let (found, scanned) = parse(&mut parser, &bytes[..end]);
        // The documented bound: scanning resumes where it stopped, so it is linear.
        assert!(scanned <= end, "scanned {scanned} bytes of {end} fed");
        split = found;
        if split != Found::Partial {
            break;
        }
    }
    let (whole, _) = parse(&mut new(), bytes);
    assert_eq!(split, whole, "reads {lens:?} changed the outcome");
}

/// A head found at `head_len` lies inside the buffer and ends with the empty line.
fn check_head(buf: &[u8], head_len: usize) {
    assert!(head_len <= buf.len(), "head_len {head_len} > {}", buf.len());
    assert!(buf[..head_len].ends_with(b"\r\n\r\n"), "head does not end in CRLF CRLF");
}

/// Decodes a 24-character base64 key into its 16-byte nonce, if the encoding is canonical.
fn nonce_of(key: &str) -> Option<[u8; 16]> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let k = key.as_bytes();
    if k.len() != 24 || &k[22..] != b"==" {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for &c in &k[..22] {
        bits = bits << 6 | ALPHABET.iter().position(|&a| a == c)? as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // Canonical: the 4 leftover bits are zero, so re-encoding gives the same key back.
    (bits == 0).then(|| out.try_into().unwrap())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One server-side parse and the checks on what it returned.
fn server_parse(parser: &mut RequestParser, buf: &[u8]) -> (Found, usize) {
    let found = match parser.parse(buf) {
        Ok(Request::Partial) => Found::Partial,
        Ok(Request::Plain(req)) => {
            check_head(buf, req.head_len());
            Found::Plain { head_len: req.head_len(), method: req.method().into(), path: req.path().into() }
        }
        Ok(Request::Upgrade(inc)) => {
            check_head(buf, inc.head_len());
            assert_eq!((inc.method(), inc.version()), ("GET", 13));
            let expected = accept_key(inc.key().as_bytes());
            let accept = inc.accept(&AcceptOptions::new()).expect("a valid upgrade can always be accepted");
            assert_eq!(accept.accept_key(), &expected);
            let resp = accept.response_vec();
            assert_eq!(accept.response_len(), resp.len(), "response_len");
            let mut out = vec![0u8; resp.len()];
            assert_eq!(accept.write_response(&mut out), Ok(resp.len()));
            assert_eq!(out, resp);
            let mut short = vec![0u8; resp.len() - 1];
            assert_eq!(accept.write_response(&mut short), Err(BuildError::BufferTooSmall { needed: resp.len() }));
            assert!(resp.starts_with(b"HTTP/1.1 101 ") && resp.ends_with(b"\r\n\r\n"));
            let line = [&b"\r\nSec-WebSocket-Accept: "[..], &expected, b"\r\n"].concat();
            assert!(contains(&resp, &line), "no accept line in {:?}", String::from_utf8_lossy(&resp));
            // The client's own parser takes the 101 (when the key's nonce can be recovered).
            if let Some(nonce) = nonce_of(inc.key()) {
                let client = ClientRequest::new(inc.host(), inc.path(), nonce);
                assert_eq!(client.expected_accept(), expected);
                match client.response_parser().parse(&resp) {
                    Ok(Reply::Accepted(a)) => assert_eq!((a.head_len(), a.protocol()), (resp.len(), None)),
                    other => panic!("client refused our 101: {other:?}"),
                }
            }
            // Selecting an offered subprotocol, and the deflate negotiation's answer, are valid.
            if let Some(p) = inc.protocols().next() {
                let a = inc.accept(&AcceptOptions::new().with_protocol(p)).expect("an offered protocol");
                let line = format!("\r\nSec-WebSocket-Protocol: {p}\r\n");
                assert!(contains(&a.response_vec(), line.as_bytes()));
            }
            if let Some(params) = DeflateConfig::new().negotiate(inc.extensions()) {
                let value = params.response();
                let a = inc.accept(&AcceptOptions::new().with_extensions(&value)).expect("negotiated deflate");
                assert!(contains(&a.response_vec(), format!("\r\nSec-WebSocket-Extensions: {value}\r\n").as_bytes()));
            }
            Found::Upgrade {
                head_len: inc.head_len(),
                host: inc.host().into(),
                path: inc.path().into(),
                key: inc.key().into(),
            }
        }
        Ok(_) => unreachable!("unknown Request variant"),
        Err(rej) => {
            let status = rej.status();
            assert!([400, 405, 426, 431, 505].contains(&status), "status {status}");
            let resp = rej.response_vec();
            assert_eq!(rej.response_len(), resp.len(), "rejection response_len");
            assert!(resp.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
            // The client's parser reads it back as the same status, body after the head.
            match ClientRequest::new("h", "/", [0; 16]).response_parser().parse(&resp) {
                Ok(Reply::Rejected(r)) => {
                    assert_eq!(r.status(), status);
                    let body = rej.error().as_str().len() + 1;
                    assert_eq!(r.head_len() + body, resp.len());
                }
                other => panic!("client misread our {status}: {other:?}"),
            }
            Found::Error { error: rej.error(), status }
        }
    };
    (found, parser.scanned())
}

pub fn server(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((lens, bytes, max)) = mode_split(mode, rest) else { return };
    split_invariance(lens, bytes, || RequestParser::with_max_head_len(max), server_parse);
}

pub const PROTOCOLS: &[&str] = &["chat", "superchat"];
pub const EXTENSIONS: &str = "permessage-deflate; client_max_window_bits";

pub fn client(data: &[u8]) {
    let Some((nonce, rest)) = data.split_first_chunk::<16>() else { return };
    let Some((&mode, rest)) = rest.split_first() else { return };
    let Some((lens, bytes, max)) = mode_split(mode, rest) else { return };
    let req = ClientRequest::new("server.example.com", "/chat", *nonce)
        .with_origin("http://example.com")
        .with_protocols(PROTOCOLS)
        .with_extensions(EXTENSIONS);
    let expected = req.expected_accept();
    // The request this client writes is one the server parser takes, with the same key.
    let wire = req.request_vec().expect("fixed request is valid");
    assert_eq!(req.request_len(), Ok(wire.len()));
    match RequestParser::new().parse(&wire) {
        Ok(Request::Upgrade(inc)) => {
            assert_eq!((inc.key().as_bytes(), inc.head_len()), (&req.key()[..], wire.len()));
            assert_eq!(accept_key(inc.key().as_bytes()), expected);
        }
        other => panic!("server refused our request: {other:?}"),
    }
    let parse = |p: &mut wsmachine::handshake::client::ResponseParser<'_>, buf: &[u8]| {
        let found = match p.parse(buf) {
            Ok(Reply::Partial) => Found::Partial,
            Ok(Reply::Accepted(a)) => {
                check_head(buf, a.head_len());
                assert_eq!(a.response().status(), 101);
                assert_eq!(a.response().header("sec-websocket-accept"), Some(&expected[..]));
                // Independently of the parser: some header line really carries the accept value.
                let head = &buf[..a.head_len()];
                let found = head.split(|&b| b == b'\n').any(|line| {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
                    let value = line[colon + 1..].trim_ascii();
                    line[..colon].eq_ignore_ascii_case(b"sec-websocket-accept") && value == expected
                });
                assert!(found, "accepted without a Sec-WebSocket-Accept line: {:?}", String::from_utf8_lossy(head));
                if let Some(p) = a.protocol() {
                    assert!(PROTOCOLS.contains(&p), "unoffered protocol {p:?}");
                }
                for e in a.extensions() {
                    assert!(e.name().eq_ignore_ascii_case("permessage-deflate"), "unoffered {}", e.name());
                }
                let _ = DeflateConfig::new().negotiated(a.extensions());
                Found::Accepted { head_len: a.head_len(), protocol: a.protocol().map(Into::into) }
            }
            Ok(Reply::Rejected(r)) => {
                check_head(buf, r.head_len());
                assert_ne!(r.status(), 101, "a 101 must be validated, not rejected");
                Found::Rejected { head_len: r.head_len(), status: r.status() }
            }
            Ok(_) => unreachable!("unknown Reply variant"),
            Err(error) => Found::Error { error, status: 0 },
        };
        (found, p.scanned())
    };
    split_invariance(lens, bytes, || req.response_parser().with_max_head_len(max), parse);
}
