//! A fixed `ClientRequest` (nonce from the input) and arbitrary response heads into its
//! `ResponseParser`, one growing buffer at a time. See `src/handshake.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wsmachine_fuzz::handshake::client(data));
