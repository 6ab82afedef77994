//! A global allocator that reports every change of the heap to a function of the test's
//! choosing: how many bytes (negative when freed) and whether a block was handed out (an
//! allocation or a reallocation). A test installs it with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc { on_change: count };`.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, reporting to `on_change`.
pub struct CountingAlloc {
    /// Called with the change in live bytes and whether a block was handed out. It must not
    /// allocate.
    pub on_change: fn(bytes: isize, handed_out: bool),
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (self.on_change)(layout.size() as isize, true);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (self.on_change)(-(layout.size() as isize), false);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (self.on_change)(new_size as isize - layout.size() as isize, true);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
