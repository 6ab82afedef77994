//! Arbitrary bytes into `frame::decode`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsmachine::frame::{decode, header_len_from_prefix, Decoded, MAX_HEADER_LEN};
use wsmachine::ProtocolError;

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(Decoded::Complete(h, n)) => {
            assert!((2..=MAX_HEADER_LEN).contains(&n) && n <= data.len());
            assert_eq!(n, header_len_from_prefix(data[1]));
            let mut out = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(m, h.encoded_len());
            // Minimal length encoding (§5.2) re-encodes byte for byte; otherwise it shrinks.
            let minimal = match data[1] & 0x7F {
                126 => h.payload_len >= 126,
                127 => h.payload_len > u16::MAX as u64,
                _ => true,
            };
            if minimal {
                assert_eq!(&out[..m], &data[..n]);
            } else {
                assert!(m < n);
            }
            assert_eq!(decode(&out[..m]), Ok(Decoded::Complete(h, m)));
            // Every proper prefix asks for more: 2 bytes, then the whole header.
            for k in 0..n {
                assert_eq!(decode(&data[..k]), Ok(Decoded::Incomplete(if k < 2 { 2 } else { n })));
            }
        }
        Ok(Decoded::Incomplete(n)) => assert!((2..=MAX_HEADER_LEN).contains(&n) && n > data.len()),
        // Only the 64-bit length check needs more than the first two bytes.
        Err(ProtocolError::InvalidLength) => assert!(data.len() >= 10 && data[1] & 0x7F == 127 && data[2] >= 0x80),
        Err(e) => assert_eq!(decode(&data[..2]), Err(e)),
    }
});
