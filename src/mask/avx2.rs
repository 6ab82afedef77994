//! AVX2 builds of the masking loops: a leaf module that holds its own `unsafe` (one call of a
//! `#[target_feature(enable = "avx2")]` function after run-time detection) and imports nothing
//! from the crate.
//!
//! **Why `unsafe`:** the default x86-64 target guarantees only SSE2, where the 64-byte masking
//! loops of the parent module run at about half the speed of AVX2 on buffers in L1/L2 (measured
//! 48 vs 87 GB/s unmasking 64 KiB in place, `cargo bench --bench wsmachine -- kernels`). The
//! loops stay the safe, portable code of `mask/mod.rs`, handed in through [`Loops`]; this module
//! compiles a second copy of them with AVX2 enabled and calls it only after run-time detection
//! (compiled only with feature `std`, on x86-64 targets that do not enable AVX2 at compile time
//! anyway).
//!
//! Covered by proptests against bytewise masking in the parent module; Miri runs them
//! (`.ci/miri.sh`) through the portable branch, since it detects no AVX2.
#![allow(unsafe_code)]

/// The safe loops to compile a second time with AVX2 (implemented by a type of the parent
/// module that names its portable loops). Implementations mark both functions
/// `#[inline(always)]`, so that their bodies are compiled inside this module's AVX2 functions
/// rather than called from them.
pub(super) trait Loops {
    /// Masks `buf` in place with `key`; returns what the loop returns (an OR of bytes, or 0).
    fn apply(buf: &mut [u8], key: [u8; 4]) -> u8;
    /// Copies `src` into `dst` masking with `key`; returns what the loop returns.
    fn copy(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8;
}

/// Whether this CPU runs AVX2 (std caches it after the first call: one load and a branch).
#[inline]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// [`Loops::apply`], compiled with AVX2 when the CPU has it.
#[inline]
pub(super) fn apply<L: Loops>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    if has_avx2() {
        // SAFETY: the only requirement of calling a `#[target_feature(enable = "avx2")]`
        // function is that the CPU supports AVX2, which `has_avx2` has just checked.
        unsafe { apply_avx2::<L>(buf, key) }
    } else {
        L::apply(buf, key)
    }
}

/// [`Loops::copy`], compiled with AVX2 when the CPU has it.
#[inline]
pub(super) fn copy<L: Loops>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
    if has_avx2() {
        // SAFETY: as above, AVX2 support was checked at run time just before the call.
        unsafe { copy_avx2::<L>(src, dst, key) }
    } else {
        L::copy(src, dst, key)
    }
}

/// [`Loops::apply`] with its (inlined, safe) body compiled for AVX2.
#[target_feature(enable = "avx2")]
fn apply_avx2<L: Loops>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    L::apply(buf, key)
}

/// [`Loops::copy`] with its (inlined, safe) body compiled for AVX2.
#[target_feature(enable = "avx2")]
fn copy_avx2<L: Loops>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
    L::copy(src, dst, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain XOR loops that also OR the output, written like the parent's (LLVM vectorises them).
    struct Plain;

    impl Loops for Plain {
        #[inline(always)]
        fn apply(buf: &mut [u8], key: [u8; 4]) -> u8 {
            buf.iter_mut().zip(key.iter().cycle()).fold(0, |all, (b, k)| {
                *b ^= k;
                all | *b
            })
        }
        #[inline(always)]
        fn copy(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
            dst.iter_mut().zip(src).zip(key.iter().cycle()).fold(0, |all, ((d, s), k)| {
                *d = s ^ k;
                all | *d
            })
        }
    }

    #[test]
    fn dispatch_runs_the_loops() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let plain: [u8; 300] = core::array::from_fn(|i| if i == 271 { 0x80 } else { (i % 0x80) as u8 });
        let masked: [u8; 300] = core::array::from_fn(|i| plain[i] ^ key[i % 4]);
        let mut buf = masked;
        assert_eq!(apply::<Plain>(&mut buf[..200], key), 0x7F);
        assert_eq!(apply::<Plain>(&mut buf[200..], key), 0xFF);
        assert_eq!(buf, plain);
        let mut out = [0u8; 300];
        assert_eq!(copy::<Plain>(&masked, &mut out, key), 0xFF);
        assert_eq!(out, plain);
        assert_eq!(copy::<Plain>(&[], &mut [], key), 0);
    }
}
