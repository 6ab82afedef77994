//! Opening handshake tests: RFC 6455 vectors, refusals, resumability, real-world
//! requests, the client side, linear scanning, and property tests.

use proptest::prelude::*;
use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::handshake::server::{self, AcceptOptions, Incoming, Rejection, Request, RequestParser};
use wsmachine::handshake::{accept_key, BuildError, HandshakeError};

/// RFC 6455 §1.3, the example client handshake.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

/// RFC 6455 §1.3, the example server handshake.
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

/// Shaped like Chromium 124's request (Origin and permessage-deflate offer).
const CHROMIUM: &[u8] = b"GET /ws?room=1 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// Shaped like the Python `websockets` library's request.
const PYTHON_WEBSOCKETS: &[u8] = b"GET /echo HTTP/1.1\r\n\
Host: 127.0.0.1:8765\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: 8y8HWBbnGvLrSBvFdz9rpQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
User-Agent: Python/3.12 websockets/13.1\r\n\
\r\n";

fn upgrade(buf: &[u8]) -> Incoming<'_> {
    match RequestParser::new().parse(buf) {
        Ok(Request::Upgrade(i)) => i,
        other => panic!("expected an upgrade, got {other:?}"),
    }
}

fn refuse(buf: &[u8]) -> Rejection {
    match RequestParser::new().parse(buf) {
        Err(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn written(len: usize, write: impl FnOnce(&mut [u8]) -> Result<usize, BuildError>) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let n = write(&mut out).expect("exact-size buffer");
    assert_eq!(n, len);
    out
}

fn rejection_bytes(r: &Rejection) -> Vec<u8> {
    written(r.response_len(), |b| r.write_response(b))
}

/// Replace one header line of the RFC request (or drop it with an empty replacement).
fn rfc_with(line: &str, replacement: &str) -> Vec<u8> {
    let s = std::str::from_utf8(RFC_REQUEST).unwrap();
    let out = s.replace(
        &format!("{line}\r\n"),
        &if replacement.is_empty() { String::new() } else { format!("{replacement}\r\n") },
    );
    assert_ne!(out, s, "line {line:?} not found");
    out.into_bytes()
}

#[test]
fn rfc_6455_example_key() {
    assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(&accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="), b"HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

#[test]
fn rfc_6455_example_handshake_byte_exact() {
    let i = upgrade(RFC_REQUEST);
    assert_eq!(i.method(), "GET");
    assert_eq!(i.path(), "/chat");
    assert_eq!(i.host(), "server.example.com");
    assert_eq!(i.origin(), Some("http://example.com"));
    assert_eq!(i.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(i.version(), 13);
    assert_eq!(i.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    assert_eq!(i.extensions().count(), 0);
    assert_eq!(i.head_len(), RFC_REQUEST.len());
    assert_eq!(i.headers().count(), 7);
    assert_eq!(i.header("SEC-WEBSOCKET-KEY"), Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..]));
    let a = server::accept(&i, &AcceptOptions::new().with_protocol("chat")).unwrap();
    let bytes = written(a.response_len(), |b| a.write_response(b));
    assert_eq!(bytes, RFC_RESPONSE);
    // Too small a buffer reports the exact size needed.
    let mut small = [0u8; 20];
    assert_eq!(a.write_response(&mut small), Err(BuildError::BufferTooSmall { needed: RFC_RESPONSE.len() }));
}

#[test]
fn accept_refuses_unoffered_protocol_and_splitting() {
    let i = upgrade(RFC_REQUEST);
    assert_eq!(i.accept(&AcceptOptions::new().with_protocol("mqtt")).err(), Some(BuildError::InvalidProtocol));
    assert_eq!(
        i.accept(&AcceptOptions::new().with_headers(&[("Set-Cookie", "a=b\r\nX-Evil: 1")])).err(),
        Some(BuildError::InvalidField)
    );
    assert_eq!(
        i.accept(&AcceptOptions::new().with_headers(&[("Bad Name", "x")])).err(),
        Some(BuildError::InvalidField)
    );
    assert_eq!(
        i.accept(&AcceptOptions::new().with_headers(&[("Upgrade", "h2c")])).err(),
        Some(BuildError::InvalidField)
    );
    // Not offered at all:
    assert_eq!(
        i.accept(&AcceptOptions::new().with_extensions("permessage-deflate")).err(),
        Some(BuildError::InvalidExtensions)
    );
    let c = upgrade(CHROMIUM);
    let a = c
        .accept(
            &AcceptOptions::new()
                .with_extensions("permessage-deflate; client_max_window_bits=15")
                .with_headers(&[("Set-Cookie", "s=1")]),
        )
        .unwrap();
    let bytes = written(a.response_len(), |b| a.write_response(b));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n"));
    assert!(text.ends_with(
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\nSet-Cookie: s=1\r\n\r\n"
    ));
    assert_eq!(
        c.accept(&AcceptOptions::new().with_extensions("permessage-deflate; x\r\ny")).err(),
        Some(BuildError::InvalidField)
    );
}

#[test]
fn refusal_missing_key() {
    let r = refuse(&rfc_with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", ""));
    assert_eq!((r.status(), r.error()), (400, HandshakeError::MissingKey));
    let body = "Sec-WebSocket-Key missing or repeated\n";
    let expected = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(String::from_utf8(rejection_bytes(&r)).unwrap(), expected);
}

#[test]
fn refusal_bad_key() {
    for bad in
        ["AAAAAAAAAAAAAAAAAAAAAAAA", "dGhlIHNhbXBsZSBub25jZQ", "not base64 at all!!!!!!!", "AAAAAAAAAAAAAAAAAAAAAA=="]
    {
        let req = rfc_with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", &format!("Sec-WebSocket-Key: {bad}"));
        let want = if bad == "AAAAAAAAAAAAAAAAAAAAAA==" { None } else { Some(HandshakeError::InvalidKey) };
        match RequestParser::new().parse(&req) {
            Err(r) => assert_eq!((r.status(), Some(r.error())), (400, want), "{bad}"),
            Ok(_) => assert_eq!(want, None, "{bad}"),
        }
    }
    // Repeated key (RFC 6455 §11.3.1).
    let req = rfc_with("Origin: http://example.com", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(refuse(&req).error(), HandshakeError::MissingKey);
}

#[test]
fn refusal_missing_host() {
    let r = refuse(&rfc_with("Host: server.example.com", ""));
    assert_eq!((r.status(), r.error()), (400, HandshakeError::InvalidHost));
    let r = refuse(&rfc_with("Origin: http://example.com", "Host: other"));
    assert_eq!(r.error(), HandshakeError::InvalidHost);
}

#[test]
fn refusal_post_is_405_with_allow() {
    let r = refuse(&rfc_with("GET /chat HTTP/1.1", "POST /chat HTTP/1.1"));
    assert_eq!((r.status(), r.error()), (405, HandshakeError::MethodNotAllowed));
    let text = String::from_utf8(rejection_bytes(&r)).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n\r\n"));
}

#[test]
fn refusal_version_8_is_426() {
    let r = refuse(&rfc_with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"));
    assert_eq!((r.status(), r.error()), (426, HandshakeError::UnsupportedVersion));
    let text = String::from_utf8(rejection_bytes(&r)).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
        "{text}"
    );
    let r = refuse(&rfc_with("Sec-WebSocket-Version: 13", ""));
    assert_eq!((r.status(), r.error()), (400, HandshakeError::MissingVersion));
}

#[test]
fn refusal_over_max_is_431() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'a', server::DEFAULT_MAX_HEAD_LEN));
    let r = refuse(&req);
    assert_eq!((r.status(), r.error()), (431, HandshakeError::HeadTooLarge));
    assert!(rejection_bytes(&r).starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    // Exactly at the limit still parses.
    let mut p = RequestParser::with_max_head_len(RFC_REQUEST.len());
    assert!(matches!(p.parse(RFC_REQUEST), Ok(Request::Upgrade(_))));
    let mut p = RequestParser::with_max_head_len(RFC_REQUEST.len() - 1);
    assert_eq!(p.parse(RFC_REQUEST).unwrap_err().status(), 431);
}

#[test]
fn refusal_http_1_0_and_syntax() {
    let r = refuse(&rfc_with("GET /chat HTTP/1.1", "GET /chat HTTP/1.0"));
    assert_eq!((r.status(), r.error()), (400, HandshakeError::HttpVersionTooOld));
    let r = refuse(&rfc_with("GET /chat HTTP/1.1", "GET /chat HTTP/2.0"));
    assert_eq!(r.status(), 505);
    assert!(rejection_bytes(&r).starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    for (bad, err) in [
        (rfc_with("Origin: http://example.com", "Origin http://example.com"), HandshakeError::MalformedHeader),
        (rfc_with("Origin: http://example.com", "Origin : x"), HandshakeError::MalformedHeader),
        (rfc_with("Origin: http://example.com", "Origin: a\r\n  folded"), HandshakeError::ObsFold),
        (rfc_with("Origin: http://example.com", "Origin: a\nX: b"), HandshakeError::BareLf),
        (rfc_with("GET /chat HTTP/1.1", "GET /chat"), HandshakeError::MalformedStartLine),
        (rfc_with("GET /chat HTTP/1.1", "GET /chat HTTP/1.1 x"), HandshakeError::MalformedStartLine),
        (rfc_with("Origin: http://example.com", "Origin: a\0b"), HandshakeError::MalformedHeader),
        (
            rfc_with("Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Protocol: chat, super chat"),
            HandshakeError::MalformedProtocols,
        ),
        (
            rfc_with("Origin: http://example.com", "Sec-WebSocket-Extensions: x; y=\"a b\""),
            HandshakeError::MalformedExtensions,
        ),
        (rfc_with("Connection: Upgrade", "Connection: keep-alive"), HandshakeError::MissingConnectionUpgrade),
        (rfc_with("Origin: http://example.com", "Transfer-Encoding: chunked"), HandshakeError::UnexpectedBody),
    ] {
        let r = refuse(&bad);
        assert_eq!((r.status(), r.error()), (400, err), "{:?}", String::from_utf8_lossy(&bad));
    }
}

#[test]
fn missing_upgrade_is_plain_http() {
    let req = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n";
    match RequestParser::new().parse(req) {
        Ok(Request::Plain(r)) => {
            assert_eq!((r.method(), r.path(), r.http_minor_version()), ("GET", "/index.html?x=1", 1));
            assert_eq!(r.header("accept"), Some(&b"text/html"[..]));
            assert_eq!(r.head_len(), req.len());
            assert_eq!(r.headers().count(), 2);
        }
        other => panic!("{other:?}"),
    }
    // An upgrade to another protocol, or HTTP/1.0 without upgrade, is plain too.
    let h2c = rfc_with("Upgrade: websocket", "Upgrade: h2c");
    assert!(matches!(RequestParser::new().parse(&h2c), Ok(Request::Plain(_))));
    let old = b"POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc";
    match RequestParser::new().parse(old) {
        Ok(Request::Plain(r)) => assert_eq!(&old[r.head_len()..], b"abc"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn origin_policy_is_one_call() {
    let i = upgrade(CHROMIUM);
    assert_eq!(i.origin(), Some("http://localhost:8080"));
    let r = server::Response::forbidden();
    assert_eq!(r.status(), 403);
    let bytes = written(r.response_len(), |b| r.write_response(b));
    assert_eq!(bytes, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let r = server::reject(302, "", &[("Location", "/login")], b"").unwrap();
    let bytes = written(r.response_len(), |b| r.write_response(b));
    assert_eq!(bytes, b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

#[test]
fn byte_at_a_time_equals_whole() {
    for req in [RFC_REQUEST, CHROMIUM, PYTHON_WEBSOCKETS] {
        let whole = format!("{:?}", RequestParser::new().parse(req));
        let mut p = RequestParser::new();
        for n in 0..req.len() {
            assert!(matches!(p.parse(&req[..n]), Ok(Request::Partial)), "at {n}");
        }
        assert_eq!(format!("{:?}", p.parse(req)), whole);
        assert!(p.scanned() <= req.len());
    }
}

#[test]
fn frame_after_head_is_left_for_the_connection() {
    // A masked text frame "Hi" sent together with the request.
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2];
    let mut buf = RFC_REQUEST.to_vec();
    buf.extend_from_slice(&frame);
    let i = upgrade(&buf);
    assert_eq!(&buf[i.head_len()..], &frame);
    // Also when the head arrives in pieces and the frame with the last piece.
    let mut p = RequestParser::new();
    assert!(matches!(p.parse(&buf[..RFC_REQUEST.len() - 1]), Ok(Request::Partial)));
    match p.parse(&buf) {
        Ok(Request::Upgrade(i)) => assert_eq!(&buf[i.head_len()..], &frame),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tokens_are_case_insensitive_lists_across_repeated_headers() {
    let req = b"GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nConnection: keep-alive\r\n\
        CONNECTION: foo, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: a,b\r\nSEC-WEBSOCKET-PROTOCOL:   c  \r\n\
        Sec-WebSocket-Extensions: x-one; p=1\r\nSec-WebSocket-Extensions: x-two, x-three; q; r=\"v\"\r\n\
        sec-websocket-version: 13\r\n\r\n";
    let i = upgrade(req);
    assert_eq!(i.protocols().collect::<Vec<_>>(), ["a", "b", "c"]);
    let names: Vec<_> = i.extensions().map(|e| e.name()).collect();
    assert_eq!(names, ["x-one", "x-two", "x-three"]);
    let three = i.extensions().nth(2).unwrap();
    assert_eq!(three.params().collect::<Vec<_>>(), [("q", None), ("r", Some("v"))]);
    let lower = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    upgrade(lower);
}

#[test]
fn real_world_requests() {
    let c = upgrade(CHROMIUM);
    assert_eq!(c.path(), "/ws?room=1");
    assert_eq!(c.host(), "localhost:8080");
    let pmd: Vec<_> = c.extensions().collect();
    assert_eq!(pmd.len(), 1);
    assert_eq!(pmd[0].name(), "permessage-deflate");
    assert_eq!(pmd[0].param("client_max_window_bits"), Some(None));
    assert_eq!(c.header("user-agent").map(|v| v.len()), Some(101));

    let p = upgrade(PYTHON_WEBSOCKETS);
    assert_eq!((p.path(), p.host(), p.origin()), ("/echo", "127.0.0.1:8765", None));
    let a = p.accept(&AcceptOptions::new()).unwrap();
    assert_eq!(a.accept_key(), &accept_key(b"8y8HWBbnGvLrSBvFdz9rpQ=="));
}

// ---- client ----

fn sample_client() -> ClientRequest<'static> {
    ClientRequest::new("server.example.com", "/chat", *b"the sample nonce")
        .with_origin("http://example.com")
        .with_protocols(&["chat", "superchat"])
}

fn client_parse(resp: &[u8]) -> Result<Reply<'_>, HandshakeError> {
    sample_client().response_parser().parse(resp)
}

fn resp_with(line: &str, replacement: &str) -> Vec<u8> {
    let s = std::str::from_utf8(RFC_RESPONSE).unwrap();
    let out = s.replace(
        &format!("{line}\r\n"),
        &if replacement.is_empty() { String::new() } else { format!("{replacement}\r\n") },
    );
    assert_ne!(out, s);
    out.into_bytes()
}

#[test]
fn client_request_is_rfc_example() {
    let req = sample_client();
    let bytes = written(req.request_len().unwrap(), |b| req.write_request(b));
    assert_eq!(bytes, RFC_REQUEST);
}

#[test]
fn client_accepts_correct_101_and_keeps_trailing_bytes() {
    let mut buf = RFC_RESPONSE.to_vec();
    buf.extend_from_slice(b"\x81\x02Hi");
    match client_parse(&buf) {
        Ok(Reply::Accepted(a)) => {
            assert_eq!(a.protocol(), Some("chat"));
            assert_eq!(a.extensions().count(), 0);
            assert_eq!(&buf[a.head_len()..], b"\x81\x02Hi");
            assert_eq!(a.response().status(), 101);
        }
        other => panic!("{other:?}"),
    }
    let mut p = sample_client().response_parser();
    for n in 0..RFC_RESPONSE.len() {
        assert!(matches!(p.parse(&RFC_RESPONSE[..n]), Ok(Reply::Partial)));
    }
    assert!(matches!(p.parse(RFC_RESPONSE), Ok(Reply::Accepted(_))));
}

#[test]
fn client_fails_invalid_101() {
    let bad_accept = resp_with(
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=",
    );
    assert_eq!(client_parse(&bad_accept).err(), Some(HandshakeError::AcceptMismatch));
    let no_accept = resp_with("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "");
    assert_eq!(client_parse(&no_accept).err(), Some(HandshakeError::MissingAccept));
    let no_upgrade = resp_with("Upgrade: websocket", "");
    assert_eq!(client_parse(&no_upgrade).err(), Some(HandshakeError::MissingUpgrade));
    let no_conn = resp_with("Connection: Upgrade", "Connection: close");
    assert_eq!(client_parse(&no_conn).err(), Some(HandshakeError::MissingConnectionUpgrade));
    let proto = resp_with("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: mqtt");
    assert_eq!(client_parse(&proto).err(), Some(HandshakeError::UnofferedProtocol));
    let ext = resp_with("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: permessage-deflate");
    assert_eq!(client_parse(&ext).err(), Some(HandshakeError::UnofferedExtension));
    // Offered extension is fine, and visible with its parameters.
    let client = sample_client().with_extensions("permessage-deflate; client_max_window_bits");
    let ok = resp_with(
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
    );
    match client.response_parser().parse(&ok) {
        Ok(Reply::Accepted(a)) => {
            let e = a.extensions().next().unwrap();
            assert_eq!(e.param("server_no_context_takeover"), Some(None));
            assert_eq!(a.protocol(), None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_non_101_is_rejected_cleanly() {
    for (status, head, header, value) in [
        (
            302u16,
            "HTTP/1.1 302 Found\r\nLocation: https://example.com/new\r\nContent-Length: 0\r\n\r\n",
            "location",
            "https://example.com/new",
        ),
        (
            401,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ws\"\r\nContent-Length: 4\r\n\r\n",
            "www-authenticate",
            "Basic realm=\"ws\"",
        ),
        (503, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 4\r\n\r\n", "retry-after", "30"),
    ] {
        let mut buf = head.as_bytes().to_vec();
        buf.extend_from_slice(b"busy");
        match client_parse(&buf) {
            Ok(Reply::Rejected(r)) => {
                assert_eq!(r.status(), status);
                assert!(!r.reason().is_empty());
                assert_eq!(r.header(header), Some(value.as_bytes()));
                assert_eq!(r.head_len(), head.len());
            }
            other => panic!("{other:?}"),
        }
    }
}

// ---- linear scanning ----

fn huge_head(total: usize) -> Vec<u8> {
    let mut v = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        .to_vec();
    let line = format!("X-Filler: {}\r\n", "a".repeat(100));
    while v.len() + line.len() + 2 <= total {
        v.extend_from_slice(line.as_bytes());
    }
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn one_mib_head_is_scanned_linearly() {
    let head = huge_head(1 << 20);
    let mut p = RequestParser::with_max_head_len(2 << 20);
    let mut filled = 0;
    let mut calls = 0;
    let result = loop {
        filled = (filled + 1024).min(head.len());
        calls += 1;
        match p.parse(&head[..filled]) {
            Ok(Request::Partial) => assert!(filled < head.len()),
            other => break other,
        }
    };
    assert!(calls > 1000);
    match result {
        Ok(Request::Upgrade(i)) => {
            assert_eq!(i.head_len(), head.len());
            assert_eq!(i.headers().count(), i.headers().filter(|(n, _)| *n == "X-Filler").count() + 5);
        }
        other => panic!("{other:?}"),
    }
    assert!(p.scanned() <= 2 * head.len(), "scanned {} for {}", p.scanned(), head.len());
}

#[test]
fn one_mib_head_with_default_max_is_431_early() {
    let head = huge_head(1 << 20);
    let mut p = RequestParser::new();
    let mut filled = 0;
    let err = loop {
        filled = (filled + 1024).min(head.len());
        match p.parse(&head[..filled]) {
            Ok(Request::Partial) => {}
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.status(), 431);
    assert_eq!(filled, server::DEFAULT_MAX_HEAD_LEN);
    assert!(p.scanned() <= 2 * filled);
}

// ---- properties ----

fn outcome(r: Result<Request<'_>, Rejection>) -> String {
    format!("{r:?}")
}

proptest! {
    #[test]
    fn server_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut p = RequestParser::with_max_head_len(512);
        if let Ok(Request::Upgrade(i)) = p.parse(&bytes) {
            let _ = (i.protocols().count(), i.extensions().flat_map(|e| e.params()).count(), i.origin());
            let _ = i.accept(&AcceptOptions::new());
        }
        if let Err(r) = p.parse(&bytes) {
            let _ = rejection_bytes(&r);
        }
    }

    #[test]
    fn server_parser_never_panics_on_near_valid(cut in 0..RFC_REQUEST.len(), byte in any::<u8>(), pos in 0..RFC_REQUEST.len()) {
        let mut v = RFC_REQUEST.to_vec();
        v[pos] = byte;
        v.truncate(cut.max(pos + 1));
        v.extend_from_slice(b"\r\n\r\n");
        let _ = RequestParser::new().parse(&v);
    }

    #[test]
    fn client_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let client = sample_client().with_extensions("permessage-deflate");
        let mut p = client.response_parser().with_max_head_len(512);
        if let Ok(Reply::Accepted(a)) = p.parse(&bytes) {
            let _ = a.extensions().count();
        }
        let mut v = RFC_RESPONSE[..RFC_RESPONSE.len() - 2].to_vec();
        v.extend_from_slice(&bytes);
        let _ = client.response_parser().parse(&v);
    }

    #[test]
    fn any_split_gives_the_same_result(
        which in 0usize..3,
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
    ) {
        let req = [RFC_REQUEST, CHROMIUM, PYTHON_WEBSOCKETS][which];
        let whole = outcome(RequestParser::new().parse(req));
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(req.len())).collect();
        points.sort_unstable();
        let mut p = RequestParser::new();
        for n in points {
            prop_assert_eq!(outcome(p.parse(&req[..n])), "Ok(Partial)");
        }
        prop_assert_eq!(outcome(p.parse(req)), whole);
    }

    #[test]
    fn round_trip(
        nonce in any::<[u8; 16]>(),
        path in "/[a-z0-9/?=&]{0,20}",
        host in "[a-z]{1,10}(:[0-9]{1,5})?",
        protocols in proptest::collection::btree_set("[a-z][a-z0-9.]{0,8}", 0..4),
        pick in any::<proptest::sample::Index>(),
        deflate in any::<bool>(),
    ) {
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let mut client = ClientRequest::new(&host, &path, nonce).with_protocols(&protocols);
        if deflate {
            client = client.with_extensions("permessage-deflate; client_max_window_bits");
        }
        let request = written(client.request_len().unwrap(), |b| client.write_request(b));
        let incoming = upgrade(&request);
        prop_assert_eq!(incoming.path(), path.as_str());
        prop_assert_eq!(incoming.host(), host.as_str());
        prop_assert_eq!(incoming.protocols().collect::<Vec<_>>(), protocols.clone());
        let chosen = if protocols.is_empty() { None } else { Some(protocols[pick.index(protocols.len())]) };
        let mut opts = AcceptOptions::new();
        if let Some(c) = chosen {
            opts = opts.with_protocol(c);
        }
        if deflate {
            opts = opts.with_extensions("permessage-deflate");
        }
        let accept = incoming.accept(&opts).unwrap();
        let mut response = written(accept.response_len(), |b| accept.write_response(b));
        response.extend_from_slice(&[0x82, 0x00]);
        match client.response_parser().parse(&response) {
            Ok(Reply::Accepted(a)) => {
                prop_assert_eq!(a.protocol(), chosen);
                prop_assert_eq!(a.extensions().count(), usize::from(deflate));
                prop_assert_eq!(&response[a.head_len()..], &[0x82, 0x00]);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
