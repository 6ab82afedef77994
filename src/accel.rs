//! The crate's only `unsafe`, in two small pieces, each justified by a benchmark:
//!
//! 1. **AVX2 masking.** The default x86-64 target guarantees only SSE2, where the 64-byte masking
//!    loops of [`crate::mask`] run at about half the speed of AVX2 on buffers in L1/L2 (measured
//!    48 vs 87 GB/s unmasking 64 KiB in place, `cargo bench --bench wsmachine -- kernels`). The
//!    loops stay the safe, portable code of `mask.rs`; this module compiles a second copy of them
//!    with AVX2 enabled and calls it only after run-time detection (feature `std`, x86-64 targets
//!    that do not enable AVX2 at compile time anyway).
//! 2. **`&str` without validating twice.** Safe code can only make a `&str` by validating the
//!    bytes again: for 16-byte ASCII messages `core::str::from_utf8` doubled the receive cost
//!    (12.5 vs 6.4 ns per message), and for a message assembled from pieces it is a second full
//!    pass (the pieces were already validated as they arrived, to fail fast as RFC 6455 §8.1
//!    asks; 64 KiB mixed text: 33 vs 19.5 µs per three messages), and for masked text that the
//!    unmasking loop itself saw to be all ASCII (one OR per vector in that loop instead of a
//!    second pass).
//!
//! Both are covered by unit tests and proptests against the safe versions, and run under Miri
//! (`cargo +nightly miri test --lib accel`).
#![allow(unsafe_code)]

/// `bytes` as `&str` when every byte is ASCII (`None` otherwise), checked a word at a time.
#[inline(always)]
pub(crate) fn ascii_str(bytes: &[u8]) -> Option<&str> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut seen = 0u64;
    for w in &mut words {
        seen |= u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    }
    let mut tail = 0u8;
    for &b in words.remainder() {
        tail |= b;
    }
    if seen & HIGH != 0 || tail & 0x80 != 0 {
        return None;
    }
    // SAFETY: every byte of `bytes` was just OR-ed into `seen` or `tail` and none has its high
    // bit set, so every byte is ASCII, and an ASCII byte sequence is valid UTF-8.
    Some(unsafe { core::str::from_utf8_unchecked(bytes) })
}

/// `bytes` as `&str`, for bytes already known to be valid UTF-8.
///
/// # Safety
/// `bytes` must be valid UTF-8. The callers pass an assembled text message whose every byte
/// went through the connection's [`Utf8Validator`](crate::utf8::Utf8Validator) (or was seen to
/// be ASCII by the loop that unmasked it) in order as it was written, which accepted all of it
/// and ended complete; or a whole text frame that the unmasking loop saw to be all ASCII. Debug
/// builds (the fuzz targets and every test) check it again here.
#[inline]
pub(crate) unsafe fn validated_str(bytes: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(bytes).is_ok(), "validated_str on invalid UTF-8");
    // SAFETY: the caller guarantees `bytes` is valid UTF-8 (see above).
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

/// Run-time dispatch of the wide masking loops to their AVX2 builds.
#[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
pub(crate) mod avx2 {
    use crate::mask::{apply_mask_blocks_portable, copy_masked_blocks_portable};

    /// Whether this CPU runs AVX2 (std caches it after the first call: one load and a branch).
    #[inline]
    fn has_avx2() -> bool {
        std::is_x86_feature_detected!("avx2")
    }

    /// [`apply_mask_blocks_portable`], with AVX2 when the CPU has it.
    #[inline]
    pub(crate) fn apply_mask_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
        if has_avx2() {
            // SAFETY: the only requirement of calling a `#[target_feature(enable = "avx2")]`
            // function is that the CPU supports AVX2, which `has_avx2` has just checked.
            unsafe { apply_mask_blocks_avx2::<ASCII>(buf, key) }
        } else {
            apply_mask_blocks_portable::<ASCII>(buf, key)
        }
    }

    /// [`copy_masked_blocks_portable`], with AVX2 when the CPU has it.
    #[inline]
    pub(crate) fn copy_masked_blocks<const ASCII: bool>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
        if has_avx2() {
            // SAFETY: as above, AVX2 support was checked at run time just before the call.
            unsafe { copy_masked_blocks_avx2::<ASCII>(src, dst, key) }
        } else {
            copy_masked_blocks_portable::<ASCII>(src, dst, key)
        }
    }

    /// The portable loop compiled with AVX2 (its body is safe code, inlined here).
    #[target_feature(enable = "avx2")]
    unsafe fn apply_mask_blocks_avx2<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
        apply_mask_blocks_portable::<ASCII>(buf, key)
    }

    /// The portable loop compiled with AVX2 (its body is safe code, inlined here).
    #[target_feature(enable = "avx2")]
    unsafe fn copy_masked_blocks_avx2<const ASCII: bool>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
        copy_masked_blocks_portable::<ASCII>(src, dst, key)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn ascii_str_accepts_ascii_only() {
        assert_eq!(ascii_str(b""), Some(""));
        assert_eq!(ascii_str(b"Hello, world!"), Some("Hello, world!"));
        assert_eq!(ascii_str("héllo".as_bytes()), None);
        // A high bit in the word part and in the tail part.
        assert_eq!(ascii_str(b"\x80bcdefghij"), None);
        assert_eq!(ascii_str(b"abcdefgh\xff"), None);
        assert_eq!(ascii_str(b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"), Some("\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"));
    }

    #[test]
    fn validated_str_returns_the_same_text() {
        let text = "κόσμε 🌍 plain";
        // SAFETY: `text` is a `&str`, so its bytes are valid UTF-8.
        assert_eq!(unsafe { validated_str(text.as_bytes()) }, text);
    }

    proptest! {
        #[test]
        fn ascii_str_agrees_with_core(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let expected = if bytes.is_ascii() { core::str::from_utf8(&bytes).ok() } else { None };
            prop_assert_eq!(ascii_str(&bytes), expected);
        }

        #[test]
        fn dispatched_masking_agrees_with_bytewise(
            bytes in proptest::collection::vec(any::<u8>(), 0..700),
            key in any::<[u8; 4]>(),
            offset in 0usize..8,
        ) {
            let mut expected = bytes.clone();
            for (i, b) in expected.iter_mut().enumerate() {
                *b ^= key[(offset + i) % 4];
            }
            let mut in_place = bytes.clone();
            crate::mask::apply_mask(&mut in_place, key, offset);
            prop_assert_eq!(&in_place, &expected);
            let mut copied = vec![0u8; bytes.len()];
            crate::mask::copy_masked(&bytes, &mut copied, crate::mask::rotate(key, offset));
            prop_assert_eq!(&copied, &expected);
        }

        /// The ASCII-reporting loops unmask the same way and see a high bit wherever it lands
        /// (head, wide blocks, tail), at any alignment; `validated_str` relies on the report.
        #[test]
        fn ascii_reporting_masking_sees_every_high_bit(
            mut plain in proptest::collection::vec(0u8..0x80, 0..700),
            high in proptest::option::of((any::<proptest::sample::Index>(), 0x80u8..=0xff)),
            key in any::<[u8; 4]>(),
            offset in 0usize..8,
            shift in 0usize..32,
        ) {
            if let (Some((at, byte)), false) = (high, plain.is_empty()) {
                let at = at.index(plain.len());
                plain[at] = byte;
            }
            let masked: vec::Vec<u8> =
                plain.iter().enumerate().map(|(i, b)| b ^ key[(offset + i) % 4]).collect();
            let mut in_place = vec![0u8; shift + masked.len()];
            in_place[shift..].copy_from_slice(&masked);
            let ascii = crate::mask::apply_mask_ascii(&mut in_place[shift..], key, offset);
            prop_assert_eq!(&in_place[shift..], &plain[..]);
            prop_assert_eq!(ascii, plain.is_ascii());
            let mut copied = vec![0u8; shift + masked.len()];
            let ascii = crate::mask::copy_masked_ascii(&masked, &mut copied[shift..], crate::mask::rotate(key, offset));
            prop_assert_eq!(&copied[shift..], &plain[..]);
            prop_assert_eq!(ascii, plain.is_ascii());
        }
    }
}
