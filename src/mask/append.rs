//! Writing a frame in one pass: its header, then its payload masked (RFC 6455 §5.3, client
//! sends) or not (server sends), either appended to a `Vec` or written into a slice. A leaf
//! module that holds its own `unsafe` and imports nothing from the crate.
//!
//! **Why `unsafe`:** appending with `extend_from_slice` and then masking in place reads and
//! writes every byte twice; masking while copying into the `Vec`'s spare capacity does it once,
//! and then the length must be set by hand (`Vec::set_len`). The loops below are safe code,
//! generic over the destination's element ([`Byte`]: `u8` for a slice, `MaybeUninit<u8>` for
//! spare capacity), each covering its whole destination (same length as its source), so
//! `set_len` only claims bytes this file wrote. The other `unsafe` is the call of the AVX2 build
//! of the same safe loops after run-time detection, as in `avx2.rs` (the default x86-64 target
//! has only SSE2, at about half the speed on data in L1/L2).
//!
//! [`extend_frame_masked`] (the client send path) appends the frame header first, in the same
//! reservation (the `Assembly` calls it with no header, to append received binary payload as it
//! grows, with no zero-fill); [`extend_frame`] (the server send path) does the same without the
//! mask: there `unsafe` saves the `memcpy` calls of a short frame (header and payload go in as
//! fixed-size copies) rather than a pass. [`write_frame`] and [`write_frame_masked`] write the same bytes
//! into a slice, with no `unsafe` at all.
//!
//! Tested against bytewise masking and plain appends below (every length to 200 after several
//! prefixes and capacities of `out`, the aligned loop's threshold, every header length, and
//! proptests); Miri runs those tests (`.ci/miri.sh`) through the portable loops.
#![allow(unsafe_code)]

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// A destination element the loops can write a byte into: `u8` (a slice) or `MaybeUninit<u8>`
/// (a `Vec`'s spare capacity). One set of loops serves both.
pub(crate) trait Byte: Copy {
    /// The element holding `b`.
    fn of(b: u8) -> Self;
}

impl Byte for u8 {
    #[inline(always)]
    fn of(b: u8) -> Self {
        b
    }
}

impl Byte for MaybeUninit<u8> {
    #[inline(always)]
    fn of(b: u8) -> Self {
        MaybeUninit::new(b)
    }
}

/// Appends a frame: the first `head_len` bytes of `head` (an encoded header), then
/// `src[i] ^ key[i % 4]` for every byte of `src`, reading and writing each byte once (no
/// zero-fill, no second pass).
#[cfg(feature = "alloc")]
#[inline(always)]
pub(crate) fn extend_frame_masked<const H: usize>(
    out: &mut Vec<u8>,
    head: &[u8; H],
    head_len: usize,
    src: &[u8],
    key: [u8; 4],
) {
    extend_frame_with::<H, true>(out, head, head_len, src, key);
}

/// Appends an unmasked frame (server sends): the first `head_len` bytes of `head`, then `src`.
///
/// The same header stores as [`extend_frame_masked`], and its word loop without the XOR under 64
/// bytes (`memcpy` pieces from there, [`copy_pieces`]): at 16 B per message the two `memcpy`
/// calls of `extend_from_slice` (header and payload) were most of the send.
#[cfg(feature = "alloc")]
#[inline(always)]
pub(crate) fn extend_frame<const H: usize>(out: &mut Vec<u8>, head: &[u8; H], head_len: usize, src: &[u8]) {
    extend_frame_with::<H, false>(out, head, head_len, src, [0; 4]);
}

/// Writes a frame into `dst`, which must be exactly `head_len + src.len()` bytes long: the
/// first `head_len` bytes of `head`, then `src[i] ^ key[i % 4]` (client sends).
#[inline(always)]
pub(crate) fn write_frame_masked<const H: usize>(
    dst: &mut [u8],
    head: &[u8; H],
    head_len: usize,
    src: &[u8],
    key: [u8; 4],
) {
    frame_into::<u8, H, true>(dst, head, head_len, src, key);
}

/// Writes an unmasked frame (server sends) into `dst` (exactly `head_len + src.len()` bytes):
/// the first `head_len` bytes of `head`, then `src`.
#[inline(always)]
pub(crate) fn write_frame<const H: usize>(dst: &mut [u8], head: &[u8; H], head_len: usize, src: &[u8]) {
    frame_into::<u8, H, false>(dst, head, head_len, src, [0; 4]);
}

/// Reserves room for a frame, has [`frame_into`] write it into the spare capacity, then sets the
/// length.
#[cfg(feature = "alloc")]
#[inline(always)]
fn extend_frame_with<const H: usize, const MASK: bool>(
    out: &mut Vec<u8>,
    head: &[u8; H],
    head_len: usize,
    src: &[u8],
    key: [u8; 4],
) {
    let frame_len = head_len + src.len();
    out.reserve(frame_len);
    let start = out.len();
    // `reserve` guarantees at least `frame_len` spare elements, so this slice has that length.
    let dst = &mut out.spare_capacity_mut()[..frame_len];
    frame_into::<_, H, MASK>(dst, head, head_len, src, key);
    // SAFETY: `dst` is `out[start..start + frame_len]` of the spare capacity (within capacity,
    // after `reserve`), and `frame_into` wrote every element of it (see there). So the first
    // `start + frame_len` bytes are initialised.
    unsafe { out.set_len(start + frame_len) };
}

/// Writes every element of `dst` (`head_len + src.len()` long, checked): the header's first
/// `head_len` bytes, then [`copy`] writes the payload after it (masked with `key` if `MASK`).
/// (`copy` is called directly, not passed in as a closure: a closure was not inlined, which cost
/// a call per send.)
///
/// The header goes in as a few fixed-size copies (8, 4, 2, 1 bytes as `head_len`'s bits say), not
/// a `memcpy` call (at 16 B per message, that call was a fifth of the send), and never past
/// `head_len`: a header store that the payload's first vector store then overlapped cost 5 ns
/// per 1 KiB message here.
#[inline(always)]
fn frame_into<T: Byte, const H: usize, const MASK: bool>(
    dst: &mut [T],
    head: &[u8; H],
    head_len: usize,
    src: &[u8],
    key: [u8; 4],
) {
    let head = &head[..head_len];
    let (dst_head, dst_payload) = dst.split_at_mut(head_len);
    let mut at = 0;
    while head_len - at >= 8 {
        put::<8, T>(&mut dst_head[at..], &head[at..]);
        at += 8;
    }
    if (head_len - at) & 4 != 0 {
        put::<4, T>(&mut dst_head[at..], &head[at..]);
        at += 4;
    }
    if (head_len - at) & 2 != 0 {
        put::<2, T>(&mut dst_head[at..], &head[at..]);
        at += 2;
    }
    if (head_len - at) & 1 != 0 {
        put::<1, T>(&mut dst_head[at..], &head[at..]);
    }
    // `dst_head` (the first `head_len` elements) is now written whole: pieces of 8 while 8 or
    // more are left, then 4, 2 and 1 as the bits of the rest (below 8) say, each piece starting
    // where the last ended. `copy` writes every element of `dst_payload` and checks that it is
    // as long as `src`.
    copy::<T, MASK>(src, dst_payload, key);
}

/// `dst = src` (same lengths, checked) with the loops of an unmasked frame's payload.
#[inline]
pub(crate) fn copy_plain(dst: &mut [u8], src: &[u8]) {
    copy::<u8, false>(src, dst, [0; 4]);
}

/// Copies the first `N` bytes of `src` into `dst` as one fixed-size load and store.
#[inline(always)]
fn put<const N: usize, T: Byte>(dst: &mut [T], src: &[u8]) {
    let bytes: [u8; N] = src[..N].try_into().expect("N bytes");
    dst[..N].copy_from_slice(&bytes.map(T::of));
}

/// `dst = src ^ key` (same lengths; `dst = src` if not `MASK`, `key` then unused), writing every
/// element of `dst`: short payloads inline, the wide loop (masked) or `memcpy` pieces out of line.
#[inline(always)]
fn copy<T: Byte, const MASK: bool>(src: &[u8], dst: &mut [T], key: [u8; 4]) {
    // `extend_frame_with`'s `set_len` relies on it.
    assert_eq!(src.len(), dst.len());
    if src.len() < BLOCK {
        copy_words::<T, MASK>(src, dst, key);
    } else if MASK {
        copy_blocks(src, dst, key);
    } else if src.len() <= PIECE {
        // One `memcpy` call: 1 KiB messages are common, and `copy_long`'s piece loop added about
        // 40 instructions around it.
        copy_once(src, dst);
    } else {
        copy_long(src, dst);
    }
}

/// `dst = src` (same lengths) beyond 1 KiB, out of line like the wide loop (so a server send
/// inlined into its caller stays small): [`copy_pieces`] below [`ONE_COPY_FROM`], one `memcpy`
/// from there.
///
/// Why the switch, measured on this project's AMD EPYC (Zen 4, 1 MiB L2, glibc 2.36, ERMS and
/// FSRM), copying 1 MiB at relative offsets of source and destination from 0 to 4095 modulo
/// 4 KiB: one `memcpy` took 23-28 µs at every offset, 1 KiB pieces 26-36 µs. Below 1 MiB glibc
/// copies with `rep movsb`, which crawls when the destination sits 8 bytes after the source
/// modulo 4 KiB (64 KiB in 36 µs instead of 1.3 µs; 1040000 bytes in 768 µs), so pieces (each on
/// its vector path) are kept there; from its `rep movsb` stop threshold (the L2 size on AMD)
/// glibc takes a vector loop that steers clear of that aliasing, and on Intel `rep movsb` is its
/// large-copy path. (`benches/peers/examples/send_offsets.rs` measures a send at each offset.)
#[inline(never)]
fn copy_long<T: Byte>(src: &[u8], dst: &mut [T]) {
    if src.len() >= ONE_COPY_FROM {
        copy_once(src, dst);
    } else {
        copy_pieces(src, dst);
    }
}

/// From this length on, a long payload is one `memcpy` (see [`copy_long`]).
const ONE_COPY_FROM: usize = 1 << 20;

/// `dst = src` (same lengths), every element written, out of line: inlined into a send, LLVM
/// vectorised this loop in place (1 KiB server send: 334 instead of 233 instructions); alone, it
/// is one `memcpy` call.
#[inline(never)]
fn copy_once<T: Byte>(src: &[u8], dst: &mut [T]) {
    for (o, i) in dst.iter_mut().zip(src) {
        *o = T::of(*i);
    }
}

/// `dst = src` (same lengths), every element written: pieces of at most 1 KiB, each a loop that
/// LLVM turns into one `memcpy` call (at 1 KiB fewer instructions than the wide loop's
/// unaligned stores). Pieces, because glibc's `memcpy` takes `rep movsb` above a few KiB, which
/// on some AMD CPUs crawls at unlucky relative offsets of source and destination (see
/// `mask::copy_payload`).
#[inline(always)]
fn copy_pieces<T: Byte>(src: &[u8], dst: &mut [T]) {
    for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        for (o, i) in d.iter_mut().zip(s) {
            *o = T::of(*i);
        }
    }
}

/// The longest `memcpy` of [`copy_pieces`].
const PIECE: usize = 1024;

/// Bytes per block of the wide loop: two AVX2 or four SSE2 registers.
const BLOCK: usize = 64;

/// From this length on, the stores of the wide loop are aligned to `ALIGN` (a store straddling
/// two cache lines costs about twice as much). Below it the unaligned loop was faster on this
/// project's host (AMD EPYC, AVX2: 1 KiB appended in 17 ns unaligned vs 19-29 ns aligned; 4 KiB
/// in 58 vs 45 ns, 16 KiB in 270 vs 210 ns).
const ALIGN_FROM: usize = 4096;
const ALIGN: usize = 32;

/// `dst = src ^ key` (same lengths) for short runs: 32 bytes at a time, then 16 and 8 as the
/// length's bits say, then the last 0..=7 bytes one at a time, with no loop for the vectoriser
/// to guard with run-time checks (a 16-byte payload is two word XORs and a few tests). Every
/// element of `dst` is written.
#[inline(always)]
fn copy_words<T: Byte, const MASK: bool>(src: &[u8], dst: &mut [T], key: [u8; 4]) {
    debug_assert_eq!(src.len(), dst.len());
    // The key twice in a word, from the key as one number (the same on either endianness, as
    // the pattern repeats): three instructions where a byte-by-byte build took about thirty.
    let k = if MASK {
        let k32 = u32::from_ne_bytes(key) as u64;
        k32 << 32 | k32
    } else {
        0
    };
    let len = src.len().min(dst.len());
    let (mut s, mut d) = (&src[..len], &mut dst[..len]);
    while s.len() >= 32 {
        let (s32, s_rest) = s.split_at(32);
        let (d32, d_rest) = d.split_at_mut(32);
        for (o, i) in d32.chunks_exact_mut(8).zip(s32.chunks_exact(8)) {
            copy_word(i, o, k);
        }
        (s, d) = (s_rest, d_rest);
    }
    if s.len() >= 16 {
        let (s16, s_rest) = s.split_at(16);
        let (d16, d_rest) = d.split_at_mut(16);
        copy_word(&s16[..8], &mut d16[..8], k);
        copy_word(&s16[8..], &mut d16[8..], k);
        (s, d) = (s_rest, d_rest);
    }
    if s.len() >= 8 {
        let (s8, s_rest) = s.split_at(8);
        let (d8, d_rest) = d.split_at_mut(8);
        copy_word(s8, d8, k);
        (s, d) = (s_rest, d_rest);
    }
    if !MASK {
        // The last 0..=7 bytes as 4, 2 and 1-byte copies (a byte loop becomes a `memcpy` call).
        if s.len() >= 4 {
            put::<4, T>(d, s);
            (s, d) = (&s[4..], &mut d[4..]);
        }
        if s.len() >= 2 {
            put::<2, T>(d, s);
            (s, d) = (&s[2..], &mut d[2..]);
        }
        if let (Some(o), Some(i)) = (d.first_mut(), s.first()) {
            *o = T::of(*i);
        }
        return;
    }
    // Every step above is a multiple of 4 bytes, so the tail starts key-aligned.
    for ((o, i), k) in d.iter_mut().zip(s).zip(key.iter().cycle()) {
        *o = T::of(i ^ k);
    }
}

/// The first 8 bytes of `i` XOR `k` into the first 8 of `o`.
#[inline(always)]
fn copy_word<T: Byte>(i: &[u8], o: &mut [T], k: u64) {
    let v = u64::from_ne_bytes([i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7]]) ^ k;
    o[..8].copy_from_slice(&v.to_ne_bytes().map(T::of));
}

/// The wide loop, out of line so that the small path stays small where it is inlined; its AVX2
/// build when the CPU has AVX2.
#[inline(never)]
fn copy_blocks<T: Byte>(src: &[u8], dst: &mut [T], key: [u8; 4]) {
    #[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the only requirement of calling a `#[target_feature(enable = "avx2")]`
        // function is that the CPU supports AVX2, which was checked just above.
        return unsafe { copy_blocks_avx2(src, dst, key) };
    }
    copy_blocks_portable(src, dst, key)
}

/// [`copy_blocks_portable`] (inlined, safe) compiled for AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64", not(target_feature = "avx2")))]
#[target_feature(enable = "avx2")]
fn copy_blocks_avx2<T: Byte>(src: &[u8], dst: &mut [T], key: [u8; 4]) {
    copy_blocks_portable(src, dst, key)
}

/// A head of words up to the first `ALIGN` boundary of `dst` (from `ALIGN_FROM` bytes on), then
/// 64-byte blocks (which LLVM turns into vector XORs), then a tail of words. Every element of
/// `dst` is written.
#[inline(always)]
fn copy_blocks_portable<T: Byte>(src: &[u8], dst: &mut [T], key: [u8; 4]) {
    debug_assert_eq!(src.len(), dst.len());
    let len = src.len().min(dst.len());
    let head = if len < ALIGN_FROM { 0 } else { (dst.as_ptr() as usize).wrapping_neg() & (ALIGN - 1) };
    let (dst_head, dst) = dst[..len].split_at_mut(head);
    let (src_head, src) = src[..len].split_at(head);
    copy_words::<T, true>(src_head, dst_head, key);
    let key = rotate(key, head);
    let mut wide = [0u8; BLOCK];
    for w in wide.chunks_exact_mut(4) {
        w.copy_from_slice(&key);
    }
    let mut d = dst.chunks_exact_mut(BLOCK);
    let mut s = src.chunks_exact(BLOCK);
    for (o, i) in (&mut d).zip(&mut s) {
        let o: &mut [T; BLOCK] = o.try_into().expect("chunks_exact");
        let i: &[u8; BLOCK] = i.try_into().expect("chunks_exact");
        for j in 0..BLOCK {
            o[j] = T::of(i[j] ^ wide[j]);
        }
    }
    // BLOCK is a multiple of 4, so the tail starts key-aligned.
    copy_words::<T, true>(s.remainder(), d.into_remainder(), key);
}

/// The key as seen from byte `offset` of the payload.
#[inline(always)]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // One rotate of the key as a number (byte `r` first), not four indexed byte loads.
    let bits = 8 * (offset & 3) as u32;
    let k = u32::from_ne_bytes(key);
    let k = if cfg!(target_endian = "little") { k.rotate_right(bits) } else { k.rotate_left(bits) };
    k.to_ne_bytes()
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    /// The payload alone: a frame with an empty header.
    fn extend_masked(out: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
        extend_frame_masked(out, &[], 0, src, key);
    }

    /// `before` in a `Vec` with no spare room (`extra` is `None`), or with room for `appended`
    /// bytes plus `extra` more.
    fn start_with(before: &[u8], appended: usize, extra: Option<usize>) -> Vec<u8> {
        let mut v = Vec::with_capacity(before.len() + extra.map_or(0, |e| appended + e));
        v.extend_from_slice(before);
        v
    }

    fn reference(out: &[u8], src: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut expected = out.to_vec();
        expected.extend(src.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        expected
    }

    /// Every length to 200 after several prefixes, into a `Vec` with no spare room, exactly the
    /// room needed, and more than needed, at every alignment of the destination the prefixes give.
    #[test]
    fn agrees_with_bytewise_reference_at_every_length_prefix_and_capacity() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let src: [u8; 200] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        // Under Miri, which interprets every byte: fewer prefixes, and the lengths up to two
        // 32-byte strides plus a few longer ones (every tail length is still covered).
        let prefixes: &[usize] = if cfg!(miri) { &[0, 3, 33] } else { &[0, 1, 2, 3, 5, 14, 31, 32, 33, 100] };
        let lengths: Vec<usize> = if cfg!(miri) { (0..=70).chain([128, 200]).collect() } else { (0..=200).collect() };
        for len in lengths {
            for &prefix in prefixes {
                let before: Vec<u8> = (0..prefix).map(|i| (i * 13) as u8).collect();
                let expected = reference(&before, &src[..len], key);
                for extra in [None, Some(0), Some(1), Some(300)] {
                    let mut out = start_with(&before, len, extra);
                    extend_masked(&mut out, &src[..len], key);
                    assert_eq!(out, expected, "len {len} prefix {prefix} extra {extra:?}");
                }
            }
        }
    }

    /// Appending twice continues where the first append stopped, with its own key phase.
    #[test]
    fn appends_after_earlier_appends() {
        let key = [1, 2, 3, 4];
        let a: [u8; 77] = core::array::from_fn(|i| i as u8);
        let b: [u8; 1030] = core::array::from_fn(|i| (i * 5) as u8);
        let mut out = vec![9u8; 3];
        extend_masked(&mut out, &a, key);
        extend_masked(&mut out, &b, key);
        let expected = reference(&reference(&[9, 9, 9], &a, key), &b, key);
        assert_eq!(out, expected);
    }

    /// Around `ALIGN_FROM`, where the aligned head starts: every distance of the destination
    /// from an `ALIGN` boundary, and tails of every length modulo a block.
    #[test]
    fn aligned_and_unaligned_loops_agree_around_the_threshold() {
        let key = [0x9c, 0x01, 0xe5, 0x70];
        let src: Vec<u8> = (0..ALIGN_FROM + 2 * BLOCK).map(|i| (i * 31 + 7) as u8).collect();
        let prefixes: Vec<usize> = if cfg!(miri) { vec![0, 1, 31] } else { (0..ALIGN + 1).collect() };
        for len in [ALIGN_FROM - 1, ALIGN_FROM, ALIGN_FROM + 1, ALIGN_FROM + 3, ALIGN_FROM + BLOCK + 37] {
            for &prefix in &prefixes {
                let before = vec![0xaa; prefix];
                let mut out = before.clone();
                extend_masked(&mut out, &src[..len], key);
                assert!(out == reference(&before, &src[..len], key), "len {len} prefix {prefix}");
            }
        }
    }

    /// The frame form: a header of every length 0..=14 from a 14-byte array, then the payload,
    /// with no bytes of the array past the header left in the `Vec`.
    #[test]
    fn frame_form_appends_exactly_the_header_then_the_masked_payload() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let head: [u8; 14] = core::array::from_fn(|i| 0xf0 | i as u8);
        let src: [u8; 150] = core::array::from_fn(|i| (i * 3) as u8);
        for head_len in 0..=14 {
            let lengths: &[usize] = if cfg!(miri) { &[0, 1, 13, 65] } else { &[0, 1, 5, 11, 12, 13, 63, 64, 65, 150] };
            for &len in lengths {
                for (prefix, extra) in [(0, None), (3, None), (0, Some(0)), (7, Some(2)), (1, Some(100))] {
                    let before = vec![0x55u8; prefix];
                    let mut out = start_with(&before, head_len + len, extra);
                    extend_frame_masked(&mut out, &head, head_len, &src[..len], key);
                    let mut expected = before.clone();
                    expected.extend_from_slice(&head[..head_len]);
                    let expected = reference(&expected, &src[..len], key);
                    assert_eq!(out, expected, "head {head_len} len {len} prefix {prefix} extra {extra:?}");
                    // The slice form writes the same frame over whatever the slice held.
                    let mut slice = vec![0xa5u8; head_len + len];
                    write_frame_masked(&mut slice, &head, head_len, &src[..len], key);
                    assert_eq!(slice, expected[prefix..], "slice, head {head_len} len {len}");
                }
            }
        }
    }

    /// The unmasked form (server sends): every header length 0..=14 and every payload length to
    /// 200 and around the 1 KiB pieces, after several prefixes and capacities of `out`.
    #[test]
    fn plain_frame_form_appends_exactly_the_header_then_the_payload() {
        let head: [u8; 14] = core::array::from_fn(|i| 0xe0 | i as u8);
        let src: Vec<u8> = (0..ALIGN_FROM + 2 * BLOCK + 9).map(|i| (i * 11 + 5) as u8).collect();
        // Under Miri (which interprets every byte) a few lengths of each class, one prefix.
        let lens: Vec<usize> = if cfg!(miri) {
            vec![0, 1, 7, 13, 16, 63, 64, 65, 1025, ALIGN_FROM + BLOCK + 37]
        } else {
            let long = [1023, 1024, 1025, 2049, ALIGN_FROM - 1, ALIGN_FROM, ALIGN_FROM + BLOCK + 37, src.len()];
            (0..=200).chain(long).collect()
        };
        let heads: &[usize] =
            if cfg!(miri) { &[0, 2, 10, 14] } else { &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] };
        let cases: &[(usize, Option<usize>)] = if cfg!(miri) {
            &[(3, Some(1))]
        } else {
            &[(0, None), (3, None), (0, Some(0)), (7, Some(2)), (33, Some(300))]
        };
        for &head_len in heads {
            for &len in &lens {
                for &(prefix, extra) in cases {
                    let before = vec![0x55u8; prefix];
                    let mut out = start_with(&before, head_len + len, extra);
                    extend_frame(&mut out, &head, head_len, &src[..len]);
                    let mut expected = before.clone();
                    expected.extend_from_slice(&head[..head_len]);
                    expected.extend_from_slice(&src[..len]);
                    assert!(out == expected, "head {head_len} len {len} prefix {prefix} extra {extra:?}");
                    let mut slice = vec![0xa5u8; head_len + len];
                    write_frame(&mut slice, &head, head_len, &src[..len]);
                    assert!(slice == expected[prefix..], "slice, head {head_len} len {len}");
                }
            }
        }
    }

    /// Around `ONE_COPY_FROM`, where a long payload becomes one `memcpy`: the frame is the same
    /// in both forms, one byte below, at and above the threshold.
    #[test]
    #[cfg_attr(miri, ignore = "megabytes, byte by byte; the pieces and the single copy are the same safe loop")]
    fn one_copy_and_pieces_agree_around_the_threshold() {
        let src: Vec<u8> = (0..ONE_COPY_FROM + 3).map(|i| (i * 13 + 1) as u8).collect();
        let head = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0];
        for len in [ONE_COPY_FROM - 1, ONE_COPY_FROM, ONE_COPY_FROM + 3] {
            let mut expected = vec![7u8; 5];
            expected.extend_from_slice(&head[..10]);
            expected.extend_from_slice(&src[..len]);
            let mut out = vec![7u8; 5];
            extend_frame(&mut out, &head, 10, &src[..len]);
            assert!(out == expected, "Vec, {len} bytes");
            let mut slice = vec![0u8; 10 + len];
            write_frame(&mut slice, &head, 10, &src[..len]);
            assert!(slice == expected[5..], "slice, {len} bytes");
            let mut copied = vec![0u8; len];
            copy_plain(&mut copied, &src[..len]);
            assert!(copied == src[..len], "copy_plain, {len} bytes");
        }
    }

    /// A slice one byte too short or too long for the frame is refused by the length check (the
    /// check `extend_frame_with`'s `set_len` relies on), never written in part.
    #[test]
    #[should_panic(expected = "assertion `left == right` failed")]
    fn a_slice_of_the_wrong_length_panics() {
        let mut slice = [0u8; 2 + 5];
        write_frame(&mut slice, &[0x82, 0x05], 2, b"four");
    }

    proptest! {
        #[test]
        fn extend_masked_agrees_with_bytewise(
            // Under Miri, short inputs only: the aligned loop has its own test above.
            src in proptest::collection::vec(any::<u8>(), 0..if cfg!(miri) { 300 } else { 2 * ALIGN_FROM + 300 }),
            key in any::<[u8; 4]>(),
            prefix in 0usize..70,
            extra in 0usize..100,
        ) {
            let before: Vec<u8> = (0..prefix).map(|i| i as u8).collect();
            let mut out = Vec::with_capacity(prefix + extra);
            out.extend_from_slice(&before);
            extend_masked(&mut out, &src, key);
            prop_assert_eq!(&out, &reference(&before, &src, key));
            let head = [0xc1, 0xfe, 0x12, 0x34, key[0], key[1], key[2], key[3], 0, 0, 0, 0, 0, 0];
            let mut framed = before.clone();
            extend_frame_masked(&mut framed, &head, 8, &src, key);
            let mut expected = before.clone();
            expected.extend_from_slice(&head[..8]);
            prop_assert_eq!(&framed, &reference(&expected, &src, key));
            let mut plain = before.clone();
            extend_frame(&mut plain, &head, 4, &src);
            let mut expected = before.clone();
            expected.extend_from_slice(&head[..4]);
            expected.extend_from_slice(&src);
            prop_assert_eq!(&plain[prefix..], &expected[prefix..]);
            let mut slice = vec![0u8; 4 + src.len()];
            write_frame(&mut slice, &head, 4, &src);
            prop_assert_eq!(&slice[..], &expected[prefix..]);
            prop_assert_eq!(plain, expected);
            let mut slice = vec![0u8; 8 + src.len()];
            write_frame_masked(&mut slice, &head, 8, &src, key);
            prop_assert_eq!(&slice[..], &framed[prefix..]);
        }
    }
}
