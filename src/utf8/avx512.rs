//! UTF-8 validation with AVX-512 (x86-64 CPUs with AVX-512BW, detected at run time): a leaf
//! module that holds its own `unsafe` and imports nothing from the crate.
//!
//! **Why `unsafe`:** about 1.6× simdutf8's AVX2 build on non-ASCII text and 1.2–1.4× on ASCII,
//! in the same run (`cargo bench --bench wsmachine -- kernels/`); `utf8::validate` picks it
//! after run-time detection of AVX-512BW, else simdutf8 or core. The `unsafe` here: the call of
//! the `#[target_feature]` kernel (after detection), its 64-byte unaligned loads, and the
//! `&str` made from the bytes the kernel accepted.
//!
//! The lookup algorithm of Keiser and Lemire ("Validating UTF-8 in less than one instruction
//! per byte", 2021), written here for 64-byte registers: every byte is classified by three
//! 16-entry tables (high and low nibble of the byte before it, high nibble of itself), whose
//! bitwise AND is non-zero exactly where two adjacent bytes break a rule of RFC 3629 §4; the
//! third and fourth bytes of a sequence are checked against the lead two and three bytes back.
//! The rest is safe intrinsics inside `#[target_feature]` functions.
//!
//! Miri detects no AVX-512, so the kernel is covered by an exhaustive test instead (every lead
//! byte with two bytes from each boundary of RFC 3629's table, at every block edge) and a
//! proptest against `core::str::from_utf8`, which CI requires to run where the CPU has AVX-512
//! (`WSMACHINE_REQUIRE_AVX512`).
#![allow(unsafe_code)]

use core::arch::x86_64::*;

/// `Some(text)` or `Some(None)` (invalid) when this CPU has AVX-512BW; `None` otherwise,
/// and then the caller uses another validator.
#[inline]
pub(super) fn validate(bytes: &[u8]) -> Option<Option<&str>> {
    // Both bits, although every CPU with BW has F: a hypervisor may mask CPUID bits one by one.
    if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")) {
        return None;
    }
    // SAFETY: the only requirement of calling a function with `#[target_feature(enable =
    // "avx512f,avx512bw")]` is CPU support, and both features were just detected.
    let valid = unsafe { is_utf8(bytes) };
    if !valid {
        return Some(None);
    }
    debug_assert!(core::str::from_utf8(bytes).is_ok(), "the AVX-512 kernel accepted invalid UTF-8");
    // SAFETY: `is_utf8` returned true, so `bytes` is valid UTF-8: the kernel below flags every
    // pair of bytes that breaks a rule of RFC 3629 §4 and every sequence cut short by the end
    // (checked against `core::str::from_utf8` by the tests below, exhaustively near every block
    // edge, and again by the debug assertion above).
    Some(Some(unsafe { core::str::from_utf8_unchecked(bytes) }))
}

// Error classes, one bit each (the AND of the three lookups keeps a bit only where all
// three agree that this pair of bytes breaks that rule).
const TOO_SHORT: u8 = 1 << 0; // a lead byte followed by a non-continuation
const TOO_LONG: u8 = 1 << 1; // ASCII followed by a continuation
const OVERLONG_3: u8 = 1 << 2; // E0 followed by 80..9F
const TOO_LARGE: u8 = 1 << 3; // F4 followed by 90..BF, or F5..FF
const SURROGATE: u8 = 1 << 4; // ED followed by A0..BF (U+D800..U+DFFF)
const OVERLONG_2: u8 = 1 << 5; // C0 or C1
const TOO_LARGE_1000: u8 = 1 << 6; // F5..FF followed by 80..8F
const OVERLONG_4: u8 = 1 << 6; // F0 followed by 80..8F
const TWO_CONTS: u8 = 1 << 7; // a continuation after a continuation (fine as byte 3 or 4)
const CARRY: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

/// By the high nibble of the previous byte.
const PREV_HIGH: [u8; 16] = [
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
];

/// By the low nibble of the previous byte.
const PREV_LOW: [u8; 16] = [
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    CARRY | OVERLONG_2,
    CARRY,
    CARRY,
    CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
];

/// By the high nibble of the byte itself.
const THIS_HIGH: [u8; 16] = [
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
];

/// Subtracted (saturating) from the last block: non-zero where a sequence is cut short by
/// the end (a lead byte of 2 in the last, 3 in the last two, 4 in the last three bytes).
const fn incomplete_limits() -> [u8; 64] {
    let mut limits = [0xFF; 64];
    limits[61] = 0xF0 - 1;
    limits[62] = 0xE0 - 1;
    limits[63] = 0xC0 - 1;
    limits
}
const INCOMPLETE_LIMITS: [u8; 64] = incomplete_limits();

struct Consts {
    prev_high: __m512i,
    prev_low: __m512i,
    this_high: __m512i,
    nibble: __m512i,
    /// Picks 128-bit lanes [previous block's last, this block's first three].
    lanes_back: __m512i,
    incomplete: __m512i,
    third_byte: __m512i,
    fourth_byte: __m512i,
    high_bit: __m512i,
}

/// The running state across blocks.
struct State {
    error: __m512i,
    prev: __m512i,
    prev_incomplete: __m512i,
}

#[target_feature(enable = "avx512f,avx512bw")]
fn table(t: &[u8; 16]) -> __m512i {
    _mm512_broadcast_i32x4(_mm_set_epi8(
        t[15] as i8,
        t[14] as i8,
        t[13] as i8,
        t[12] as i8,
        t[11] as i8,
        t[10] as i8,
        t[9] as i8,
        t[8] as i8,
        t[7] as i8,
        t[6] as i8,
        t[5] as i8,
        t[4] as i8,
        t[3] as i8,
        t[2] as i8,
        t[1] as i8,
        t[0] as i8,
    ))
}

/// Loads 64 bytes.
#[target_feature(enable = "avx512f,avx512bw")]
fn load(block: &[u8; 64]) -> __m512i {
    // SAFETY: `block` is 64 readable bytes, and `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(block.as_ptr().cast()) }
}

/// Checks one 64-byte block that holds a non-ASCII byte (or follows one).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn check_block(c: &Consts, s: &mut State, input: __m512i) {
    // The input shifted back by 1, 2 and 3 bytes, continuing from the previous block.
    let back = _mm512_permutex2var_epi64(s.prev, c.lanes_back, input);
    let prev1 = _mm512_alignr_epi8::<15>(input, back);
    let prev2 = _mm512_alignr_epi8::<14>(input, back);
    let prev3 = _mm512_alignr_epi8::<13>(input, back);
    let prev_high = _mm512_shuffle_epi8(c.prev_high, _mm512_and_si512(_mm512_srli_epi16::<4>(prev1), c.nibble));
    let prev_low = _mm512_shuffle_epi8(c.prev_low, _mm512_and_si512(prev1, c.nibble));
    let this_high = _mm512_shuffle_epi8(c.this_high, _mm512_and_si512(_mm512_srli_epi16::<4>(input), c.nibble));
    let special = _mm512_ternarylogic_epi32::<0x80>(prev_high, prev_low, this_high); // a & b & c
                                                                                     // Where a third or fourth byte must be a continuation: TWO_CONTS is expected there.
    let third = _mm512_subs_epu8(prev2, c.third_byte);
    let fourth = _mm512_subs_epu8(prev3, c.fourth_byte);
    let must_continue = _mm512_and_si512(_mm512_or_si512(third, fourth), c.high_bit);
    s.error = _mm512_ternarylogic_epi32::<0xF6>(s.error, must_continue, special); // a | (b ^ c)
    s.prev_incomplete = _mm512_subs_epu8(input, c.incomplete);
    s.prev = input;
}

/// Whether `bytes` is valid UTF-8.
#[target_feature(enable = "avx512f,avx512bw")]
fn is_utf8(bytes: &[u8]) -> bool {
    let c = Consts {
        prev_high: table(&PREV_HIGH),
        prev_low: table(&PREV_LOW),
        this_high: table(&THIS_HIGH),
        nibble: _mm512_set1_epi8(0x0F),
        lanes_back: _mm512_set_epi64(13, 12, 11, 10, 9, 8, 7, 6),
        incomplete: load(&INCOMPLETE_LIMITS),
        third_byte: _mm512_set1_epi8((0xE0u8 - 0x80) as i8),
        fourth_byte: _mm512_set1_epi8((0xF0u8 - 0x80) as i8),
        high_bit: _mm512_set1_epi8(0x80u8 as i8),
    };
    let zero = _mm512_setzero_si512();
    let mut s = State { error: zero, prev: zero, prev_incomplete: zero };
    // Four blocks at a time: ASCII runs skip the checks; mixed text takes no branch per block.
    let mut quads = bytes.chunks_exact(256);
    for quad in &mut quads {
        let blocks: [__m512i; 4] =
            core::array::from_fn(|i| load(quad[i * 64..i * 64 + 64].try_into().expect("64 bytes")));
        let any = _mm512_ternarylogic_epi32::<0xFE>(blocks[0], blocks[1], _mm512_or_si512(blocks[2], blocks[3]));
        if _mm512_movepi8_mask(any) == 0 {
            // All ASCII: only a sequence cut off by the previous block can be wrong.
            s.error = _mm512_or_si512(s.error, s.prev_incomplete);
            s.prev_incomplete = zero;
            s.prev = blocks[3];
        } else {
            for block in blocks {
                check_block(&c, &mut s, block);
            }
        }
    }
    let mut blocks = quads.remainder().chunks_exact(64);
    for block in &mut blocks {
        check_block(&c, &mut s, load(block.try_into().expect("64 bytes")));
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // Padded with zeros (ASCII), which end no sequence and cut none short.
        let mut padded = [0u8; 64];
        padded[..tail.len()].copy_from_slice(tail);
        check_block(&c, &mut s, load(&padded));
    }
    let error = _mm512_or_si512(s.error, s.prev_incomplete);
    _mm512_test_epi8_mask(error, error) == 0
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    /// The AVX-512 validator, or `None` on a CPU without AVX-512BW. CI sets
    /// `WSMACHINE_REQUIRE_AVX512` on a machine that has it, so these tests cannot pass there
    /// without running the kernel.
    fn avx512_validate(bytes: &[u8]) -> Option<Option<&str>> {
        let result = validate(bytes);
        if result.is_none() {
            assert!(std::env::var_os("WSMACHINE_REQUIRE_AVX512").is_none(), "AVX-512BW not detected");
        }
        result
    }

    /// Every lead byte with two more bytes from each boundary of RFC 3629's table, at offsets
    /// around the 64-byte blocks, the 256-byte groups and the zero-padded tail; with and without
    /// two continuations after them.
    #[test]
    fn avx512_utf8_agrees_with_core_on_short_sequences_at_block_edges() {
        const EDGES: [u8; 19] = [
            0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
            0xFF,
        ];
        let mut checked = 0;
        for at in [0, 61, 62, 63, 64, 125, 190, 253, 254, 255, 256, 300] {
            for lead in 0..=255u8 {
                for second in EDGES {
                    for third in EDGES {
                        let mut bytes = vec![b'a'; at + 3];
                        bytes[at..].copy_from_slice(&[lead, second, third]);
                        for _ in 0..2 {
                            let Some(result) = avx512_validate(&bytes) else { return };
                            let expected = core::str::from_utf8(&bytes).ok();
                            assert_eq!(
                                result,
                                expected,
                                "{lead:02x} {second:02x} {third:02x} at {at}, {} bytes",
                                bytes.len()
                            );
                            bytes.extend_from_slice(&[0x80, 0x80, b'z']);
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 12 * 256 * 19 * 19 * 2);
    }

    proptest! {
        /// Text with a few bytes overwritten, of every length up to several groups.
        #[test]
        fn avx512_utf8_agrees_with_core(
            text in "\\PC{0,300}",
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let mut bytes = text.into_bytes();
            for (at, byte) in edits {
                if !bytes.is_empty() {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
            }
            if let Some(result) = avx512_validate(&bytes) {
                prop_assert_eq!(result, core::str::from_utf8(&bytes).ok());
            }
        }
    }
}
