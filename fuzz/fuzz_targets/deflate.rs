//! permessage-deflate: arbitrary RSV1 frame payloads into a client `Connection` (split
//! invariance, limits), or a negotiated round trip of arbitrary messages. See `src/deflate.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsmachine_fuzz::deflate::run(data));
