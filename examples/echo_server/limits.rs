//! The start-up line that tells which engine limits every connection runs with.

use std::time::Duration;

use wsmachine::Config;

/// One line with the engine limits every connection runs with (printed at start). A new limit
/// is one more `items.push`.
pub fn describe(c: &Config, memory_budget: usize, max_ratio: Option<u32>) -> String {
    let mut items = vec![format!("max message {}", bytes(c.max_message_len))];
    if c.max_frame_payload != c.max_message_len {
        items.push(format!("max frame {}", bytes(c.max_frame_payload)));
    }
    items.push(format!("retain capacity {}", bytes(c.retain_capacity as u64)));
    items.push(format!("close timeout {}", duration(c.close_timeout)));
    items.push(match c.keepalive_interval {
        Some(every) => {
            format!("keepalive every {} (pong within {})", duration(Some(every)), duration(Some(c.pong_timeout)))
        }
        None => "keepalive off".into(),
    });
    items.push(format!("message timeout {}", duration(c.message_timeout)));
    items.push(format!("write-stall timeout {}", duration(c.write_stall_timeout)));
    items.push(format!("memory budget {} over all connections (1013 beyond)", bytes(memory_budget as u64)));
    if let Some(ratio) = max_ratio {
        items.push(format!("compressed messages inflate at most {ratio}:1 plus 64 KiB (1009 beyond)"));
    }
    format!("engine limits: {}", items.join(", "))
}

/// `64 MiB`, `64 KiB`, `100 B`: the largest unit that divides `n`.
fn bytes(n: u64) -> String {
    match n {
        0 => "0 B".into(),
        n if n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// `10 s`, `250 ms`, `1.5s`; `off` for `None`, `never` for `Duration::MAX`-like values.
fn duration(d: Option<Duration>) -> String {
    match d {
        None => "off".into(),
        Some(d) if d.as_secs() >= u64::MAX / 2 => "never".into(),
        Some(d) if d.subsec_nanos() == 0 => format!("{} s", d.as_secs()),
        Some(d) if d.subsec_nanos() % 1_000_000 == 0 && d.as_secs() == 0 => format!("{} ms", d.subsec_millis()),
        Some(d) => format!("{d:?}"),
    }
}
