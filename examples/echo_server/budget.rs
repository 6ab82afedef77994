//! The server-wide memory budget, and the command-line options that set it and shorten the
//! engine's timers (a soak run wants seconds, not the minute of [`CONFIG`](super::CONFIG)).
//!
//! Every connection counts what it holds into one running total after each of its turns: its
//! [`Assembly`](wsmachine::Assembly) and [`Connection`](wsmachine::Connection) (`heap_bytes`)
//! and its output backlog. The count is incremental (one subtraction and one addition per
//! turn), and a connection gives its share back when it is dropped ([`Charge`]). The connection
//! whose growth takes the total over the budget is closed with 1013 (Try Again Later, RFC 6455
//! §7.4.1 and the IANA registry) and its memory is released at once; the others go on. The
//! total may overshoot by what one turn adds (at most `max_message_len` plus a few reads).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use wsmachine::CloseCode;

use super::{Client, Options, Phase, Shared, Sink as _, Turn};

/// The default budget: 1 GiB over all connections.
pub const DEFAULT_BUDGET: usize = 1 << 30;

/// The default inflation cap (`DeflateConfig::max_ratio`): off. Memory is bounded by the budget
/// either way; a cap also bounds the CPU a peer can make the one thread spend inflating (59 KiB
/// that inflate to 59 MiB cost some 45 ms each, so 64 such peers stalled every echo for seconds;
/// with `--max-ratio 100` they are refused with 1009 after 6 MiB, `tests/soak`). It is off by
/// default because real data can compress further: 120 KiB of zeros is some 150 bytes (the
/// Node interop test sends exactly that). A server that expects text or JSON should set it.
pub const DEFAULT_MAX_RATIO: Option<u32> = None;

/// The running total of the memory connections hold, shared by their [`Charge`]s.
#[derive(Default)]
pub struct Budget {
    total: Rc<Cell<usize>>,
}

impl Budget {
    /// The bytes counted now, over all connections.
    #[allow(dead_code)]
    pub fn total(&self) -> usize {
        self.total.get()
    }
}

/// What one connection has counted into the total; given back when the connection is dropped.
#[derive(Default)]
pub struct Charge {
    total: Option<Rc<Cell<usize>>>,
    held: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(total) = &self.total {
            total.set(total.get() - self.held);
        }
    }
}

impl Client {
    /// Heap bytes this connection holds besides its fixed-size state.
    fn held(&self) -> usize {
        let phase = match &self.phase {
            Phase::Head { buf, .. } => buf.capacity(),
            Phase::Ws(ws) => ws.conn.heap_bytes() + ws.assembly.heap_bytes(),
            Phase::Gate { .. } | Phase::Closing { .. } => 0,
        };
        phase + self.out.capacity()
    }

    /// Counts the connection's memory again; true if it grew.
    fn recount(&mut self, budget: &Budget) -> bool {
        let (old, new) = (self.charge.held, self.held());
        let total = self.charge.total.get_or_insert_with(|| budget.total.clone());
        total.set(total.get() - old + new);
        self.charge.held = new;
        new > old
    }

    /// After a turn (or a tick): recount, and close this connection with 1013 if its growth
    /// took the total over the budget.
    pub(crate) fn account(&mut self, turn: Turn, shared: &mut Shared, now: Instant) -> Turn {
        if turn == Turn::Drop || !self.recount(&shared.budget) || shared.budget.total() <= shared.opts.memory_budget {
            return turn;
        }
        let Phase::Ws(ws) = &mut self.phase else { return turn };
        if shared.opts.verbose {
            eprintln!("memory budget: {} B held in all, closing a connection with 1013", shared.budget.total());
        }
        let _ = ws.conn.close_vec(CloseCode::TRY_AGAIN_LATER, "memory budget", self.out.bytes());
        // Dropping the connection's state (Closing) gives its memory back now.
        self.closing(&shared.opts, now);
        self.recount(&shared.budget);
        match self.flush() {
            Ok(()) => turn,
            Err(_) => Turn::Drop,
        }
    }
}

/// Handles one of the options below (taking its value from `args`); false if `arg` is not one
/// of them. Exits on a bad value.
pub fn option(arg: &str, args: &mut impl Iterator<Item = String>, opts: &mut Options) -> bool {
    const OPTIONS: [&str; 6] =
        ["--memory-budget", "--message-timeout", "--write-stall", "--keepalive", "--head-timeout", "--retain"];
    if arg == "--max-ratio" {
        // 0: no cap (only `max_message_len` and the budget apply).
        match args.next().and_then(|v| v.parse::<u32>().ok()) {
            Some(n) => opts.max_ratio = Some(n).filter(|&n| n > 0),
            None => {
                eprintln!("--max-ratio needs a whole number (0: off)");
                std::process::exit(2);
            }
        }
        return true;
    }
    if arg == "--engine-defaults" {
        // For comparison (tests/soak): the engine's own limits and timers, none of CONFIG's.
        opts.config = wsmachine::Config::default().auto_close(false);
        return true;
    }
    if !OPTIONS.contains(&arg) {
        return false;
    }
    let value = args.next();
    let secs = |v: &Option<String>| {
        v.as_deref().and_then(|v| v.parse::<f64>().ok()).and_then(|s| Duration::try_from_secs_f64(s).ok())
    };
    let c = opts.config;
    let set = match arg {
        "--memory-budget" => value.as_deref().and_then(parse_bytes).map(|b| opts.memory_budget = b),
        "--message-timeout" => secs(&value).map(|d| opts.config = c.message_timeout(Some(d))),
        "--write-stall" => secs(&value).map(|d| opts.config = c.write_stall_timeout(Some(d))),
        "--keepalive" => secs(&value).map(|d| opts.config = c.keepalive(Some(d), c.pong_timeout)),
        "--head-timeout" => secs(&value).map(|d| opts.head_timeout = d),
        // Memory kept between messages (the assembly and the output buffer); on a connection
        // without permessage-deflate, a second after its last echo larger than this.
        "--retain" => {
            value.as_deref().and_then(parse_bytes).map(|b| (opts.config, opts.keep_out) = (c.retain_capacity(b), b))
        }
        _ => return false,
    };
    if set.is_none() {
        eprintln!("{arg} needs a value (bytes with an optional KiB/MiB/GiB suffix, or seconds), got {value:?}");
        std::process::exit(2);
    }
    true
}

/// `1073741824`, `64KiB`, `256MiB`, `1GiB` (also K/M/G).
fn parse_bytes(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: usize = s[..digits].parse().ok()?;
    let shift = match s[digits..].trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_sizes() {
        assert_eq!(super::parse_bytes("256MiB"), Some(256 << 20));
        assert_eq!(super::parse_bytes("1G"), Some(1 << 30));
        assert_eq!(super::parse_bytes("4096"), Some(4096));
        assert_eq!(super::parse_bytes("1 TB"), None);
    }
}
