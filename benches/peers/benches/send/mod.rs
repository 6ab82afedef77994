//! The send side: frame checks, the floors, the sans-IO peers' drivers, and the criterion groups.
use super::*;

// ------------------------------------------------------------------------------------------------
// Send: one binary message per iteration.
// ------------------------------------------------------------------------------------------------

/// Decodes one frame (verification only): (opcode, unmasked payload, was it masked).
pub(crate) fn decode_frame(f: &[u8]) -> (u8, Vec<u8>, bool) {
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

pub(crate) fn check_frame(who: &str, frame: &[u8], data: &[u8], client: bool) {
    let (opcode, payload, masked) = decode_frame(frame);
    assert_eq!((opcode, masked), (2, client), "{who}: opcode/mask bit");
    assert!(payload == data, "{who}: payload differs");
}

/// Captures what `f` writes to `sock` (which is rewound first).
pub(crate) fn capture(sock: &Sock, f: impl FnOnce()) -> Vec<u8> {
    sock.rewind();
    f();
    sock.written()
}

/// Message sizes of the send groups.
pub(crate) const SEND_SIZES: [usize; 4] = [16, 1024, 64 * 1024, 1024 * 1024];

/// The slice floor of a server: the header written into the front of `out`, then one copy of the
/// payload after it (in the 1 KiB pieces of [`common::copy_fast`]); what `send_binary` into a
/// large enough slice does at least. Returns the frame's length.
#[inline(always)]
pub(crate) fn floor_slice_copy(data: &[u8], out: &mut [u8]) -> usize {
    let (h, n) = floor_header(data.len(), None);
    out[..n].copy_from_slice(&h[..n]);
    common::copy_fast(&mut out[n..n + data.len()], data);
    n + data.len()
}

/// The slice floor of a client: the header, then one fused copy-and-mask pass ([`copy_mask`]).
#[inline(always)]
pub(crate) fn floor_slice_copy_mask(data: &[u8], key: [u8; 4], out: &mut [u8]) -> usize {
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
pub(crate) fn floor_header_mask(payload: &mut [u8], key: [u8; 4]) -> ([u8; 14], usize) {
    mask_in_place(payload, key);
    floor_header(payload.len(), Some(key))
}

/// `buf[i] ^= key[i % 4]`: 8-byte words (vectorised by the compiler) and a byte tail, the in-place
/// twin of [`copy_mask_words`].
#[inline(always)]
pub(crate) fn mask_in_place_words(buf: &mut [u8], key: [u8; 4]) {
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
pub(crate) fn mask_in_place_avx2(buf: &mut [u8], key: [u8; 4]) {
    mask_in_place_words(buf, key)
}

/// [`mask_in_place_words`], in its AVX2 build where the CPU has AVX2.
#[inline(always)]
pub(crate) fn mask_in_place(buf: &mut [u8], key: [u8; 4]) {
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
pub(crate) fn send_sansio(
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
pub(crate) fn send_soketto_codec(codec: &mut soketto::base::Codec, data: &[u8], client: bool, out: &mut Vec<u8>) {
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
pub(crate) fn same_offset_source(data: &[u8], dst: usize, offset: usize) -> Bytes {
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
pub(crate) fn wsmachine_send_rows<M: wsmachine::Masking>(
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

pub(crate) fn send(c: &mut Criterion) {
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
