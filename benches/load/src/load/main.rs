//! Load generator for issue #19: whole echo servers under load, side by side.
//!
//! ```text
//! load [--quick] [--secs S] [--rate MSGS_PER_S] [--idle N] [--window N] [--only CASE[,CASE..]]
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
mod floor;
mod proc;
mod render;

use std::path::PathBuf;
use std::time::Instant;

use proc::{Cpu, Server, Spec};

struct Opts {
    secs: f64,
    warm: f64,
    /// The latency case's offered rate: `--rate`, else half the best peer's text32 rate when
    /// text32 ran first, else 10 000/s.
    rate: u64,
    rate_given: bool,
    idle: usize,
    /// Messages in flight per connection in text32 (`--window`, 256).
    window: u64,
    /// What the idle count would have been without the file-descriptor limit (it was capped).
    idle_wanted: Option<usize>,
    quick: bool,
    logs: PathBuf,
}

/// What a case measured against one server.
#[derive(Default)]
struct Out {
    /// The figure shown.
    text: String,
    cpu: Option<Cpu>,
    /// Messages per second (text32: the latency case's rate is derived from the peers').
    per_sec: Option<f64>,
    /// A second figure shown in a row of its own (latency: the generator's lag).
    extra: Option<String>,
}

/// One case against one server.
struct Cell {
    out: Out,
    failed: bool,
}

type Case = fn(&Opts, &Spec, &Server) -> Result<Out, String>;

const CASES: [(&str, &str, Case); 12] = [
    ("text32", "100 conns × 32 B text, pipelined (messages/s)", text32),
    ("bin16k", "10 conns × 16 KiB binary, pipelined (payload MiB/s)", bin16k),
    ("bin64m", "1 conn × 64 MiB binary, 2 in flight (payload MiB/s)", bin64m),
    ("text32-deflate", "the same, permessage-deflate, no context takeover (messages/s)", text32_deflate),
    ("bin16k-deflate", "the same, permessage-deflate, no context takeover (payload MiB/s)", bin16k_deflate),
    ("latency", "latency p50 / p99 / p99.9 (µs) at 50 % of the best peer's text32 rate", latency),
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

fn mib(r: &echo::Rate, p: &echo::Pattern) -> Out {
    let text = format!("{:.0}", r.per_sec * p.payload as f64 / (1 << 20) as f64);
    Out { text, cpu: Some(r.cpu), per_sec: Some(r.per_sec), extra: None }
}

fn msgs(r: &echo::Rate) -> Out {
    Out { text: si(r.per_sec), cpu: Some(r.cpu), per_sec: Some(r.per_sec), extra: None }
}

fn text32(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let mut p = echo::Pattern::new(1, 32, o.window, s.raw);
    Ok(msgs(&echo::throughput(srv, s.raw, 100, &mut p, o.warm, o.secs)?))
}

fn bin16k(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let mut p = echo::Pattern::new(2, 16 * 1024, 4, s.raw);
    Ok(mib(&echo::throughput(srv, s.raw, 10, &mut p, o.warm, o.secs)?, &p))
}

fn bin64m(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let mut p = echo::Pattern::new(2, 64 << 20, 2, s.raw);
    // A 64 MiB echo can take most of a second on a busy machine: --quick's 1 s window could
    // see none finish, so this case gets at least 3 s.
    let secs = if o.quick { o.secs.max(3.0) } else { o.secs };
    Ok(mib(&echo::throughput(srv, s.raw, 1, &mut p, o.warm, secs)?, &p))
}

fn text32_deflate(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let mut p = echo::Pattern::deflated(1, 32, 256);
    Ok(msgs(&echo::throughput(srv, s.raw, 100, &mut p, o.warm, o.secs)?))
}

fn bin16k_deflate(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let mut p = echo::Pattern::deflated(2, 16 * 1024, 4);
    Ok(mib(&echo::throughput(srv, s.raw, 10, &mut p, o.warm, o.secs)?, &p))
}

fn latency(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let r = echo::latency(srv, s.raw, 50, o.rate, o.warm, o.secs)?;
    let _ = (r.max, r.sent);
    Ok(Out {
        text: format!("{} / {} / {}", r.p50, r.p99, r.p999),
        cpu: Some(r.cpu),
        per_sec: None,
        extra: Some(format!("{} / {}", r.lag_p50, r.lag_p99)),
    })
}

fn idle(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let r = crowd::idle(srv, s.raw, o.idle)?;
    let _ = r.took;
    Ok(Out { text: format!("{:.1} KiB", r.per_conn as f64 / 1024.0), ..Out::default() })
}

fn connrate(o: &Opts, s: &Spec, srv: &Server) -> Result<Out, String> {
    let r = crowd::conn_rate(srv, s.raw, 64, o.warm.min(0.3), o.secs)?;
    Ok(Out { text: si(r.per_sec), cpu: Some(r.cpu), per_sec: Some(r.per_sec), extra: None })
}

/// Only the fan-out servers (`NAME=fanout:CMD`) take part; the others show –.
fn fanout(o: &Opts, _: &Spec, srv: &Server) -> Result<Out, String> {
    fanout_case(o, srv, echo::Pattern::new(1, 32, 64, false), false)
}

fn fanout_deflate(o: &Opts, _: &Spec, srv: &Server) -> Result<Out, String> {
    fanout_case(o, srv, echo::Pattern::new(1, 32, 64, false), true)
}

fn fanout_json(o: &Opts, _: &Spec, srv: &Server) -> Result<Out, String> {
    fanout_case(o, srv, echo::Pattern::text(json_like(1024), 16), false)
}

fn fanout_json_deflate(o: &Opts, _: &Spec, srv: &Server) -> Result<Out, String> {
    fanout_case(o, srv, echo::Pattern::text(json_like(1024), 16), true)
}

/// Deliveries per second, and per second of the server's CPU (on a shared machine the server
/// may get well under a core, so the second is the steadier figure for comparing servers).
fn fanout_case(o: &Opts, srv: &Server, mut p: echo::Pattern, deflate: bool) -> Result<Out, String> {
    let r = echo::fanout(srv, &mut p, deflate, o.idle, o.warm, o.secs)?;
    let per_cpu = r.per_sec * r.cpu.wall / r.cpu.srv.max(1e-3);
    Ok(Out {
        text: format!("{} ({}/CPU-s)", si(r.per_sec), si(per_cpu)),
        cpu: Some(r.cpu),
        per_sec: Some(r.per_sec),
        extra: None,
    })
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

/// The columns that are peers: neither wsmachine's own servers (named `wsmachine…`) nor the
/// plain TCP echo (`raw:`) nor a fan-out server.
fn is_peer(s: &Spec) -> bool {
    !s.raw && !s.fanout && !s.name.starts_with("wsmachine")
}

/// The soft limit on open files (`/proc/self/limits`, "Max open files").
fn nofile_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

const USAGE: &str = "usage: load [--quick] [--secs S] [--rate N] [--idle N] [--window N] [--only CASE,..] [--out FILE] [--logs DIR] NAME=CMD [NAME=raw:CMD ..]";

fn fail(msg: &str) -> ! {
    eprintln!("load: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let mut o = Opts {
        secs: 4.0,
        warm: 1.0,
        rate: 10_000,
        rate_given: false,
        idle: 50_000,
        window: 256,
        idle_wanted: None,
        quick: false,
        logs: "target/load/logs".into(),
    };
    let (mut only, mut out, mut specs) = (None::<Vec<String>>, None::<PathBuf>, Vec::new());
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> f64 {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| fail(&format!("{what} needs a number")))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => (o.quick, o.secs, o.warm, o.rate, o.rate_given, o.idle) = (true, 1.0, 0.3, 2_000, true, 1_000),
            "--secs" => o.secs = num(args.next(), "--secs"),
            "--rate" => (o.rate, o.rate_given) = (num(args.next(), "--rate") as u64, true),
            "--idle" => o.idle = num(args.next(), "--idle") as usize,
            "--window" => o.window = (num(args.next(), "--window") as u64).max(1),
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
    // Issue 19 asks for 50 000 idle connections: the generator holds one fd per connection,
    // and so does the server (which inherits this limit). Past the limit, as many as it allows.
    if let Some(limit) = nofile_limit().filter(|&l| l < o.idle + 1000) {
        o.idle_wanted = Some(o.idle);
        o.idle = limit.saturating_sub(1000).max(1);
        eprintln!(
            "load: {} idle conns need `ulimit -n` ≥ {}; the limit is {limit}: {} instead",
            o.idle_wanted.unwrap_or(0),
            o.idle_wanted.unwrap_or(0) + 1000,
            o.idle
        );
    }
    // The floor of the small-message case, measured here before any server runs.
    let floor = if cases.iter().any(|c| c.0 == "text32") {
        let data: Vec<u8> = (0..32).map(|i| b'a' + (i % 26) as u8).collect();
        let frame = wire::frame(1, true, false, 32, &data, [0x12, 0x34, 0x56, 0x78]);
        let expect = [&[0x81, 32][..], &data].concat();
        let total = if o.quick { 200_000 } else { 1_000_000 };
        match floor::measure(&frame, &expect, 256, total, 5) {
            Ok(f) => {
                let runs: Vec<String> = f.runs.iter().map(|r| format!("{r:.1}")).collect();
                eprintln!(
                    "load: in-memory floor {:.1} ns/message (runs: {} ns; {} per buffer)",
                    f.ns,
                    runs.join(", "),
                    f.batch
                );
                Some(f)
            }
            Err(e) => fail(&e),
        }
    } else {
        None
    };
    let mut grid: Vec<Vec<Cell>> = Vec::new();
    for (key, _, case) in &cases {
        if *key == "latency" && !o.rate_given {
            o.rate = best_peer_rate(&cases, &grid, &specs).map_or(o.rate, |r| (r / 2.0) as u64);
            eprintln!("load: latency at {} messages/s", o.rate);
        }
        let mut row = Vec::new();
        for s in &specs {
            let file: String = s.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let log = o.logs.join(format!("{file}.log"));
            // The fan-out servers do not echo; the echo servers do not fan out.
            if s.fanout != key.starts_with("fanout") {
                row.push(Cell { out: Out { text: "–".into(), ..Out::default() }, failed: false });
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
                Ok(out) => Cell { out, failed: false },
                Err(e) if e == deflate::UNSUPPORTED => {
                    Cell { out: Out { text: "–".into(), ..Out::default() }, failed: false }
                }
                Err(e) => Cell { out: Out { text: format!("FAILED: {e}"), ..Out::default() }, failed: true },
            };
            let cpu = cell.out.cpu.map_or(String::new(), |c| {
                format!(
                    " (server CPU {:.0} % = user {:.0} + system {:.0}, generator {:.0} %)",
                    100.0 * c.srv / c.wall,
                    100.0 * c.srv_user / c.wall,
                    100.0 * c.srv_sys / c.wall,
                    100.0 * c.gen / c.wall
                )
            });
            let extra = cell.out.extra.as_ref().map_or(String::new(), |e| format!(" [{e}]"));
            eprintln!("load: {key:8} {:16} {}{extra}{cpu}", s.name, cell.out.text);
            row.push(cell);
        }
        grid.push(row);
    }
    let table = render::table(&o, floor.as_ref(), &specs, &cases, &grid, t0.elapsed().as_secs_f64());
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

/// The best peer's text32 rate in this run, if text32 ran before.
fn best_peer_rate(cases: &[&(&str, &str, Case)], grid: &[Vec<Cell>], specs: &[Spec]) -> Option<f64> {
    let row = cases.iter().position(|c| c.0 == "text32")?;
    let rates = grid.get(row)?.iter().zip(specs).filter(|(c, s)| is_peer(s) && !c.failed);
    rates.filter_map(|(c, _)| c.out.per_sec).max_by(f64::total_cmp)
}
