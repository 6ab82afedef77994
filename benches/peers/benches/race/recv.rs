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
use super::super::{common, Kind, Recv, RECV_SIZES};
use super::{cpu_model, quartiles, summary, SUMMARY_HEADER};
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
    println!("| workload | row | median µs per pass | ÷ wsmachine, median (quartiles) |");
    println!("|---|---|---:|---|");
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
            let mut times = vec![Vec::with_capacity(rounds); rows.len()];
            let mut rng = common::Rng::new(0x5EED ^ size as u64 ^ (kind as u64) << 32);
            let mut order: Vec<usize> = (0..rows.len()).collect();
            for _ in 0..rounds {
                for k in (1..order.len()).rev() {
                    order.swap(k, (rng.next_u64() % (k as u64 + 1)) as usize);
                }
                for &i in &order {
                    let mut run = (rows[i].1)();
                    black_box(run(false));
                    let t = Instant::now();
                    for _ in 0..iters[i] {
                        black_box(run(false));
                    }
                    times[i].push(t.elapsed().as_nanos() as f64 / iters[i] as f64);
                    kept.push(run);
                }
            }
            let group = format!("recv/{}", w.id());
            for (i, (name, _)) in rows.iter().enumerate() {
                let ratios: Vec<f64> = (0..rounds).map(|r| times[i][r] / times[0][r]).collect();
                let (median, lo, hi) = quartiles(&ratios);
                let us = quartiles(&times[i]).0 / 1000.0;
                println!("| {group} | {name} | {us:.2} | {median:.2} ({lo:.2}-{hi:.2}) |");
            }
            let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
            summaries.push(summary(&group, &names, &times, |n| PEERS.contains(&n), None));
        }
    }
    println!();
    println!("{SUMMARY_HEADER}");
    for line in summaries {
        println!("{line}");
    }
}
