//! A global allocator that counts the live heap of the threads marked as the server's, for
//! tests that run a server in-process and check what it holds. A test binary installs it with
//! `#[global_allocator] static GLOBAL: CountingAlloc = COUNTING;` and serialises its
//! measurements with [`SERIAL`] (the counter is global).

use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "../common/counting_alloc.rs"]
mod counting_alloc;
pub use counting_alloc::CountingAlloc;

/// The allocator that counts the live heap of threads that called [`mark_server_thread`].
pub const COUNTING: CountingAlloc = CountingAlloc { on_change: count };

thread_local! {
    static IN_SERVER: Cell<bool> = const { Cell::new(false) };
}
static SERVER_LIVE: AtomicIsize = AtomicIsize::new(0);

/// One measurement at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

fn count(bytes: isize, _handed_out: bool) {
    if IN_SERVER.try_with(Cell::get).unwrap_or(false) {
        SERVER_LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Counts this thread's allocations from now on.
pub fn mark_server_thread() {
    IN_SERVER.with(|f| f.set(true));
}

/// The marked threads' live heap: bytes allocated and not freed since they were marked.
pub fn server_live() -> isize {
    SERVER_LIVE.load(Ordering::Relaxed)
}

/// Waits (at most `within`) until the server's live heap is at most `limit`; returns it.
pub fn settle(limit: isize, within: Duration) -> isize {
    let deadline = Instant::now() + within;
    loop {
        let live = server_live();
        if live <= limit || Instant::now() > deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The server's live heap once it stopped changing for 100 ms (bounded wait).
pub fn steady() -> isize {
    let mut last = server_live();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        let now = server_live();
        if now == last {
            break;
        }
        last = now;
    }
    last
}
