//! permessage-deflate cases (RFC 7692): the client offers `client_no_context_takeover` and
//! `server_no_context_takeover` (§7.1.1), so every message is compressed on its own in both
//! directions: our compressed frames can be encoded once up front, and the server's answer to
//! the same message is the same bytes every time. That answer is learned from the first echo
//! (inflated and checked against the message), then every later echo is compared with it byte
//! for byte, as in the uncompressed cases.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flate2::{Decompress, FlushDecompress};

/// What a server without permessage-deflate answers (not a failure: shown as such in the table).
pub const UNSUPPORTED: &str = "no permessage-deflate";

pub fn request(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n\r\n"
    )
    .into_bytes()
}

/// A 101 that accepted the offer, with `server_no_context_takeover` (§7.1.1.1: a server that
/// accepts the offer must include it).
pub fn check_101(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 101 ") {
        return Err(format!("upgrade refused: {:?}", text.lines().next()));
    }
    if !text.contains("permessage-deflate") {
        return Err(UNSUPPORTED.into());
    }
    if !text.contains("server_no_context_takeover") {
        return Err("deflate accepted without server_no_context_takeover".into());
    }
    Ok(())
}

/// Sends the first client frame of `send` (`cf` bytes) and reads the one frame that answers it;
/// checks that it holds `data` (inflated when RSV1 is set, §6.2); returns that frame's bytes.
pub fn learn(sock: &mut TcpStream, first_frame: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    sock.write_all(first_frame).map_err(|e| format!("write: {e}"))?;
    read_one(sock, data)
}

/// Reads one frame (and nothing after it) from `sock`; checks that it holds `data` (inflated
/// when RSV1 is set, §6.2); returns that frame's bytes.
pub fn read_one(sock: &mut TcpStream, data: &[u8]) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (start, len) = loop {
        if let Some((_, start, len)) = crate::wire::parse(&buf) {
            break (start, len);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no echo within 10 s".into());
        }
        sock.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match sock.read(&mut chunk) {
            Ok(0) => return Err("closed before the echo".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    if buf.len() != start + len {
        return Err("more than one frame for one message".into());
    }
    let payload = &buf[start..];
    let got = if buf[0] & 0x40 != 0 { inflate(payload, data.len())? } else { payload.to_vec() };
    if buf[0] & 0x80 == 0 || got != data {
        return Err("the first frame differs from the message".into());
    }
    Ok(buf)
}

/// Checks that `frame`, a whole server frame, is a compressed message holding `data`.
pub fn check_echo(frame: &[u8], data: &[u8]) -> Result<(), String> {
    let (_, start, _) = crate::wire::parse(frame).ok_or("not a whole frame")?;
    if frame[0] & 0xC0 != 0xC0 {
        return Err("a differing echo that is not one compressed frame".into());
    }
    if inflate(&frame[start..], data.len())? != data {
        return Err("inflates to another message".into());
    }
    Ok(())
}

/// Raw DEFLATE with the 00 00 FF FF tail put back (RFC 7692 §7.2.2).
fn inflate(payload: &[u8], expect: usize) -> Result<Vec<u8>, String> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(expect + 1024);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync).map_err(|e| format!("inflate: {e}"))?;
    Ok(out)
}
