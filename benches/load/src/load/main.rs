//! Load generator for issue #19: whole echo servers under load, side by side.
//!
//! ```text
//! load [--quick] [--secs S] [--rate MSGS_PER_S] [--idle N] [--only CASE[,CASE..]]
//!      [--out FILE] [--logs DIR] NAME=CMD [NAME=raw:CMD ..]
//! ```
//!
//! For every case and every server, starts the server (`CMD` through `sh -c`, `{addr}`
//! replaced by a free loopback port), runs the case, kills the server by PID, then prints one
//! Markdown table (rows: cases, columns: servers) and writes it to `--out`. `raw:` marks the
//! plain TCP echo, which sends back our own bytes (the upgrade request, masked frames).
//!
//! The generator is one thread on mio with every frame encoded up front; it reads its own CPU
//! and the server's from /proc, and marks a figure whose run cost the generator more than half
//! the server's CPU with † (generator-bound: the server may be faster than shown). Every echo is
//! checked byte for byte; any failure is shown in the table and makes the exit status 1.
//! Every loop is bounded in count and time; all traffic stays on loopback (127.0.0.0/8).

#[allow(dead_code)]
#[path = "../wire.rs"]
mod wire;

mod crowd;
mod deflate;
mod echo;
mod proc;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use proc::{Cpu, Server, Spec};

struct Opts {
    secs: f64,
    warm: f64,
    rate: u64,
    idle: usize,
    quick: bool,
    logs: PathBuf,
}

/// One case against one server: the figure shown, and the CPU it took.
struct Cell {
    text: String,
    cpu: Option<Cpu>,
    failed: bool,
}

type Case = fn(&Opts, &Spec, &Server) -> Result<(String, Option<Cpu>), String>;

const CASES: [(&str, &str, Case); 12] = [
    ("text32", "100 conns × 32 B text, pipelined (messages/s)", text32),
    ("bin16k", "10 conns × 16 KiB binary, pipelined (payload MiB/s)", bin16k),
    ("bin64m", "1 conn × 64 MiB binary, 2 in flight (payload MiB/s)", bin64m),
    ("text32-deflate", "the same, permessage-deflate, no context takeover (messages/s)", text32_deflate),
    ("bin16k-deflate", "the same, permessage-deflate, no context takeover (payload MiB/s)", bin16k_deflate),
    ("latency", "latency p50 / p99 / p99.9 (µs) at the fixed rate", latency),
    ("idle", "idle upgraded conns: server RSS per conn", idle),
    ("connrate", "upgrades/s (connect, 101, close; 64 in flight)", connrate),
    ("fanout", "fan-out: 1 publisher → subscribers (as many as idle conns), 32 B, 64 ahead (deliveries/s)", fanout),
    ("fanout-deflate", "the same, subscribers with permessage-deflate, no context takeover", fanout_deflate),
    ("fanout-json", "fan-out, 1 KiB JSON-like text, 16 ahead (deliveries/s)", fanout_json),
    ("fanout-json-deflate", "the same, subscribers with permessage-deflate, no context takeover", fanout_json_deflate),
];

fn si(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn text32(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let mut p = echo::Pattern::new(1, 32, 256, s.raw);
    let r = echo::throughput(srv, s.raw, 100, &mut p, o.warm, o.secs)?;
    Ok((si(r.per_sec), Some(r.cpu)))
}

fn bin16k(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let mut p = echo::Pattern::new(2, 16 * 1024, 4, s.raw);
    let r = echo::throughput(srv, s.raw, 10, &mut p, o.warm, o.secs)?;
    Ok((format!("{:.0}", r.per_sec * p.payload as f64 / (1 << 20) as f64), Some(r.cpu)))
}

fn bin64m(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let mut p = echo::Pattern::new(2, 64 << 20, 2, s.raw);
    let r = echo::throughput(srv, s.raw, 1, &mut p, o.warm, o.secs)?;
    Ok((format!("{:.0}", r.per_sec * p.payload as f64 / (1 << 20) as f64), Some(r.cpu)))
}

fn text32_deflate(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let mut p = echo::Pattern::deflated(1, 32, 256);
    let r = echo::throughput(srv, s.raw, 100, &mut p, o.warm, o.secs)?;
    Ok((si(r.per_sec), Some(r.cpu)))
}

fn bin16k_deflate(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let mut p = echo::Pattern::deflated(2, 16 * 1024, 4);
    let r = echo::throughput(srv, s.raw, 10, &mut p, o.warm, o.secs)?;
    Ok((format!("{:.0}", r.per_sec * p.payload as f64 / (1 << 20) as f64), Some(r.cpu)))
}

fn latency(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let r = echo::latency(srv, s.raw, 50, o.rate, o.secs)?;
    let _ = (r.max, r.sent);
    Ok((format!("{} / {} / {}", r.p50, r.p99, r.p999), Some(r.cpu)))
}

fn idle(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let r = crowd::idle(srv, s.raw, o.idle)?;
    let _ = r.took;
    Ok((format!("{:.1} KiB", r.per_conn as f64 / 1024.0), None))
}

fn connrate(o: &Opts, s: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    let r = crowd::conn_rate(srv, s.raw, 64, o.warm.min(0.3), o.secs)?;
    Ok((si(r.per_sec), Some(r.cpu)))
}

/// Only the fan-out servers (`NAME=fanout:CMD`) take part; the others show –.
fn fanout(o: &Opts, _: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    fanout_case(o, srv, echo::Pattern::new(1, 32, 64, false), false)
}

fn fanout_deflate(o: &Opts, _: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    fanout_case(o, srv, echo::Pattern::new(1, 32, 64, false), true)
}

fn fanout_json(o: &Opts, _: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    fanout_case(o, srv, echo::Pattern::text(json_like(1024), 16), false)
}

fn fanout_json_deflate(o: &Opts, _: &Spec, srv: &Server) -> Result<(String, Option<Cpu>), String> {
    fanout_case(o, srv, echo::Pattern::text(json_like(1024), 16), true)
}

/// Deliveries per second, and per second of the server's CPU (on a shared machine the server
/// may get well under a core, so the second is the steadier figure for comparing servers).
fn fanout_case(o: &Opts, srv: &Server, mut p: echo::Pattern, deflate: bool) -> Result<(String, Option<Cpu>), String> {
    let r = echo::fanout(srv, &mut p, deflate, o.idle, o.warm, o.secs)?;
    let per_cpu = r.per_sec * r.cpu.wall / r.cpu.srv.max(1e-3);
    Ok((format!("{} ({}/CPU-s)", si(r.per_sec), si(per_cpu)), Some(r.cpu)))
}

/// `len` bytes of a chat-like JSON array (what a room broadcasts): repetitive keys, varied values.
fn json_like(len: usize) -> Vec<u8> {
    let mut s = String::from("[");
    for i in 0u32.. {
        let item = format!(
            "{{\"id\":{},\"user\":\"user-{}\",\"room\":\"lobby\",\"ts\":{},\"text\":\"message number {} from the load generator\"}},",
            1000 + i * 7,
            i % 13,
            1_764_600_000 + i * 37,
            i
        );
        if s.len() + item.len() + 1 > len {
            break;
        }
        s.push_str(&item);
    }
    s.pop();
    s.push(']');
    while s.len() < len {
        s.insert(s.len() - 1, ' ');
    }
    s.into_bytes()
}

const USAGE: &str = "usage: load [--quick] [--secs S] [--rate N] [--idle N] [--only CASE,..] [--out FILE] [--logs DIR] NAME=CMD [NAME=raw:CMD ..]";

fn fail(msg: &str) -> ! {
    eprintln!("load: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let mut o =
        Opts { secs: 4.0, warm: 1.0, rate: 10_000, idle: 10_000, quick: false, logs: "target/load/logs".into() };
    let (mut only, mut out, mut specs) = (None::<Vec<String>>, None::<PathBuf>, Vec::new());
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> f64 {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| fail(&format!("{what} needs a number")))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => (o.quick, o.secs, o.warm, o.rate, o.idle) = (true, 1.0, 0.3, 2_000, 1_000),
            "--secs" => o.secs = num(args.next(), "--secs"),
            "--rate" => o.rate = num(args.next(), "--rate") as u64,
            "--idle" => o.idle = num(args.next(), "--idle") as usize,
            "--only" => only = args.next().map(|v| v.split(',').map(str::to_string).collect()),
            "--out" => out = args.next().map(PathBuf::from),
            "--logs" => o.logs = args.next().map(PathBuf::from).unwrap_or_else(|| fail("--logs needs a dir")),
            "-h" | "--help" => {
                println!("{USAGE}\ncases: {}", CASES.map(|c| c.0).join(", "));
                return;
            }
            a => specs.push(Spec::parse(a).unwrap_or_else(|| fail(&format!("not NAME=CMD: {a:?}")))),
        }
    }
    if specs.is_empty() {
        fail("no server");
    }
    let _ = std::fs::create_dir_all(&o.logs);
    let t0 = Instant::now();
    let cases: Vec<_> = CASES.iter().filter(|c| only.as_ref().is_none_or(|o| o.iter().any(|n| n == c.0))).collect();
    let mut grid: Vec<Vec<Cell>> = Vec::new();
    for (key, _, case) in &cases {
        let mut row = Vec::new();
        for s in &specs {
            let file: String = s.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let log = o.logs.join(format!("{file}.log"));
            // The fan-out servers do not echo; the echo servers do not fan out.
            if s.fanout != key.starts_with("fanout") {
                row.push(Cell { text: "–".into(), cpu: None, failed: false });
                continue;
            }
            let res = Server::start(s, &log).and_then(|mut srv| {
                let r = case(&o, s, &srv);
                if !srv.alive() {
                    return Err("the server died".into());
                }
                r
            });
            let cell = match res {
                Ok((text, cpu)) => Cell { text, cpu, failed: false },
                Err(e) if e == deflate::UNSUPPORTED => Cell { text: "–".into(), cpu: None, failed: false },
                Err(e) => Cell { text: format!("FAILED: {e}"), cpu: None, failed: true },
            };
            let cpu = cell.cpu.map_or(String::new(), |c| {
                format!(" (server CPU {:.0} %, generator {:.0} %)", 100.0 * c.srv / c.wall, 100.0 * c.gen / c.wall)
            });
            eprintln!("load: {key:8} {:16} {}{cpu}", s.name, cell.text);
            row.push(cell);
        }
        grid.push(row);
    }
    let table = render(&o, &specs, &cases, &grid, t0.elapsed().as_secs_f64());
    print!("{table}");
    if let Some(path) = out {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&path, &table) {
            eprintln!("load: write {}: {e}", path.display());
        }
    }
    let failed = grid.iter().flatten().filter(|c| c.failed).count();
    if failed > 0 {
        eprintln!("load: {failed} case(s) FAILED");
        std::process::exit(1);
    }
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        info.lines().find_map(|l| l.strip_prefix("model name")).map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let n = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {n} logical CPUs")
}

fn render(o: &Opts, specs: &[Spec], cases: &[&(&str, &str, Case)], grid: &[Vec<Cell>], took: f64) -> String {
    let mut t = String::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let _ = writeln!(
        t,
        "Machine: {}; {date}; load average at the end {}; {took:.0} s in all{}.",
        cpu_model(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        if o.quick { " (--quick: a smoke test, not a measurement)" } else { "" }
    );
    let _ = writeln!(t, "Every server: one thread, no compression but in the deflate rows; {:.0} s per case after {:.1} s of warm-up; latency at {} messages/s over 50 conns; idle: {} conns.\n", o.secs, o.warm, o.rate, o.idle);
    let _ = writeln!(t, "| case | {} |", specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(t, "|---|{}", "---:|".repeat(specs.len()));
    for (case, row) in cases.iter().zip(grid) {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                if case.0 != "latency" && c.cpu.is_some_and(|c| c.generator_bound()) {
                    format!("{} †", c.text)
                } else {
                    c.text.clone()
                }
            })
            .collect();
        let _ = writeln!(t, "| {} | {} |", case.1, cells.join(" | "));
    }
    let _ = writeln!(t, "\nCPU during each run, server % / generator % of one core (100 % = one core busy):\n");
    let _ = writeln!(t, "| case | {} |", specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(t, "|---|{}", "---:|".repeat(specs.len()));
    for (case, row) in cases.iter().zip(grid) {
        if row.iter().all(|c| c.cpu.is_none()) {
            continue;
        }
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                c.cpu.map_or("–".into(), |c| format!("{:.0} / {:.0}", 100.0 * c.srv / c.wall, 100.0 * c.gen / c.wall))
            })
            .collect();
        let _ = writeln!(t, "| {} | {} |", case.0, cells.join(" | "));
    }
    let _ = writeln!(t, "\n† generator-bound: the generator used more than half the server's CPU, so the server may be faster than shown.");
    t
}
