//! Incremental UTF-8 validation (RFC 6455 §8.1) across chunks, frames and fragments.
//!
//! Text may arrive split anywhere, even inside a code point. The validator carries at most three
//! bytes of an unfinished code point and fails on the first byte that can never become valid, so a
//! connection is failed before the rest of a bad frame arrives (Autobahn cases 6.4.x): in every
//! delivery mode, and for frames waiting in a [`RecvBuffer`](crate::RecvBuffer) too.
//!
//! The `unsafe` lives in two leaf submodules that import nothing from the crate: `avx512` (the
//! AVX-512 validator) and `unchecked` (`&str` without a second validation).

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;
mod unchecked;

pub(crate) use unchecked::{ascii_str, validated_str};

/// Validates a whole buffer, returning it as `&str`: AVX-512 when the CPU has it (feature
/// `std`, x86-64), else simdutf8 when the feature is on, else core.
#[inline]
pub fn validate(bytes: &[u8]) -> Option<&str> {
    // Below a few SIMD blocks the setup costs more than it saves; core's ASCII-aware loop
    // wins there (measured on 16-byte messages).
    if bytes.len() < 64 {
        return ascii_str(bytes).or_else(|| core::str::from_utf8(bytes).ok());
    }
    validate_wide(bytes)
}

/// [`validate`] for bytes already seen to hold a non-ASCII byte: skips the ASCII shortcut
/// that small inputs would otherwise try first.
#[inline]
pub(crate) fn validate_not_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.len() < 64 {
        return core::str::from_utf8(bytes).ok();
    }
    validate_wide(bytes)
}

/// The fastest whole-buffer validator this build and CPU have, for 64 bytes or more.
#[inline]
fn validate_wide(bytes: &[u8]) -> Option<&str> {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(result) = avx512::validate(bytes) {
        return result;
    }
    #[cfg(feature = "simdutf8")]
    return simdutf8::basic::from_utf8(bytes).ok();
    #[allow(unreachable_code)]
    core::str::from_utf8(bytes).ok()
}

/// How a slice ended: fully valid, valid up to an unfinished code point, or invalid.
enum Prefix {
    Valid,
    /// Valid up to this index; the rest (1..=3 bytes) is an unfinished but so far valid sequence.
    Unfinished(usize),
    Invalid,
}

#[inline]
fn check(bytes: &[u8]) -> Prefix {
    #[cfg(feature = "simdutf8")]
    let result = simdutf8::compat::from_utf8(bytes).map(|_| ());
    #[cfg(not(feature = "simdutf8"))]
    let result = core::str::from_utf8(bytes).map(|_| ());
    match result {
        Ok(()) => Prefix::Valid,
        Err(e) => match e.error_len() {
            None => Prefix::Unfinished(e.valid_up_to()),
            Some(_) => Prefix::Invalid,
        },
    }
}

/// Where the last code point of `bytes` starts if it is cut short (judged by its lead byte
/// alone), else `bytes.len()`. Only a hint: the caller validates both sides.
#[inline]
fn unfinished_tail_start(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if byte & 0xC0 != 0x80 {
            // A lead byte (or ASCII): how long its sequence is (RFC 3629 §4).
            let needs = match byte {
                0x00..=0x7F => 1,
                0xE0..=0xEF => 3,
                0xF0..=0xFF => 4,
                _ => 2,
            };
            return if needs > back { len - back } else { len };
        }
    }
    len
}

/// Streaming validator with a carry of at most three bytes.
///
/// ```
/// use wsmachine::utf8::Utf8Validator;
/// let text = "κόσμε".as_bytes();
/// let mut v = Utf8Validator::new();
/// for byte in text {
///     assert!(v.feed(core::slice::from_ref(byte)));
/// }
/// assert!(v.is_complete());
/// assert!(!Utf8Validator::new().feed(&[0xCE, 0xFF])); // fails at once
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

impl Utf8Validator {
    /// A validator at a code point boundary.
    pub const fn new() -> Self {
        Utf8Validator { carry: [0; 4], carry_len: 0 }
    }

    /// True when no code point is left unfinished (a message may end here).
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forgets any carried bytes (start of a new message).
    #[inline]
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }

    /// Feeds the next bytes; false as soon as the text so far can never be valid UTF-8.
    #[inline]
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.carry_len != 0 {
            // Complete the carried code point with as few bytes as it needs.
            let have = self.carry_len as usize;
            let take = (4 - have).min(bytes.len());
            let mut joined = self.carry;
            joined[have..have + take].copy_from_slice(&bytes[..take]);
            match check(&joined[..have + take]) {
                Prefix::Valid => {
                    self.carry_len = 0;
                    bytes = &bytes[take..];
                }
                Prefix::Unfinished(upto) if upto > 0 => {
                    // The carried code point finished inside `joined` and a new one started.
                    self.carry_len = 0;
                    bytes = &bytes[upto - have..];
                }
                Prefix::Unfinished(_) => {
                    // Still unfinished: only possible when `bytes` was too short to finish it.
                    self.carry = joined;
                    self.carry_len = (have + take) as u8;
                    return true;
                }
                Prefix::Invalid => return false,
            }
        }
        // Most pieces are valid: check them up to the start of an unfinished last code point
        // with the faster validator that does not locate errors (simdutf8 `basic`: ~1.5x on
        // ASCII), then only the short tail the locating way. Anything invalid is located anew.
        let cut = unfinished_tail_start(bytes);
        if validate(&bytes[..cut]).is_some() {
            return cut == bytes.len() || self.check_and_carry(&bytes[cut..]);
        }
        self.check_and_carry(bytes)
    }

    /// Checks `bytes` (which start at a code point boundary), keeping an unfinished but so far
    /// valid last code point for the next call.
    #[inline]
    fn check_and_carry(&mut self, bytes: &[u8]) -> bool {
        match check(bytes) {
            Prefix::Valid => true,
            Prefix::Unfinished(upto) => {
                let rest = &bytes[upto..];
                self.carry[..rest.len()].copy_from_slice(rest);
                self.carry_len = rest.len() as u8;
                true
            }
            Prefix::Invalid => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incremental(bytes: &[u8], splits: &[usize]) -> (bool, bool) {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &s in splits.iter().chain(core::iter::once(&bytes.len())) {
            let end = s.clamp(start, bytes.len());
            if !v.feed(&bytes[start..end]) {
                return (false, false);
            }
            start = end;
        }
        (true, v.is_complete())
    }

    #[test]
    fn agrees_with_core_at_every_split() {
        let samples: [&[u8]; 9] = [
            "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
            "κόσμε 𝄞 €".as_bytes(),
            &[0xF0, 0x90, 0x80, 0x80],
            &[0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
            &[0xED, 0xA0, 0x80],       // surrogate
            &[0xC0, 0xAF],             // overlong
            &[0xE2, 0x82],             // truncated
            &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64],
            &[0x61, 0xF8, 0x88, 0x80, 0x80, 0x80],
        ];
        for s in samples {
            let whole = core::str::from_utf8(s).is_ok();
            for a in 0..=s.len() {
                for b in a..=s.len() {
                    let (ok, complete) = incremental(s, &[a, b]);
                    assert_eq!(ok && complete, whole, "{s:?} split at {a},{b}");
                }
            }
        }
    }

    /// The shortest prefix of `text` that no continuation can make valid, if any.
    #[cfg(feature = "alloc")]
    fn dead_prefix(text: &[u8]) -> Option<usize> {
        let e = core::str::from_utf8(text).err().filter(|e| e.error_len().is_some())?;
        let at = e.valid_up_to();
        (at + 1..=at + 4).find(|&p| matches!(core::str::from_utf8(&text[at..p]), Err(e) if e.error_len().is_some()))
    }

    #[cfg(feature = "alloc")]
    proptest::proptest! {
        /// Split anywhere, the validator agrees with core and fails in exactly the piece that
        /// holds the first hopeless byte (mostly multi-byte text, some of it corrupted).
        #[test]
        fn feed_agrees_with_core_and_fails_where_text_dies(
            chars in proptest::collection::vec(proptest::prelude::any::<char>(), 0..200),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..2),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..6),
        ) {
            let mut text: alloc::vec::Vec<u8> = chars.iter().collect::<alloc::string::String>().into_bytes();
            for (at, byte) in flips {
                if !text.is_empty() {
                    let at = at % text.len();
                    text[at] = byte;
                }
            }
            let mut ends: alloc::vec::Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
            ends.sort_unstable();
            ends.push(text.len());
            let dead = dead_prefix(&text);
            let mut v = Utf8Validator::new();
            let mut start = 0;
            for end in ends {
                let ok = v.feed(&text[start..end]);
                let dies_here = dead.is_some_and(|d| start < d && d <= end);
                proptest::prop_assert_eq!(ok, !dies_here, "piece {}..{}, dead at {:?}", start, end, dead);
                if !ok {
                    return Ok(());
                }
                start = end;
            }
            proptest::prop_assert!(dead.is_none());
            proptest::prop_assert_eq!(v.is_complete(), core::str::from_utf8(&text).is_ok());
        }
    }

    #[test]
    fn fails_fast_inside_a_code_point() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xF0]));
        assert!(!v.feed(&[0x80])); // F0 must be followed by 90..=BF
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xED]));
        assert!(!v.feed(&[0xA0])); // surrogate half
        let mut v = Utf8Validator::new();
        assert!(!v.feed(&[0xF5])); // never a lead byte
    }
}
