//! Arbitrary bytes into a client `Connection` (deterministic mask keys so the transmitted bytes
//! of the split and unsplit runs are comparable). See `src/read.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsmachine::Connection;
use wsmachine_fuzz::read::{counter_mask, split_invariance};

fuzz_target!(|data: &[u8]| {
    split_invariance(data, |config| Connection::client_with_test_masks(config, counter_mask()));
});
