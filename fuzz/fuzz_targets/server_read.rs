//! Arbitrary bytes into a server `Connection`, split at fuzzer-chosen points; the split run
//! must match the unsplit run (events, error, transmitted bytes, final state). See `src/read.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsmachine::Connection;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::read::split_invariance(data, Connection::server);
});
