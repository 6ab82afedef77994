//! A receive buffer that lets large messages be delivered in place.
//!
//! A message larger than one transport read can be delivered where it arrived, unmasked there
//! with no second copy, only if the driver keeps what a `read` left unused: the connection
//! then leaves the frame unread until all of it is in the buffer. [`RecvBuffer`] does that
//! bookkeeping: it keeps the unused bytes, offers the transport room after them (never more
//! than one read beyond the bytes that arrived, so a header announcing 16 MiB commits nothing
//! until the bytes come), and, while a frame waits, no more room than the frame still misses,
//! so that the data ends where the frame ends and nothing is left to move once it is delivered.
//!
//! With whole-message delivery ([`Delivery::Assemble`], the default) any unfragmented frame
//! within the limits waits in it; fragmented messages are put together in its [`Assembly`].
//! With [`Delivery::Stream`] pieces are streamed as they arrive, and it is simply a reusable
//! read buffer.
//!
//! A waiting frame is not a blind spot: text is unmasked and validated as it arrives, so bad
//! UTF-8 fails the connection with the read that brings it (RFC 6455 §8.1), and its bytes count
//! as traffic for the keepalive timer. The connection keeps that progress in the buffer, beside
//! the bytes it describes, so nothing is unmasked or validated twice.
//!
//! [`Delivery::Assemble`]: crate::Delivery::Assemble
//! [`Delivery::Stream`]: crate::Delivery::Stream

use alloc::vec::Vec;

use crate::connection::{Kept, Waiting};
use crate::{mask::Masking, Assembly, Connection, Event, ProtocolError};

/// A growable receive buffer that keeps what [`Connection::read`] left unused, with the
/// [`Assembly`] its events borrow (feature `alloc`).
///
/// Events borrow the buffer, never the connection: reply while you hold a message.
///
/// Memory ([`heap_bytes`](Self::heap_bytes)): the bytes that arrived and are not used yet,
/// plus one read. After a message larger than `Config::retain_capacity`, memory beyond it goes
/// back when the buffer is empty and the next read is prepared ([`spare`](Self::spare) or
/// [`read_from`](Self::read_from), where a driver waits), so an idle connection holds at most
/// `read_size` plus twice `retain_capacity` (the buffer and its [`Assembly`]). No allocation
/// happens once it has reached the size the traffic needs.
///
/// ```
/// use wsmachine::{Config, Connection, Event, Message, RecvBuffer};
///
/// // A client's 100 000-byte binary message; the transport hands over at most 16 KiB a time.
/// let mut client = Connection::client_with_test_masks(Config::default(), || [1, 2, 3, 4]);
/// let mut wire = Vec::new();
/// client.send_binary_vec(&[7; 100_000], &mut wire).unwrap();
///
/// let mut server = Connection::server(Config::default());
/// let mut buf = RecvBuffer::with_read_size(16 * 1024);
/// let mut out = Vec::new();
/// let mut transport = &wire[..];
/// while !transport.is_empty() {
///     // Like `read(2)`: copy what fits into the space offered.
///     let space = buf.spare(&server);
///     let n = space.len().min(transport.len());
///     space[..n].copy_from_slice(&transport[..n]);
///     transport = &transport[n..];
///     buf.filled(n);
///     while let Some(event) = buf.next(&mut server).unwrap() {
///         if let Event::Message(Message::Binary(data)) = event {
///             // Unmasked in `buf`, never copied; echoed while still borrowed.
///             server.send_binary_vec(data, &mut out).unwrap();
///         }
///     }
/// }
/// assert_eq!(out.len(), 10 + 100_000); // a 10-byte header (RFC 6455 §5.2), then the echo
/// ```
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    buf: Vec<u8>,
    /// The first byte the connection has not used yet.
    start: usize,
    /// The end of the bytes received.
    end: usize,
    /// How many bytes from `end` on the last `spare` offered.
    offered: usize,
    read_size: usize,
    /// The connection's progress with the text frame waiting at `start` (see `Waiting`).
    waiting: Waiting,
    /// Bytes dropped from the front so far: `base + start` is the position of the first unused
    /// byte in everything ever received, which names a waiting frame for its note.
    base: u64,
    assembly: Assembly,
}

impl Default for RecvBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBuffer {
    /// How much room [`spare`](Self::spare) offers when no frame waits: 64 KiB, about what a
    /// TCP socket has ready after a wakeup.
    pub const DEFAULT_READ_SIZE: usize = 64 * 1024;

    /// An empty buffer offering [`DEFAULT_READ_SIZE`](Self::DEFAULT_READ_SIZE) per read. It
    /// allocates on the first [`spare`](Self::spare).
    pub const fn new() -> Self {
        Self::with_read_size(Self::DEFAULT_READ_SIZE)
    }

    /// An empty buffer offering `read_size` bytes (at least 1) per read when no frame waits.
    pub const fn with_read_size(read_size: usize) -> Self {
        let read_size = if read_size == 0 { 1 } else { read_size };
        RecvBuffer {
            buf: Vec::new(),
            start: 0,
            end: 0,
            offered: 0,
            read_size,
            waiting: Waiting::new(),
            base: 0,
            assembly: Assembly::new(),
        }
    }

    /// The bytes received and not yet used by the connection (a waiting frame, usually).
    pub fn unused(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The buffer's size: what it holds plus the room it has.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held: the buffer and its [`Assembly`]. A server can sum this over its
    /// connections to keep a memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.assembly.heap_bytes()
    }

    /// Room for the next transport read, after the unused bytes: at most the bytes a waiting
    /// frame still misses, and never more than `read_size` beyond what the buffer already
    /// has, so the buffer grows only with bytes that arrive. Write received bytes at its start
    /// and report them with [`filled`](Self::filled).
    ///
    /// Unused bytes move to the front only when the room after them is too small (they are then
    /// part of one frame at most).
    pub fn spare<M: Masking>(&mut self, conn: &Connection<M>) -> &mut [u8] {
        if self.start == self.end {
            // Everything received was used: before the driver waits for more, memory a larger
            // message needed goes back (all but one read, and `retain_capacity`).
            self.idle(conn);
        }
        let unused = self.end - self.start;
        let missing = conn.wanted().saturating_sub(unused);
        // What this read should get at least, and at most.
        let (least, most) =
            if missing > 0 { (missing.min(self.read_size), missing) } else { (self.read_size, usize::MAX) };
        if self.buf.len() - self.end < least {
            move_to_front(&mut self.buf, self.start, self.end);
            self.base = self.base.wrapping_add(self.start as u64);
            (self.start, self.end) = (0, unused);
            if self.buf.len() - self.end < least {
                // Exactly what this read needs: no doubling ahead of bytes that may never come.
                self.buf.reserve_exact(self.end + least - self.buf.len());
                self.buf.resize(self.end + least, 0);
            }
        }
        self.offered = (self.buf.len() - self.end).min(most);
        &mut self.buf[self.end..self.end + self.offered]
    }

    /// Records that the transport wrote `n` bytes at the start of [`spare`](Self::spare).
    ///
    /// # Panics
    /// If `n` is more than the room the last `spare` offered (a driver bug, not a peer's).
    #[inline]
    pub fn filled(&mut self, n: usize) {
        assert!(n <= self.offered, "filled({n}) beyond the {} bytes spare offered", self.offered);
        self.offered -= n;
        self.end += n;
    }

    /// The next event from the bytes received so far, or `None` when the connection needs more
    /// input ([`spare`](Self::spare) and [`filled`](Self::filled) again). Errors are those of
    /// [`Connection::read`], with the failing Close already queued.
    ///
    /// The event borrows this buffer only, so the connection is free to send meanwhile. Drive a
    /// connection through one `RecvBuffer` only.
    #[inline(always)]
    pub fn next<'a, M: Masking>(&'a mut self, conn: &mut Connection<M>) -> Result<Option<Event<'a>>, ProtocolError> {
        let RecvBuffer { buf, start, end, waiting, base, assembly, .. } = self;
        let position = base.wrapping_add(*start as u64);
        let read = match conn.read_keeping_unused(&mut buf[*start..*end], Kept::new(waiting, position), assembly) {
            Ok(read) => read,
            Err(e) => {
                // A failed read may have unmasked bytes it did not use: no note survives it.
                waiting.clear();
                return Err(e);
            }
        };
        *start += read.consumed;
        Ok(read.event)
    }

    /// Everything received was used: start again at the front, and give back what a large
    /// message needed.
    fn idle<M: Masking>(&mut self, conn: &Connection<M>) {
        self.base = self.base.wrapping_add(self.start as u64);
        (self.start, self.end) = (0, 0);
        let retain = conn.config().retain_capacity;
        if conn.between_messages() {
            self.assembly.shrink_to(retain);
        }
        if self.buf.len() > self.read_size + retain {
            self.buf.truncate(self.read_size);
            self.buf.shrink_to_fit();
        }
    }

    /// One `read` from a blocking (or non-blocking) reader into [`spare`](Self::spare);
    /// returns what the reader returned (0 at end of stream).
    #[cfg(feature = "std")]
    pub fn read_from<M: Masking, R: std::io::Read>(
        &mut self,
        reader: &mut R,
        conn: &Connection<M>,
    ) -> std::io::Result<usize> {
        let n = reader.read(self.spare(conn))?;
        self.filled(n);
        Ok(n)
    }

    /// Gives back memory beyond the unused bytes and one read (after a burst of large frames).
    pub fn shrink(&mut self) {
        move_to_front(&mut self.buf, self.start, self.end);
        self.base = self.base.wrapping_add(self.start as u64);
        (self.start, self.end) = (0, self.end - self.start);
        self.offered = 0;
        self.buf.truncate(self.end + self.read_size);
        self.buf.shrink_to_fit();
    }
}

/// `buf.copy_within(from..to, 0)` in 1 KiB pieces (moving down, so no piece overwrites bytes
/// still to be read): long `memmove`s can hit slow `rep movsb` paths at unlucky offsets, the
/// same reason as `mask::copy_payload`.
fn move_to_front(buf: &mut [u8], from: usize, to: usize) {
    if from == 0 {
        return;
    }
    let mut at = from;
    while at < to {
        let n = (to - at).min(1024);
        buf.copy_within(at..at + n, at - from);
        at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Message};

    fn client_wire(sizes: &[usize]) -> Vec<u8> {
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        let mut wire = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            client.send_binary_vec(&alloc::vec![i as u8; n], &mut wire).unwrap();
        }
        wire
    }

    /// Feeds `wire` in reads of at most `chunk`; returns the size of each message seen and
    /// whether it was delivered inside the buffer (streamed chunks are summed), and the
    /// largest capacity the buffer reached.
    fn run(wire: &[u8], config: Config, chunk: usize) -> (Vec<(usize, bool)>, usize) {
        let mut conn = Connection::server(config);
        let mut buf = RecvBuffer::with_read_size(chunk);
        let (mut seen, mut max_cap, mut streamed) = (Vec::new(), 0, 0);
        let mut rest = wire;
        while !rest.is_empty() {
            let space = buf.spare(&conn);
            let n = space.len().min(rest.len()).min(chunk);
            space[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            buf.filled(n);
            max_cap = max_cap.max(buf.capacity());
            let range = buf.buf.as_ptr_range();
            while let Some(event) = buf.next(&mut conn).unwrap() {
                let index = seen.len() as u8;
                match event {
                    Event::Message(Message::Binary(data)) => {
                        assert!(data.iter().all(|&b| b == index), "payload of message {index}");
                        seen.push((data.len(), range.contains(&data.as_ptr()) || data.is_empty()));
                    }
                    Event::Chunk(chunk) => {
                        assert!(chunk.data.iter().all(|&b| b == index), "payload of message {index}");
                        streamed += chunk.data.len();
                        if chunk.last {
                            seen.push((core::mem::take(&mut streamed), false));
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(buf.unused().is_empty());
        (seen, max_cap)
    }

    #[test]
    fn large_messages_arrive_in_place_and_the_buffer_stays_bounded() {
        let sizes = [100_000, 5, 70_000, 0, 1 << 20, 300];
        let wire = client_wire(&sizes);
        let (seen, max_cap) = run(&wire, Config::default().retain_capacity(2 << 20), 16 * 1024);
        assert_eq!(seen, sizes.map(|n| (n, true)));
        // The largest frame (header included) plus one read at most.
        assert!(max_cap <= (1 << 20) + 14 + 16 * 1024, "capacity {max_cap}");
    }

    #[test]
    fn by_default_every_message_waits_in_place_and_memory_goes_back_once_idle() {
        // `Config::default()`: whole-message delivery, 1 MiB retained between messages.
        let sizes = [100_000, 5, (1 << 20) + 1, 70_000];
        let wire = client_wire(&sizes);
        let (seen, max_cap) = run(&wire, Config::default(), 16 * 1024);
        assert_eq!(seen, sizes.map(|n| (n, true)));
        assert!(max_cap <= (1 << 20) + 1 + 14 + 16 * 1024, "capacity {max_cap}");
        // Retaining less: the same, and the 1 MiB is given back once the buffer is empty.
        let mut conn = Connection::server(Config::default().retain_capacity(50_000));
        let mut buf = RecvBuffer::with_read_size(16 * 1024);
        let mut rest = &wire[..];
        let mut delivered = 0;
        while !rest.is_empty() {
            transport_read(&mut buf, &conn, &mut rest, 16 * 1024);
            while let Some(event) = buf.next(&mut conn).unwrap() {
                assert!(matches!(event, Event::Message(Message::Binary(d)) if d.len() == sizes[delivered]));
                delivered += 1;
            }
        }
        assert_eq!(delivered, 4);
        // Idle: the driver prepares its next read (and would wait there); memory goes back.
        let _ = buf.spare(&conn);
        assert!(buf.heap_bytes() <= 50_000 + 16 * 1024, "idle heap {}", buf.heap_bytes());
    }

    #[test]
    fn a_header_alone_commits_no_more_than_one_read() {
        // A 14-byte header announcing 16 MiB, then nothing: the buffer holds one read.
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(4096);
        let header = [0x82, 0xFF, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4];
        let mut rest = &header[..];
        transport_read(&mut buf, &conn, &mut rest, 4096);
        assert!(buf.next(&mut conn).unwrap().is_none());
        for _ in 0..3 {
            let space = buf.spare(&conn).len();
            assert!(space <= 4096, "offered {space}");
            assert!(buf.heap_bytes() <= 14 + 4096 + 4096, "heap {}", buf.heap_bytes());
        }
    }

    #[test]
    fn streaming_it_is_a_plain_read_buffer() {
        let sizes = [100_000, 5, 70_000];
        let wire = client_wire(&sizes);
        let (seen, max_cap) = run(&wire, Config::default().delivery(crate::Delivery::Stream), 4096);
        // Streamed in pieces as they arrive; a whole small message is one chunk, first and last.
        assert_eq!(seen, [(100_000, false), (5, false), (70_000, false)]);
        assert_eq!(max_cap, 4096);
    }

    #[test]
    fn a_waiting_frame_gets_at_most_its_missing_bytes_and_one_read_at_a_time() {
        let wire = client_wire(&[50_000]);
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(1000);
        assert_eq!(buf.spare(&conn).len(), 1000);
        buf.spare(&conn).copy_from_slice(&wire[..1000]);
        buf.filled(1000);
        assert!(buf.next(&mut conn).unwrap().is_none());
        assert_eq!(buf.unused().len(), 1000); // the frame waits, from its header on
        let mut at = 1000;
        while at < wire.len() {
            let space = buf.spare(&conn);
            // One read at a time, and never past the frame's end.
            assert_eq!(space.len(), (wire.len() - at).min(1000));
            let n = space.len();
            space.copy_from_slice(&wire[at..at + n]);
            buf.filled(n);
            at += n;
            let event = buf.next(&mut conn).unwrap();
            if at < wire.len() {
                assert!(event.is_none());
            } else {
                assert!(matches!(event, Some(Event::Message(Message::Binary(d))) if d.len() == 50_000));
            }
        }
        assert!(buf.next(&mut conn).unwrap().is_none());
        assert_eq!(buf.capacity(), wire.len()); // the frame filled the buffer exactly
        buf.shrink();
        assert_eq!(buf.capacity(), 1000);
    }

    #[test]
    #[should_panic(expected = "beyond the")]
    fn filled_beyond_the_offered_room_is_a_driver_bug() {
        let conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(100);
        let offered = buf.spare(&conn).len();
        buf.filled(offered);
        buf.filled(1); // the room was used up: even one byte more is refused
    }

    /// A masked text frame of `payload`, which may be invalid UTF-8 (`send_text` takes `&str`).
    fn masked_text_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut wire = alloc::vec![0x81];
        match payload.len() {
            n @ 0..=125 => wire.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                wire.push(0x80 | 126);
                wire.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                wire.push(0x80 | 127);
                wire.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        wire
    }

    /// Copies the next at most `n` bytes of `rest` into `buf`, as a transport read would.
    fn transport_read<M: Masking>(buf: &mut RecvBuffer, conn: &Connection<M>, rest: &mut &[u8], n: usize) {
        let space = buf.spare(conn);
        let n = space.len().min(rest.len()).min(n);
        space[..n].copy_from_slice(&rest[..n]);
        *rest = &rest[n..];
        buf.filled(n);
    }

    #[test]
    fn waiting_text_fails_as_soon_as_a_bad_byte_arrives() {
        // RFC 6455 §8.1 (Autobahn 6.4.x): a 100 000-byte text frame whose byte 500 cannot be
        // UTF-8 fails with the read that brings it, not once the frame is whole.
        let mut payload = alloc::vec![b'a'; 100_000];
        payload[500] = 0xFF;
        let wire = masked_text_frame(&payload, [1, 2, 3, 4]);
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(400);
        let mut rest = &wire[..];
        transport_read(&mut buf, &conn, &mut rest, 400);
        assert!(buf.next(&mut conn).unwrap().is_none(), "bytes 0..386 are good: the frame waits");
        transport_read(&mut buf, &conn, &mut rest, 400);
        assert_eq!(buf.next(&mut conn).unwrap_err(), ProtocolError::InvalidUtf8);
        let mut out = Vec::new();
        conn.poll_transmit_vec(&mut out);
        assert_eq!(out, [0x88, 0x02, 0x03, 0xEF]); // 1007
        assert_eq!(conn.state(), crate::State::Failed(crate::CloseCode::INVALID_PAYLOAD));

        // A bad last byte, and a text that ends inside a character: both fail with the read
        // that completes the frame, after every earlier read left it waiting.
        for last in [&[0xFF][..], &[b'a', 0xC3][..]] {
            let mut payload = alloc::vec![b'a'; 3000 - last.len()];
            payload.extend_from_slice(last);
            let wire = masked_text_frame(&payload, [1, 2, 3, 4]);
            let mut conn = Connection::server(Config::default());
            let mut buf = RecvBuffer::with_read_size(400);
            let mut rest = &wire[..];
            let mut result = Ok(None);
            while !rest.is_empty() {
                assert!(matches!(result, Ok(None)), "{last:?}: only the last read fails");
                transport_read(&mut buf, &conn, &mut rest, 400);
                result = buf.next(&mut conn).map(|e| e.map(|_| ()));
            }
            assert_eq!(result, Err(ProtocolError::InvalidUtf8), "{last:?}");
        }
    }

    #[test]
    fn waiting_text_is_checked_piece_by_piece_and_delivered_in_place() {
        // Two-, three- and four-byte characters cut by reads of every size from 1 to 9 bytes,
        // in both roles (a client's frames arrive masked, a server's do not).
        let text: alloc::string::String = "aé€😀".repeat(300);
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        let mut server = Connection::server(Config::default());
        let (mut masked, mut plain) = (Vec::new(), Vec::new());
        client.send_text_vec(&text, &mut masked).unwrap();
        server.send_text_vec(&text, &mut plain).unwrap();
        fn receive<M: Masking>(mut conn: Connection<M>, wire: &[u8], read: usize) -> alloc::string::String {
            let mut buf = RecvBuffer::with_read_size(read);
            let mut rest = wire;
            let mut got = None;
            while !rest.is_empty() {
                transport_read(&mut buf, &conn, &mut rest, read);
                let range = buf.buf.as_ptr_range();
                if let Some(Event::Message(Message::Text(t))) = buf.next(&mut conn).unwrap() {
                    assert!(range.contains(&t.as_ptr()), "delivered in place");
                    got = Some(t.into());
                }
            }
            assert!(buf.unused().is_empty());
            got.expect("one message")
        }
        for read in 1..10 {
            assert_eq!(receive(Connection::server(Config::default()), &masked, read), text, "read size {read}");
            let client = Connection::client_with_test_masks(Config::default(), || [0; 4]);
            assert_eq!(receive(client, &plain, read), text, "read size {read}");
        }
    }

    #[test]
    fn a_checked_frame_keeps_its_note_when_the_buffer_moves_it() {
        // A small frame first, so that the text frame waits behind used bytes: the buffer
        // moves it to the front to make room, and its note must move with it.
        let text: alloc::string::String = "aé€😀".repeat(200);
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        let mut wire = Vec::new();
        client.send_binary_vec(&[1; 10], &mut wire).unwrap();
        client.send_text_vec(&text, &mut wire).unwrap();
        for shrink in [false, true] {
            let mut conn = Connection::server(Config::default());
            let mut buf = RecvBuffer::with_read_size(100);
            let mut rest = &wire[..];
            let mut got = Vec::new();
            while !rest.is_empty() {
                transport_read(&mut buf, &conn, &mut rest, 100);
                while let Some(event) = buf.next(&mut conn).unwrap() {
                    got.push(event.into_owned());
                }
                if shrink {
                    buf.shrink(); // moves the waiting frame to the front as well
                }
            }
            assert_eq!(got, [crate::OwnedEvent::Binary(alloc::vec![1; 10]), crate::OwnedEvent::Text(text.clone())]);
        }
    }

    #[test]
    fn a_checked_frame_the_connection_cannot_take_is_given_back_as_it_arrived() {
        let text: alloc::string::String = "é".repeat(2500);
        let mut client = Connection::client_with_test_masks(Config::default(), || [9, 8, 7, 6]);
        let mut wire = Vec::new();
        client.send_text_vec(&text, &mut wire).unwrap();
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(1000);
        let mut rest = &wire[..];
        transport_read(&mut buf, &conn, &mut rest, 1000);
        assert!(buf.next(&mut conn).unwrap().is_none());
        assert_ne!(buf.unused(), &wire[..1000], "checked bytes are unmasked in place");
        // A misuse: the connection reads another stream in between, which starts a fragmented
        // message, so the waiting frame is no longer one it can deliver whole.
        let mut other = Vec::new();
        let mut c2 = Connection::client_with_test_masks(Config::default(), || [5, 5, 5, 5]);
        let mut frame = [0u8; 16];
        let n = c2.send_fragment(crate::MessageKind::Text, b"x", false, &mut frame).unwrap();
        other.extend_from_slice(&frame[..n]);
        assert!(conn.read(&mut other, &mut Assembly::new()).unwrap().event.is_none());
        assert_eq!(buf.next(&mut conn).unwrap_err(), ProtocolError::ExpectedContinuation);
        assert_eq!(buf.unused(), &wire[..1000], "masked again, exactly as it arrived");
    }

    /// Driver bugs cannot make a stale note trusted. One buffer driven by two connections: the
    /// first notes all but the last byte of a text frame as checked; the second, whole frame in
    /// hand, unmasks all of it again in place and fails on the prefix (or, if it can, takes
    /// it). Had the first trusted its note, it would have checked the last byte only and handed
    /// out a `&str` of invalid UTF-8 (debug builds re-check every one, so this would panic).
    #[test]
    fn a_buffer_shared_by_two_connections_never_trusts_a_stale_note() {
        // "é" is C3 A9; unmasked twice with 0x40 its first byte becomes 0x83, never a lead byte.
        let payload: Vec<u8> = "é".repeat(50).bytes().chain(*b"a").collect();
        let wire = masked_text_frame(&payload, [0x40; 4]);
        for key in [[0x40; 4], [0; 4]] {
            let wire = if key == [0; 4] { masked_text_frame(&payload, key) } else { wire.clone() };
            let (mut a, mut b) = (Connection::server(Config::default()), Connection::server(Config::default()));
            let mut buf = RecvBuffer::with_read_size(wire.len() - 1);
            let mut rest = &wire[..];
            transport_read(&mut buf, &a, &mut rest, wire.len() - 1);
            assert!(buf.next(&mut a).unwrap().is_none()); // the note: all but the last byte
            transport_read(&mut buf, &a, &mut rest, 1);
            // `b` has read a message elsewhere, so its fast path is armed and knows no note.
            let mut other = masked_text_frame(b"hi", [1, 2, 3, 4]);
            assert!(b.read(&mut other, &mut Assembly::new()).unwrap().event.is_some());
            match buf.next(&mut b) {
                // A key of zeros unmasks to the same bytes: `b` takes the frame, validly.
                Ok(Some(Event::Message(Message::Text(t)))) => assert_eq!((key, t.len()), ([0; 4], payload.len())),
                Err(e) => assert_eq!((key, e), ([0x40; 4], ProtocolError::InvalidUtf8)),
                other => panic!("{other:?}"),
            }
            if key == [0; 4] {
                // `b` used the whole buffer, which then starts again at its front: a new frame
                // of the same shape lands where the noted one was, bad bytes where it was
                // checked and one good byte after. It is a new frame all the same.
                let mut bad = alloc::vec![0xFF; payload.len() - 1];
                bad.push(b'a');
                let next = masked_text_frame(&bad, key);
                let mut rest = &next[..];
                transport_read(&mut buf, &a, &mut rest, usize::MAX);
                assert!(rest.is_empty());
            }
            // Whatever `a` gets now, it was checked in this read.
            match buf.next(&mut a) {
                Ok(Some(Event::Message(Message::Text(t)))) => assert!(core::str::from_utf8(t.as_bytes()).is_ok()),
                Ok(None) | Err(_) => {}
                Ok(Some(other)) => panic!("{other:?}"),
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn read_from_a_reader_until_end_of_stream() {
        let wire = client_wire(&[3, 70_000, 0]);
        let mut reader = &wire[..]; // `std::io::Read` for `&[u8]`: hands out what fits
        let mut conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(1000);
        let mut sizes = Vec::new();
        while buf.read_from(&mut reader, &conn).unwrap() > 0 {
            while let Some(event) = buf.next(&mut conn).unwrap() {
                let Event::Message(m) = event else { panic!("{event:?}") };
                sizes.push(m.as_bytes().len());
            }
        }
        assert_eq!(sizes, [3, 70_000, 0]);
        assert!(buf.unused().is_empty());
    }
}
