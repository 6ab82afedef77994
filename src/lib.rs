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
//! After the opening handshake (see [`handshake`]), one [`Connection`] and one [`RecvBuffer`]
//! per socket. This echo server is the whole pattern:
//!
//! ```no_run
//! # #[cfg(feature = "std")]
//! # fn main() -> std::io::Result<()> {
//! use std::io::Write as _;
//! use wsmachine::{Config, Connection, Event, Message, RecvBuffer};
//!
//! # let mut sock = std::net::TcpStream::connect("127.0.0.1:9001")?;
//! let mut conn = Connection::server(Config::default());
//! let mut buf = RecvBuffer::new();
//! let mut out = Vec::new();
//! loop {
//!     if buf.read_from(&mut sock, &conn)? == 0 {
//!         let _ = conn.read_eof(); // Err(AbnormalClosure): the peer vanished without a Close
//!         break;
//!     }
//!     loop {
//!         conn.poll_transmit_vec(&mut out); // automatic pongs and Close echoes go first
//!         match buf.next(&mut conn) {
//!             // Unmasked and validated in `buf`; events borrow `buf`, never `conn`, so the
//!             // reply goes out while the message is held: no copy, no second validation.
//!             Ok(Some(Event::Message(Message::Text(text)))) => {
//!                 let _ = conn.send_text_vec(text, &mut out); // Err only once closing
//!             }
//!             Ok(Some(_)) => {} // pings are answered for you; Close is echoed for you
//!             Ok(None) => break, // all input used: read more
//!             Err(_violation) => break, // the Close with the RFC's code is queued
//!         }
//!     }
//!     conn.poll_transmit_vec(&mut out);
//!     sock.write_all(&out)?;
//!     out.clear();
//!     if conn.should_close_transport() {
//!         break; // RFC 6455 §7.1.1: the server closes TCP first
//!     }
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! The rules: call [`RecvBuffer::next`] (or [`Connection::read`]) until it returns no event;
//! drain [`Connection::poll_transmit`] before you send and after you read; close the transport
//! when [`Connection::should_close_transport`] says so; report end of stream with
//! [`Connection::read_eof`]; and, if you use timers, call [`Connection::handle_timeout`] with
//! your monotonic time when you wake and sleep until [`Connection::poll_timeout`]`(now)`
//! (with `Config::write_stall_timeout`, also tell it when your output backs up and drains:
//! [`Connection::output_blocked`], [`Connection::output_drained`]).
//!
//! With your own buffer (`no_std`, or one read buffer shared by many connections), keep an
//! [`Assembly`] beside each connection and call [`Connection::read`] on the unused rest of the
//! input until it returns no event; then every byte was used:
//!
//! ```
//! use wsmachine::{Assembly, Config, Connection, Event, Message};
//!
//! let mut conn = Connection::server(Config::default());
//! let mut assembly = Assembly::new(); // what is not whole in `buf` is put together here
//! let mut buf = *b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; // a read: masked "Hello"
//! let mut out = [0u8; 64];
//! let (n, mut start) = (buf.len(), 0);
//! while let Ok(read) = conn.read(&mut buf[start..n], &mut assembly) {
//!     start += read.consumed;
//!     let Some(event) = read.event else { break }; // all input used: read more
//!     if let Event::Message(Message::Text(text)) = event {
//!         let k = conn.send_text(text, &mut out).unwrap(); // borrowed from `buf`, echoed
//!         assert_eq!(&out[..k], b"\x81\x05Hello");
//!     }
//! }
//! ```
//!
//! ## Delivery and memory
//!
//! A complete unfragmented frame found whole in the input is delivered as [`Event::Message`]
//! borrowed in place, with no copy. A [`RecvBuffer`] keeps a frame that is not whole yet until
//! it is, growing only with the bytes that arrive, so large messages are delivered in place
//! too. Fragmented messages are assembled in the [`Assembly`] ([`Delivery::Assemble`], feature
//! `alloc`) or streamed as [`Event::Chunk`]s with no allocation at all ([`Delivery::Stream`],
//! where every data event is a chunk, a whole message being one chunk, first and last).
//! Limits are checked on frame headers, before any payload byte is accepted. A message put
//! together in the `Assembly` can be kept past its event with no copy
//! ([`Connection::take_message`]), for a driver that writes large messages out after its next
//! read.
//!
//! Memory is visible: [`Connection::heap_bytes`], [`RecvBuffer::heap_bytes`] and
//! [`Assembly::heap_bytes`] say what each holds, so a server can keep a budget across
//! connections. What a peer can make a connection hold is proportional to what it sent (a frame
//! header announcing 16 MiB commits one read), and after a message larger than
//! `Config::retain_capacity` the memory goes back once the connection is idle: a
//! `RecvBuffer` then holds at most one read plus twice `retain_capacity` (its buffer and its
//! assembly). `size_of::<Connection>()` is 496 bytes (server, default features): it holds
//! state only.
//!
//! ## Errors
//!
//! A [`ProtocolError`] is the peer's fault and carries the close code the RFC names
//! ([`ProtocolError::close_code`]); when `read` returns one, the Close frame is already queued
//! and further input is ignored. A [`SendError`] is the caller's (sending after close, a
//! 126-byte ping, an unsendable close code) and leaves the connection untouched.
//!
//! ## Types that prevent misuse
//!
//! A client masks with keys from a [`MaskSource`] (RFC 6455 §5.3); [`NoMask`], the server's,
//! is none, so `Connection::client(config, NoMask)` does not compile, and predictable keys need
//! a constructor that says so ([`Connection::client_with_test_masks`]). The closing handshake
//! is one [`State`], which only moves forward. User commands ([`Connection::send_text`],
//! [`Connection::ping`], [`Connection::close`], ...) encode straight into your buffer;
//! [`Connection::poll_transmit`] gives only the machine's own replies.
//!
//! ## Features
//!
//! | feature    | default | what it adds |
//! |------------|---------|--------------|
//! | `std`      | yes     | [`ChaChaMask::from_entropy`] (OS-seeded mask keys), `std::error::Error`, run-time CPU detection on x86-64 (AVX2 masking, AVX-512 UTF-8 validation) |
//! | `alloc`    | via std | [`RecvBuffer`], [`Delivery::Assemble`], `*_vec` helpers, [`OwnedEvent`] |
//! | `simdutf8` | yes     | SIMD UTF-8 validation (about 10× std on non-ASCII text) where the CPU lacks AVX-512, which `std` builds detect and use first |
//! | `deflate`  | yes     | permessage-deflate (RFC 7692) through [`deflate`] (flate2, zlib-rs backend); implies `std` |
//! | `http`     | no      | conversions from and to `http::Request<()>` / `http::Response<()>` |
//! | `arbitrary`| no      | `arbitrary::Arbitrary` for [`Config`] (fuzzing) |
//!
//! Without default features the crate is `no_std` and heap-free: the streaming engine, the
//! handshake parsers and encoders all work on caller-owned buffers. `alloc` alone keeps it
//! `no_std`; both builds are checked for a bare-metal target (`thumbv7em-none-eabihf`) by
//! `.ci/run`. `deflate` needs `std`.
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

mod assembly;
#[cfg(feature = "alloc")]
pub mod broadcast;
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

pub use assembly::Assembly;
#[cfg(feature = "alloc")]
pub use broadcast::Broadcast;
pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Delivery};
pub use connection::{Connection, FrameHead, Read, Role, State, Timeout};
pub use error::{ProtocolError, SendError};
#[cfg(feature = "alloc")]
pub use event::OwnedEvent;
pub use event::{Chunk, Event, Message, MessageKind};
pub use mask::{ChaChaMask, MaskSource, Masking, NoMask, TestMasks};
#[cfg(feature = "alloc")]
pub use recv_buffer::RecvBuffer;
