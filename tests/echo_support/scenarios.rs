//! Echo checks that every echo server example must pass, whatever drives it (`echo_server`'s
//! mio loop in `tests/echo_tcp.rs`, tokio in `tests/tokio_echo.rs`).

use std::io::Write;
use std::net::SocketAddr;

use wsmachine::{MessageKind, OwnedEvent};

use super::Client;

/// `len` bytes of xorshift noise.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Text (empty, non-ASCII, compressible) and binary (empty, every byte value, 100 KB) come back
/// byte for byte, with permessage-deflate and without.
pub fn echoes_text_and_binary(addr: SocketAddr) {
    for deflate in [false, true] {
        let mut c = Client::connect(addr, deflate);
        assert_eq!(c.extensions.is_some(), deflate, "negotiated {:?}", c.extensions);
        for text in ["hello", "", "h\u{e9}llo \u{65e5}\u{672c} \u{1F389}", &"compressible ".repeat(500)] {
            c.send(MessageKind::Text, text.as_bytes());
            assert_eq!(c.next(), Some(OwnedEvent::Text(text.into())));
        }
        for bin in [vec![], vec![0u8, 255, 1, 254], pattern(100_000, 7)] {
            c.send(MessageKind::Binary, &bin);
            assert_eq!(c.next(), Some(OwnedEvent::Binary(bin)));
        }
    }
}

/// Messages larger than the server keeps between messages (64 KiB) are written out from where
/// they were assembled, after their header (`Connection::take_message`, vectored writes);
/// everything sent after them must still come back after them.
pub fn large_echoes_keep_their_place(addr: SocketAddr) {
    for deflate in [false, true] {
        let mut c = Client::connect(addr, deflate);
        let big = pattern(300_000, 5);
        let text: String = std::iter::repeat_n("h\u{e9}llo \u{1F389} ", 20_000).collect();
        let mut wire = c.encode(MessageKind::Binary, &big);
        let mut ping = [0u8; wsmachine::frame::MAX_CONTROL_FRAME_LEN];
        let n = c.conn.ping(b"between", &mut ping).unwrap();
        wire.extend_from_slice(&ping[..n]);
        wire.extend(c.encode(MessageKind::Text, b"small"));
        wire.extend(c.encode(MessageKind::Text, text.as_bytes()));
        wire.extend(c.encode(MessageKind::Binary, &big[..70_000]));
        wire.extend(c.encode(MessageKind::Text, b"last"));
        c.sock.write_all(&wire).unwrap();
        let expected = [
            OwnedEvent::Binary(big.clone()),
            OwnedEvent::Pong(b"between".to_vec()),
            OwnedEvent::Text("small".into()),
            OwnedEvent::Text(text.clone()),
            OwnedEvent::Binary(big[..70_000].to_vec()),
            OwnedEvent::Text("last".into()),
        ];
        for want in expected {
            let got = c.next();
            assert!(got.as_ref() == Some(&want), "deflate {deflate}: expected {}", describe(&want));
        }
    }
}

fn describe(event: &OwnedEvent) -> String {
    match event {
        OwnedEvent::Binary(b) => format!("{} bytes of binary", b.len()),
        OwnedEvent::Text(t) => format!("{} bytes of text", t.len()),
        other => format!("{other:?}"),
    }
}
