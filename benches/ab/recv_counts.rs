//! Fixed-iteration receive driver for instruction-count A/B runs (perf stat): the peers bench's
//! default row (Config::default() + RecvBuffer, reads of at most 64 KiB), N passes over a wire.
#[path = "../benches/common/mod.rs"]

mod common;
use common::{Kind, Recv};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = match args[1].as_str() { "binary" => Kind::Binary, "ascii" => Kind::Ascii, _ => Kind::Mixed };
    let size: usize = args[2].parse().unwrap();
    let iters: usize = args[3].parse().unwrap();
    let w = Recv::new(kind, size);
    let mut conn = wsmachine::Connection::server(wsmachine::Config::default());
    let mut buf = wsmachine::RecvBuffer::new();
    let mut total = 0;
    for _ in 0..iters {
        let seen = common::drive_recv_buffer(&mut conn, &w.wire, &mut buf, false);
        total += seen.messages;
    }
    assert_eq!(total, iters * w.messages);
}
