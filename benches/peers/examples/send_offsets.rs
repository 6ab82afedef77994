//! How a send's time depends on where the payload's source and destination sit relative to each
//! other (modulo 4 KiB): wsmachine's `send_binary_vec` and yawc's codec `Encoder::encode`, each
//! placed at the same relative offsets (ns per send, best of five loops per offset).
//! Usage: `cargo run --release --example send_offsets -- [SIZE] [client|server]`; prints a table
//! of offset, wsmachine, yawc_codec.
use std::hint::black_box;
use std::time::Instant;

fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(65536);
    let client = args.get(2).is_none_or(|r| r == "client");
    let iters = (4_000_000 / size.max(64)).clamp(20, 100_000);
    let backing: Vec<u8> = (0..size + 8192).map(|i| (i * 7 + 3) as u8).collect();
    let src_base = backing.as_ptr() as usize;
    let head = if size < 126 {
        2
    } else if size <= 0xFFFF {
        4
    } else {
        10
    } + if client { 4 } else { 0 };
    let mut out: Vec<u8> = Vec::with_capacity(size + 8192 + 64);
    let mut buf = bytes::BytesMut::with_capacity(size + 8192 + 64);
    let bytes_backing = bytes::Bytes::from(backing.clone());
    let mut conn_c = wsmachine::Connection::client(wsmachine::Config::default(), wsmachine::ChaChaMask::from_entropy());
    let mut conn_s = wsmachine::Connection::server(wsmachine::Config::default());
    let role = if client { yawc::Role::Client } else { yawc::Role::Server };
    let mut enc = yawc::codec::Encoder::new(role);
    println!(
        "# size {size} {} ; rel = (dst payload - src) mod 4096; ns per send",
        if client { "client" } else { "server" }
    );
    println!("rel\twsmachine\tyawc_codec");
    let rels: Vec<usize> =
        (0..128).step_by(8).chain((128..4096).step_by(256)).chain([4032, 4064, 4080, 4088]).collect();
    for rel in rels {
        // Destination payload address for ours: out.as_ptr() + prefix + head.
        let out_base = out.as_ptr() as usize;
        // choose src offset o in 0..4096 so that (out_base + prefix + head - (src_base + o)) mod 4096 == rel, prefix = 64
        let prefix = 64;
        let o = (out_base + prefix + head).wrapping_sub(src_base).wrapping_sub(rel) & 4095;
        let data = &backing[o..o + size];
        out.clear();
        out.resize(prefix, 0);
        let ours = time(iters, || {
            out.truncate(prefix);
            if client {
                conn_c.send_binary_vec(black_box(data), &mut out).unwrap();
            } else {
                conn_s.send_binary_vec(black_box(data), &mut out).unwrap();
            }
        });
        assert_eq!((out.as_ptr() as usize + prefix + head).wrapping_sub(data.as_ptr() as usize) & 4095, rel);
        // yawc: same relative offset, with its own buffer.
        let buf_base = buf.as_ptr() as usize;
        let yo = (buf_base + prefix + head).wrapping_sub(bytes_backing.as_ptr() as usize).wrapping_sub(rel) & 4095;
        let ysrc = bytes_backing.slice(yo..yo + size);
        buf.clear();
        buf.resize(prefix, 0);
        let theirs = time(iters, || {
            buf.truncate(prefix);
            tokio_util::codec::Encoder::encode(&mut enc, yawc::Frame::binary(black_box(&ysrc).clone()), &mut buf)
                .unwrap();
        });
        assert_eq!(buf.as_ptr() as usize, buf_base, "no reallocation");
        assert_eq!((buf_base + prefix + head).wrapping_sub(ysrc.as_ptr() as usize) & 4095, rel);
        println!("{rel}\t{ours:.0}\t{theirs:.0}");
    }
}
