//! wsmachine side by side with tungstenite, tokio-websockets, fastwebsockets, websocket-sans-io,
//! soketto and yawc on the same bytes.
//!
//! Every socket-based implementation reads from / writes to the same in-memory socket model
//! ([`Sock`]):
//! - reads hand out at most 64 KiB per call, copied from a pristine buffer (the recv(2) copy;
//!   wsmachine's driver does exactly the same copy into its own 64 KiB buffer);
//! - writes are appended to a `Vec<u8>` (cleared before every send, capacity kept), in 1 KiB
//!   pieces like every other copy of the model: the frame ends up in a `Vec`, as wsmachine's
//!   `send_binary_vec` leaves it, and the sans-IO peers are driven to append into a `Vec` too.
//!
//! The async crates are polled by a no-op-waker `block_on`: the in-memory socket is always ready,
//! so every future completes on its first poll (asserted), with no runtime in the timed region.
//! Before timing, every implementation's output is verified: message count, byte count and a
//! checksum of every payload (receive), or the decoded frame (send).

#[path = "../../common/mod.rs"]
mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use common::{
    append, copy_mask, drive_memcpy, drive_recv, drive_recv_buffer, floor_header, floor_header_copy,
    floor_header_copy_mask, recv_into, Kind, Recv, Seen, READ, RECV_SIZES,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use wsmachine::{ChaChaMask, Config, Connection};
use wsmachine_peers::minimal::Receiver;

mod race;
mod recv;
mod send;

use recv::*;
use send::*;

/// Runs a future that never waits (in-memory I/O) to completion with one poll.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory I/O never waits"),
    }
}

/// The in-memory socket: reads from `wire` in pieces of at most 64 KiB; writes are appended to
/// `out` (see [`append`]). Handles are shared so the bench can rewind it between iterations.
#[derive(Clone)]
struct Sock {
    wire: Rc<Vec<u8>>,
    pos: Rc<Cell<usize>>,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Sock {
    fn new(wire: Vec<u8>) -> Self {
        Sock { wire: Rc::new(wire), pos: Rc::new(Cell::new(0)), out: Rc::new(RefCell::new(Vec::new())) }
    }

    /// A socket with nothing to read that appends what is written to `out`.
    fn writing_into(out: &Rc<RefCell<Vec<u8>>>) -> Self {
        Sock { wire: Rc::new(Vec::new()), pos: Rc::new(Cell::new(0)), out: Rc::clone(out) }
    }

    /// Reads start again at the beginning of `wire`; what was written is dropped (the `Vec`
    /// keeps its capacity).
    #[inline]
    fn rewind(&self) {
        self.pos.set(0);
        self.out.borrow_mut().clear();
    }

    #[inline]
    fn recv(&self, dst: &mut [u8]) -> usize {
        let mut pos = self.pos.get();
        let n = recv_into(&self.wire, &mut pos, dst);
        self.pos.set(pos);
        n
    }

    #[inline]
    fn send(&self, src: &[u8]) -> usize {
        append(&mut self.out.borrow_mut(), src);
        src.len()
    }

    /// What was written since the last `rewind`.
    fn written(&self) -> Vec<u8> {
        self.out.borrow().clone()
    }
}

impl io::Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv(buf))
    }
}

impl io::Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.send(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.send(b)).sum())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Sock {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        // put_slice copies into uninitialised spare capacity without zeroing it first.
        let pos = self.pos.get();
        let n = (self.wire.len() - pos).min(READ).min(buf.remaining());
        // In 1 KiB pieces, like every other copy of the recv model (`common::copy_fast`).
        for piece in self.wire[pos..pos + n].chunks(1024) {
            buf.put_slice(piece);
        }
        self.pos.set(pos + n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Sock {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.send(buf)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| self.send(b)).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// soketto runs over the `futures` I/O traits.
impl futures_io::AsyncRead for Sock {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.recv(buf)))
    }
}

impl futures_io::AsyncWrite for Sock {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.send(buf)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| self.send(b)).sum()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Server handshake: a browser's upgrade request (`common::UPGRADE_REQUEST`) in, a 101 out.
/// fastwebsockets has no handshake of its own (it upgrades a hyper request), so it has no row.
fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake/server");
    group.throughput(Throughput::Elements(1));

    common::bench_accept_upgrade(&mut group);

    // tungstenite: `accept` reads the request from the socket and writes the response to it.
    let sock = Sock::new(common::UPGRADE_REQUEST.to_vec());
    let response = capture(&sock, || drop(tungstenite::accept(sock.clone()).expect("tungstenite accepts")));
    common::check_101("tungstenite", &response);
    group.bench_function("tungstenite", |b| {
        b.iter(|| {
            sock.rewind();
            tungstenite::accept(sock.clone()).expect("tungstenite accepts")
        })
    });

    // tokio-websockets: `ServerBuilder::accept` over the same socket.
    let builder = tokio_websockets::ServerBuilder::new();
    let sock = Sock::new(common::UPGRADE_REQUEST.to_vec());
    let response = capture(&sock, || drop(block_on(builder.accept(sock.clone())).expect("tokio-websockets accepts")));
    common::check_101("tokio-websockets", &response);
    group.bench_function("tokio-websockets", |b| {
        b.iter(|| {
            sock.rewind();
            block_on(builder.accept(sock.clone())).expect("tokio-websockets accepts")
        })
    });
    group.finish();
}

criterion_group!(benches, recv, send, handshake);
criterion_main!(benches);
