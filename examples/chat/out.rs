//! A connection's output: owned bytes and shared broadcast frames, written with vectored writes.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use mio::net::TcpStream;

/// Slices per `writev` (Linux's `IOV_MAX`): a member's queue of small shared frames goes out in
/// as few system calls as one contiguous buffer would.
const IOV_MAX: usize = 1024;

/// Output waiting for the socket: owned bytes (handshake, replies, control frames) and
/// broadcast frames shared with every other member, in order.
#[derive(Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front: usize,
    /// Bytes not written yet.
    pub len: usize,
}

enum Chunk {
    Own(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Own(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

impl OutQueue {
    /// Appends owned bytes through `f`: to the last chunk when it is owned and not yet being
    /// written (a chunk being written is not grown, so that it is freed as soon as it is sent).
    pub fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        if !matches!(self.chunks.back(), Some(Chunk::Own(_))) || self.chunks.len() == 1 && self.front > 0 {
            self.chunks.push_back(Chunk::Own(Vec::new()));
        }
        let Some(Chunk::Own(v)) = self.chunks.back_mut() else { unreachable!() };
        let before = v.len();
        let r = f(v);
        let added = v.len() - before;
        if v.is_empty() {
            self.chunks.pop_back();
        }
        self.len += added;
        r
    }

    pub fn push_shared(&mut self, frame: Arc<[u8]>) {
        self.len += frame.len();
        self.chunks.push_back(Chunk::Shared(frame));
    }

    /// Drops what was not started (the front chunk, once begun, is finished).
    pub fn truncate_unstarted(&mut self) {
        let keep = usize::from(self.front > 0);
        while self.chunks.len() > keep {
            if let Some(c) = self.chunks.pop_back() {
                self.len -= c.bytes().len();
            }
        }
    }

    /// Writes as much as the socket takes (vectored). `Err`: the peer is gone.
    pub fn flush(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let mut n = 0;
            for (i, c) in self.chunks.iter().take(IOV_MAX).enumerate() {
                slices[i] = IoSlice::new(if i == 0 { &c.bytes()[self.front..] } else { c.bytes() });
                n = i + 1;
            }
            let mut written = match sock.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.len -= written;
            while written > 0 {
                let left = self.chunks[0].bytes().len() - self.front;
                if written >= left {
                    written -= left;
                    self.chunks.pop_front();
                    self.front = 0;
                } else {
                    self.front += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }
}
