//! The in-memory floor of the small-message case (issue #19): what the crate itself costs to
//! receive one masked 32 B text message and queue its echo, measured in this process, on this
//! machine, just before the servers run. It calls the very function the echo servers call on
//! every read (`examples/shared/echo.rs`): `Connection::read` over a buffer of client frames
//! back to back, `send_text_vec` of each message into one output `Vec`. No socket, no system
//! call: what is left of a server's CPU per message above this is its event loop, its
//! allocator and the kernel.

#[allow(dead_code)]
#[path = "../../../../examples/shared/echo.rs"]
mod server_echo;

use std::time::Instant;

use wsmachine::{Assembly, Config, Connection};

/// The floor in nanoseconds of CPU per message.
pub struct Floor {
    /// The median of the runs.
    pub ns: f64,
    /// Every run, in order.
    pub runs: Vec<f64>,
    /// Messages per buffer (one "read").
    pub batch: usize,
}

/// CPU time of this thread in nanoseconds (`/proc/thread-self/schedstat`, first field: time on
/// a CPU), so that time spent waiting for a CPU on a shared machine is not counted.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// `frame` (one masked client frame) echoed `total` times, `batch` frames per buffer; the
/// median over `runs` runs of CPU ns per message (wall time if schedstat is missing). The
/// echo must be `expect` (one server frame) per message, byte for byte.
pub fn measure(frame: &[u8], expect: &[u8], batch: usize, total: usize, runs: usize) -> Result<Floor, String> {
    let template = frame.repeat(batch);
    let mut buf = template.clone();
    let mut out = Vec::with_capacity(batch * (frame.len() + 4));
    let mut conn = Connection::server(Config::new());
    let mut assembly = Assembly::new();
    buf.copy_from_slice(&template);
    server_echo::echo(&mut conn, &mut assembly, &mut buf, &mut out, false);
    if out != expect.repeat(batch) {
        return Err("floor: the echo differs from the expected server frames".into());
    }
    out.clear();
    let rounds = total.div_ceil(batch);
    let mut one_run = |echoed: &mut usize| {
        for _ in 0..rounds {
            // The kernel's copy into the read buffer: the unmasking is in place.
            buf.copy_from_slice(&template);
            server_echo::echo(&mut conn, &mut assembly, &mut buf, &mut out, false);
            *echoed += out.len() / expect.len();
            out.clear();
        }
    };
    // Warm-up: caches, branch predictors, the output buffer's capacity.
    let mut echoed = 0;
    one_run(&mut echoed);
    let mut ns = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut echoed = 0;
        let (c0, t0) = (thread_cpu_ns(), Instant::now());
        one_run(&mut echoed);
        let wall = t0.elapsed().as_nanos() as f64;
        let cpu = match (c0, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64,
            _ => wall,
        };
        if echoed != rounds * batch {
            return Err(format!("floor: {echoed} of {} messages echoed", rounds * batch));
        }
        ns.push(cpu / echoed as f64);
    }
    let mut sorted = ns.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Floor { ns: sorted[sorted.len() / 2], runs: ns, batch })
}
