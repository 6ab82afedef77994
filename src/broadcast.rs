//! Fan-out: one message encoded once and sent to many server connections.
//!
//! A server's frames are not masked (RFC 6455 §5.1), so the bytes of a data frame do not depend
//! on the connection that sends them: a chat room or a pub/sub hub can encode a message once and
//! queue the same bytes, shared by reference count, on every subscriber's output, with no copy
//! per subscriber beyond the socket write.
//!
//! ```
//! use std::sync::Arc;
//! use wsmachine::{Broadcast, Config, Connection};
//!
//! let message = Broadcast::text("hello, room");
//! let mut alice = Connection::server(Config::default());
//! let mut bob = Connection::server(Config::default());
//! let a = alice.send_broadcast(&message).unwrap(); // checked for this connection, then shared
//! let b = bob.send_broadcast(&message).unwrap();
//! assert!(Arc::ptr_eq(&a, &b)); // one encoding for both
//! assert_eq!(&a[..], b"\x81\x0bhello, room"); // RFC 6455 §5.7: FIN, text, unmasked
//! ```
//!
//! # What the connection relies on
//!
//! [`Connection::send_broadcast`] checks that the message may be sent *now*, exactly as
//! [`Connection::send_text`] would: the connection is open (or has received the peer's Close
//! and not answered it yet), and no fragmented message of its own is open (§5.4 forbids
//! interleaving). The caller must then put the returned bytes on that connection's output in
//! call order, after the bytes of every earlier call and before those of every later one, like
//! any other send; in particular not after a Close it writes later.
//!
//! The frame is one whole, uncompressed frame with RSV1 clear. With permessage-deflate
//! negotiated that is still a legal message (RFC 7692 §6: a message with RSV1 clear is not
//! compressed), and it does not enter the compression context of either side (§7.2.3: only
//! compressed messages' data is in the sliding window), so the connection's own compressor and
//! the peer's decompressor stay in step. It is always one frame, whatever the connection's
//! `Config::fragment_size` (a sender's preference, not a protocol limit).
//!
//! # One compressed encoding for many (feature `deflate`)
//!
//! [`Broadcast::text_compressed`] also compresses the message once, on its own, with no
//! history: RFC 7692 §7.2.1 (compress, take off the trailing `00 00 ff ff`), RSV1 on the frame
//! (§6.1). [`Connection::send_broadcast`] gives that frame to a connection that negotiated
//! permessage-deflate with `server_no_context_takeover` and a server window
//! (`server_max_window_bits`) at least the broadcast's, and the plain frame to every other
//! (always valid: RFC 7692 §6 lets a sender leave any message uncompressed).
//!
//! Why not with context takeover: there the peer's inflater keeps every message it inflated
//! in its window, and the connection's compressor keeps the same bytes to refer back to
//! (§7.2.3). A message compressed elsewhere would enter the peer's window but not the
//! compressor's, so the connection's next message would refer back to bytes the two sides no
//! longer agree on. With `server_no_context_takeover` neither side keeps anything between
//! messages (§7.1.1.1), so a message compressed alone is exactly what the connection's own
//! compressor would have sent.
//!
//! ```
//! use std::sync::Arc;
//! use wsmachine::deflate::DeflateConfig;
//! use wsmachine::{Broadcast, Config, Connection};
//!
//! let config = DeflateConfig::new(); // the server's, as used to negotiate
//! let message = Broadcast::text_compressed(&"tick ".repeat(40), &config);
//! // A browser offering `permessage-deflate; server_no_context_takeover`:
//! let params = config.accept_offer([("server_no_context_takeover", None)]).unwrap();
//! let mut alice = Connection::server(Config::default()).with_deflate(&params);
//! let mut bob = Connection::server(Config::default()); // no permessage-deflate
//! let a = alice.send_broadcast(&message).unwrap();
//! let b = bob.send_broadcast(&message).unwrap();
//! assert_eq!(a[0], 0xC1); // FIN, RSV1 (compressed), text
//! assert!(a.len() < 20 && Arc::ptr_eq(&a, message.compressed_frame().unwrap()));
//! assert!(Arc::ptr_eq(&b, message.frame())); // 0x81, 200 bytes as they are
//! ```

use alloc::sync::Arc;

use crate::connection::Connection;
#[cfg(feature = "deflate")]
use crate::deflate::DeflateConfig;
use crate::error::SendError;
use crate::event::MessageKind;
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::NoMask;

/// One whole data message encoded once as an unmasked server frame, uncompressed, and with
/// [`text_compressed`](Self::text_compressed) also compressed.
///
/// Cloning is cheap (a reference count); so is [`Connection::send_broadcast`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    frame: Arc<[u8]>,
    kind: MessageKind,
    /// The message compressed alone (RFC 7692 §7.2.1) as an RSV1 frame, and the window bits
    /// it was compressed with.
    #[cfg(feature = "deflate")]
    compressed: Option<(Arc<[u8]>, u8)>,
}

/// An unmasked frame: FIN, `rsv`, the opcode of `kind`, the shortest length (§5.2).
fn frame_of(kind: MessageKind, rsv: u8, payload: &[u8]) -> Arc<[u8]> {
    let header =
        FrameHeader { fin: true, rsv, opcode: OpCode::starting(kind), mask: None, payload_len: payload.len() as u64 };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut frame = alloc::vec::Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&head[..n]);
    frame.extend_from_slice(payload);
    frame.into()
}

impl Broadcast {
    /// A text message (the payload is UTF-8 by type, as §5.6 requires).
    pub fn text(text: &str) -> Broadcast {
        Broadcast::encode(MessageKind::Text, text.as_bytes())
    }

    /// A binary message.
    pub fn binary(data: &[u8]) -> Broadcast {
        Broadcast::encode(MessageKind::Binary, data)
    }

    fn encode(kind: MessageKind, payload: &[u8]) -> Broadcast {
        Broadcast {
            frame: frame_of(kind, 0, payload),
            kind,
            #[cfg(feature = "deflate")]
            compressed: None,
        }
    }

    /// The encoded (uncompressed) frame, header and payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.frame
    }

    /// The uncompressed frame, shared (what [`Connection::send_broadcast`] returns to a
    /// connection that does not take the compressed one).
    pub fn frame(&self) -> &Arc<[u8]> {
        &self.frame
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The length of the payload (the frame less its header).
    pub fn payload_len(&self) -> usize {
        let b1 = self.frame[1] & 0x7F;
        let header = match b1 {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        self.frame.len() - header
    }
}

/// Compressed once for every connection that may take it (see the [module docs](crate::broadcast)).
#[cfg(feature = "deflate")]
impl Broadcast {
    /// A text message, also compressed once with `config`'s level and window
    /// (`local_max_window_bits`), with no history. Under `config.min_compress_len` bytes (or its
    /// `min_compress_len_no_context`: the message has no history either way), or if
    /// the compressor fails, there is only the plain frame.
    ///
    /// Pass the `DeflateConfig` the server negotiates with: a connection whose client asked
    /// for a smaller `server_max_window_bits` gets the plain frame. Each call sets up one
    /// compressor, as one compressed `send_text` does, so it pays off from two such connections.
    pub fn text_compressed(text: &str, config: &DeflateConfig) -> Broadcast {
        Broadcast::compress(MessageKind::Text, text.as_bytes(), config)
    }

    /// A binary message, also compressed once (as [`text_compressed`](Self::text_compressed)).
    pub fn binary_compressed(data: &[u8], config: &DeflateConfig) -> Broadcast {
        Broadcast::compress(MessageKind::Binary, data, config)
    }

    fn compress(kind: MessageKind, payload: &[u8], config: &DeflateConfig) -> Broadcast {
        let mut message = Broadcast::encode(kind, payload);
        // Compressed on its own, with no history: the no-context threshold applies too.
        if payload.len() < config.min_compress_len.max(config.min_compress_len_no_context) {
            return message;
        }
        // A fresh server codec with config's window and level: the very compressor (and §7.2.1
        // framing) a connection would use, and its first message has no history to refer to.
        if let Some(params) = config.accept_offer([]) {
            let mut codec = params.codec(true);
            // A codec of its own, used once: `0` bytes received is its idle mark, so it lets
            // go of its zlib state after this message.
            if codec.compress(payload, 0) {
                message.compressed = Some((frame_of(kind, 0b100, &codec.scratch), params.server_max_window_bits));
            }
        }
        message
    }

    /// The compressed frame (RSV1), shared, if there is one.
    pub fn compressed_frame(&self) -> Option<&Arc<[u8]>> {
        self.compressed.as_ref().map(|(frame, _)| frame)
    }
}

/// Only a server connection can send a broadcast: `Connection<NoMask>` is always one
/// ([`Connection::server`]), because a client must mask every frame with its own key (§5.3).
impl Connection<NoMask> {
    /// Checks that this connection may send `message` now and returns its frame, shared: the
    /// compressed one if the connection may take it (see the [module docs](crate::broadcast)),
    /// otherwise the plain one.
    ///
    /// Fails with [`SendError::Closed`] once a Close was sent or queued (or the stream ended),
    /// and with [`SendError::MessageInProgress`] while a fragmented message of this connection
    /// is open; the connection is unchanged either way. On success the caller must write the
    /// bytes in order with the connection's other output (see the [module docs](crate::broadcast)).
    pub fn send_broadcast(&mut self, message: &Broadcast) -> Result<Arc<[u8]>, SendError> {
        self.check_whole_message()?;
        Ok(Arc::clone(self.broadcast_frame(message)))
    }

    /// The compressed frame only where both sides keep no history (RFC 7692 §7.1.1.1) and the
    /// negotiated server window holds the broadcast's (§7.1.2.1); the plain one elsewhere (§6).
    fn broadcast_frame<'a>(&self, message: &'a Broadcast) -> &'a Arc<[u8]> {
        #[cfg(feature = "deflate")]
        if let (Some((frame, bits)), Some(window)) = (&message.compressed, self.context_free_window_bits()) {
            if window >= *bits {
                return frame;
            }
        }
        &message.frame
    }

    /// Appends `message`'s frame to `out` after the same checks as
    /// [`send_broadcast`](Self::send_broadcast); returns the bytes appended. A copy: for drivers
    /// with one contiguous output buffer per connection.
    pub fn send_broadcast_vec(
        &mut self,
        message: &Broadcast,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        self.check_whole_message()?;
        let frame = self.broadcast_frame(message);
        out.extend_from_slice(frame);
        Ok(frame.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::Assembly;
    use crate::close::CloseCode;
    use crate::config::Config;
    use crate::connection::State;
    use crate::event::{Event, Message};
    use alloc::vec::Vec;

    /// Reads every event of `bytes` with a client connection, as text/binary payloads.
    fn client_reads(bytes: &[u8]) -> Vec<(MessageKind, Vec<u8>)> {
        let mut client = Connection::client_with_test_masks(Config::default(), || [1, 2, 3, 4]);
        let mut assembly = Assembly::new();
        let mut buf = bytes.to_vec();
        let mut start = 0;
        let mut got = Vec::new();
        while let Ok(read) = client.read(&mut buf[start..], &mut assembly) {
            start += read.consumed;
            match read.event {
                Some(Event::Message(Message::Text(t))) => got.push((MessageKind::Text, t.as_bytes().to_vec())),
                Some(Event::Message(Message::Binary(b))) => got.push((MessageKind::Binary, b.to_vec())),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(start, bytes.len());
        got
    }

    #[test]
    fn encodes_one_unmasked_frame_with_minimal_length() {
        assert_eq!(Broadcast::text("Hello").as_bytes(), b"\x81\x05Hello");
        assert_eq!(Broadcast::binary(&[]).as_bytes(), b"\x82\x00");
        let big = Broadcast::binary(&[7u8; 256]);
        assert_eq!(&big.as_bytes()[..4], &[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((big.payload_len(), big.kind()), (256, MessageKind::Binary));
        let huge = Broadcast::text(&"x".repeat(65536));
        assert_eq!(&huge.as_bytes()[..10], &[0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(huge.payload_len(), 65536);
        assert_eq!(Broadcast::text("Hello").payload_len(), 5);
    }

    #[test]
    fn same_bytes_as_send_binary_at_every_length_boundary() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut direct = Vec::new();
            Connection::server(Config::default()).send_binary_vec(&data, &mut direct).unwrap();
            let shared = Broadcast::binary(&data);
            assert_eq!(shared.as_bytes(), &direct[..], "length {len}");
            assert_eq!(shared.payload_len(), len);
        }
    }

    #[test]
    fn same_bytes_as_send_text_and_shared_not_copied() {
        let message = Broadcast::text("héllo");
        let mut conns: Vec<Connection> = (0..3).map(|_| Connection::server(Config::default())).collect();
        let frames: Vec<_> = conns.iter_mut().map(|c| c.send_broadcast(&message).unwrap()).collect();
        assert!(frames.iter().all(|f| Arc::ptr_eq(f, message.frame())));
        let mut direct = Vec::new();
        Connection::server(Config::default()).send_text_vec("héllo", &mut direct).unwrap();
        assert_eq!(&frames[0][..], &direct[..]);
        assert_eq!(client_reads(&frames[0]), [(MessageKind::Text, "héllo".as_bytes().to_vec())]);
        let mut out = b"x".to_vec();
        assert_eq!(conns[0].send_broadcast_vec(&message, &mut out), Ok(direct.len()));
        assert_eq!(&out[1..], &direct[..]);
    }

    #[test]
    fn refused_after_close_and_during_a_fragmented_message() {
        let message = Broadcast::binary(b"data");
        let mut conn = Connection::server(Config::default());
        let mut out = [0u8; 64];
        conn.send_fragment(MessageKind::Text, b"par", false, &mut out).unwrap();
        assert_eq!(conn.send_broadcast(&message), Err(SendError::MessageInProgress));
        let mut v = Vec::new();
        assert_eq!(conn.send_broadcast_vec(&message, &mut v), Err(SendError::MessageInProgress));
        assert!(v.is_empty());
        conn.send_fragment(MessageKind::Text, b"t", true, &mut out).unwrap();
        assert!(conn.send_broadcast(&message).is_ok());
        conn.close(CloseCode::NORMAL, "", &mut out).unwrap();
        assert_eq!(conn.send_broadcast(&message), Err(SendError::Closed));
        let mut ended = Connection::server(Config::default());
        let _ = ended.read_eof();
        assert_eq!(ended.send_broadcast(&message), Err(SendError::Closed));
    }

    #[test]
    fn allowed_after_the_peers_close_until_it_is_answered() {
        let message = Broadcast::text("last words");
        let mut conn = Connection::server(Config::default().auto_close(false));
        let mut assembly = Assembly::new();
        // A masked Close 1000 from the client (key 0).
        let mut close = *b"\x88\x82\0\0\0\0\x03\xe8";
        let read = conn.read(&mut close, &mut assembly).unwrap();
        assert!(matches!(read.event, Some(Event::Close(_))));
        assert_eq!(conn.state(), State::CloseReceived);
        assert!(conn.send_broadcast(&message).is_ok());
        let mut out = [0u8; 16];
        conn.close(CloseCode::NORMAL, "", &mut out).unwrap();
        assert_eq!(conn.send_broadcast(&message), Err(SendError::Closed));
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn interleaves_with_compressed_messages_under_permessage_deflate() {
        use crate::deflate::DeflateConfig;
        let params = DeflateConfig::new().accept_offer([]).unwrap();
        let mut server = Connection::server(Config::default()).with_deflate(&params);
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        client = client.with_deflate(&params);
        let long = "a compressible sentence, ".repeat(20);
        let shared = Broadcast::text(&long);
        let mut wire = Vec::new();
        server.send_text_vec(&long, &mut wire).unwrap(); // compressed (RSV1)
        assert_eq!(wire[0] & 0x40, 0x40);
        wire.extend_from_slice(&server.send_broadcast(&shared).unwrap());
        server.send_text_vec(&long, &mut wire).unwrap(); // compressed again, context taken over
        let mut assembly = Assembly::new();
        let (mut start, mut got) = (0, Vec::new());
        while let Ok(read) = client.read(&mut wire[start..], &mut assembly) {
            start += read.consumed;
            match read.event {
                Some(Event::Message(Message::Text(t))) => got.push(alloc::string::String::from(t)),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(got, [long.clone(), long.clone(), long]);
    }

    #[cfg(feature = "deflate")]
    mod compressed {
        use super::*;
        use crate::deflate::{DeflateConfig, DeflateParams};

        /// Parameters a client's offer would agree to with `config` (server side).
        fn agreed<'a>(config: &DeflateConfig, offer: &[(&'a str, Option<&'a str>)]) -> DeflateParams {
            config.accept_offer(offer.iter().copied()).unwrap()
        }

        fn server(params: &DeflateParams) -> Connection {
            Connection::server(Config::default()).with_deflate(params)
        }

        /// A client with `params` reads `wire`: every text or binary message, inflated.
        fn deflate_client_reads(params: &DeflateParams, wire: &[u8]) -> Vec<(MessageKind, Vec<u8>)> {
            let mut client =
                Connection::client_with_test_masks(Config::default(), || [4, 3, 2, 1]).with_deflate(params);
            let mut assembly = Assembly::new();
            let (mut buf, mut start, mut got) = (wire.to_vec(), 0, Vec::new());
            while start < buf.len() {
                let read = client.read(&mut buf[start..], &mut assembly).unwrap();
                start += read.consumed;
                match read.event {
                    Some(Event::Message(Message::Text(t))) => got.push((MessageKind::Text, t.as_bytes().to_vec())),
                    Some(Event::Message(Message::Binary(b))) => got.push((MessageKind::Binary, b.to_vec())),
                    Some(_) => {}
                    None => assert!(read.consumed > 0, "stuck at {start}"),
                }
            }
            got
        }

        const NO_TAKEOVER: (&str, Option<&str>) = ("server_no_context_takeover", None);

        #[test]
        fn the_shared_frame_is_what_the_connection_would_send_and_inflates_to_the_message() {
            let text = "{\"user\":\"ada\",\"text\":\"hello, hello, hello, room\"} ".repeat(30);
            for level in [1, 6, 9] {
                let config = DeflateConfig::new().level(level);
                let message = Broadcast::text_compressed(&text, &config);
                let params = agreed(&config, &[NO_TAKEOVER]);
                let mut conns = [server(&params), server(&params)];
                let frames: Vec<_> = conns.iter_mut().map(|c| c.send_broadcast(&message).unwrap()).collect();
                let compressed = message.compressed_frame().unwrap();
                assert!(frames.iter().all(|f| Arc::ptr_eq(f, compressed)));
                // Byte for byte what the connection's own compressor makes of the message.
                let mut direct = Vec::new();
                server(&params).send_text_vec(&text, &mut direct).unwrap();
                assert_eq!(&compressed[..], &direct[..], "level {level}");
                assert_eq!(compressed[0], 0xC1); // FIN, RSV1, text (RFC 7692 §6.1)
                assert!(compressed.len() < text.len() / 4);
                assert_eq!(deflate_client_reads(&params, compressed), [(MessageKind::Text, text.as_bytes().to_vec())]);
                // The plain frame is unchanged by compression.
                assert_eq!(message.as_bytes(), Broadcast::text(&text).as_bytes());
                assert_eq!((message.kind(), message.payload_len()), (MessageKind::Text, text.len()));
            }
            let data: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
            let message = Broadcast::binary_compressed(&data, &DeflateConfig::new());
            let params = agreed(&DeflateConfig::new(), &[NO_TAKEOVER]);
            let frame = server(&params).send_broadcast(&message).unwrap();
            assert_eq!(frame[0], 0xC2);
            assert_eq!(deflate_client_reads(&params, &frame), [(MessageKind::Binary, data.clone())]);
            assert_eq!(message.kind(), MessageKind::Binary);
            assert_eq!(message.as_bytes(), Broadcast::binary(&data).as_bytes());
        }

        #[test]
        fn an_empty_message_is_one_zero_octet() {
            // RFC 7692 §7.2.3.6.
            let message = Broadcast::binary_compressed(&[], &DeflateConfig::new());
            assert_eq!(&message.compressed_frame().unwrap()[..], &[0xC2, 0x01, 0x00]);
            let params = agreed(&DeflateConfig::new(), &[NO_TAKEOVER]);
            let frame = server(&params).send_broadcast(&message).unwrap();
            assert_eq!(deflate_client_reads(&params, &frame), [(MessageKind::Binary, Vec::new())]);
        }

        #[test]
        fn plain_without_deflate_with_context_takeover_or_a_smaller_window() {
            let config = DeflateConfig::new();
            let text = "abcabcabc ".repeat(50);
            let message = Broadcast::text_compressed(&text, &config);
            let plain = |c: &mut Connection| Arc::ptr_eq(&c.send_broadcast(&message).unwrap(), message.frame());
            assert!(plain(&mut Connection::server(Config::default())));
            // Context takeover (the default offer): the compressor's history would diverge.
            assert!(plain(&mut server(&agreed(&config, &[]))));
            assert!(plain(&mut server(&agreed(&config, &[("client_no_context_takeover", None)]))));
            // A window under the broadcast's 15 bits.
            let fourteen = agreed(&config, &[NO_TAKEOVER, ("server_max_window_bits", Some("14"))]);
            assert!(plain(&mut server(&fourteen)));
            let mut out = Vec::new();
            assert_eq!(server(&fourteen).send_broadcast_vec(&message, &mut out), Ok(message.as_bytes().len()));
            assert_eq!(out, message.as_bytes());
            // The plain frame still reads back on such a connection (RSV1 clear, §6).
            assert_eq!(deflate_client_reads(&fourteen, &out), [(MessageKind::Text, text.as_bytes().to_vec())]);
            // The server's own no_context_takeover setting counts as much as the offer.
            let mine = agreed(&DeflateConfig::new().no_context_takeover(true), &[]);
            assert!(!plain(&mut server(&mine)));
            // A broadcast without a compressed frame gives the plain one to everyone.
            let bare = Broadcast::text(&text);
            assert!(bare.compressed_frame().is_none());
            let got = server(&agreed(&config, &[NO_TAKEOVER])).send_broadcast(&bare).unwrap();
            assert!(Arc::ptr_eq(&got, bare.frame()));
        }

        #[test]
        fn window_boundaries() {
            let text: alloc::string::String = (0..3000u32).map(|i| char::from(b'a' + (i * i % 23) as u8)).collect();
            for bits in 8u8..=15 {
                let config = DeflateConfig::new().max_window_bits(bits);
                let message = Broadcast::text_compressed(&text, &config);
                let compressed = message.compressed_frame().unwrap();
                for window in 8u8..=15 {
                    let value = alloc::format!("{window}");
                    let params =
                        agreed(&DeflateConfig::new(), &[NO_TAKEOVER, ("server_max_window_bits", Some(&value))]);
                    assert_eq!(params.server_max_window_bits, window);
                    let mut conn = server(&params);
                    let frame = conn.send_broadcast(&message).unwrap();
                    assert_eq!(Arc::ptr_eq(&frame, compressed), window >= bits, "broadcast {bits}, window {window}");
                    if window == bits {
                        // Exactly the connection's own compressor's output, and it inflates.
                        let mut direct = Vec::new();
                        server(&agreed(&config, &[NO_TAKEOVER])).send_text_vec(&text, &mut direct).unwrap();
                        assert_eq!(&frame[..], &direct[..], "{bits} bits");
                        assert_eq!(
                            deflate_client_reads(&params, &frame),
                            [(MessageKind::Text, text.as_bytes().to_vec())]
                        );
                    }
                }
            }
        }

        #[test]
        fn min_compress_len_boundary() {
            let config = DeflateConfig::new().min_compress_len(10);
            assert!(Broadcast::text_compressed("123456789", &config).compressed_frame().is_none());
            assert!(Broadcast::binary_compressed(b"123456789", &config).compressed_frame().is_none());
            assert!(Broadcast::text_compressed("1234567890", &config).compressed_frame().is_some());
            assert!(Broadcast::binary_compressed(b"1234567890", &config).compressed_frame().is_some());
        }

        #[test]
        fn same_checks_and_interleaves_with_the_connections_own_messages() {
            let config = DeflateConfig::new();
            let params = agreed(&config, &[NO_TAKEOVER]);
            let text = "interleaved, interleaved, interleaved ".repeat(8);
            let message = Broadcast::text_compressed(&text, &config);
            let mut conn = server(&params);
            let mut wire = Vec::new();
            conn.send_text_vec(&text, &mut wire).unwrap();
            wire.extend_from_slice(&conn.send_broadcast(&message).unwrap());
            conn.send_broadcast_vec(&message, &mut wire).unwrap();
            conn.send_text_vec("tail", &mut wire).unwrap();
            let t = |s: &str| (MessageKind::Text, s.as_bytes().to_vec());
            assert_eq!(deflate_client_reads(&params, &wire), [t(&text), t(&text), t(&text), t("tail")]);
            let mut out = [0u8; 64];
            conn.send_fragment(MessageKind::Binary, b"x", false, &mut out).unwrap();
            assert_eq!(conn.send_broadcast(&message), Err(SendError::MessageInProgress));
            let mut v = Vec::new();
            assert_eq!(conn.send_broadcast_vec(&message, &mut v), Err(SendError::MessageInProgress));
            conn.send_fragment(MessageKind::Binary, b"y", true, &mut out).unwrap();
            conn.close(CloseCode::NORMAL, "", &mut out).unwrap();
            assert_eq!(conn.send_broadcast(&message), Err(SendError::Closed));
            assert_eq!(conn.send_broadcast_vec(&message, &mut v), Err(SendError::Closed));
            assert!(v.is_empty());
        }
    }
}
