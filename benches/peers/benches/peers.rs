//! wsmachine side by side with tungstenite, tokio-websockets, fastwebsockets, websocket-sans-io,
//! soketto and yawc on the same bytes.
//!
//! Every socket-based implementation reads from / writes to the same in-memory socket model
//! ([`Sock`]):
//! - reads hand out at most 64 KiB per call, copied from a pristine buffer (the recv(2) copy;
//!   wsmachine's driver does exactly the same copy into its own 64 KiB buffer);
//! - writes are appended to a `Vec<u8>` (cleared before every send, capacity kept), in 1 KiB
//!   pieces like every other copy of the model: the frame ends up in a `Vec`, as wsmachine's
//!   `send_binary_vec` leaves it, and the sans-IO peers are driven to append into a `Vec` too.
//!
//! The async crates are polled by a no-op-waker `block_on`: the in-memory socket is always ready,
//! so every future completes on its first poll (asserted), with no runtime in the timed region.
//! Before timing, every implementation's output is verified: message count, byte count and a
//! checksum of every payload (receive), or the decoded frame (send).

#[path = "../../common/mod.rs"]
mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use common::{
    append, copy_mask, drive_memcpy, drive_recv, drive_recv_buffer, floor_header, floor_header_copy,
    floor_header_copy_mask, recv_into, Kind, Recv, Seen, READ, RECV_SIZES,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use wsmachine::{ChaChaMask, Config, Connection};
use wsmachine_peers::minimal::Receiver;

mod race;

/// Runs a future that never waits (in-memory I/O) to completion with one poll.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory I/O never waits"),
    }
}

/// The in-memory socket: reads from `wire` in pieces of at most 64 KiB; writes are appended to
/// `out` (see [`append`]). Handles are shared so the bench can rewind it between iterations.
#[derive(Clone)]
struct Sock {
    wire: Rc<Vec<u8>>,
    pos: Rc<Cell<usize>>,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Sock {
    fn new(wire: Vec<u8>) -> Self {
        Sock { wire: Rc::new(wire), pos: Rc::new(Cell::new(0)), out: Rc::new(RefCell::new(Vec::new())) }
    }

    /// A socket with nothing to read that appends what is written to `out`.
    fn writing_into(out: &Rc<RefCell<Vec<u8>>>) -> Self {
        Sock { wire: Rc::new(Vec::new()), pos: Rc::new(Cell::new(0)), out: Rc::clone(out) }
    }

    /// Reads start again at the beginning of `wire`; what was written is dropped (the `Vec`
    /// keeps its capacity).
    #[inline]
    fn rewind(&self) {
        self.pos.set(0);
        self.out.borrow_mut().clear();
    }

    #[inline]
    fn recv(&self, dst: &mut [u8]) -> usize {
        let mut pos = self.pos.get();
        let n = recv_into(&self.wire, &mut pos, dst);
        self.pos.set(pos);
        n
    }

    #[inline]
    fn send(&self, src: &[u8]) -> usize {
        append(&mut self.out.borrow_mut(), src);
        src.len()
    }

    /// What was written since the last `rewind`.
    fn written(&self) -> Vec<u8> {
        self.out.borrow().clone()
    }
}

impl io::Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv(buf))
    }
}

impl io::Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.send(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.send(b)).sum())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Sock {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        // put_slice copies into uninitialised spare capacity without zeroing it first.
        let pos = self.pos.get();
        let n = (self.wire.len() - pos).min(READ).min(buf.remaining());
        // In 1 KiB pieces, like every other copy of the recv model (`common::copy_fast`).
        for piece in self.wire[pos..pos + n].chunks(1024) {
            buf.put_slice(piece);
        }
        self.pos.set(pos + n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Sock {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.send(buf)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| self.send(b)).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// soketto runs over the `futures` I/O traits.
impl futures_io::AsyncRead for Sock {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.recv(buf)))
    }
}

impl futures_io::AsyncWrite for Sock {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.send(buf)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| self.send(b)).sum()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// ------------------------------------------------------------------------------------------------
// Receive drivers: each reads exactly `w.messages` messages from a rewound socket.
// ------------------------------------------------------------------------------------------------

fn recv_tungstenite(ws: &mut tungstenite::WebSocket<Sock>, w: &Recv, hash: bool) -> Seen {
    ws.get_ref().rewind();
    let mut seen = Seen::new();
    for _ in 0..w.messages {
        match ws.read().expect("valid input") {
            tungstenite::Message::Binary(b) => seen.add(&b, hash),
            tungstenite::Message::Text(t) => seen.add(t.as_bytes(), hash),
            other => panic!("unexpected {other:?}"),
        }
    }
    seen
}

fn recv_tokio_websockets(ws: &mut tokio_websockets::WebSocketStream<Sock>, w: &Recv, hash: bool) -> Seen {
    ws.get_ref().rewind();
    block_on(async {
        let mut seen = Seen::new();
        for _ in 0..w.messages {
            let msg = ws.next().await.expect("a message").expect("valid input");
            assert!(msg.is_binary() || msg.is_text());
            seen.add(msg.as_payload(), hash);
        }
        seen
    })
}

fn recv_fastwebsockets(ws: &mut fastwebsockets::WebSocket<Sock>, sock: &Sock, w: &Recv, hash: bool) -> Seen {
    sock.rewind();
    block_on(async {
        let mut seen = Seen::new();
        for _ in 0..w.messages {
            // Unfragmented frames only, so read_frame delivers whole messages; it unmasks and
            // validates UTF-8 of final text frames itself.
            let frame = ws.read_frame().await.expect("valid input");
            assert!(frame.fin && matches!(frame.opcode, fastwebsockets::OpCode::Binary | fastwebsockets::OpCode::Text));
            seen.add(&frame.payload, hash);
        }
        seen
    })
}

fn recv_yawc(ws: &mut yawc::WebSocket<Sock>, sock: &Sock, w: &Recv, hash: bool) -> Seen {
    sock.rewind();
    block_on(async {
        let mut seen = Seen::new();
        for _ in 0..w.messages {
            // Whole messages (it assembles fragments); with `Options::with_utf8` it validates text.
            let frame = ws.next_frame().await.expect("valid input");
            assert!(frame.is_fin() && matches!(frame.opcode(), yawc::OpCode::Binary | yawc::OpCode::Text));
            seen.add(frame.payload(), hash);
        }
        seen
    })
}

/// websocket-sans-io's decoder with its user's part, as its `decode_frame` and `mirror_client`
/// examples show: reads into a fixed 64 KiB buffer, `add_data` on the unused rest until it
/// reports nothing (it unmasks payload chunks in place), the checks of `mirror_client` on each
/// frame start (`is_reasonable`, the mask bit, here the server's rule that client frames are
/// masked, RFC 6455 §5.1), payload chunks collected into a `Vec`, and text validated with
/// simdutf8 (the decoder leaves it to the user). A frame whose payload arrives in one chunk is
/// delivered from the read buffer without that copy (the examples always copy).
struct SansIoRx {
    decoder: websocket_sans_io::WebsocketFrameDecoder,
    buf: Vec<u8>,
    message: Vec<u8>,
    /// Payload length and FIN of the current frame, text or binary of the current message.
    frame_len: u64,
    fin: bool,
    text: bool,
    delivered: bool,
}

impl SansIoRx {
    fn new() -> Self {
        SansIoRx {
            decoder: websocket_sans_io::WebsocketFrameDecoder::new(),
            buf: vec![0u8; READ],
            message: Vec::new(),
            frame_len: 0,
            fin: false,
            text: false,
            delivered: false,
        }
    }
}

#[inline(always)]
fn deliver_sansio(seen: &mut Seen, payload: &[u8], text: bool, hash: bool) {
    if text && simdutf8::basic::from_utf8(payload).is_err() {
        panic!("invalid UTF-8");
    }
    seen.add(payload, hash);
}

fn drive_sansio(rx: &mut SansIoRx, wire: &[u8], hash: bool) -> Seen {
    use websocket_sans_io::{Opcode, WebsocketFrameEvent};
    let mut seen = Seen::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = recv_into(wire, &mut pos, &mut rx.buf);
        let mut at = 0;
        loop {
            let ret = rx.decoder.add_data(&mut rx.buf[at..n]).expect("infallible with large_frames");
            let (start, used) = (at, ret.consumed_bytes);
            at += used;
            match ret.event {
                None if used == 0 => break,
                None => {}
                Some(WebsocketFrameEvent::Start { frame_info, original_opcode }) => {
                    if !frame_info.is_reasonable() || frame_info.mask.is_none() {
                        panic!("protocol error: {frame_info:?}");
                    }
                    if !matches!(original_opcode, Opcode::Binary | Opcode::Text) {
                        panic!("unexpected {original_opcode:?}");
                    }
                    if frame_info.opcode != Opcode::Continuation {
                        rx.text = frame_info.opcode == Opcode::Text;
                    }
                    (rx.frame_len, rx.fin, rx.delivered) = (frame_info.payload_length, frame_info.fin, false);
                }
                Some(WebsocketFrameEvent::PayloadChunk { .. }) => {
                    let chunk = &rx.buf[start..start + used];
                    if rx.fin && rx.message.is_empty() && chunk.len() as u64 == rx.frame_len {
                        deliver_sansio(&mut seen, chunk, rx.text, hash);
                        rx.delivered = true;
                    } else {
                        rx.message.extend_from_slice(chunk);
                    }
                }
                Some(WebsocketFrameEvent::End { frame_info, .. }) if frame_info.fin && !rx.delivered => {
                    deliver_sansio(&mut seen, &rx.message, rx.text, hash);
                    rx.message.clear();
                }
                Some(WebsocketFrameEvent::End { .. }) => {}
            }
        }
    }
    seen
}

/// The minimal receiver (`wsmachine_peers::minimal`) over the recv(2) model.
fn drive_minimal(rx: &mut Receiver, wire: &[u8], hash: bool) -> Seen {
    let mut seen = Seen::new();
    let mut pos = 0;
    while pos < wire.len() {
        let n = recv_into(wire, &mut pos, rx.spare(READ));
        rx.filled(n);
        while let Some(payload) = rx.message() {
            seen.add(payload, hash);
        }
    }
    seen
}

/// The recv copies of one iteration, each at the next offset of `region` (as large as the wire).
fn drive_memcpy_region(wire: &[u8], region: &mut [u8]) -> usize {
    let mut pos = 0;
    while pos < wire.len() {
        let at = pos;
        recv_into(wire, &mut pos, &mut region[at..]);
        black_box(&mut *region);
    }
    pos
}

/// One receive row: its name, and a maker of a fresh state (connection or socket, buffers, its
/// own copy of the wire) that returns the row's iteration over it: one pass over the whole wire,
/// with checksums if asked. Shared by the criterion groups and the race (`RECV_RACE=1`).
type RecvRow<'a> = (&'static str, Box<dyn Fn() -> RecvRun<'a> + 'a>);
type RecvRun<'a> = Box<dyn FnMut(bool) -> Seen + 'a>;

/// Boxes a row: `make` builds the state, `run` runs one pass over it.
fn recv_row<'a, S: 'a>(
    name: &'static str,
    make: impl Fn() -> S + 'a,
    run: impl Fn(&mut S, bool) -> Seen + Copy + 'a,
) -> RecvRow<'a> {
    (
        name,
        Box::new(move || {
            let mut state = make();
            Box::new(move |hash| run(&mut state, hash))
        }),
    )
}

/// Every implementation's receive row for workload `w`, the wsmachine rows first (the default
/// one at index 0).
fn recv_rows(w: &Recv) -> Vec<RecvRow<'_>> {
    let wsmachine = move |config: Config| {
        move || (w.wire.clone(), Connection::server(config), vec![0u8; READ], wsmachine::Assembly::new())
    };
    let stream = Config::default().delivery(wsmachine::Delivery::Stream);
    vec![
        // The default: `Config::default()` driven through the crate's `RecvBuffer`, which keeps
        // what a read leaves unused, so an unfragmented message that spans reads waits in it
        // until whole and is delivered in place.
        recv_row(
            "wsmachine",
            || (w.wire.clone(), Connection::server(Config::default()), wsmachine::RecvBuffer::new()),
            |(wire, conn, buf), hash| drive_recv_buffer(conn, wire, buf, hash),
        ),
        // `Connection::read` on a fixed 64 KiB buffer (what a no-alloc or shared-buffer driver
        // does): a message that spans reads is put together in the caller's `Assembly`, one copy
        // more.
        recv_row("wsmachine_fixed_buf", wsmachine(Config::default()), |(wire, conn, buf, assembly), hash| {
            drive_recv(conn, wire, buf, assembly, hash)
        }),
        // The same fixed buffer, streaming messages that do not fit one read as chunks.
        recv_row("wsmachine_stream", wsmachine(stream), |(wire, conn, buf, assembly), hash| {
            drive_recv(conn, wire, buf, assembly, hash)
        }),
        recv_row(
            "tungstenite",
            || {
                let role = tungstenite::protocol::Role::Server;
                tungstenite::WebSocket::from_raw_socket(Sock::new(w.wire.clone()), role, None)
            },
            move |ws, hash| recv_tungstenite(ws, w, hash),
        ),
        recv_row(
            "tokio-websockets",
            || tokio_websockets::ServerBuilder::new().serve(Sock::new(w.wire.clone())),
            move |ws, hash| recv_tokio_websockets(ws, w, hash),
        ),
        recv_row(
            "fastwebsockets",
            || {
                let sock = Sock::new(w.wire.clone());
                (fastwebsockets::WebSocket::after_handshake(sock.clone(), fastwebsockets::Role::Server), sock)
            },
            move |(ws, sock), hash| recv_fastwebsockets(ws, sock, w, hash),
        ),
        // websocket-sans-io: its decoder and the user's part its examples show (`SansIoRx`).
        recv_row(
            "websocket-sans-io",
            || (w.wire.clone(), SansIoRx::new()),
            |(wire, rx), hash| drive_sansio(rx, wire, hash),
        ),
        // yawc: `WebSocket::from_stream` (no handshake), `next_frame()`; UTF-8 checked
        // (`with_utf8`, off by default) and limits raised so a 1 MiB frame is accepted (its
        // default `max_payload_read` is 1 MiB, exclusive).
        recv_row(
            "yawc",
            || {
                let sock = Sock::new(w.wire.clone());
                let options = yawc::Options::default().with_utf8().with_limits(16 << 20, 64 << 20);
                (yawc::WebSocket::from_stream(sock.clone(), yawc::Role::Server, options).unwrap(), sock)
            },
            move |(ws, sock), hash| recv_yawc(ws, sock, w, hash),
        ),
        // The floor: a minimal hand-written receiver that knows the workload (no RFC checks), in
        // place like the default row (`wsmachine_peers::minimal`).
        recv_row(
            "minimal_loop",
            || (w.wire.clone(), Receiver::new()),
            |(wire, rx), hash| drive_minimal(rx, wire, hash),
        ),
    ]
}

/// Benchmarks a row with a state made anew for every sample, each verified first (with
/// checksums) and warmed up by one untimed run. Every sample's state stays allocated until the
/// group ends, so each sample runs on new memory.
///
/// Why: on this machine the same receive loop runs at one of two speeds (1.3–1.5× apart for
/// 64 KiB messages) depending on the physical pages its buffers landed on (the addresses' page
/// offsets are the same in every run), and that is decided once per process. Reusing one state
/// for the whole run froze that luck into every sample of an implementation; fresh memory per
/// sample makes each median a median over placements, the same for every implementation.
fn bench_fresh(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    w: &Recv,
    (name, make): &RecvRow<'_>,
) {
    let mut kept = Vec::new();
    let mut run = make();
    run(true).assert_matches(w, name);
    kept.push(run);
    group.bench_function(*name, |b| {
        b.iter_custom(|iters| {
            let mut run = make();
            black_box(run(false));
            let start = std::time::Instant::now();
            for _ in 0..iters {
                black_box(run(false));
            }
            let elapsed = start.elapsed();
            kept.push(run);
            elapsed
        })
    });
}

fn recv(c: &mut Criterion) {
    if std::env::var_os("RECV_RACE").is_some() {
        return race::recv::race(recv_rows);
    }
    for kind in Kind::ALL {
        for size in RECV_SIZES {
            let w = Recv::new(kind, size);
            let mut group = c.benchmark_group(format!("recv/{}", w.id()));
            group.throughput(Throughput::ElementsAndBytes {
                elements: w.messages as u64,
                bytes: w.payload_bytes as u64,
            });
            for row in &recv_rows(&w) {
                bench_fresh(&mut group, &w, row);
            }

            // Messages larger than a read: the recv copies into a region as large as the message,
            // where any implementation that delivers it whole and in place puts them (`memcpy`
            // copies into one hot 64 KiB buffer).
            if w.size > READ {
                let mut kept = Vec::new();
                group.bench_function("memcpy_region", |b| {
                    b.iter_custom(|iters| {
                        let (wire, mut region) = (w.wire.clone(), vec![0u8; w.wire.len()]);
                        let start = std::time::Instant::now();
                        for _ in 0..iters {
                            black_box(drive_memcpy_region(black_box(&wire), &mut region));
                        }
                        let elapsed = start.elapsed();
                        kept.push((wire, region));
                        elapsed
                    })
                });
            }

            // The recv copies alone (checked by the number of bytes copied), on fresh memory too.
            assert_eq!(drive_memcpy(&w.wire, &mut vec![0u8; READ]), w.wire.len());
            let mut kept = Vec::new();
            group.bench_function("memcpy", |b| {
                b.iter_custom(|iters| {
                    let (wire, mut buf) = (w.wire.clone(), vec![0u8; READ]);
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        black_box(drive_memcpy(black_box(&wire), &mut buf));
                    }
                    let elapsed = start.elapsed();
                    kept.push((wire, buf));
                    elapsed
                })
            });
            group.finish();
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Send: one binary message per iteration.
// ------------------------------------------------------------------------------------------------

/// Decodes one frame (verification only): (opcode, unmasked payload, was it masked).
fn decode_frame(f: &[u8]) -> (u8, Vec<u8>, bool) {
    let opcode = f[0] & 0x0F;
    assert!(f[0] & 0x80 != 0, "FIN");
    let masked = f[1] & 0x80 != 0;
    let (len, mut at) = match f[1] & 0x7F {
        126 => (u16::from_be_bytes([f[2], f[3]]) as usize, 4),
        127 => (u64::from_be_bytes(f[2..10].try_into().unwrap()) as usize, 10),
        n => (n as usize, 2),
    };
    let key = if masked {
        at += 4;
        [f[at - 4], f[at - 3], f[at - 2], f[at - 1]]
    } else {
        [0; 4]
    };
    assert_eq!(f.len(), at + len, "exactly one frame");
    (opcode, f[at..].iter().enumerate().map(|(i, b)| b ^ key[i & 3]).collect(), masked)
}

fn check_frame(who: &str, frame: &[u8], data: &[u8], client: bool) {
    let (opcode, payload, masked) = decode_frame(frame);
    assert_eq!((opcode, masked), (2, client), "{who}: opcode/mask bit");
    assert!(payload == data, "{who}: payload differs");
}

/// Captures what `f` writes to `sock` (which is rewound first).
fn capture(sock: &Sock, f: impl FnOnce()) -> Vec<u8> {
    sock.rewind();
    f();
    sock.written()
}

/// Message sizes of the send groups.
const SEND_SIZES: [usize; 4] = [16, 1024, 64 * 1024, 1024 * 1024];

/// The slice floor of a server: the header written into the front of `out`, then one copy of the
/// payload after it (in the 1 KiB pieces of [`common::copy_fast`]); what `send_binary` into a
/// large enough slice does at least. Returns the frame's length.
#[inline(always)]
fn floor_slice_copy(data: &[u8], out: &mut [u8]) -> usize {
    let (h, n) = floor_header(data.len(), None);
    out[..n].copy_from_slice(&h[..n]);
    common::copy_fast(&mut out[n..n + data.len()], data);
    n + data.len()
}

/// The slice floor of a client: the header, then one fused copy-and-mask pass ([`copy_mask`]).
#[inline(always)]
fn floor_slice_copy_mask(data: &[u8], key: [u8; 4], out: &mut [u8]) -> usize {
    let (h, n) = floor_header(data.len(), Some(key));
    out[..n].copy_from_slice(&h[..n]);
    let dst = &mut out[n..n + data.len()];
    // SAFETY: `dst` has room for `data.len()` bytes and does not overlap `data` (a `&mut`).
    unsafe { copy_mask(data, dst.as_mut_ptr(), key) };
    n + data.len()
}

/// The header-only floor of a client: the header, and the payload masked in place
/// ([`mask_in_place`]: one read and one write of every byte).
#[inline(always)]
fn floor_header_mask(payload: &mut [u8], key: [u8; 4]) -> ([u8; 14], usize) {
    mask_in_place(payload, key);
    floor_header(payload.len(), Some(key))
}

/// `buf[i] ^= key[i % 4]`: 8-byte words (vectorised by the compiler) and a byte tail, the in-place
/// twin of [`copy_mask_words`].
#[inline(always)]
fn mask_in_place_words(buf: &mut [u8], key: [u8; 4]) {
    let key8 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes(w[..8].try_into().unwrap()) ^ key8;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, k) in words.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask_in_place_avx2(buf: &mut [u8], key: [u8; 4]) {
    mask_in_place_words(buf, key)
}

/// [`mask_in_place_words`], in its AVX2 build where the CPU has AVX2.
#[inline(always)]
fn mask_in_place(buf: &mut [u8], key: [u8; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { mask_in_place_avx2(buf, key) };
    }
    mask_in_place_words(buf, key)
}

/// websocket-sans-io's encoder driven as its docs show (`start_frame`, the header written, then
/// the payload written after it, masked by `transform_frame_payload` for a client), writing into
/// a `Vec`: the payload is appended in 1 KiB pieces and each piece is masked right after it
/// lands (the encoder keeps the key phase across pieces, as its docs allow), while it is in L1.
#[inline(always)]
fn send_sansio(
    encoder: &mut websocket_sans_io::WebsocketFrameEncoder,
    data: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut Vec<u8>,
) {
    use websocket_sans_io::{FrameInfo, Opcode};
    out.clear();
    let info = FrameInfo { opcode: Opcode::Binary, payload_length: data.len() as u64, mask, fin: true, reserved: 0 };
    let header = encoder.start_frame(&info);
    out.reserve(header.len() + data.len());
    out.extend_from_slice(&header);
    if !encoder.transform_needed() {
        return append(out, data);
    }
    for piece in data.chunks(1024) {
        let at = out.len();
        out.extend_from_slice(piece);
        encoder.transform_frame_payload(&mut out[at..]);
    }
}

/// soketto's sans-IO layer (`base::Codec`): `encode_header`, then the payload appended in 1 KiB
/// pieces, each masked with `Codec::apply_mask` right after it lands (a piece is a multiple of 4
/// bytes, so every piece starts at key offset 0). The key comes from `rand::random`, as its
/// `Sender` draws it.
#[inline(always)]
fn send_soketto_codec(codec: &mut soketto::base::Codec, data: &[u8], client: bool, out: &mut Vec<u8>) {
    use soketto::base::{Codec, Header, OpCode};
    out.clear();
    let mut header = Header::new(OpCode::Binary);
    header.set_payload_len(data.len());
    if client {
        header.set_masked(true);
        header.set_mask(rand::random());
    }
    let head = codec.encode_header(&header);
    out.reserve(head.len() + data.len());
    out.extend_from_slice(head);
    if !client {
        return append(out, data);
    }
    for piece in data.chunks(1024) {
        let at = out.len();
        out.extend_from_slice(piece);
        Codec::apply_mask(&header, &mut out[at..]);
    }
}

/// A copy of `data` placed so that a payload written at `dst` sits `offset` bytes after it modulo
/// 4 KiB: where a copy's source and destination sit relative to each other decides its speed
/// (`examples/send_offsets.rs` measures it at every offset: at equal offsets wsmachine's send was
/// faster than yawc's codec at every offset sampled, yet the two rows' buffers, placed by the
/// allocator, met different offsets, which decided the 64 KiB client row in yawc's favour).
fn same_offset_source(data: &[u8], dst: usize, offset: usize) -> Bytes {
    let mut placed = bytes::BytesMut::zeroed(data.len() + 4096);
    let start = dst.wrapping_sub(offset).wrapping_sub(placed.as_ptr() as usize) % 4096;
    placed[start..start + data.len()].copy_from_slice(data);
    let source = placed.freeze().slice(start..start + data.len());
    assert_eq!(dst.wrapping_sub(source.as_ptr() as usize) % 4096, offset);
    source
}

/// wsmachine's three send rows for one role, each beside its floor: `send_binary_vec` into a
/// cleared `Vec` (the README's path, the row named `wsmachine`), `send_binary` into a large
/// enough slice, and `frame_header` alone. `out` is the
/// floor rows' `Vec`: the same destination, so that both copies meet the same offset between
/// source and destination (a `memcpy` of 64 KiB took 1.2-1.8 µs on the AMD host depending only
/// on that offset modulo 4 KiB, which made separate buffers a lottery between the two rows).
fn wsmachine_send_rows<M: wsmachine::Masking>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    conn: &mut Connection<M>,
    data: &[u8],
    masked: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    conn.send_binary_vec(data, out).unwrap();
    check_frame("wsmachine", out, data, masked);
    group.bench_function("wsmachine", |b| {
        b.iter(|| {
            out.clear();
            conn.send_binary_vec(black_box(data), out).unwrap()
        })
    });
    let mut slice = vec![0u8; data.len() + 14];
    let n = conn.send_binary(data, &mut slice).unwrap();
    check_frame("wsmachine_slice", &slice[..n], data, masked);
    group.bench_function("wsmachine_slice", |b| b.iter(|| conn.send_binary(black_box(data), &mut slice).unwrap()));
    // Its floor, into the same slice.
    if masked {
        let mut rng = common::Rng::new(0xF101);
        let n = floor_slice_copy_mask(data, [1, 2, 3, 4], &mut slice);
        check_frame("floor_slice_copy_mask", &slice[..n], data, true);
        group.bench_function("floor_slice_copy_mask", |b| {
            b.iter(|| floor_slice_copy_mask(black_box(data), (rng.next_u64() as u32).to_ne_bytes(), &mut slice))
        });
    } else {
        let n = floor_slice_copy(data, &mut slice);
        check_frame("floor_slice_copy", &slice[..n], data, false);
        group.bench_function("floor_slice_copy", |b| b.iter(|| floor_slice_copy(black_box(data), &mut slice)));
    }

    // `frame_header` only: the payload would go out with writev, copied by nobody here (a
    // client's is masked in place). Its floor: the header alone (server), the header and the
    // in-place mask pass (client).
    let mut payload = data.to_vec();
    let head = conn.frame_header(wsmachine::MessageKind::Binary, &mut payload, true).unwrap();
    check_frame("wsmachine_header_only", &[head.as_bytes(), &payload].concat(), data, masked);
    group.bench_function("wsmachine_header_only", |b| {
        b.iter(|| {
            let head = conn.frame_header(wsmachine::MessageKind::Binary, black_box(&mut payload), true).unwrap();
            black_box(head.as_bytes().len() + payload.len())
        })
    });
    let mut payload = data.to_vec();
    if masked {
        let mut rng = common::Rng::new(0xF102);
        let (h, n) = floor_header_mask(&mut payload, [5, 6, 7, 8]);
        check_frame("floor_header_mask", &[&h[..n], &payload].concat(), data, true);
        group.bench_function("floor_header_mask", |b| {
            b.iter(|| {
                let (h, n) = floor_header_mask(black_box(&mut payload), (rng.next_u64() as u32).to_ne_bytes());
                black_box(h[..n].len() + payload.len())
            })
        });
    } else {
        let (h, n) = floor_header(payload.len(), None);
        check_frame("floor_header_only", &[&h[..n], &payload].concat(), data, false);
        group.bench_function("floor_header_only", |b| {
            b.iter(|| {
                let (h, n) = floor_header(black_box(&mut payload).len(), None);
                black_box(h[..n].len() + payload.len())
            })
        });
    }
}

fn send(c: &mut Criterion) {
    if std::env::var_os("SEND_RACE").is_some() {
        return race::race();
    }
    // The floors at lengths the groups do not use (byte tails, every header length class).
    let mut out = Vec::new();
    for len in [0, 1, 7, 13, 125, 126, 1029, 65535, 65536, 65543] {
        let data = common::payload(Kind::Binary, len);
        floor_header_copy(&data, &mut out);
        check_frame("floor_header_copy", &out, &data, false);
        floor_header_copy_mask(&data, [0x12, 0x34, 0x56, 0x78], &mut out);
        check_frame("floor_header_copy_mask", &out, &data, true);
    }

    for client in [false, true] {
        for size in SEND_SIZES {
            // One source for every row: the peers that take a `Bytes` get (clones of) this one, and
            // wsmachine and the sans-IO rows read the same bytes as a slice.
            let bytes = Bytes::from(common::payload(Kind::Binary, size));
            let data: &[u8] = &bytes;
            let role = if client { "client" } else { "server" };
            let mut group = c.benchmark_group(format!("send_{role}/binary/{}", common::size_name(size)));
            group.throughput(Throughput::ElementsAndBytes { elements: 1, bytes: size as u64 });

            // wsmachine, the README's path: `send_binary_vec` appends the frame to a `Vec` that is
            // cleared before every send (its capacity kept). Client keys come from the OS-seeded
            // ChaCha20 stream (`ChaChaMask::from_entropy`), the unpredictable source a real client
            // uses.
            if client {
                let mut conn = Connection::client(Config::default(), ChaChaMask::from_entropy());
                wsmachine_send_rows(&mut group, &mut conn, data, true, &mut out);
            } else {
                let mut conn = Connection::server(Config::default());
                wsmachine_send_rows(&mut group, &mut conn, data, false, &mut out);
            }
            // Where wsmachine's payload landed relative to its source, modulo 4 KiB (the floor and
            // the sans-IO peers write into the same `out` from the same `data`).
            let ws_offset =
                (out.as_ptr() as usize + out.len() - data.len()).wrapping_sub(data.as_ptr() as usize) % 4096;

            // The peers that write to a socket: the in-memory socket appends what they write to its
            // `Vec` (rewound = cleared before every send), so their frames end up in a `Vec` too:
            // the very `Vec` wsmachine's rows write into (lent to the sockets, then taken back),
            // so that a peer whose payload goes straight to the socket meets the same
            // source-destination offset (one `memcpy` of 1 MiB took 23-28 µs here depending only
            // on that offset, `examples/send_offsets.rs`).
            let shared = Rc::new(RefCell::new(std::mem::take(&mut out)));
            let tung_role =
                if client { tungstenite::protocol::Role::Client } else { tungstenite::protocol::Role::Server };
            let sock = Sock::writing_into(&shared);
            let mut ws = tungstenite::WebSocket::from_raw_socket(sock.clone(), tung_role, None);
            let frame = capture(&sock, || ws.send(tungstenite::Message::Binary(bytes.clone())).unwrap());
            check_frame("tungstenite", &frame, data, client);
            group.bench_function("tungstenite", |b| {
                b.iter(|| {
                    sock.rewind();
                    ws.send(tungstenite::Message::Binary(black_box(&bytes).clone())).unwrap()
                })
            });

            let sock = Sock::writing_into(&shared);
            let mut ws = if client {
                tokio_websockets::ClientBuilder::new().take_over(sock.clone())
            } else {
                tokio_websockets::ServerBuilder::new().serve(sock.clone())
            };
            let frame = capture(&sock, || block_on(ws.send(tokio_websockets::Message::binary(bytes.clone()))).unwrap());
            check_frame("tokio-websockets", &frame, data, client);
            group.bench_function("tokio-websockets", |b| {
                b.iter(|| {
                    sock.rewind();
                    block_on(ws.send(tokio_websockets::Message::binary(black_box(&bytes).clone()))).unwrap()
                })
            });

            let fw_role = if client { fastwebsockets::Role::Client } else { fastwebsockets::Role::Server };
            let sock = Sock::writing_into(&shared);
            let mut ws = fastwebsockets::WebSocket::after_handshake(sock.clone(), fw_role);
            let frame = capture(&sock, || {
                block_on(ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(data))))
                    .unwrap()
            });
            check_frame("fastwebsockets", &frame, data, client);
            group.bench_function("fastwebsockets", |b| {
                b.iter(|| {
                    sock.rewind();
                    block_on(
                        ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(black_box(
                            data,
                        )))),
                    )
                    .unwrap()
                })
            });

            // soketto: the `Sender` of `connection::Builder::new(socket, mode).finish()` (what its
            // handshake hands over), `send_binary` (a client copies the payload into its mask
            // buffer, masks it and writes it; a server writes the borrowed payload).
            let sock = Sock::writing_into(&shared);
            let mode = if client { soketto::Mode::Client } else { soketto::Mode::Server };
            let (mut sender, _receiver) = soketto::connection::Builder::new(sock.clone(), mode).finish();
            let frame = capture(&sock, || block_on(sender.send_binary(&data)).unwrap());
            check_frame("soketto", &frame, data, client);
            group.bench_function("soketto", |b| {
                b.iter(|| {
                    sock.rewind();
                    block_on(sender.send_binary(black_box(&data))).unwrap()
                })
            });

            out = shared.take();

            // soketto's sans-IO frame codec into a `Vec` (`send_soketto_codec`).
            let mut codec = soketto::base::Codec::new();
            send_soketto_codec(&mut codec, data, client, &mut out);
            check_frame("soketto_codec", &out, data, client);
            group.bench_function("soketto_codec", |b| {
                b.iter(|| send_soketto_codec(&mut codec, black_box(data), client, &mut out))
            });

            // websocket-sans-io into a `Vec` (`send_sansio`); the user draws client keys, with
            // `rand::thread_rng` as its `mirror_client` example does.
            let mut encoder = websocket_sans_io::WebsocketFrameEncoder::new();
            let mut rng = rand::thread_rng();
            let mut key = || if client { Some(rand::Rng::gen::<[u8; 4]>(&mut rng)) } else { None };
            send_sansio(&mut encoder, data, key(), &mut out);
            check_frame("websocket-sans-io", &out, data, client);
            group.bench_function("websocket-sans-io", |b| {
                b.iter(|| send_sansio(&mut encoder, black_box(data), key(), &mut out))
            });

            // yawc: `WebSocket::from_stream` (no handshake), `SinkExt::send(Frame::binary(..))`:
            // the frame is encoded into its write buffer (a client's payload copied and masked in
            // one pass), then written to the socket.
            let yawc_role = if client { yawc::Role::Client } else { yawc::Role::Server };
            shared.replace(std::mem::take(&mut out));
            let sock = Sock::writing_into(&shared);
            let mut ws = yawc::WebSocket::from_stream(sock.clone(), yawc_role, yawc::Options::default()).unwrap();
            let frame = capture(&sock, || block_on(ws.send(yawc::Frame::binary(bytes.clone()))).unwrap());
            check_frame("yawc", &frame, data, client);
            group.bench_function("yawc", |b| {
                b.iter(|| {
                    sock.rewind();
                    block_on(ws.send(yawc::Frame::binary(black_box(&bytes).clone()))).unwrap()
                })
            });

            out = shared.take();

            // yawc's codec layer alone: `codec::Encoder::encode` appends the frame to a `BytesMut`
            // (cleared before every send, capacity kept); keys from `rand::random` inside.
            // Its source is placed so that the payload's destination sits where wsmachine's does
            // relative to its source (modulo 4 KiB): see `same_offset_source`.
            let mut encoder = yawc::codec::Encoder::new(yawc_role);
            let mut buf = bytes::BytesMut::new();
            tokio_util::codec::Encoder::encode(&mut encoder, yawc::Frame::binary(bytes.clone()), &mut buf).unwrap();
            let head_len = buf.len() - data.len();
            let bytes = same_offset_source(data, buf.as_ptr() as usize + head_len, ws_offset);
            buf.clear();
            tokio_util::codec::Encoder::encode(&mut encoder, yawc::Frame::binary(bytes.clone()), &mut buf).unwrap();
            assert_eq!((buf.as_ptr() as usize + head_len).wrapping_sub(bytes.as_ptr() as usize) % 4096, ws_offset);
            check_frame("yawc_codec", &buf, data, client);
            group.bench_function("yawc_codec", |b| {
                b.iter(|| {
                    buf.clear();
                    tokio_util::codec::Encoder::encode(
                        &mut encoder,
                        yawc::Frame::binary(black_box(&bytes).clone()),
                        &mut buf,
                    )
                    .unwrap()
                })
            });

            // The copy floor every send into a `Vec` pays.
            if client {
                let mut rng = common::Rng::new(0xF100);
                let key = (rng.next_u64() as u32).to_ne_bytes();
                floor_header_copy_mask(data, key, &mut out);
                check_frame("floor_header_copy_mask", &out, data, true);
                group.bench_function("floor_header_copy_mask", |b| {
                    b.iter(|| {
                        // A key that changes every send (not an unpredictable one: the floor prices
                        // the copy-and-mask pass, not a key source).
                        let key = (rng.next_u64() as u32).to_ne_bytes();
                        floor_header_copy_mask(black_box(data), key, &mut out)
                    })
                });
            } else {
                floor_header_copy(data, &mut out);
                check_frame("floor_header_copy", &out, data, false);
                group.bench_function("floor_header_copy", |b| b.iter(|| floor_header_copy(black_box(data), &mut out)));
            }
            group.finish();
        }
    }
}

/// Server handshake: a browser's upgrade request (`common::UPGRADE_REQUEST`) in, a 101 out.
/// fastwebsockets has no handshake of its own (it upgrades a hyper request), so it has no row.
fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake/server");
    group.throughput(Throughput::Elements(1));

    common::bench_accept_upgrade(&mut group);

    // tungstenite: `accept` reads the request from the socket and writes the response to it.
    let sock = Sock::new(common::UPGRADE_REQUEST.to_vec());
    let response = capture(&sock, || drop(tungstenite::accept(sock.clone()).expect("tungstenite accepts")));
    common::check_101("tungstenite", &response);
    group.bench_function("tungstenite", |b| {
        b.iter(|| {
            sock.rewind();
            tungstenite::accept(sock.clone()).expect("tungstenite accepts")
        })
    });

    // tokio-websockets: `ServerBuilder::accept` over the same socket.
    let builder = tokio_websockets::ServerBuilder::new();
    let sock = Sock::new(common::UPGRADE_REQUEST.to_vec());
    let response = capture(&sock, || drop(block_on(builder.accept(sock.clone())).expect("tokio-websockets accepts")));
    common::check_101("tokio-websockets", &response);
    group.bench_function("tokio-websockets", |b| {
        b.iter(|| {
            sock.rewind();
            block_on(builder.accept(sock.clone())).expect("tokio-websockets accepts")
        })
    });
    group.finish();
}

criterion_group!(benches, recv, send, handshake);
criterion_main!(benches);
