//! A global allocator that counts the live heap of the threads marked as the server's, for
//! tests that run a server in-process and check what it holds. A test binary installs it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;` and serialises its measurements
//! with [`SERIAL`] (the counter is global).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts the live heap of threads that called [`mark_server_thread`].
pub struct Counting;

thread_local! {
    static IN_SERVER: Cell<bool> = const { Cell::new(false) };
}
static SERVER_LIVE: AtomicIsize = AtomicIsize::new(0);

/// One measurement at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

fn count(bytes: isize) {
    if IN_SERVER.try_with(Cell::get).unwrap_or(false) {
        SERVER_LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
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
