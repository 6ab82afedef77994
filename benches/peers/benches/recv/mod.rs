//! The receive side: every implementation's driver over the in-memory socket, the row list
//! shared by the criterion groups and the race, and the criterion groups.
use super::*;

// ------------------------------------------------------------------------------------------------
// Receive drivers: each reads exactly `w.messages` messages from a rewound socket.
// ------------------------------------------------------------------------------------------------

pub(crate) fn recv_tungstenite(ws: &mut tungstenite::WebSocket<Sock>, w: &Recv, hash: bool) -> Seen {
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

pub(crate) fn recv_tokio_websockets(ws: &mut tokio_websockets::WebSocketStream<Sock>, w: &Recv, hash: bool) -> Seen {
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

pub(crate) fn recv_fastwebsockets(ws: &mut fastwebsockets::WebSocket<Sock>, sock: &Sock, w: &Recv, hash: bool) -> Seen {
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

pub(crate) fn recv_yawc(ws: &mut yawc::WebSocket<Sock>, sock: &Sock, w: &Recv, hash: bool) -> Seen {
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
pub(crate) struct SansIoRx {
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
pub(crate) fn deliver_sansio(seen: &mut Seen, payload: &[u8], text: bool, hash: bool) {
    if text && simdutf8::basic::from_utf8(payload).is_err() {
        panic!("invalid UTF-8");
    }
    seen.add(payload, hash);
}

pub(crate) fn drive_sansio(rx: &mut SansIoRx, wire: &[u8], hash: bool) -> Seen {
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
pub(crate) fn drive_minimal(rx: &mut Receiver, wire: &[u8], hash: bool) -> Seen {
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
pub(crate) fn drive_memcpy_region(wire: &[u8], region: &mut [u8]) -> usize {
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
pub(crate) type RecvRow<'a> = (&'static str, Box<dyn Fn() -> RecvRun<'a> + 'a>);
pub(crate) type RecvRun<'a> = Box<dyn FnMut(bool) -> Seen + 'a>;

/// Boxes a row: `make` builds the state, `run` runs one pass over it.
pub(crate) fn recv_row<'a, S: 'a>(
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
pub(crate) fn recv_rows(w: &Recv) -> Vec<RecvRow<'_>> {
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
pub(crate) fn bench_fresh(
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

pub(crate) fn recv(c: &mut Criterion) {
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
