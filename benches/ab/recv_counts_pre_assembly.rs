//! Fixed-iteration receive driver for instruction-count A/B runs (`run.sh`): N passes over a
//! wire of the peers bench (masked client frames, reads of at most 64 KiB), in one of its three
//! wsmachine rows. Usage: `recv_counts KIND SIZE PASSES [recvbuf|fixed|stream]`.
#[path = "../benches/common/mod.rs"]
mod common;
use common::{Kind, Recv};

fn main() {
    // The driver for revisions before `Assembly` (API 1.0), e.g. 66286e1: `drive_recv` took no
    // assembly there, and `Delivery::Stream` delivered whole frames as messages.
    let args: Vec<String> = std::env::args().collect();
    let kind = match args[1].as_str() { "binary" => Kind::Binary, "ascii" => Kind::Ascii, _ => Kind::Mixed };
    let size: usize = args[2].parse().unwrap();
    let iters: usize = args[3].parse().unwrap();
    let mode = args.get(4).map_or("recvbuf", String::as_str);
    let w = Recv::new(kind, size);
    let mut total = 0;
    if mode == "recvbuf" {
        // The default row: Config::default() + RecvBuffer.
        let mut conn = wsmachine::Connection::server(wsmachine::Config::default());
        let mut buf = wsmachine::RecvBuffer::new();
        for _ in 0..iters {
            total += common::drive_recv_buffer(&mut conn, &w.wire, &mut buf, false).messages;
        }
    } else {
        // `read` on a fixed 64 KiB buffer, whole messages (`fixed`) or `Delivery::Stream`.
        let mut cfg = wsmachine::Config::default();
        if mode == "stream" {
            cfg = cfg.delivery(wsmachine::Delivery::Stream);
        }
        let mut conn = wsmachine::Connection::server(cfg);
        let mut fixed = vec![0u8; 64 << 10];
        for _ in 0..iters {
            total += common::drive_recv(&mut conn, &w.wire, &mut fixed, false).messages;
        }
    }
    assert_eq!(total, iters * w.messages);
}
