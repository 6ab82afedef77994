//! Reference receivers for the `peers` bench (the crate exists only for that bench).

/// A minimal hand-written receiver: the floor a WebSocket implementation is measured against
/// (the "minimal hand-written loop" of issue #7), written for this bench only.
///
/// It knows the workload: masked, final, unfragmented text or binary frames that are valid. It
/// keeps what a read left unused, grows its buffer to hold a whole frame, asks a read for no more
/// than the frame's missing bytes (so nothing is left to move once the frame is done), unmasks
/// the payload in place with a portable 8-byte-word loop and validates text with simdutf8. No
/// other rule of RFC 6455 is checked, so a real implementation does strictly more work.
pub mod minimal {
    /// The receive buffer: `buf[start..end]` is received and not used yet.
    #[derive(Default)]
    pub struct Receiver {
        buf: Vec<u8>,
        start: usize,
        end: usize,
    }

    /// Where the next frame stands in the unused bytes.
    enum Next {
        /// Header and payload are in the buffer: header length and payload length.
        Whole(usize, usize),
        /// The frame needs this many bytes in all (0: the header is not complete yet).
        Needs(usize),
    }

    impl Receiver {
        pub fn new() -> Self {
            Self::default()
        }

        /// Room for the next read of at most `read` bytes: a whole waiting frame's missing bytes,
        /// else `read`. Moves the unused bytes to the front first.
        pub fn spare(&mut self, read: usize) -> &mut [u8] {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let want = match self.next() {
                Next::Needs(total) if total > self.end => (total - self.end).min(read),
                _ => read,
            };
            if self.buf.len() < self.end + want {
                self.buf.resize(self.end + want, 0);
            }
            &mut self.buf[self.end..self.end + want]
        }

        pub fn filled(&mut self, n: usize) {
            self.end += n;
        }

        fn next(&self) -> Next {
            let b = &self.buf[self.start..self.end];
            if b.len() < 2 {
                return Next::Needs(0);
            }
            let (len, header) = match b[1] & 0x7F {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 8),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 14),
                126 | 127 => return Next::Needs(0),
                n => (n as usize, 6),
            };
            if b.len() < header + len {
                return Next::Needs(header + len);
            }
            Next::Whole(header, len)
        }

        /// The next whole message's payload, unmasked and (text) validated in place.
        pub fn message(&mut self) -> Option<&[u8]> {
            let Next::Whole(header, len) = self.next() else { return None };
            let frame = &mut self.buf[self.start..self.start + header + len];
            let key: [u8; 4] = frame[header - 4..header].try_into().unwrap();
            let text = frame[0] & 0x0F == 1;
            let payload = &mut frame[header..];
            unmask(payload, key);
            if text {
                simdutf8::basic::from_utf8(payload).expect("the workload is valid UTF-8");
            }
            self.start += header + len;
            Some(&self.buf[self.start - len..self.start])
        }
    }

    /// XOR with the key, eight bytes at a time (LLVM vectorises the word loop).
    fn unmask(payload: &mut [u8], key: [u8; 4]) {
        let word = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
        let mut words = payload.chunks_exact_mut(8);
        for w in &mut words {
            let x = u64::from_ne_bytes((&*w).try_into().unwrap()) ^ word;
            w.copy_from_slice(&x.to_ne_bytes());
        }
        // The remainder starts at a multiple of 8, so at key byte 0.
        for (i, b) in words.into_remainder().iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
    }
}
