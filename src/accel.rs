//! AVX2 masking (the UTF-8 kernels moved to `crate::utf8`'s leaf submodules).
//!
//! **AVX2 masking.** The default x86-64 target guarantees only SSE2, where the 64-byte masking
//! loops of [`crate::mask`] run at about half the speed of AVX2 on buffers in L1/L2 (measured
//! 48 vs 87 GB/s unmasking 64 KiB in place, `cargo bench --bench wsmachine -- kernels`). The
//! loops stay the safe, portable code of `mask.rs`; this module compiles a second copy of them
//! with AVX2 enabled and calls it only after run-time detection (feature `std`, x86-64 targets
//! that do not enable AVX2 at compile time anyway). Miri runs its tests
//! (`cargo +nightly miri test --lib accel`).
#![allow(unsafe_code)]

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
    use proptest::prelude::*;
    use std::vec;

    proptest! {
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
