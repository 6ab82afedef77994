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

use alloc::sync::Arc;

use crate::connection::Connection;
use crate::error::SendError;
use crate::event::MessageKind;
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::NoMask;

/// One whole data message encoded once as an unmasked, uncompressed server frame.
///
/// Cloning is cheap (a reference count); so is [`Connection::send_broadcast`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    frame: Arc<[u8]>,
    kind: MessageKind,
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
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let header = FrameHeader { fin: true, rsv: 0, opcode, mask: None, payload_len: payload.len() as u64 };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        let mut frame = alloc::vec::Vec::with_capacity(n + payload.len());
        frame.extend_from_slice(&head[..n]);
        frame.extend_from_slice(payload);
        Broadcast { frame: frame.into(), kind }
    }

    /// The encoded frame, header and payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.frame
    }

    /// The encoded frame, shared (what [`Connection::send_broadcast`] returns).
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

/// Only a server connection can send a broadcast: `Connection<NoMask>` is always one
/// ([`Connection::server`]), because a client must mask every frame with its own key (§5.3).
impl Connection<NoMask> {
    /// Checks that this connection may send `message` now and returns its frame, shared.
    ///
    /// Fails with [`SendError::Closed`] once a Close was sent or queued (or the stream ended),
    /// and with [`SendError::MessageInProgress`] while a fragmented message of this connection
    /// is open; the connection is unchanged either way. On success the caller must write the
    /// bytes in order with the connection's other output (see the [module docs](crate::broadcast)).
    pub fn send_broadcast(&mut self, message: &Broadcast) -> Result<Arc<[u8]>, SendError> {
        self.check_whole_message()?;
        Ok(Arc::clone(&message.frame))
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
        out.extend_from_slice(&message.frame);
        Ok(message.frame.len())
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
}
