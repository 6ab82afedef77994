//! The receive rows raced against each other, interleaved: `RECV_RACE=1 cargo bench -- recv/`.
//!
//! The same reason and method as the send race (`mod.rs`): criterion measures one row after
//! another, and this shared host drifts by ±20 % over minutes. Here every round gives every row
//! of a workload a fresh state (new memory, as `bench_fresh` gives each criterion sample: the
//! physical pages a receive buffer lands on change its speed by up to 1.5× on this host), one
//! untimed pass, then a timed batch of about 3 ms, in a new random order each round. Each round's
//! ratios are taken within the round; the states stay allocated until the workload is done, so
//! no round reuses another's pages.
use super::super::recv::RecvRow;
use super::super::{Kind, Recv, RECV_SIZES};
use super::{cpu_model, print_rows, run_rounds, summary, ROWS_HEADER, SUMMARY_HEADER};
use std::hint::black_box;
use std::time::Instant;

/// The peers among the rows (the others are wsmachine's and the minimal receiver).
const PEERS: [&str; 5] = ["tungstenite", "tokio-websockets", "fastwebsockets", "websocket-sans-io", "yawc"];

/// Races every row of every receive workload and prints two tables: every row against
/// wsmachine's default row, and each workload's summary (`summary`).
pub fn race(rows_for: for<'a> fn(&'a Recv) -> Vec<RecvRow<'a>>) {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(41);
    println!("CPU: {}; {rounds} rounds, each row ~3 ms per round on fresh memory, in a random order", cpu_model());
    println!();
    println!("{ROWS_HEADER}");
    let mut summaries = Vec::new();
    for kind in Kind::ALL {
        for size in RECV_SIZES {
            let w = Recv::new(kind, size);
            let rows = rows_for(&w);
            // Each row checked once, with checksums, and its batch sized from a warm pass.
            let iters: Vec<usize> = rows
                .iter()
                .map(|(name, make)| {
                    let mut run = make();
                    run(true).assert_matches(&w, name);
                    let t = Instant::now();
                    black_box(run(false));
                    (3_000_000 / (t.elapsed().as_nanos() as usize).max(1)).clamp(1, 10_000)
                })
                .collect();
            let mut kept = Vec::new();
            let seed = 0x5EED ^ size as u64 ^ (kind as u64) << 32;
            let times = run_rounds(rows.len(), rounds, seed, |i| {
                let mut run = (rows[i].1)();
                black_box(run(false));
                let t = Instant::now();
                for _ in 0..iters[i] {
                    black_box(run(false));
                }
                let ns = t.elapsed().as_nanos() as f64 / iters[i] as f64;
                kept.push(run);
                ns
            });
            let group = format!("recv/{}", w.id());
            let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
            print_rows(&group, &names, &times);
            summaries.push(summary(&group, &names, &times, |n| PEERS.contains(&n), None));
        }
    }
    println!();
    println!("{SUMMARY_HEADER}");
    for line in summaries {
        println!("{line}");
    }
}
