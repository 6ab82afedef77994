//! Soak / load-and-fault run against `examples/echo_server` (issue #17: memory proportional to
//! what peers send, and nothing holds a connection forever).
//!
//! ```text
//! soak PATH/TO/echo_server [--long] [--only NAME[,NAME..]] [--engine-defaults]
//! ```
//!
//! Starts the server itself (a free loopback port, short timers, a 256 MiB memory budget) for
//! each pattern, runs the pattern with a well-behaved client echoing alongside, and prints one
//! line per pattern: server RSS before / peak / after (/proc/PID/status), the echo round trips
//! (p99, max) and the pattern's counts. Exits non-zero if any check failed. Every loop is
//! bounded in count and time; all traffic stays on loopback.

mod crowds;
mod patterns;
mod prober;
mod server;
mod wire;

use std::time::Instant;

use patterns::{Opts, Report};

type Pattern = fn(&Opts) -> Report;

const PATTERNS: [(&str, Pattern); 7] = [
    ("compressed", patterns::compressed),
    ("non-readers", patterns::non_readers),
    ("headers-only", patterns::headers),
    ("slowloris", patterns::slowloris),
    ("rst-storm", patterns::rst_storm),
    ("fd-exhaustion", crowds::fd_exhaustion),
    ("idle", crowds::idle),
];

const USAGE: &str = "usage: soak PATH/TO/echo_server [--long] [--only NAME[,NAME..]] [--engine-defaults]";

fn main() {
    let mut server = None;
    let mut scale = 1;
    let mut defaults = false;
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--long" => scale = 4,
            "--engine-defaults" => defaults = true,
            "--only" => only = args.next().map(|v| v.split(',').map(str::to_string).collect()),
            "-h" | "--help" => {
                println!("{USAGE}\npatterns: {}", PATTERNS.map(|p| p.0).join(", "));
                return;
            }
            a if a.starts_with('-') => {
                eprintln!("unknown option {a:?}\n{USAGE}");
                std::process::exit(2);
            }
            a => server = Some(a.to_string()),
        }
    }
    let Some(server) = server else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let opts = Opts { server, scale, defaults };
    let start = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "soak: {} (scale {scale}); server flags {}; load average {}",
        if scale > 1 { "long run" } else { "short run" },
        patterns::server_args(defaults).join(" "),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut failed = Vec::new();
    let mut limits_shown = false;
    for (name, pattern) in PATTERNS {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        let report = pattern(&opts);
        if !limits_shown && !report.limits.is_empty() {
            limits_shown = true;
            println!("server {}", report.limits);
        }
        println!("{}", report.line());
        if !report.failures.is_empty() {
            failed.push(name);
        }
    }
    println!(
        "soak: {:.0} s in all; {}",
        start.elapsed().as_secs_f64(),
        match failed.len() {
            0 => "every check passed".to_string(),
            _ => format!("FAILED: {}", failed.join(", ")),
        }
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
