//! Raw bytes for the hostile peers, encoded up front: the upgrade request, masked frames
//! (RFC 6455 §5.2), compressed payloads (RFC 7692 §7.2.1), and a reader that waits for the
//! server's Close (or the end of the connection).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, FlushCompress};
use socket2::{Domain, Socket, Type};

/// The upgrade request of every raw peer (the server does not check the key's randomness).
pub fn upgrade_request(addr: SocketAddr, deflate: bool) -> Vec<u8> {
    let ext = if deflate { "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" } else { "" };
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
    .into_bytes()
}

/// A client frame header announcing `len` payload bytes, followed by `payload` (which may be
/// only the first part of them) masked with `key`.
pub fn frame(opcode: u8, fin: bool, rsv1: bool, len: u64, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push((fin as u8) << 7 | (rsv1 as u8) << 6 | opcode);
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// `data` compressed as one permessage-deflate message (raw DEFLATE, sync flush, the
/// 00 00 FF FF tail removed).
pub fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::new();
    let mut fed = 0;
    // Bounded: every round consumes input or output room, and the output is at most about the
    // input size plus a little.
    for _ in 0..data.len() / 1024 + 1024 {
        out.reserve(256 * 1024);
        let before = c.total_in();
        let flush = if fed == data.len() { FlushCompress::Sync } else { FlushCompress::None };
        c.compress_vec(&data[fed..], &mut out, flush).expect("deflate");
        fed += (c.total_in() - before) as usize;
        if flush == FlushCompress::Sync && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "sync flush tail");
    out.truncate(out.len() - 4);
    out
}

/// A socket from `127.0.a.b` (a spread source address, so that tens of thousands of
/// connections do not share one address's ephemeral ports) to `server`.
pub fn connect_from(n: usize, server: SocketAddr) -> io::Result<TcpStream> {
    let src = Ipv4Addr::new(127, 0, 1 + (n / 250 % 250) as u8, 1 + (n % 250) as u8);
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    s.connect_timeout(&server.into(), Duration::from_secs(5))?;
    s.set_tcp_nodelay(true)?;
    Ok(s.into())
}

/// Closes with SO_LINGER 0: the peer gets a RST, not a FIN.
pub fn reset(sock: TcpStream) {
    let s = Socket::from(sock);
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Reads the response head (blocking, bounded by `timeout`); returns it with any bytes after.
pub fn read_head(sock: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut buf)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    Ok(head)
}

/// Connects, upgrades and checks the 101 (and the extension when `deflate`).
pub fn upgraded(n: usize, server: SocketAddr, deflate: bool) -> io::Result<TcpStream> {
    let mut sock = connect_from(n, server)?;
    sock.write_all(&upgrade_request(server, deflate))?;
    let head = read_head(&mut sock, Duration::from_secs(10))?;
    check_101(&head, deflate)?;
    Ok(sock)
}

pub fn check_101(head: &[u8], deflate: bool) -> io::Result<()> {
    let text = String::from_utf8_lossy(head);
    if !text.starts_with("HTTP/1.1 101 ") || deflate != text.contains("permessage-deflate") {
        return Err(io::Error::other(format!("upgrade refused: {:?}", text.lines().next())));
    }
    Ok(())
}

/// How a hostile connection ended, seen from the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The server's Close frame with this code.
    Close(u16),
    /// EOF or RST without a Close.
    Gone,
    /// Still open at the deadline.
    Open,
}

/// Reads server frames until a Close, EOF/RST or `timeout`; returns how and when (since
/// `since`). Data frames (echoes, pings) before the Close are skipped.
pub fn wait_close(sock: &mut TcpStream, since: Instant, timeout: Duration) -> (End, Duration) {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Skip whole frames; stop at a Close.
        while let Some((opcode, start, len)) = parse(&buf) {
            if opcode == 8 {
                let code = if len >= 2 { u16::from_be_bytes([buf[start], buf[start + 1]]) } else { 1005 };
                return (End::Close(code), since.elapsed());
            }
            buf.drain(..start + len);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return (End::Open, since.elapsed());
        }
        match sock.read(&mut chunk) {
            Ok(0) => return (End::Gone, since.elapsed()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return (End::Open, since.elapsed())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (End::Gone, since.elapsed()),
        }
    }
}

/// A whole unmasked server frame at the start of `buf`: (opcode, payload start, payload len).
pub fn parse(buf: &[u8]) -> Option<(u8, usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (start, len) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
        127 if buf.len() >= 10 => (10, u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize),
        126 | 127 => return None,
        n => (2, n as usize),
    };
    (buf.len() >= start + len).then_some((buf[0] & 0x0F, start, len))
}

/// Sends `msg` as one masked text frame and checks that the same bytes come back (blocking).
pub fn raw_echo(sock: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    sock.write_all(&frame(1, true, false, msg.len() as u64, msg, [7, 7, 7, 7]))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded by the read timeout and the count.
    for _ in 0..1000 {
        if let Some((opcode, start, len)) = parse(&buf) {
            if opcode == 1 && &buf[start..start + len] == msg {
                return Ok(());
            }
            return Err(io::Error::other(format!("echo differs: opcode {opcode}, {len} B")));
        }
        match sock.read(&mut chunk)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Err(io::Error::other("no echo"))
}
