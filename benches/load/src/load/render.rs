//! The Markdown tables: one row per case (and, below text32 and latency, the rows derived from
//! them), one column per server; then the CPU each run took.

use std::fmt::Write as _;

use crate::floor::Floor;
use crate::proc::Spec;
use crate::{Case, Cell, Opts};

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        info.lines().find_map(|l| l.strip_prefix("model name")).map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let n = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {n} logical CPUs")
}

/// Server CPU per message echoed in the measured window: (user ns, system ns).
fn per_message(c: &Cell) -> Option<(f64, f64)> {
    let (cpu, rate) = (c.out.cpu?, c.out.per_sec?);
    let n = rate * cpu.wall;
    (n > 0.0).then(|| (cpu.srv_user * 1e9 / n, cpu.srv_sys * 1e9 / n))
}

fn row(t: &mut String, label: &str, cells: impl Iterator<Item = String>) {
    let _ = writeln!(t, "| {label} | {} |", cells.collect::<Vec<_>>().join(" | "));
}

pub fn table(
    o: &Opts,
    floor: Option<&Floor>,
    specs: &[Spec],
    cases: &[&(&str, &str, Case)],
    grid: &[Vec<Cell>],
    took: f64,
) -> String {
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
    let idle = match o.idle_wanted {
        Some(w) => format!("{} conns (not {w}: the open-files limit)", o.idle),
        None => format!("{} conns", o.idle),
    };
    let rate = if o.rate_given { "as given" } else { "50 % of the best peer's text32 rate" };
    let has = |key: &str| cases.iter().any(|c| c.0 == key);
    let mut what = vec![format!("{:.0} s per case after {:.1} s of warm-up", o.secs, o.warm)];
    if has("text32") {
        what.push(format!("text32: {} messages in flight per conn", o.window));
    }
    if has("latency") {
        what.push(format!("latency at {} messages/s ({rate}) over 50 conns", o.rate));
    }
    if has("idle") || has("fanout") {
        what.push(format!("idle / subscribers: {idle}"));
    }
    let _ = writeln!(t, "Every server: one thread, no compression but in the deflate rows; {}.", what.join("; "));
    if let Some(f) = floor {
        let _ = writeln!(t, "In-memory floor (this process, before the runs: `Connection::read` + `send_text_vec` of a 32 B masked text message, {} per buffer, median of {}): {:.1} ns of CPU per message.", f.batch, f.runs.len(), f.ns);
    }
    let _ = writeln!(t);
    row(&mut t, "case", specs.iter().map(|s| s.name.clone()));
    let _ = writeln!(t, "|---|{}", "---:|".repeat(specs.len()));
    for (case, cells) in cases.iter().zip(grid) {
        let shown = cells.iter().map(|c| match c.out.cpu {
            Some(cpu) if case.0 != "latency" && cpu.generator_bound() => format!("{} †", c.out.text),
            _ => c.out.text.clone(),
        });
        let label = if case.0 == "latency" {
            format!("latency p50 / p99 / p99.9 (µs) at {} messages/s", o.rate)
        } else {
            case.1.to_string()
        };
        row(&mut t, &label, shown);
        match case.0 {
            "text32" => {
                let per = |c: &Cell| per_message(c).map_or("–".into(), |(u, s)| format!("{u:.0} + {s:.0}"));
                row(&mut t, "  server CPU per echoed message: user + system (ns)", cells.iter().map(per));
                if let Some(f) = floor {
                    let ratio = |c: &Cell| {
                        per_message(c)
                            .map_or("–".into(), |(u, s)| format!("{:.1}× / {:.1}×", u / f.ns, (u + s) / f.ns))
                    };
                    row(
                        &mut t,
                        &format!("  ÷ the in-memory floor ({:.0} ns): user / user + system", f.ns),
                        cells.iter().map(ratio),
                    );
                }
            }
            "latency" => {
                let lag = |c: &Cell| c.out.extra.clone().unwrap_or_else(|| "–".into());
                row(&mut t, "  the generator's send lag behind the schedule p50 / p99 (µs)", cells.iter().map(lag));
            }
            _ => {}
        }
    }
    let _ = writeln!(t, "\nCPU during each run, server % / generator % of one core (100 % = one core busy); the server's user + system:\n");
    row(&mut t, "case", specs.iter().map(|s| s.name.clone()));
    let _ = writeln!(t, "|---|{}", "---:|".repeat(specs.len()));
    for (case, cells) in cases.iter().zip(grid) {
        if cells.iter().all(|c| c.out.cpu.is_none()) {
            continue;
        }
        let shown = cells.iter().map(|c| {
            c.out.cpu.map_or("–".into(), |c| {
                let pc = |v: f64| 100.0 * v / c.wall;
                format!("{:.0} / {:.0} ({:.0} + {:.0})", pc(c.srv), pc(c.gen), pc(c.srv_user), pc(c.srv_sys))
            })
        });
        row(&mut t, case.0, shown);
    }
    let _ = writeln!(t, "\n† generator-bound: the generator used more than half the server's CPU, so the server may be faster than shown.");
    t
}
