//! `apply_mask` (whole, and in two pieces at an arbitrary split) and `copy_masked` agree with a
//! byte-at-a-time reference. Input: `[k0 k1 k2 k3, offset, split, payload ..]`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsmachine::mask::{apply_mask, copy_masked};

fuzz_target!(|data: &[u8]| {
    let [k0, k1, k2, k3, offset, split, payload @ ..] = data else { return };
    let (key, offset) = ([*k0, *k1, *k2, *k3], *offset as usize);
    let reference =
        |off: usize| -> Vec<u8> { payload.iter().enumerate().map(|(i, b)| b ^ key[(off + i) % 4]).collect() };
    let mut whole = payload.to_vec();
    apply_mask(&mut whole, key, offset);
    assert_eq!(whole, reference(offset));
    let mut pieces = payload.to_vec();
    let cut = (*split as usize).min(pieces.len());
    let (a, b) = pieces.split_at_mut(cut);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + cut);
    assert_eq!(pieces, whole);
    apply_mask(&mut pieces, key, offset); // an involution
    assert_eq!(pieces, payload);
    let mut copied = vec![0u8; payload.len()];
    copy_masked(payload, &mut copied, key);
    assert_eq!(copied, reference(0));
});
