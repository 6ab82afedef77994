//! The send rows raced against each other, interleaved: `SEND_RACE=1 cargo bench -- send_`.
//!
//! Criterion measures one row after another, 1.5 s each; on this shared 2-core host the speed of
//! the machine drifts by ±20 % over minutes, so two rows measured a minute apart compare the
//! drift as much as the code (one run had server 64 KiB at 0.87× the best peer, the next at
//! 1.03×). Here every row runs a short batch (about 2 ms) in turn, the order rotated each round,
//! for many rounds; each round's ratio to wsmachine is taken within the round, and the table
//! shows the median ratio over rounds with its quartiles. Every row reads the same source bytes
//! and writes into the same `Vec` (through the in-memory socket for the peers that write to one),
//! so every payload copy meets the same source-destination offset.
use super::*;
use std::time::Instant;

/// One row: a name and a send of one message (its frame checked once before the race).
struct Row {
    name: &'static str,
    send: Box<dyn FnMut()>,
}

/// The rows of one group, every one appending its frame to `out` (cleared first).
fn rows(client: bool, data: &Bytes, out: &Rc<RefCell<Vec<u8>>>) -> Vec<Row> {
    let mut rows = Vec::new();
    let slice = data.clone();
    let o = out.clone();
    // One closure per role, each holding only its own connection.
    let send: Box<dyn FnMut()> = if client {
        let mut conn = Connection::client(Config::default(), ChaChaMask::from_entropy());
        Box::new(move || {
            let mut out = o.borrow_mut();
            out.clear();
            conn.send_binary_vec(black_box(&slice), &mut out).unwrap();
        })
    } else {
        let mut conn = Connection::server(Config::default());
        Box::new(move || {
            let mut out = o.borrow_mut();
            out.clear();
            conn.send_binary_vec(black_box(&slice), &mut out).unwrap();
        })
    };
    rows.push(Row { name: "wsmachine", send });
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
    });
    let (slice, o) = (data.clone(), out.clone());
    let mut codec = soketto::base::Codec::new();
    rows.push(Row {
        name: "soketto_codec",
        send: Box::new(move || send_soketto_codec(&mut codec, black_box(&slice), client, &mut o.borrow_mut())),
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
    });
    // The harness alone (a boxed closure, the `RefCell`, clearing the `Vec`): what every row's
    // time includes besides its send.
    let o = out.clone();
    rows.push(Row { name: "harness alone", send: Box::new(move || o.borrow_mut().clear()) });
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
    });
    rows
}

/// Races the rows of every send group and prints one table. (At 16 B and 1 KiB every row also
/// pays the same 1-2 ns of the harness, a boxed closure and a `RefCell`, which pulls the ratios
/// there towards 1; criterion's rows measure those sizes without it.)
pub fn race() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(41);
    println!("CPU: {}; {rounds} rounds, each row ~2 ms per round, order rotated", cpu_model());
    println!();
    println!("| workload | row | median ns | ÷ wsmachine, median (quartiles) |");
    println!("|---|---|---:|---|");
    for client in [false, true] {
        for size in [16, 1024, 64 * 1024, 1024 * 1024] {
            let data = Bytes::from(common::payload(Kind::Binary, size));
            // Room for every row's frame from the start: the `Vec` never moves.
            let out = Rc::new(RefCell::new(Vec::with_capacity(size + 64)));
            let mut rows = rows(client, &data, &out);
            // Every row's frame is checked once (yawc's codec writes into its own buffer).
            let at = out.borrow().as_ptr();
            for row in rows.iter_mut().filter(|r| r.name != "yawc_codec" && r.name != "harness alone") {
                (row.send)();
                check_frame(row.name, &out.borrow(), &data, client);
            }
            assert_eq!(out.borrow().as_ptr(), at, "the shared Vec never moves");
            let iters = 2_000_000 / (size / 32).max(10); // ~2 ms at ~32 B/ns, 10 ns at least
            let mut times = vec![Vec::with_capacity(rounds); rows.len()];
            for round in 0..rounds {
                for k in 0..rows.len() {
                    let i = (k + round) % rows.len();
                    let t = Instant::now();
                    for _ in 0..iters {
                        (rows[i].send)();
                    }
                    times[i].push(t.elapsed().as_nanos() as f64 / iters as f64);
                }
            }
            let role = if client { "client" } else { "server" };
            let group = format!("send_{role}/binary/{}", common::size_name(size));
            for (i, row) in rows.iter().enumerate() {
                let mut ratios: Vec<f64> = (0..rounds).map(|r| times[i][r] / times[0][r]).collect();
                ratios.sort_by(|a, b| a.total_cmp(b));
                let mut t = times[i].clone();
                t.sort_by(|a, b| a.total_cmp(b));
                let q = |v: &[f64], p: usize| v[(v.len() - 1) * p / 4];
                println!(
                    "| {group} | {} | {:.0} | {:.2} ({:.2}-{:.2}) |",
                    row.name,
                    q(&t, 2),
                    q(&ratios, 2),
                    q(&ratios, 1),
                    q(&ratios, 3)
                );
            }
        }
    }
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
