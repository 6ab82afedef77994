//! The send rows raced against each other, interleaved: `SEND_RACE=1 cargo bench -- send_`.
//!
//! Criterion measures one row after another, 1.5 s each; on this shared 2-core host the speed of
//! the machine drifts by ±20 % over minutes, so two rows measured a minute apart compare the
//! drift as much as the code (one run had server 64 KiB at 0.87× the best peer, the next at
//! 1.03×). Here every row runs a short batch (about 2 ms) in turn, in a new random order each round,
//! for many rounds; each round's ratio to wsmachine is taken within the round, and the table
//! shows the median ratio over rounds with its quartiles. Every row reads the same source bytes
//! and writes into the same `Vec` (through the in-memory socket for the peers that write to one),
//! so every payload copy meets the same source-destination offset.
use super::send::*;
use super::*;
pub mod recv;
use std::time::Instant;

/// A boxed send for one role's connection: a client (keys from `ChaChaMask::from_entropy`) or a
/// server, each closure holding only its own connection; `$body` runs with it as `$conn` and its
/// result goes through `black_box`.
macro_rules! per_role {
    ($client:expr, |$conn:ident| $body:expr) => {{
        let send: Box<dyn FnMut()> = if $client {
            let mut $conn = Connection::client(Config::default(), ChaChaMask::from_entropy());
            Box::new(move || {
                black_box($body);
            })
        } else {
            let mut $conn = Connection::server(Config::default());
            Box::new(move || {
                black_box($body);
            })
        };
        send
    }};
}

/// One row: a name and a send of one message (its frame checked once before the race if it
/// writes into the shared `Vec`).
struct Row {
    name: &'static str,
    send: Box<dyn FnMut()>,
    into_out: bool,
}

/// The rows of one group, every one appending its frame to `out` (cleared first).
fn rows(client: bool, data: &Bytes, out: &Rc<RefCell<Vec<u8>>>) -> Vec<Row> {
    let mut rows = Vec::new();
    let slice = data.clone();
    let o = out.clone();
    let send = per_role!(client, |conn| {
        let mut out = o.borrow_mut();
        out.clear();
        conn.send_binary_vec(black_box(&slice), &mut out).unwrap()
    });
    rows.push(Row { name: "wsmachine", send, into_out: true });
    let (slice, o) = (data.clone(), out.clone());
    let mut rng = common::Rng::new(0xF103);
    rows.push(Row {
        name: if client { "floor_header_copy_mask" } else { "floor_header_copy" },
        send: Box::new(move || {
            let mut out = o.borrow_mut();
            if client {
                floor_header_copy_mask(black_box(&slice), (rng.next_u64() as u32).to_ne_bytes(), &mut out);
            } else {
                floor_header_copy(black_box(&slice), &mut out);
            }
        }),
        into_out: true,
    });
    let (slice, o) = (data.clone(), out.clone());
    let mut codec = soketto::base::Codec::new();
    rows.push(Row {
        name: "soketto_codec",
        send: Box::new(move || send_soketto_codec(&mut codec, black_box(&slice), client, &mut o.borrow_mut())),
        into_out: true,
    });
    let (slice, o) = (data.clone(), out.clone());
    let mut encoder = websocket_sans_io::WebsocketFrameEncoder::new();
    let mut rng = rand::thread_rng();
    rows.push(Row {
        name: "websocket-sans-io",
        send: Box::new(move || {
            let key = if client { Some(rand::Rng::gen::<[u8; 4]>(&mut rng)) } else { None };
            send_sansio(&mut encoder, black_box(&slice), key, &mut o.borrow_mut())
        }),
        into_out: true,
    });
    // yawc's codec writes into its own `BytesMut`; its source is placed at wsmachine's offset.
    let yawc_role = if client { yawc::Role::Client } else { yawc::Role::Server };
    let mut encoder = yawc::codec::Encoder::new(yawc_role);
    let mut buf = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(&mut encoder, yawc::Frame::binary(data.clone()), &mut buf).unwrap();
    let head_len = buf.len() - data.len();
    let ws_offset = {
        let mut out = out.borrow_mut();
        out.clear();
        Connection::server(Config::default()).send_binary_vec(data, &mut out).unwrap();
        let at = out.as_ptr() as usize + out.len() - data.len();
        (at + if client { 4 } else { 0 }).wrapping_sub(data.as_ptr() as usize) % 4096
    };
    let source = same_offset_source(data, buf.as_ptr() as usize + head_len, ws_offset);
    rows.push(Row {
        name: "yawc_codec",
        send: Box::new(move || {
            buf.clear();
            tokio_util::codec::Encoder::encode(&mut encoder, yawc::Frame::binary(black_box(&source).clone()), &mut buf)
                .unwrap()
        }),
        into_out: false,
    });
    // wsmachine's slice and header-only forms, each sharing its buffer with its own floor (the
    // same copy into the same slice; the header alone, or with the payload masked in place).
    let slice_buf = Rc::new(RefCell::new(vec![0u8; data.len() + 14]));
    let (slice, buf) = (data.clone(), slice_buf.clone());
    let send = per_role!(client, |conn| conn.send_binary(black_box(&slice), &mut buf.borrow_mut()).unwrap());
    rows.push(Row { name: "wsmachine_slice", send, into_out: false });
    let (slice, buf) = (data.clone(), slice_buf);
    let mut rng = common::Rng::new(0xF104);
    rows.push(Row {
        name: if client { "floor_slice_copy_mask" } else { "floor_slice_copy" },
        send: Box::new(move || {
            let mut buf = buf.borrow_mut();
            if client {
                floor_slice_copy_mask(black_box(&slice), (rng.next_u64() as u32).to_ne_bytes(), &mut buf);
            } else {
                floor_slice_copy(black_box(&slice), &mut buf);
            }
        }),
        into_out: false,
    });
    let payload = Rc::new(RefCell::new(data.to_vec()));
    let p = payload.clone();
    let kind = wsmachine::MessageKind::Binary;
    let send = per_role!(client, |conn| conn.frame_header(kind, black_box(&mut p.borrow_mut()), true).unwrap());
    rows.push(Row { name: "wsmachine_header_only", send, into_out: false });
    let mut rng = common::Rng::new(0xF105);
    rows.push(Row {
        name: if client { "floor_header_mask" } else { "floor_header_only" },
        send: Box::new(move || {
            let mut p = payload.borrow_mut();
            let head = if client {
                floor_header_mask(black_box(&mut p), (rng.next_u64() as u32).to_ne_bytes())
            } else {
                floor_header(black_box(&mut p).len(), None)
            };
            black_box(head);
        }),
        into_out: false,
    });
    // The harness alone (a boxed closure, the `RefCell`, clearing the `Vec`): what every row's
    // time includes besides its send.
    let o = out.clone();
    rows.push(Row { name: "harness alone", send: Box::new(move || o.borrow_mut().clear()), into_out: false });
    // The peers that write to a socket, whose writes land in `out`.
    let sock = Sock::writing_into(out);
    let fw_role = if client { fastwebsockets::Role::Client } else { fastwebsockets::Role::Server };
    let mut ws = fastwebsockets::WebSocket::after_handshake(sock.clone(), fw_role);
    let slice = data.clone();
    rows.push(Row {
        name: "fastwebsockets",
        send: Box::new(move || {
            sock.rewind();
            block_on(
                ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(black_box(&slice)))),
            )
            .unwrap()
        }),
        into_out: true,
    });
    let sock = Sock::writing_into(out);
    let mut ws = if client {
        tokio_websockets::ClientBuilder::new().take_over(sock.clone())
    } else {
        tokio_websockets::ServerBuilder::new().serve(sock.clone())
    };
    let bytes = data.clone();
    rows.push(Row {
        name: "tokio-websockets",
        send: Box::new(move || {
            sock.rewind();
            block_on(ws.send(tokio_websockets::Message::binary(black_box(&bytes).clone()))).unwrap()
        }),
        into_out: true,
    });
    let sock = Sock::writing_into(out);
    let mode = if client { soketto::Mode::Client } else { soketto::Mode::Server };
    let (mut sender, _receiver) = soketto::connection::Builder::new(sock.clone(), mode).finish();
    let slice = data.clone();
    rows.push(Row {
        name: "soketto",
        send: Box::new(move || {
            sock.rewind();
            block_on(sender.send_binary(black_box(&slice))).unwrap()
        }),
        into_out: true,
    });
    rows
}

/// Races the rows of every send group and prints three tables: every row, the summary of each
/// group (`summary`), and the slice and header-only forms against their floors. (At 16 B and
/// 1 KiB every row also pays the same 2-3 ns of the harness, a boxed closure and a `RefCell`,
/// which pulls the ratios there towards 1; criterion's rows measure those sizes without it.)
pub fn race() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(41);
    println!("CPU: {}; {rounds} rounds, each row ~2 ms per round, in a random order", cpu_model());
    println!();
    println!("{ROWS_HEADER}");
    let (mut forms, mut summaries) = (Vec::new(), Vec::new());
    for client in [false, true] {
        for size in [16, 1024, 64 * 1024, 1024 * 1024] {
            let data = Bytes::from(common::payload(Kind::Binary, size));
            // Room for every row's frame from the start: the `Vec` never moves.
            let out = Rc::new(RefCell::new(Vec::with_capacity(size + 64)));
            let mut rows = rows(client, &data, &out);
            // Every row's frame is checked once (yawc's codec writes into its own buffer).
            let at = out.borrow().as_ptr();
            for row in rows.iter_mut().filter(|r| r.into_out) {
                (row.send)();
                check_frame(row.name, &out.borrow(), &data, client);
            }
            assert_eq!(out.borrow().as_ptr(), at, "the shared Vec never moves");
            let iters = 2_000_000 / (size / 32).max(10); // ~2 ms at ~32 B/ns, 10 ns at least
            let times = run_rounds(rows.len(), rounds, 0x5EED ^ size as u64, |i| {
                let t = Instant::now();
                for _ in 0..iters {
                    (rows[i].send)();
                }
                t.elapsed().as_nanos() as f64 / iters as f64
            });
            let role = if client { "client" } else { "server" };
            let group = format!("send_{role}/binary/{}", common::size_name(size));
            print_rows(&group, &rows.iter().map(|r| r.name).collect::<Vec<_>>(), &times);
            let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
            let is_peer = |n: &str| !(n.starts_with("wsmachine") || n.starts_with("floor") || n == "harness alone");
            summaries.push(summary(&group, &names, &times, is_peer, Some(1)));
            // The slice and header-only forms against their own floors, within each round.
            let index = |name: &str| rows.iter().position(|r| r.name == name).expect("a row of the race");
            let floor = index(rows[1].name);
            for (form, own) in [
                ("wsmachine_slice", if client { "floor_slice_copy_mask" } else { "floor_slice_copy" }),
                ("wsmachine_header_only", if client { "floor_header_mask" } else { "floor_header_only" }),
            ] {
                let (f, o) = (index(form), index(own));
                forms.push(format!(
                    "| {group} | {form} | {} | {own}: {} |",
                    in_round(&times, floor, f),
                    in_round(&times, o, f)
                ));
            }
        }
    }
    println!();
    println!("{SUMMARY_HEADER}");
    for line in summaries {
        println!("{line}");
    }
    println!();
    println!("| workload | form | group's floor ÷ form, median (quartiles) | own floor ÷ form |");
    println!("|---|---|---|---|");
    for line in forms {
        println!("{line}");
    }
}

/// Runs `rounds` rounds over `n` rows, each round in a new random order (from `seed`): a fixed
/// cyclic order, even rotated, keeps each row's neighbours, and a row that always follows one
/// with other buffers always starts cold. `batch(i)` runs row `i`'s timed batch and returns its
/// nanoseconds per iteration; the result holds each row's times, one per round.
fn run_rounds(n: usize, rounds: usize, seed: u64, mut batch: impl FnMut(usize) -> f64) -> Vec<Vec<f64>> {
    let mut rng = common::Rng::new(seed);
    let mut times = vec![Vec::with_capacity(rounds); n];
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..rounds {
        for k in (1..n).rev() {
            order.swap(k, (rng.next_u64() % (k as u64 + 1)) as usize);
        }
        for &i in &order {
            times[i].push(batch(i));
        }
    }
    times
}

/// The header of the per-row table (`print_rows`).
const ROWS_HEADER: &str = "| workload | row | median time | ÷ wsmachine, median (quartiles) |\n|---|---|---:|---|";

/// One line per row: its median time and its time ÷ wsmachine's (row 0) within each round.
fn print_rows(group: &str, names: &[&str], times: &[Vec<f64>]) {
    for (i, name) in names.iter().enumerate() {
        println!("| {group} | {name} | {} | {} |", fmt_ns(quartiles(&times[i]).0), in_round(times, i, 0));
    }
}

/// Row `a`'s time ÷ row `b`'s, taken within each round: "median (first-third quartile)".
fn in_round(times: &[Vec<f64>], a: usize, b: usize) -> String {
    let (m, q1, q3) = quartiles(&(0..times[a].len()).map(|r| times[a][r] / times[b][r]).collect::<Vec<_>>());
    format!("{m:.2} ({q1:.2}-{q3:.2})")
}

/// The median and quartiles of `v`.
fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: usize| v[(v.len() - 1) * p / 4];
    (q(2), q(1), q(3))
}

/// `ns` as "12.3 ns" or "4.56 µs".
fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The summary table's header; `summary` prints its lines (the same for both races, so that
/// `rows.py` reads them alike).
const SUMMARY_HEADER: &str =
    "| workload | wsmachine | fastest peer | fastest peer ÷ wsmachine | floor ÷ wsmachine |\n|---|---:|---|---|---|";

/// One workload's summary line: wsmachine (row 0) and the fastest peer (the lowest median time);
/// then, medians over rounds with quartiles of ratios taken within each round, that peer ÷
/// wsmachine (> 1: wsmachine ahead of every peer) and the floor row ÷ wsmachine, if there is one.
/// (Not the fastest peer *of each round*: the least of several noisy rows that run at the same
/// speed is biased low, by 3 % against peers that all sit at the floor.)
fn summary(
    group: &str,
    names: &[&str],
    times: &[Vec<f64>],
    is_peer: impl Fn(&str) -> bool,
    floor: Option<usize>,
) -> String {
    let within = |i: usize| in_round(times, i, 0);
    let fastest = (0..names.len())
        .filter(|&i| is_peer(names[i]))
        .min_by(|&a, &b| quartiles(&times[a]).0.total_cmp(&quartiles(&times[b]).0))
        .expect("peers in every race");
    format!(
        "| {group} | {} | {} {} | {} | {} |",
        fmt_ns(quartiles(&times[0]).0),
        names[fastest],
        fmt_ns(quartiles(&times[fastest]).0),
        within(fastest),
        floor.map_or("–".to_string(), within)
    )
}

/// The CPU's model name, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
