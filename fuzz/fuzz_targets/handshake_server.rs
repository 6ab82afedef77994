//! Arbitrary request heads into the server's `RequestParser`, one growing buffer at a time;
//! upgrades are accepted and the 101 re-parsed by the client. See `src/handshake.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsmachine_fuzz::handshake::server(data));
