//! A connection's output: encoded frames in one buffer, and large echoes kept whole where the
//! engine assembled them (`Connection::take_message`), written out with vectored writes after
//! their frame headers instead of being copied into the buffer. `tokio_echo` includes this file
//! too: [`Output::write_to`] takes any non-blocking `Write`.
//!
//! A 64 MiB echo copied into the output cost a 64 MiB copy, and 64 MiB of fresh pages faulted
//! in for the output buffer, every message: more than the kernel's own work for the socket
//! (`benches/load/README.md`). Once written, such a payload's buffer is kept as a spare that
//! the assembly puts the next large message together in (`Assembly::recycle`), so a stream of
//! large messages runs on two buffers; after a second without one, the spare is dropped
//! ([`Output::quiet`]) and the connection trims its assembly.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// The bytes queued for one connection, in order.
pub struct Output {
    /// Buffer capacity kept once everything is written (`--retain`); larger messages are kept
    /// whole rather than copied, since their memory would go back after them anyway.
    retain: usize,
    /// Encoded frames; the payloads in `kept` go between them, each at its offset here.
    bytes: Vec<u8>,
    /// How much of `bytes` is written.
    pos: usize,
    kept: VecDeque<Kept>,
    /// Bytes of `kept` not written yet, and their capacity.
    kept_left: usize,
    kept_capacity: usize,
    /// The buffer of a kept payload, written out, for the assembly's next large message.
    spare: Option<Vec<u8>>,
    /// A payload was kept since the last tick; ticks since one was.
    kept_lately: bool,
    quiet_ticks: u32,
}

/// A payload written whole after `bytes[..at]`.
struct Kept {
    at: usize,
    payload: Vec<u8>,
    written: usize,
}

impl super::echo::Sink for Output {
    fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    fn keeps(&self, len: usize) -> bool {
        len > self.retain
    }

    fn spare(&mut self) -> Option<Vec<u8>> {
        self.spare.take()
    }

    /// Queues `payload` whole after everything queued so far, without copying it.
    fn keep(&mut self, payload: Vec<u8>) {
        if payload.is_empty() {
            return;
        }
        self.kept_lately = true;
        self.kept_left += payload.len();
        self.kept_capacity += payload.capacity();
        self.kept.push_back(Kept { at: self.bytes.len(), payload, written: 0 });
    }
}

/// Slices per vectored write: a few kept payloads and the frames between them.
const MAX_SLICES: usize = 16;

impl Output {
    /// An empty output that keeps `retain` bytes of buffer once written.
    pub fn new(retain: usize) -> Output {
        Output {
            retain,
            bytes: Vec::new(),
            pos: 0,
            kept: VecDeque::new(),
            kept_left: 0,
            kept_capacity: 0,
            spare: None,
            kept_lately: false,
            quiet_ticks: 0,
        }
    }

    /// Bytes queued and not written yet.
    pub fn backlog(&self) -> usize {
        self.bytes.len() - self.pos + self.kept_left
    }

    /// Heap bytes held, for the memory budget.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity() + self.kept_capacity + self.spare.as_ref().map_or(0, Vec::capacity)
    }

    /// Called at every tick: true once `ticks` ticks have passed without a large payload kept,
    /// when the connection should give back what large messages needed (the spare buffer is
    /// dropped here).
    pub fn quiet(&mut self, ticks: u32) -> bool {
        if std::mem::take(&mut self.kept_lately) {
            self.quiet_ticks = 0;
            return false;
        }
        self.quiet_ticks = self.quiet_ticks.saturating_add(1);
        if self.quiet_ticks < ticks {
            return false;
        }
        self.spare = None;
        true
    }

    /// Writes as much as `sock` takes (until it would block); `Err` means the peer is gone.
    /// Once everything is out, a buffer grown beyond `retain` bytes (plus a frame header) is
    /// given back.
    pub fn write_to(&mut self, sock: &mut impl Write) -> io::Result<()> {
        while self.backlog() > 0 {
            let result = if self.kept.is_empty() {
                sock.write(&self.bytes[self.pos..])
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = self.slices(&mut slices);
                sock.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.backlog() == 0 {
            self.bytes.clear();
            self.pos = 0;
            if self.bytes.capacity() > self.retain + 14 {
                self.bytes = Vec::new();
            }
        } else if self.pos > self.bytes.len() / 2 && self.bytes.len() - self.pos <= (self.pos / 8).max(64 * 1024) {
            // Compact only when what is left is small against what was written: moving the
            // rest of a large output forward each time half of it went out costs a copy of it.
            self.bytes.drain(..self.pos);
            for kept in &mut self.kept {
                kept.at -= self.pos;
            }
            self.pos = 0;
        }
        Ok(())
    }

    /// The unwritten bytes in order, as at most `MAX_SLICES` slices; returns how many.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut n = 0;
        let mut at = self.pos;
        for kept in &self.kept {
            if n + 2 > MAX_SLICES {
                return n;
            }
            if kept.at > at {
                slices[n] = IoSlice::new(&self.bytes[at..kept.at]);
                n += 1;
            }
            slices[n] = IoSlice::new(&kept.payload[kept.written..]);
            n += 1;
            at = kept.at;
        }
        if at < self.bytes.len() && n < MAX_SLICES {
            slices[n] = IoSlice::new(&self.bytes[at..]);
            n += 1;
        }
        n
    }

    /// Marks `n` more bytes written, in the order `slices` gives them.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let frames_end = self.kept.front().map_or(self.bytes.len(), |kept| kept.at);
            if self.pos < frames_end {
                let k = n.min(frames_end - self.pos);
                self.pos += k;
                n -= k;
                continue;
            }
            let kept = self.kept.front_mut().expect("write_vectored reported more than it was given");
            let k = n.min(kept.payload.len() - kept.written);
            kept.written += k;
            self.kept_left -= k;
            n -= k;
            if kept.written == kept.payload.len() {
                self.kept_capacity -= kept.payload.capacity();
                let done = self.kept.pop_front().expect("the front payload").payload;
                if self.spare.as_ref().is_none_or(|spare| spare.capacity() < done.capacity()) {
                    self.spare = Some(done);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::echo::Sink;
    use super::*;

    /// A socket that takes at most `chunk` bytes a write, and would block every `block`th call.
    struct Trickle {
        got: Vec<u8>,
        chunk: usize,
        calls: usize,
        block: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(self.block) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut left = self.chunk;
            for buf in bufs {
                let k = left.min(buf.len());
                self.got.extend_from_slice(&buf[..k]);
                left -= k;
            }
            Ok(self.chunk - left)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_and_kept_payloads_go_out_in_order_whatever_the_socket_takes() {
        for chunk in [1, 3, 7, 64, 1000, 1 << 20] {
            for block in [2, 3, 5, usize::MAX] {
                let mut out = Output::new(64);
                let mut expected = Vec::new();
                let mut sock = Trickle { got: Vec::new(), chunk, calls: 0, block };
                let mut largest = 0;
                for round in 0..40u8 {
                    // Frames, a kept payload (some right after another), more frames.
                    let frames = vec![round; (round as usize * 7) % 23];
                    out.bytes().extend_from_slice(&frames);
                    expected.extend_from_slice(&frames);
                    for _ in 0..round % 3 {
                        let payload: Vec<u8> = (0..(round as usize * 131) % 700).map(|i| i as u8 ^ round).collect();
                        expected.extend_from_slice(&payload);
                        largest = largest.max(payload.len());
                        out.keep(payload);
                    }
                    assert_eq!(out.backlog(), expected.len() - sock.got.len());
                    if round % 4 == 0 {
                        out.write_to(&mut sock).unwrap();
                    }
                }
                while out.backlog() > 0 {
                    out.write_to(&mut sock).unwrap();
                }
                assert_eq!(sock.got, expected, "chunk {chunk}, block {block}");
                assert_eq!((out.kept.len(), out.kept_left, out.kept_capacity), (0, 0, 0));
                // The largest payload written is the spare, until a quiet tick drops it.
                assert_eq!(out.spare.as_ref().map(Vec::capacity), Some(largest));
                assert!(!out.quiet(1), "a payload was kept since the last tick");
                assert!(out.quiet(1));
                assert_eq!((out.capacity(), out.spare), (out.bytes.capacity(), None));
            }
        }
    }

    #[test]
    fn a_large_buffer_is_given_back_once_written() {
        let mut out = Output::new(64 * 1024);
        out.bytes().extend_from_slice(&[1; 100_000]);
        out.keep(vec![2; 1000]);
        assert_eq!(out.capacity(), 101_000);
        let mut sock = Trickle { got: Vec::new(), chunk: usize::MAX, calls: 0, block: usize::MAX };
        out.write_to(&mut sock).unwrap();
        // The frames' buffer went back; the payload's stays as the spare for one more tick.
        assert_eq!((out.backlog(), out.capacity(), sock.got.len()), (0, 1000, 101_000));
        assert_eq!(out.spare().map(|spare| spare.capacity()), Some(1000));
        assert_eq!(out.capacity(), 0);
    }

    #[test]
    fn quiet_counts_ticks_since_the_last_kept_payload() {
        let mut out = Output::new(0);
        out.keep(vec![1; 10]);
        assert!(!out.quiet(3));
        assert!(!out.quiet(3));
        out.keep(vec![2; 10]);
        assert!(!out.quiet(3));
        assert!(!out.quiet(3));
        assert!(!out.quiet(3));
        assert!(out.quiet(3));
        assert!(out.quiet(3), "and every tick after, until a payload is kept again");
    }
}
