//! Workloads shared by `benches/wsmachine.rs` and `benches/peers/benches/peers.rs`, so that every
//! implementation is measured on exactly the same bytes.
#![allow(dead_code)]

/// Input is handed over in reads of at most this many bytes, like recv(2) on a socket.
pub const READ: usize = 64 * 1024;

/// Each receive workload is about this many bytes on the wire (at least one message).
pub const STREAM_TARGET: usize = 256 * 1024;

/// Message sizes for the receive benches.
pub const RECV_SIZES: [usize; 4] = [16, 1024, 64 * 1024, 1024 * 1024];

/// Message sizes for the send benches.
pub const SEND_SIZES: [usize; 3] = [16, 1024, 64 * 1024];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Pseudo-random bytes, opcode 0x2.
    Binary,
    /// ASCII text, opcode 0x1.
    Ascii,
    /// Text mixing ASCII, 2-, 3- and 4-byte UTF-8 sequences, opcode 0x1.
    Mixed,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Binary, Kind::Ascii, Kind::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Ascii => "ascii",
            Kind::Mixed => "mixed",
        }
    }

    pub fn is_text(self) -> bool {
        self != Kind::Binary
    }
}

/// A small deterministic generator (xorshift64*), so every run uses the same bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A payload of exactly `size` bytes of the given kind (valid UTF-8 for the text kinds).
pub fn payload(kind: Kind, size: usize) -> Vec<u8> {
    match kind {
        Kind::Binary => {
            let mut rng = Rng::new(0x5eed ^ size as u64);
            (0..size).map(|_| rng.next_u64() as u8).collect()
        }
        Kind::Ascii => {
            let text = b"The quick brown fox jumps over the lazy dog; 0123456789 {\"k\":[1,2,3]}\n";
            text.iter().copied().cycle().take(size).collect()
        }
        Kind::Mixed => {
            let text = "Hello wörld, καλημέρα κόσμε! Ünïcödé — こんにちは世界 🌍🚀 naïve café; ";
            let mut out = String::with_capacity(size);
            for c in text.chars().cycle() {
                if out.len() + c.len_utf8() > size {
                    break;
                }
                out.push(c);
            }
            while out.len() < size {
                out.push(' ');
            }
            out.into_bytes()
        }
    }
}

/// FNV-1a over bytes, to check that an implementation delivered the right payloads.
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A receive workload: masked client-to-server frames, pre-encoded.
pub struct Recv {
    pub kind: Kind,
    pub size: usize,
    /// The bytes on the wire (never modified; each iteration copies from it).
    pub wire: Vec<u8>,
    pub messages: usize,
    pub payload_bytes: usize,
    /// FNV-1a of every payload concatenated in order.
    pub checksum: u64,
}

impl Recv {
    pub fn new(kind: Kind, size: usize) -> Self {
        let body = payload(kind, size);
        let ext = if size < 126 {
            0
        } else if size <= 0xFFFF {
            2
        } else {
            8
        };
        let header = 2 + ext + 4;
        let messages = (STREAM_TARGET / (header + size)).max(1);
        let mut wire = Vec::with_capacity(messages * (header + size));
        let mut rng = Rng::new(0xC0FFEE ^ size as u64);
        let mut checksum = FNV_START;
        for _ in 0..messages {
            let key = (rng.next_u64() as u32).to_be_bytes();
            let opcode = if kind.is_text() { 0x1 } else { 0x2 };
            wire.push(0x80 | opcode);
            if size < 126 {
                wire.push(0x80 | size as u8);
            } else if size <= 0xFFFF {
                wire.push(0x80 | 126);
                wire.extend_from_slice(&(size as u16).to_be_bytes());
            } else {
                wire.push(0x80 | 127);
                wire.extend_from_slice(&(size as u64).to_be_bytes());
            }
            wire.extend_from_slice(&key);
            wire.extend(body.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
            checksum = fnv(checksum, &body);
        }
        Recv { kind, size, wire, messages, payload_bytes: messages * size, checksum }
    }

    pub fn id(&self) -> String {
        format!("{}/{}", self.kind.name(), size_name(self.size))
    }
}

pub fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// What a receive driver saw: message count, payload bytes, and FNV of the payloads (if asked).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Seen {
    pub messages: usize,
    pub bytes: usize,
    pub checksum: u64,
}

impl Seen {
    pub fn new() -> Self {
        Seen { messages: 0, bytes: 0, checksum: FNV_START }
    }

    /// Counts a message; `hash` only in the verification pass, never while timing.
    #[inline(always)]
    pub fn add(&mut self, payload: &[u8], hash: bool) {
        self.messages += 1;
        self.bytes += payload.len();
        if hash {
            self.checksum = fnv(self.checksum, payload);
        }
    }

    pub fn assert_matches(&self, w: &Recv, who: &str) {
        assert_eq!(
            (self.messages, self.bytes, self.checksum),
            (w.messages, w.payload_bytes, w.checksum),
            "{who} delivered the wrong messages for {}",
            w.id()
        );
    }
}

/// Copies `src` into `dst` in pieces of 1 KiB below 1 MiB, in one `memcpy` from there: the copy
/// every recv model and memcpy baseline uses.
///
/// Below 1 MiB glibc's memcpy takes `rep movsb` above a few KiB, which on this AMD host crawls
/// when the destination sits 8 bytes after the source modulo 4 KiB (64 KiB in 36 µs instead of
/// 1.3 µs). Whether an implementation's buffer lands on such an offset is luck, not design, so
/// every implementation gets this offset-independent copy instead. From 1 MiB (the L2 size, where
/// glibc stops using `rep movsb` on AMD) one `memcpy` takes a vector loop that is fast at every
/// offset, and 10-25 % faster than the pieces (`src/mask/append.rs`, `copy_long`).
#[inline(always)]
pub fn copy_fast(dst: &mut [u8], src: &[u8]) {
    if src.len() >= ONE_COPY_FROM {
        return dst.copy_from_slice(src);
    }
    for (d, s) in dst.chunks_mut(1024).zip(src.chunks(1024)) {
        d.copy_from_slice(s);
    }
}

/// From this length on, [`copy_fast`] and [`append`] copy in one `memcpy`.
pub const ONE_COPY_FROM: usize = 1 << 20;

/// The recv(2) model: the next at most `READ` bytes of `wire` starting at `*pos`, copied into `buf`.
#[inline(always)]
pub fn recv_into(wire: &[u8], pos: &mut usize, buf: &mut [u8]) -> usize {
    let n = (wire.len() - *pos).min(READ).min(buf.len());
    copy_fast(&mut buf[..n], &wire[*pos..*pos + n]);
    *pos += n;
    n
}

/// The copies every receive iteration does anyway (the recv(2) model), alone: the memcpy floor.
#[inline(always)]
pub fn drive_memcpy(wire: &[u8], buf: &mut [u8]) -> usize {
    let mut pos = 0;
    let mut total = 0;
    while pos < wire.len() {
        total += recv_into(wire, &mut pos, buf);
        std::hint::black_box(&mut *buf);
    }
    total
}

/// Like [`drive_recv`], through the crate's [`wsmachine::RecvBuffer`]: the unused rest of each
/// read stays in the buffer and the next read of at most 64 KiB is appended after it; an
/// unfragmented frame that spans reads waits in it until whole and is delivered in place, and
/// while it waits the read asks for no more than its missing bytes (a recv(2) with a shorter
/// length), so nothing needs moving after it. Events borrow the buffer only.
#[inline(always)]
pub fn drive_recv_buffer(
    conn: &mut wsmachine::Connection,
    wire: &[u8],
    buf: &mut wsmachine::RecvBuffer,
    hash: bool,
) -> Seen {
    let mut seen = Seen::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = recv_into(wire, &mut pos, buf.spare(conn));
        buf.filled(n);
        while let Some(event) = buf.next(conn).expect("valid input") {
            match event {
                wsmachine::Event::Message(m) => seen.add(m.as_bytes(), hash),
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    seen
}

/// Feeds `w.wire` to `conn` in reads of at most 64 KiB, each copied into the fixed `buf` first
/// (as recv(2) would; this also restores the masked bytes that the previous iteration unmasked
/// in place). Calls `read` on the unused rest until it reports no event (then all of the read
/// was used), then takes the next read. A message split across reads is put together in the
/// connection's `assembly` (`Delivery::Assemble`) or streamed as chunks (`Delivery::Stream`).
#[inline(always)]
pub fn drive_recv(
    conn: &mut wsmachine::Connection,
    wire: &[u8],
    buf: &mut [u8],
    assembly: &mut wsmachine::Assembly,
    hash: bool,
) -> Seen {
    let mut seen = Seen::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = recv_into(wire, &mut pos, buf);
        let mut start = 0;
        loop {
            let r = conn.read(&mut buf[start..n], assembly).expect("valid input");
            start += r.consumed;
            match r.event {
                Some(wsmachine::Event::Message(m)) => seen.add(m.as_bytes(), hash),
                // Delivery::Stream: whole frames (first and last) and pieces, borrowed in place.
                Some(wsmachine::Event::Chunk(c)) => {
                    seen.bytes += c.data().len();
                    if hash {
                        seen.checksum = fnv(seen.checksum, c.data());
                    }
                    if c.is_last() {
                        seen.messages += 1;
                    }
                }
                Some(other) => panic!("unexpected event {other:?}"),
                None => break,
            }
        }
        debug_assert_eq!(start, n);
    }
    seen
}

/// A browser's upgrade request (Chromium's header set; the key of RFC 6455 §1.3), for the
/// handshake benches. It offers permessage-deflate, which every implementation here declines.
pub const UPGRADE_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// The `Sec-WebSocket-Accept` value RFC 6455 §1.3 gives for that key.
pub const UPGRADE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// wsmachine's server handshake: parse the request, accept it, write the 101 into `out`.
#[inline(always)]
pub fn accept_upgrade(request: &[u8], out: &mut [u8]) -> usize {
    use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser};
    let incoming = match RequestParser::new().parse(request) {
        Ok(Request::Upgrade(incoming)) => incoming,
        other => panic!("not an upgrade: {other:?}"),
    };
    let accept = incoming.accept(&AcceptOptions::new()).expect("acceptable");
    accept.write_response(out).expect("room for the response")
}

/// Checks a 101 response: status line and the accept key.
pub fn check_101(who: &str, response: &[u8]) {
    let text = std::str::from_utf8(response).expect("ASCII response");
    assert!(text.starts_with("HTTP/1.1 101"), "{who}: {text}");
    let accept = format!("sec-websocket-accept: {UPGRADE_ACCEPT}\r\n");
    assert!(text.to_ascii_lowercase().contains(&accept.to_ascii_lowercase()), "{who}: {text}");
    assert!(text.ends_with("\r\n\r\n"), "{who}: {text}");
}

/// The wsmachine row of the `handshake/server` group (shared by both benches), checked first.
pub fn bench_accept_upgrade(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let mut out = [0u8; 512];
    let n = accept_upgrade(UPGRADE_REQUEST, &mut out);
    check_101("wsmachine", &out[..n]);
    group.bench_function("wsmachine", |b| b.iter(|| accept_upgrade(std::hint::black_box(UPGRADE_REQUEST), &mut out)));
}

/// `out.extend_from_slice(src)` in 1 KiB pieces between 1 KiB and 1 MiB: the append of the socket
/// model, of the sans-IO peers' drivers and of the floor rows. The reason is the one given at
/// [`copy_fast`]; wsmachine's `send_binary_vec` copies by the same rule.
#[inline(always)]
pub fn append(out: &mut Vec<u8>, src: &[u8]) {
    if src.len() <= 1024 || src.len() >= ONE_COPY_FROM {
        return out.extend_from_slice(src);
    }
    for piece in src.chunks(1024) {
        out.extend_from_slice(piece);
    }
}

/// A frame header for the floor rows: FIN + binary, the payload length, the key if masked.
#[inline(always)]
pub fn floor_header(len: usize, key: Option<[u8; 4]>) -> ([u8; 14], usize) {
    let mut h = [0u8; 14];
    h[0] = 0x82;
    let mut n = if len < 126 {
        h[1] = len as u8;
        2
    } else if len <= 0xFFFF {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = key {
        h[1] |= 0x80;
        h[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    (h, n)
}

/// The server floor: `out.clear()`, the header, then the payload appended in 1 KiB pieces
/// ([`append`]). Every server send into a `Vec` does at least this.
#[inline(always)]
pub fn floor_header_copy(data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let (h, n) = floor_header(data.len(), None);
    out.reserve(n + data.len());
    out.extend_from_slice(&h[..n]);
    append(out, data);
}

/// The client floor: `out.clear()`, the header, then one fused copy-and-mask pass
/// ([`copy_mask`]) into the reserved spare capacity, then `set_len`: one read of the payload and
/// one write of the frame, with no zero-fill first.
#[inline(always)]
pub fn floor_header_copy_mask(data: &[u8], key: [u8; 4], out: &mut Vec<u8>) {
    out.clear();
    let (h, n) = floor_header(data.len(), Some(key));
    out.reserve(n + data.len());
    out.extend_from_slice(&h[..n]);
    let spare = &mut out.spare_capacity_mut()[..data.len()];
    // SAFETY: `spare` has room for `data.len()` bytes and does not overlap `data`.
    unsafe { copy_mask(data, spare.as_mut_ptr().cast(), key) };
    // SAFETY: every one of the `data.len()` bytes after the header was written just above.
    unsafe { out.set_len(n + data.len()) };
}

/// `dst[i] = src[i] ^ key[i % 4]` for the whole of `src`: a plain loop over 8-byte words (the
/// key repeated twice) and a byte tail. The compiler vectorises it (16-byte SSE2 in the default
/// build; 32-byte AVX2 four times unrolled in [`copy_mask_avx2`], checked in the assembly of a
/// standalone compile of this loop), so the AVX2 build is taken where the CPU has AVX2, as
/// wsmachine's and yawc's own masking kernels are.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and must not overlap `src`.
#[inline(always)]
unsafe fn copy_mask_words(src: &[u8], dst: *mut u8, key: [u8; 4]) {
    let key8 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let words = src.len() / 8;
    let from = src.as_ptr();
    for i in 0..words {
        let word = from.add(i * 8).cast::<u64>().read_unaligned() ^ key8;
        dst.add(i * 8).cast::<u64>().write_unaligned(word);
    }
    for i in words * 8..src.len() {
        *dst.add(i) = src[i] ^ key[i & 3];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_mask_avx2(src: &[u8], dst: *mut u8, key: [u8; 4]) {
    copy_mask_words(src, dst, key)
}

/// [`copy_mask_words`], in its AVX2 build where the CPU has AVX2 (the check is a cached load).
///
/// # Safety
/// As [`copy_mask_words`].
#[inline(always)]
pub unsafe fn copy_mask(src: &[u8], dst: *mut u8, key: [u8; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return copy_mask_avx2(src, dst, key);
    }
    copy_mask_words(src, dst, key)
}
