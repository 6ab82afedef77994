//! Criterion benchmarks of wsmachine alone: receive (server role, masked client frames), server
//! send, client send (with ChaCha20 mask keys), each next to a memcpy baseline of the same bytes;
//! the floor of in-place receive for 1 MiB; masking and UTF-8 kernels; compressed echo; the server handshake.
//!
//! Run: `cargo bench --bench wsmachine -- --warm-up-time 1 --measurement-time 3`.
//! The comparison with other crates is in `benches/peers` (its own workspace).

mod common;

use std::hint::black_box;

use common::{copy_fast, drive_memcpy, drive_recv, drive_recv_buffer, Kind, Recv, Seen, READ, RECV_SIZES, SEND_SIZES};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wsmachine::{Assembly, ChaChaMask, Config, Connection, Event, MaskSource, RecvBuffer};

fn recv(c: &mut Criterion) {
    for kind in Kind::ALL {
        for size in RECV_SIZES {
            let w = Recv::new(kind, size);
            let mut group = c.benchmark_group(format!("recv/{}", w.id()));
            group.throughput(Throughput::ElementsAndBytes {
                elements: w.messages as u64,
                bytes: w.payload_bytes as u64,
            });
            let mut buf = vec![0u8; READ];
            let mut conn = Connection::server(Config::default());
            let mut assembly = Assembly::new();
            // Verify before timing: every message, every byte.
            drive_recv(&mut conn, &w.wire, &mut buf, &mut assembly, true).assert_matches(&w, "wsmachine");
            group.bench_function("wsmachine", |b| {
                b.iter(|| drive_recv(&mut conn, black_box(&w.wire), &mut buf, &mut assembly, false))
            });
            // The same through a `RecvBuffer`: messages that span reads wait in it, no assembly copy.
            let mut conn = Connection::server(Config::default());
            let mut recv_buffer = RecvBuffer::new();
            drive_recv_buffer(&mut conn, &w.wire, &mut recv_buffer, true).assert_matches(&w, "wsmachine_recv_buffer");
            group.bench_function("wsmachine_recv_buffer", |b| {
                b.iter(|| drive_recv_buffer(&mut conn, black_box(&w.wire), &mut recv_buffer, false))
            });
            group.bench_function("memcpy", |b| b.iter(|| drive_memcpy(black_box(&w.wire), &mut buf)));
            group.finish();
        }
    }
}

/// The same workload as `recv`, with the restore done by `iter_batched_ref` outside the timing
/// (a whole-stream copy, then reads of at most 64 KiB in place): unmasking + parsing alone.
fn recv_in_place(c: &mut Criterion) {
    for size in [16usize, 1024] {
        let w = Recv::new(Kind::Binary, size);
        let mut group = c.benchmark_group(format!("recv_in_place/{}", w.id()));
        group.throughput(Throughput::ElementsAndBytes { elements: w.messages as u64, bytes: w.payload_bytes as u64 });
        let mut conn = Connection::server(Config::default());
        let mut assembly = Assembly::new();
        group.bench_function("wsmachine", |b| {
            b.iter_batched_ref(
                || w.wire.clone(),
                |input| {
                    let mut seen = Seen::new();
                    for chunk in input.chunks_mut(READ) {
                        // `read` on the unused rest until no event: then all of it was used.
                        let mut start = 0;
                        loop {
                            let r = conn.read(&mut chunk[start..], &mut assembly).expect("valid input");
                            start += r.consumed;
                            match r.event {
                                Some(Event::Message(m)) => seen.add(m.as_bytes(), false),
                                Some(_) => unreachable!(),
                                None => break,
                            }
                        }
                    }
                    assert_eq!(seen.messages, w.messages);
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

/// The floor of an in-place receiver for a 1 MiB binary message (the peers tie there, see
/// `benches/peers/README.md`): the recv copies into a message-sized region, then one unmasking
/// pass, run at three points: over the whole frame at the end (what `RecvBuffer` does), after
/// each 64 KiB read, after each 16 KiB (with 16 KiB reads). `copy_to_hot_64KiB` is the copy alone
/// into one reused buffer (the `memcpy` row of `recv`).
fn floor_1mib(c: &mut Criterion) {
    let w = Recv::new(Kind::Binary, 1 << 20);
    assert_eq!(w.messages, 1);
    let header = w.wire.len() - w.size;
    let key: [u8; 4] = w.wire[header - 4..header].try_into().unwrap();
    let mut group = c.benchmark_group("floor/binary/1MiB");
    group.throughput(Throughput::Bytes(w.size as u64));
    let mut region = vec![0u8; w.wire.len()];
    let copy_unmasking_every = |region: &mut [u8], piece: usize, unmask: bool| {
        for (at, src) in (0..).step_by(piece).zip(w.wire.chunks(piece)) {
            copy_fast(&mut region[at..at + src.len()], src);
            if unmask {
                // The payload bytes of this piece, at their offset in the payload.
                let from = at.max(header);
                wsmachine::mask::apply_mask(&mut region[from..at + src.len()], key, from - header);
            }
            black_box(&mut *region);
        }
    };
    let whole = |region: &mut [u8]| {
        copy_unmasking_every(region, READ, false);
        wsmachine::mask::apply_mask(&mut region[header..], key, 0);
    };
    // Verify every variant that unmasks before timing it.
    for run in [&whole as &dyn Fn(&mut [u8]), &|r: &mut [u8]| copy_unmasking_every(r, READ, true), &|r: &mut [u8]| {
        copy_unmasking_every(r, 16 * 1024, true)
    }] {
        region.fill(0);
        run(&mut region);
        assert_eq!(common::fnv(common::FNV_START, &region[header..]), w.checksum);
    }
    group.bench_function("copy_to_region", |b| b.iter(|| copy_unmasking_every(&mut region, READ, false)));
    group.bench_function("copy_then_unmask_whole", |b| b.iter(|| whole(&mut region)));
    group.bench_function("unmask_after_each_64KiB_read", |b| b.iter(|| copy_unmasking_every(&mut region, READ, true)));
    group.bench_function("unmask_after_each_16KiB_read", |b| {
        b.iter(|| copy_unmasking_every(&mut region, 16 * 1024, true))
    });
    let mut hot = vec![0u8; READ];
    group.bench_function("copy_to_hot_64KiB", |b| b.iter(|| drive_memcpy(black_box(&w.wire), &mut hot)));
    group.finish();
}

fn send(c: &mut Criterion) {
    for size in SEND_SIZES {
        let data = common::payload(Kind::Binary, size);
        let mut out = vec![0u8; size + 14];
        let mut server = Connection::server(Config::default());
        // Unpredictable keys from the OS-seeded ChaCha20 stream, as a real client uses (§5.3).
        let mut client = Connection::client(Config::default(), ChaChaMask::from_entropy());
        // Verify: the server frame is header + payload; the client frame unmasks to the payload.
        let n = server.send_binary(&data, &mut out).unwrap();
        assert_eq!(&out[n - size..n], &data[..]);
        let n = client.send_binary(&data, &mut out).unwrap();
        let key = [out[n - size - 4], out[n - size - 3], out[n - size - 2], out[n - size - 1]];
        let unmasked: Vec<u8> = out[n - size..n].iter().enumerate().map(|(i, b)| b ^ key[i & 3]).collect();
        assert_eq!(unmasked, data);

        let mut group = c.benchmark_group(format!("send/binary/{}", common::size_name(size)));
        group.throughput(Throughput::ElementsAndBytes { elements: 1, bytes: size as u64 });
        group
            .bench_function("wsmachine_server", |b| b.iter(|| server.send_binary(black_box(&data), &mut out).unwrap()));
        group
            .bench_function("wsmachine_client", |b| b.iter(|| client.send_binary(black_box(&data), &mut out).unwrap()));
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                copy_fast(&mut out[..size], black_box(&data));
                black_box(&mut out);
            })
        });
        group.finish();
    }
    // The mask source alone (one key per client frame).
    let mut mask = ChaChaMask::from_seed([9; 32]);
    c.bench_function("mask_key/chacha20", |b| b.iter(|| black_box(mask.next_key())));
}

fn mask_and_utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernels");
    for size in [1024usize, 64 * 1024] {
        let mut data = common::payload(Kind::Binary, size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("apply_mask/{}", common::size_name(size)), |b| {
            b.iter(|| wsmachine::mask::apply_mask(black_box(&mut data), [1, 2, 3, 4], 1))
        });
        let src = data.clone();
        group.bench_function(format!("copy_masked/{}", common::size_name(size)), |b| {
            b.iter(|| wsmachine::mask::copy_masked(black_box(&src), &mut data, [1, 2, 3, 4]))
        });
        for kind in [Kind::Ascii, Kind::Mixed] {
            let text = common::payload(kind, size);
            group.bench_function(format!("utf8_validate/{}/{}", kind.name(), common::size_name(size)), |b| {
                b.iter(|| wsmachine::utf8::validate(black_box(&text)).is_some())
            });
            // The crate's validator next to simdutf8 alone, on the same bytes in the same run.
            #[cfg(feature = "simdutf8")]
            group.bench_function(format!("simdutf8/{}/{}", kind.name(), common::size_name(size)), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&text)).is_ok())
            });
            group.bench_function(format!("utf8_feed/{}/{}", kind.name(), common::size_name(size)), |b| {
                b.iter(|| {
                    let mut v = wsmachine::utf8::Utf8Validator::new();
                    v.feed(black_box(&text)) && v.is_complete()
                })
            });
        }
    }
    group.finish();
}

/// Compressed echo (permessage-deflate): a client compresses and masks a text message, the
/// server unmasks, inflates and validates it, next to the same echo without compression.
/// None of the peers in `benches/peers` implements permessage-deflate, so this has no peer rows.
#[cfg(feature = "deflate")]
fn deflate_echo(c: &mut Criterion) {
    use wsmachine::deflate::DeflateConfig;
    for size in [1024usize, 64 * 1024] {
        let text: String = common::payload(Kind::Ascii, size).iter().map(|&b| b as char).collect();
        let params = DeflateConfig::new().accept_offer([("client_max_window_bits", None)]).expect("offer");
        let mut group = c.benchmark_group(format!("echo/text/{}", common::size_name(size)));
        group.throughput(Throughput::ElementsAndBytes { elements: 1, bytes: size as u64 });
        for compressed in [true, false] {
            let mut client = Connection::client(Config::default(), ChaChaMask::from_entropy());
            let mut server = Connection::server(Config::default());
            let mut assembly = Assembly::new();
            if compressed {
                client = client.with_deflate(&params);
                server = server.with_deflate(&params);
            }
            let mut wire = Vec::with_capacity(size * 2);
            let mut run = |check: bool| {
                wire.clear();
                client.send_text_vec(black_box(&text), &mut wire).expect("send");
                let read = server.read(&mut wire, &mut assembly).expect("valid");
                let (consumed, len) = match read.event {
                    Some(Event::Message(m)) => {
                        if check {
                            assert_eq!(m.as_bytes(), text.as_bytes());
                        }
                        (read.consumed, m.as_bytes().len())
                    }
                    other => panic!("unexpected {other:?}"),
                };
                if check {
                    // The read contract: the rest gives no event, so the message used all.
                    let rest = server.read(&mut wire[consumed..], &mut assembly).expect("valid");
                    assert!(rest.event.is_none() && consumed == wire.len());
                }
                len
            };
            run(true);
            let name = if compressed { "wsmachine_deflate" } else { "wsmachine_plain" };
            group.bench_function(name, |b| b.iter(|| run(false)));
        }
        group.finish();
    }
}

/// A server echoing compressed messages with no context takeover both ways (RFC 7692 §7.1.1),
/// as `benches/load`'s deflate cases do: per message, the server unmasks, inflates and
/// validates a client's compressed text, sends it back (compressed or not, by the server's
/// `min_compress_len_no_context`), and, as every driver must, reads again until no event is left. One
/// message per read (the driver then waits for input after each), or 64 pipelined in one read.
#[cfg(feature = "deflate")]
fn deflate_echo_no_context(c: &mut Criterion) {
    use wsmachine::deflate::DeflateConfig;
    let offer = [("client_max_window_bits", None), ("client_no_context_takeover", None)];
    for size in [32usize, 16 * 1024] {
        let text: String = common::payload(Kind::Ascii, size).iter().map(|&b| b as char).collect();
        // The client compresses every message, as browsers do.
        let client_cfg = DeflateConfig::new().no_context_takeover(true);
        let mut client = Connection::client(Config::default(), ChaChaMask::from_entropy())
            .with_deflate(&client_cfg.accept_offer(offer).expect("offer"));
        let mut one = Vec::new();
        client.send_text_vec(&text, &mut one).expect("send");
        assert_eq!(one[0] & 0x40, 0x40, "the client's message is compressed");
        let mut many = Vec::new();
        for _ in 0..64 {
            client.send_text_vec(&text, &mut many).expect("send");
        }
        // Compress every echo (the default), or send those under 128 B plain.
        let mins = [0, 128];
        for (pristine, messages) in [(&one, 1usize), (&many, 64)] {
            let shape = if messages == 1 { "one_per_read" } else { "64_per_read" };
            let mut group = c.benchmark_group(format!("echo_no_context/text/{}/{shape}", common::size_name(size)));
            group.throughput(Throughput::ElementsAndBytes {
                elements: messages as u64,
                bytes: (size * messages) as u64,
            });
            for &min in &mins {
                let server_cfg = DeflateConfig::new().no_context_takeover(true).min_compress_len_no_context(min);
                let mut server =
                    Connection::server(Config::default()).with_deflate(&server_cfg.accept_offer(offer).expect("offer"));
                let mut assembly = Assembly::new();
                let mut wire = pristine.clone();
                let mut out = Vec::with_capacity(messages * (size + 64));
                let mut run = |check: bool| {
                    wire.copy_from_slice(pristine);
                    out.clear();
                    let (mut at, mut echoed) = (0, 0);
                    loop {
                        let read = server.read(&mut wire[at..], &mut assembly).expect("valid");
                        at += read.consumed;
                        match read.event {
                            Some(Event::Message(wsmachine::Message::Text(t))) => {
                                if check {
                                    assert_eq!(t, text);
                                }
                                server.send_text_vec(t, &mut out).expect("send");
                                echoed += 1;
                            }
                            None => break,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    assert!(echoed == messages && at == wire.len());
                    out.len()
                };
                run(true);
                let name =
                    if min == 0 { "compress_all".to_string() } else { format!("min_compress_len_no_context_{min}") };
                group.bench_function(name, |b| b.iter(|| run(false)));
            }
            group.finish();
        }
    }
}

#[cfg(not(feature = "deflate"))]
fn deflate_echo(_: &mut Criterion) {}

#[cfg(not(feature = "deflate"))]
fn deflate_echo_no_context(_: &mut Criterion) {}

/// Server handshake: parse a browser's upgrade request, accept it, write the 101.
fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake/server");
    group.throughput(Throughput::Elements(1));
    common::bench_accept_upgrade(&mut group);
    group.finish();
}

criterion_group!(
    benches,
    recv,
    recv_in_place,
    floor_1mib,
    send,
    mask_and_utf8,
    deflate_echo,
    deflate_echo_no_context,
    handshake
);
criterion_main!(benches);
