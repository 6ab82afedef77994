//! Masking (RFC 6455 §5.3) and the sources of client masking keys.
//!
//! The XOR loops are safe code on 64-byte blocks of plain arrays (u64 words below that), aligned
//! first, so that LLVM turns them into vector instructions; on x86-64 with `std` a second build of
//! the same loops with AVX2 is picked at run time (the leaf submodule `avx2`). A client's payload
//! appended to a `Vec` (or written into a slice) is masked as it is copied (the leaf submodule
//! `append`, with its own loops). Those two leaves hold the only `unsafe` of masking. Keys come
//! from a [`MaskSource`] the caller injects (`source.rs`): the crate itself holds no RNG, which
//! keeps it deterministic under test and fuzzing.

mod append;
#[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
mod avx2;
mod source;

#[cfg(feature = "alloc")]
pub(crate) use append::{extend_frame, extend_frame_masked};
pub(crate) use append::{write_frame, write_frame_masked};
pub use source::{ChaChaMask, MaskSource, Masking, NoMask, TestMasks};

/// XORs `buf` in place with `key`, as if `buf` started at byte `offset` of a masked payload.
///
/// `offset` lets a payload that arrives in pieces be unmasked piece by piece.
///
/// ```
/// // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
/// let mut data = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// wsmachine::mask::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline(always)]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if buf.len() >= BLOCK {
        apply_mask_blocks::<false>(buf, key);
        return;
    }
    // Small payloads (most messages): 8 bytes at a time in a u64, inlined into the caller.
    xor_words::<false>(buf, key);
}

/// [`apply_mask`] that also tells whether every unmasked byte is ASCII, for text: an ASCII
/// payload is valid UTF-8 with no further pass over it (RFC 6455 §8.1), and the check costs
/// one OR per vector in the loop that unmasks anyway.
#[inline(always)]
pub(crate) fn apply_mask_ascii(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    let key = rotate(key, offset);
    let high = if buf.len() >= BLOCK { apply_mask_blocks::<true>(buf, key) } else { xor_words::<true>(buf, key) };
    high & 0x80 == 0
}

/// Bytes per block of the wide loops: two AVX2 or four SSE2 registers.
const BLOCK: usize = 64;

/// The wide loop, out of line so that the small path stays small where it is inlined; AVX2 when the
/// CPU has it (`avx2.rs`).
#[inline(never)]
fn apply_mask_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    #[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
    return avx2::apply::<Portable<ASCII>>(buf, key);
    #[allow(unreachable_code)]
    apply_mask_blocks_portable::<ASCII>(buf, key)
}

/// The portable wide loops, named for `avx2.rs` to compile a second time with AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
struct Portable<const ASCII: bool>;

#[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
impl<const ASCII: bool> avx2::Loops for Portable<ASCII> {
    #[inline(always)]
    fn apply(buf: &mut [u8], key: [u8; 4]) -> u8 {
        apply_mask_blocks_portable::<ASCII>(buf, key)
    }
    #[inline(always)]
    fn copy(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
        copy_masked_blocks_portable::<ASCII>(src, dst, key)
    }
}

/// Vector loads and stores are aligned to this: one that straddles two cache lines costs about
/// twice as much (unmasking 64 KiB at offset 14 with AVX2: 48 GB/s; aligned first: 72 GB/s).
const ALIGN: usize = 32;

/// How many bytes from `ptr` to the next `ALIGN` boundary (at most `len`).
#[inline(always)]
fn head_len(ptr: *const u8, len: usize) -> usize {
    ((ptr as usize).wrapping_neg() & (ALIGN - 1)).min(len)
}

/// The safe, portable wide loop (also the body of the AVX2 build in `avx2.rs`). With
/// `ASCII`, returns the OR of every output byte (its high bit is set unless all are ASCII); 0
/// otherwise, and then the accumulator compiles away.
#[inline(always)]
fn apply_mask_blocks_portable<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    // The first few bytes (u64 words, then single bytes), so that the blocks start aligned.
    let (head, buf) = buf.split_at_mut(head_len(buf.as_ptr(), buf.len()));
    let mut high = xor_words::<ASCII>(head, key);
    let key = rotate(key, head.len());
    // The end of a payload arrived last and is still in L1: unmask it first, before reading the
    // start evicts it (64 KiB received then unmasked in place: 15 % faster than front to back).
    // `older` is a whole number of blocks, so both parts start key-aligned.
    let older = (buf.len() / BLOCK * BLOCK).saturating_sub(RECENT);
    let (older, recent) = buf.split_at_mut(older);
    high |= xor_blocks::<ASCII>(recent, key);
    high | xor_blocks::<ASCII>(older, key)
}

/// How much of the end of a buffer being unmasked in place is taken to be in L1 still.
const RECENT: usize = 32 * 1024;

/// The wide loop proper: `buf` (starting key-aligned) XOR the key a block at a time, then the
/// last 0..BLOCK bytes; with `ASCII`, the OR of the output bytes.
#[inline(always)]
fn xor_blocks<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    let wide = widen::<BLOCK>(key);
    let mut high = 0;
    let mut lanes = [0u8; BLOCK];
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        let block: &mut [u8; BLOCK] = block.try_into().expect("chunks_exact");
        for ((b, k), lane) in block.iter_mut().zip(wide.iter()).zip(lanes.iter_mut()) {
            *b ^= k;
            if ASCII {
                *lane |= *b;
            }
        }
    }
    // BLOCK is a multiple of 4, so the tail starts key-aligned.
    high |= xor_words::<ASCII>(blocks.into_remainder(), key);
    if ASCII {
        high |= lanes.iter().fold(0, |all, lane| all | lane);
    }
    high
}

/// `buf` XOR the key a u64 at a time, then the last 0..=7 bytes; with `ASCII`, the OR of the
/// output bytes' high bits. Callers pass fewer than 64 bytes (or a block's head or tail), so
/// the words go by 32, 16 and 8 as the length's bits say: a 16-byte payload is one 16-byte XOR
/// and a few tests, with no loop to set up (`benches/ab/run.sh`: with the shift-based tail
/// below, a 16-byte message takes about 7 instructions fewer than with a word loop).
#[inline(always)]
fn xor_words<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u8 {
    let k = key_word(key);
    let mut seen = 0u64;
    let mut rest = buf;
    while rest.len() >= 32 {
        let (words, after) = rest.split_at_mut(32);
        for w in words.chunks_exact_mut(8) {
            seen |= xor_word(w, k);
        }
        rest = after;
    }
    if rest.len() >= 16 {
        let (words, after) = rest.split_at_mut(16);
        seen |= xor_word(&mut words[..8], k) | xor_word(&mut words[8..], k);
        rest = after;
    }
    if rest.len() >= 8 {
        let (word, after) = rest.split_at_mut(8);
        seen |= xor_word(word, k);
        rest = after;
    }
    // Every step above is a multiple of 4 bytes, so the tail starts key-aligned.
    let tail = xor_tail::<ASCII>(rest, key);
    if ASCII {
        tail | seen.to_ne_bytes().iter().fold(0, |all, b| all | b) & 0x80
    } else {
        0
    }
}

/// One 8-byte word of `w` XOR `k`, written back; returns the unmasked word.
#[inline(always)]
fn xor_word(w: &mut [u8], k: u64) -> u64 {
    let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k;
    w.copy_from_slice(&v.to_ne_bytes());
    v
}

/// A few bytes (the last 0..=7, or the head before an aligned block), starting key-aligned.
#[inline(always)]
fn xor_tail<const ASCII: bool>(tail: &mut [u8], key: [u8; 4]) -> u8 {
    // The key as a number, byte `i` at bits 8i: shifts, not a walk over the key in memory.
    let k = u32::from_le_bytes(key);
    let mut high = 0;
    for (i, b) in tail.iter_mut().enumerate() {
        *b ^= (k >> (8 * (i & 3))) as u8;
        if ASCII {
            high |= *b;
        }
    }
    high & 0x80
}

/// Copies `src` into `dst` (same length) with the send path's copy (`append::copy_plain`): word
/// copies when short, then 1 KiB `memcpy` pieces, and one `memcpy` from 1 MiB on. Not one
/// `copy_from_slice` at every length, because glibc's `memcpy` takes `rep movsb` between a few
/// KiB and 1 MiB, which on some AMD CPUs crawls at unlucky relative offsets of source and
/// destination (see `append::copy_long`).
#[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by message assembly
#[inline]
pub(crate) fn copy_payload(dst: &mut [u8], src: &[u8]) {
    append::copy_plain(dst, src);
}

/// Copies `src` into `dst` (same length) masking with `key` in the same pass (client sends).
#[inline]
pub fn copy_masked(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
    debug_assert_eq!(src.len(), dst.len());
    let len = src.len().min(dst.len());
    let (src, dst) = (&src[..len], &mut dst[..len]);
    if len >= BLOCK {
        copy_masked_blocks::<false>(src, dst, key);
    } else {
        copy_masked_words::<false>(src, dst, key);
    }
}

/// [`copy_masked`] that also tells whether every unmasked byte is ASCII (see
/// [`apply_mask_ascii`]).
#[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by message assembly
#[inline]
pub(crate) fn copy_masked_ascii(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> bool {
    debug_assert_eq!(src.len(), dst.len());
    let len = src.len().min(dst.len());
    let (src, dst) = (&src[..len], &mut dst[..len]);
    let high =
        if len >= BLOCK { copy_masked_blocks::<true>(src, dst, key) } else { copy_masked_words::<true>(src, dst, key) };
    high & 0x80 == 0
}

#[inline(always)]
fn copy_masked_words<const ASCII: bool>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
    let k = key_word(key);
    let mut seen = 0u64;
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (o, i) in (&mut d).zip(&mut s) {
        let v = u64::from_ne_bytes([i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7]]) ^ k;
        o.copy_from_slice(&v.to_ne_bytes());
        if ASCII {
            seen |= v;
        }
    }
    let mut high = 0;
    for ((o, i), k) in d.into_remainder().iter_mut().zip(s.remainder()).zip(key.iter().cycle()) {
        *o = i ^ k;
        if ASCII {
            high |= *o;
        }
    }
    if ASCII {
        (high | seen.to_ne_bytes().iter().fold(0, |all, b| all | b)) & 0x80
    } else {
        0
    }
}

/// Out of line, AVX2 when the CPU has it (`avx2.rs`).
#[inline(never)]
fn copy_masked_blocks<const ASCII: bool>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
    #[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
    return avx2::copy::<Portable<ASCII>>(src, dst, key);
    #[allow(unreachable_code)]
    copy_masked_blocks_portable::<ASCII>(src, dst, key)
}

/// The safe, portable wide copy loop (also the body of the AVX2 build in `avx2.rs`); with
/// `ASCII`, returns the OR of the output bytes as [`apply_mask_blocks_portable`] does.
#[inline(always)]
fn copy_masked_blocks_portable<const ASCII: bool>(src: &[u8], dst: &mut [u8], key: [u8; 4]) -> u8 {
    // Align the stores (the destination); the head goes in u64 words, then single bytes.
    let head = head_len(dst.as_ptr(), dst.len().min(src.len()));
    let (dst_head, dst) = dst.split_at_mut(head);
    let (src_head, src) = src.split_at(head);
    let mut high = copy_masked_words::<ASCII>(src_head, dst_head, key);
    let key = rotate(key, head);
    let wide = widen::<BLOCK>(key);
    let mut lanes = [0u8; BLOCK];
    let mut d = dst.chunks_exact_mut(BLOCK);
    let mut s = src.chunks_exact(BLOCK);
    for (o, i) in (&mut d).zip(&mut s) {
        let o: &mut [u8; BLOCK] = o.try_into().expect("chunks_exact");
        let i: &[u8; BLOCK] = i.try_into().expect("chunks_exact");
        for j in 0..BLOCK {
            o[j] = i[j] ^ wide[j];
            if ASCII {
                lanes[j] |= o[j];
            }
        }
    }
    // BLOCK is a multiple of 4, so the tail starts key-aligned.
    high |= copy_masked_words::<ASCII>(s.remainder(), d.into_remainder(), key);
    if ASCII {
        high |= lanes.iter().fold(0, |all, lane| all | lane);
    }
    high
}

#[inline]
pub(crate) fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // One rotate of the key as a number (byte `r` first), not four indexed byte loads.
    let bits = 8 * (offset & 3) as u32;
    let k = u32::from_ne_bytes(key);
    let k = if cfg!(target_endian = "little") { k.rotate_right(bits) } else { k.rotate_left(bits) };
    k.to_ne_bytes()
}

/// The key twice in a word (the same on either endianness, as the pattern repeats).
#[inline(always)]
fn key_word(key: [u8; 4]) -> u64 {
    let k = u32::from_ne_bytes(key) as u64;
    k << 32 | k
}

/// The key repeated to `N` bytes (`N` a multiple of 4).
#[inline(always)]
fn widen<const N: usize>(key: [u8; 4]) -> [u8; N] {
    // Whole 4-byte stores (a broadcast once optimised), not N single-byte stores.
    let mut wide = [0u8; N];
    for w in wide.chunks_exact_mut(4) {
        w.copy_from_slice(&key);
    }
    wide
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    /// Two high bytes must not cancel in the ASCII report, whichever parts of the small path
    /// (16- and 8-byte words, tail) hold them: the report ORs, never XORs, what it saw.
    #[test]
    fn two_high_bytes_never_cancel_in_the_ascii_report() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 2..BLOCK {
            for i in 0..len {
                for j in (i + 1)..len {
                    let mut plain = vec![b'a'; len];
                    plain[i] = 0xc3;
                    plain[j] = 0xc3;
                    let mut buf: vec::Vec<u8> = plain.iter().enumerate().map(|(n, b)| b ^ key[n % 4]).collect();
                    assert!(!apply_mask_ascii(&mut buf, key, 0), "len {len}, high bytes at {i} and {j}");
                    assert_eq!(buf, plain);
                }
            }
        }
    }

    #[test]
    fn agrees_with_bytewise_reference_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..200 {
            for offset in 0..8 {
                let orig: [u8; 200] = core::array::from_fn(|i| (i * 7 + 3) as u8);
                let mut fast = orig;
                let mut slow = orig;
                apply_mask(&mut fast[..len], key, offset);
                reference(&mut slow[..len], key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
                let mut copied = [0u8; 200];
                copy_masked(&orig[..len], &mut copied[..len], key);
                let mut expect = orig;
                reference(&mut expect[..len], key, 0);
                assert_eq!(&copied[..len], &expect[..len]);
            }
        }
    }

    /// Buffers long enough that the recent end is unmasked before the older part: every split
    /// of blocks, head and tail around `RECENT`, at every key offset and buffer alignment, and a
    /// high bit in either part is reported.
    #[test]
    fn long_buffers_unmask_end_first_with_the_same_result() {
        use std::vec::Vec;
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let orig: Vec<u8> = (0..RECENT + 3 * BLOCK + 100).map(|i| (i * 7 % 128) as u8).collect();
        for len in [RECENT - 1, RECENT, RECENT + 1, RECENT + BLOCK - 1, RECENT + BLOCK, RECENT + 2 * BLOCK + 37] {
            for shift in [0, 1, 31, 63] {
                for offset in 0..4 {
                    let mut fast = orig[..shift + len].to_vec();
                    let mut slow = fast.clone();
                    apply_mask(&mut fast[shift..], key, offset);
                    reference(&mut slow[shift..], key, offset);
                    assert!(fast == slow, "len {len} shift {shift} offset {offset}");
                    // ASCII reporting: all ASCII, then one high bit near the start, then near the end.
                    for high_at in [None, Some(shift + 5), Some(shift + len - 2)] {
                        let mut plain = orig[..shift + len].to_vec();
                        if let Some(at) = high_at {
                            plain[at] = 0xC3;
                        }
                        let mut masked = plain.clone();
                        reference(&mut masked[shift..], key, offset);
                        let ascii = apply_mask_ascii(&mut masked[shift..], key, offset);
                        assert!(masked == plain, "len {len} shift {shift} offset {offset}");
                        assert_eq!(ascii, high_at.is_none(), "len {len} shift {shift} high at {high_at:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn piecewise_unmasking_equals_whole() {
        let key = [1, 2, 3, 4];
        let mut whole: [u8; 77] = core::array::from_fn(|i| i as u8);
        let mut parts = whole;
        apply_mask(&mut whole, key, 0);
        let (a, rest) = parts.split_at_mut(5);
        let (b, c) = rest.split_at_mut(33);
        apply_mask(a, key, 0);
        apply_mask(b, key, 5);
        apply_mask(c, key, 38);
        assert_eq!(whole, parts);
    }

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
            apply_mask(&mut in_place, key, offset);
            prop_assert_eq!(&in_place, &expected);
            let mut copied = vec![0u8; bytes.len()];
            copy_masked(&bytes, &mut copied, rotate(key, offset));
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
            let ascii = apply_mask_ascii(&mut in_place[shift..], key, offset);
            prop_assert_eq!(&in_place[shift..], &plain[..]);
            prop_assert_eq!(ascii, plain.is_ascii());
            let mut copied = vec![0u8; shift + masked.len()];
            let ascii = copy_masked_ascii(&masked, &mut copied[shift..], rotate(key, offset));
            prop_assert_eq!(&copied[shift..], &plain[..]);
            prop_assert_eq!(ascii, plain.is_ascii());
        }
    }
}
