//! Arbitrary sequences of API calls on an in-memory client–server pair (see `fuzz/src/api.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsmachine_fuzz::api::run(data));
