//! A structured script of sends by both roles, delivered with arbitrary chunking: everything
//! sent arrives identically and in order; pings are answered; a close is echoed and both ends
//! reach `Closed`. See `src/roundtrip.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: wsmachine_fuzz::roundtrip::Script| {
    wsmachine_fuzz::roundtrip::run(script);
});
