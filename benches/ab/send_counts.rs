//! Fixed-iteration send driver for instruction-count A/B runs (`send.sh`): ITERS sends of a
//! SIZE-byte binary message into a `Vec` cleared before each, as the peers bench's
//! `send_server` / `send_client` rows do, or the server copy floor of that bench
//! (`floor_header_copy`: the header, then the payload appended in 1 KiB pieces).
//! `slice` / `client_slice` send into a slice with `send_binary`, `header` / `client_header` call
//! `frame_header` alone (a client's masks the payload in place).
//! Usage: `send_counts SIZE ITERS [server|client|floor|client_floor|slice_floor|slice|client_slice|header|client_header]`; prints the mean nanoseconds per send
//! on stderr (a rough timing; the instruction counts are the point).
use std::hint::black_box;

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = args[1].parse().unwrap();
    let iters: usize = args[2].parse().unwrap();
    let mode = args.get(3).map_or("server", String::as_str);
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    let mut out = Vec::new();
    let mut total = 0;
    let t0 = std::time::Instant::now();
    match mode {
        "floor" => {
            for _ in 0..iters {
                common::floor_header_copy(black_box(&data), &mut out);
                total += black_box(out.len());
            }
        }
        "client_floor" => {
            // The client floor of the peers bench: the header with a key that changes every send
            // (a xorshift, not an unpredictable source), then one fused copy-and-mask pass.
            let mut rng = common::Rng::new(0xF100);
            for _ in 0..iters {
                let key = (rng.next_u64() as u32).to_ne_bytes();
                common::floor_header_copy_mask(black_box(&data), key, &mut out);
                total += black_box(out.len());
            }
        }
        "slice_floor" => {
            // The slice form's floor: the header, then one copy of the payload after it.
            let mut slice = vec![0u8; size + 14];
            for _ in 0..iters {
                let data = black_box(&data);
                let (h, n) = common::floor_header(data.len(), None);
                slice[..n].copy_from_slice(&h[..n]);
                slice[n..n + data.len()].copy_from_slice(data);
                total += n + data.len();
            }
            black_box(&slice);
        }
        "slice" | "client_slice" => {
            let mut slice = vec![0u8; size + 14];
            if mode == "slice" {
                let mut conn = wsmachine::Connection::server(wsmachine::Config::default());
                for _ in 0..iters {
                    total += conn.send_binary(black_box(&data), &mut slice).unwrap();
                }
            } else {
                let mask = wsmachine::ChaChaMask::from_seed([7; 32]);
                let mut conn = wsmachine::Connection::client(wsmachine::Config::default(), mask);
                for _ in 0..iters {
                    total += conn.send_binary(black_box(&data), &mut slice).unwrap();
                }
            }
            black_box(&slice);
        }
        "header" | "client_header" => {
            let mut payload = data.clone();
            let kind = wsmachine::MessageKind::Binary;
            if mode == "header" {
                let mut conn = wsmachine::Connection::server(wsmachine::Config::default());
                for _ in 0..iters {
                    let head = conn.frame_header(kind, black_box(&mut payload), true).unwrap();
                    total += head.as_bytes().len() + payload.len();
                }
            } else {
                let mask = wsmachine::ChaChaMask::from_seed([7; 32]);
                let mut conn = wsmachine::Connection::client(wsmachine::Config::default(), mask);
                for _ in 0..iters {
                    let head = conn.frame_header(kind, black_box(&mut payload), true).unwrap();
                    total += head.as_bytes().len() + payload.len();
                }
            }
        }
        "client" => {
            let mask = wsmachine::ChaChaMask::from_seed([7; 32]);
            let mut conn = wsmachine::Connection::client(wsmachine::Config::default(), mask);
            for _ in 0..iters {
                out.clear();
                total += conn.send_binary_vec(black_box(&data), &mut out).unwrap();
            }
        }
        _ => {
            let mut conn = wsmachine::Connection::server(wsmachine::Config::default());
            for _ in 0..iters {
                out.clear();
                total += conn.send_binary_vec(black_box(&data), &mut out).unwrap();
            }
        }
    }
    eprintln!("{:.2} ns/send", t0.elapsed().as_nanos() as f64 / iters as f64);
    let head = if size < 126 { 2 } else if size <= 0xFFFF { 4 } else { 10 };
    let head = head + if mode.starts_with("client") { 4 } else { 0 };
    assert_eq!(total, iters * (head + size));
}
