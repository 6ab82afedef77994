//! `&str` without validating twice: a leaf module that holds its own `unsafe` (two calls of
//! `core::str::from_utf8_unchecked`) and imports nothing from the crate.
//!
//! **Why `unsafe`:** safe code can only make a `&str` by validating the bytes again. For 16-byte
//! ASCII messages `core::str::from_utf8` doubled the receive cost (12.5 vs 6.4 ns per message);
//! for a message assembled from pieces it is a second full pass (the pieces were already
//! validated as they arrived, to fail fast as RFC 6455 §8.1 asks; 64 KiB mixed text: 33 vs
//! 19.5 µs per three messages); and for masked text that the unmasking loop itself saw to be
//! all ASCII it is a second pass where the loop spent one OR per vector (the `recv/ascii/16B`
//! and `recv/mixed/64KiB` rows of `cargo bench --bench wsmachine -- recv`).
//!
//! Covered by unit tests and a proptest against `core::str::from_utf8`, by debug assertions in
//! every test and fuzz run, and by Miri (`.ci/miri.sh`).
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
/// went through the connection's UTF-8 validator (or was seen to be ASCII by the loop that
/// unmasked it) in order as it was written, which accepted all of it and ended complete; or a
/// whole text frame that the unmasking loop saw to be all ASCII. Debug builds (the fuzz targets
/// and every test) check it again here.
#[inline]
pub(crate) unsafe fn validated_str(bytes: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(bytes).is_ok(), "validated_str on invalid UTF-8");
    // SAFETY: the caller guarantees `bytes` is valid UTF-8 (see above).
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }
}
