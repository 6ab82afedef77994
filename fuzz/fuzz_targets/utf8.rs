//! `Utf8Validator` fed at arbitrary split points agrees with `core::str::from_utf8`, and fails
//! exactly at the chunk holding the first byte after which no continuation can be valid.
//! Input: `[n, len1 .. lenN, text ..]` with `n = data[0] & 15`; the last chunk takes the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsmachine::utf8::{validate, Utf8Validator};

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n & 15) as usize;
    let Some((lens, text)) = rest.split_at_checked(n) else { return };
    let reference = core::str::from_utf8(text);
    assert_eq!(validate(text).is_some(), reference.is_ok());
    // `dead`: the length of the shortest prefix that no continuation can make valid.
    let dead = reference.err().filter(|e| e.error_len().is_some()).map(|e| {
        let at = e.valid_up_to();
        (at + 1..=at + 4)
            .find(|&p| matches!(core::str::from_utf8(&text[at..p]), Err(e) if e.error_len().is_some()))
            .expect("invalidity shows within 4 bytes")
    });
    let mut v = Utf8Validator::new();
    let mut start = 0;
    let ends = lens.iter().scan(0usize, |at, &l| {
        *at = (*at + l as usize).min(text.len());
        Some(*at)
    });
    for end in ends.chain([text.len()]) {
        let ok = v.feed(&text[start..end]);
        let fails_here = dead.is_some_and(|d| start < d && d <= end);
        assert_eq!(ok, !fails_here, "chunk {start}..{end}, first dead prefix {dead:?}");
        if !ok {
            return;
        }
        start = end;
    }
    assert!(dead.is_none());
    assert_eq!(v.is_complete(), reference.is_ok());
});
