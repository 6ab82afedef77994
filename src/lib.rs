//! # wsmachine
//!
//! A sans-IO WebSocket implementation: RFC 6455 framing, masking, fragmentation, ping/pong and
//! the closing handshake, the opening handshake in both roles, RFC 7692 permessage-deflate, and
//! the RFC 8441/9220 bootstraps over HTTP/2 and HTTP/3 streams.
//!
//! The crate does no IO and owns no clock, thread or random number generator. It consumes bytes
//! you read and gives you events and bytes to write, so a blocking socket, mio, tokio, io_uring
//! or an embedded TCP stack all drive it the same way, and fuzzers drive it deterministically.
//!
//! ## The drive loop
//!
//! After the opening handshake (see [`handshake`]), one [`Connection`] per socket:
//!
//! ```no_run
//! use std::io::{Read as _, Write as _};
//! use wsmachine::{Config, Connection, Event, Message};
//!
//! # fn main() -> std::io::Result<()> {
//! # let mut sock = std::net::TcpStream::connect("127.0.0.1:9001")?;
//! let mut conn = Connection::server(Config::default());
//! let (mut buf, mut out) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024 + 14]);
//! let mut echo = Vec::new(); // scratch so the reply can be encoded after the event is dropped
//! loop {
//!     let n = sock.read(&mut buf)?;
//!     if n == 0 {
//!         let _ = conn.read_eof(); // Err(AbnormalClosure) if the peer vanished without a Close
//!         break;
//!     }
//!     let mut start = 0;
//!     loop {
//!         // Payloads are unmasked in place; events borrow from `buf` (or the connection).
//!         let read = match conn.read(&mut buf[start..n]) {
//!             Ok(read) => read,
//!             Err(_violation) => break, // the Close with the RFC's code is already queued
//!         };
//!         start += read.consumed;
//!         let Some(event) = read.event else { break }; // all input used: read more
//!         let Event::Message(Message::Text(text)) = event else { continue }; // pings: automatic
//!         echo.clear();
//!         echo.extend_from_slice(text.as_bytes());
//!         // Queued pongs and Close echoes go out before later data.
//!         while conn.wants_write() {
//!             let k = conn.poll_transmit(&mut out);
//!             sock.write_all(&out[..k])?;
//!         }
//!         let text = std::str::from_utf8(&echo).unwrap_or_default();
//!         // A SendError (closing, or `out` too small) leaves the connection untouched.
//!         if let Ok(k) = conn.send_text(text, &mut out) {
//!             sock.write_all(&out[..k])?;
//!         }
//!     }
//!     // Drain every output until none is left, then honour the closing handshake.
//!     while conn.wants_write() {
//!         let k = conn.poll_transmit(&mut out);
//!         sock.write_all(&out[..k])?;
//!     }
//!     if conn.should_close_transport() {
//!         break; // RFC 6455 §7.1.1: the server closes TCP first
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The rules: call [`Connection::read`] on the unused rest of the input until it returns no
//! event; after every call, drain [`Connection::poll_transmit`] (automatic pongs and Close
//! echoes); close the transport when [`Connection::should_close_transport`] says so; report
//! end of stream with [`Connection::read_eof`]; and, if you use timers, call
//! [`Connection::handle_timeout`] with your monotonic time when you wake and sleep until
//! [`Connection::poll_timeout`].
//!
//! ## Delivery and memory
//!
//! A complete unfragmented frame found whole in your buffer is delivered as
//! [`Event::Message`] borrowed in place, with no copy. Anything else is either streamed as
//! [`Event::Chunk`]s (no allocation at all, [`Delivery::Stream`]) or assembled up to
//! `max_message_len` ([`Delivery::Assemble`], feature `alloc`). Frame headers (≤ 14 bytes) and
//! control payloads (≤ 125 bytes) are staged inline, so any split of the input works.
//! Limits are checked on frame headers, before any payload byte is accepted. Large messages
//! need no second copy either when the driver keeps what `read` left unused: a frame that is
//! not whole yet then stays in its buffer until [`Connection::wanted`] bytes are there.
//! [`RecvBuffer`] (feature `alloc`) is a receive buffer that does this bookkeeping, and with it
//! the default `Config` delivers messages up to `retain_capacity` (1 MiB) in place; with your
//! own buffer, opt in with [`Config::in_place_up_to`].
//!
//! Which way is fastest: for small and medium messages all are about the same. A message
//! larger than your reads costs one more copy when `read` assembles it from a fixed buffer
//! (about 0.75–0.9× the throughput of the others at 64 KiB–1 MiB on the project's benchmark
//! machine), so use a [`RecvBuffer`], or [`Delivery::Stream`] when you can consume chunks.
//!
//! ## Errors
//!
//! A [`ProtocolError`] is the peer's fault and carries the close code the RFC names
//! ([`ProtocolError::close_code`]); when `read` returns one, the Close frame is already queued
//! and further input is ignored. A [`SendError`] is the caller's (sending after close, a
//! 126-byte ping, an unsendable close code) and leaves the connection untouched.
//!
//! ## Features
//!
//! | feature    | default | what it adds |
//! |------------|---------|--------------|
//! | `std`      | yes     | [`ChaChaMask::from_entropy`] (OS-seeded mask keys), `std::error::Error`, run-time CPU detection on x86-64 (AVX2 masking, AVX-512 UTF-8 validation) |
//! | `alloc`    | via std | [`Delivery::Assemble`], `*_vec` helpers, [`OwnedEvent`] |
//! | `simdutf8` | yes     | SIMD UTF-8 validation (about 10× std on non-ASCII text) where the CPU lacks AVX-512, which `std` builds detect and use first |
//! | `deflate`  | yes     | permessage-deflate (RFC 7692) through [`deflate`] (flate2, zlib-rs backend) |
//! | `http`     | no      | conversions from and to `http::Request<()>` / `http::Response<()>` |
//! | `arbitrary`| no      | `arbitrary::Arbitrary` for [`Config`] (fuzzing) |
//!
//! Without default features the crate is `no_std` and heap-free: the streaming engine, the
//! handshake parsers and encoders all work on caller-owned buffers.
#![no_std]
// `unsafe` is denied everywhere but three leaf modules that import nothing from the crate:
// `mask/avx2.rs` (AVX2 masking), `utf8/avx512.rs` (AVX-512 UTF-8 validation) and
// `utf8/unchecked.rs` (`&str` without a second validation).
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
// The docs link to `RecvBuffer`, `ChaChaMask::from_entropy`, `deflate` and the like, which a
// build without `std` or `deflate` does not have; the links are checked with every feature on
// (`.ci/run`, as docs.rs builds them).
#![cfg_attr(not(all(feature = "std", feature = "deflate")), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod close;
pub mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod mask;
#[cfg(feature = "alloc")]
mod recv_buffer;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Delivery};
pub use connection::{Connection, FrameHead, Read, Role, State, Timeout};
pub use error::{ProtocolError, SendError};
#[cfg(feature = "alloc")]
pub use event::OwnedEvent;
pub use event::{Chunk, Event, Message, MessageKind};
pub use mask::{ChaChaMask, MaskSource, NoMask};
#[cfg(feature = "alloc")]
pub use recv_buffer::RecvBuffer;
