//! A receive buffer that lets large messages be delivered in place.
//!
//! A message larger than one transport read can be delivered where it arrived, unmasked there
//! with no second copy, only if the driver keeps what a `read` left unused: the connection
//! then leaves the frame unread until all of it is in the buffer. The driver has three things
//! to get right: keep the bytes a `read` left unused, make room for [`Connection::wanted`] of
//! them, and append the next transport read after them. [`RecvBuffer`] does that bookkeeping
//! once, and one thing more: while a frame waits, it offers the transport room for exactly the
//! frame's missing bytes, so that the data ends where the frame ends and nothing is left to
//! move to the front once the message is delivered.
//!
//! Because it keeps unused bytes, the connection lets frames wait in it with the default
//! [`Config`](crate::Config) too: whole-message delivery ([`Delivery::Assemble`]) waits for
//! frames up to `retain_capacity` (1 MiB by default), which is what a frame header can make the
//! assembly buffer reserve anyway, and [`Config::in_place_up_to`](crate::Config::in_place_up_to)
//! sets another bound. With [`Delivery::Stream`] (and no `in_place_up_to`) pieces are streamed
//! as they arrive, and it is simply a reusable read buffer.
//!
//! [`Delivery::Assemble`]: crate::Delivery::Assemble
//! [`Delivery::Stream`]: crate::Delivery::Stream

use alloc::vec::Vec;

use crate::{Connection, Event, MaskSource, ProtocolError};

/// A growable receive buffer that keeps what [`Connection::read`] left unused (feature `alloc`).
///
/// Memory: at most `read_size` plus the largest frame the connection waits for, which
/// `Config::in_place_up_to`, or else `Config::retain_capacity`, bounds (checked on the frame
/// header, before any of its payload is accepted); larger messages are assembled or streamed
/// as without it. The buffer keeps its size between messages; [`shrink`](Self::shrink) gives the
/// memory back. No allocation happens once it has reached the size the traffic needs.
///
/// ```
/// use wsmachine::{Config, Connection, Event, Message, RecvBuffer};
///
/// // A client's 100 000-byte binary message; the transport hands over at most 16 KiB a time.
/// let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
/// let mut wire = vec![0; client.encoded_len(100_000)];
/// client.send_binary(&[7; 100_000], &mut wire).unwrap();
///
/// let mut server = Connection::server(Config::default());
/// let mut buf = RecvBuffer::with_read_size(16 * 1024);
/// let mut transport = &wire[..];
/// let mut received = 0;
/// while !transport.is_empty() {
///     // Like `read(2)`: copy what fits into the space offered.
///     let space = buf.spare(&server);
///     let n = space.len().min(transport.len()).min(16 * 1024);
///     space[..n].copy_from_slice(&transport[..n]);
///     transport = &transport[n..];
///     buf.filled(n);
///     while let Some(event) = buf.next(&mut server).unwrap() {
///         if let Event::Message(Message::Binary(data)) = event {
///             received += data.len(); // unmasked in `buf`, never copied
///         }
///     }
/// }
/// assert_eq!(received, 100_000);
/// ```
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    buf: Vec<u8>,
    /// The first byte the connection has not used yet.
    start: usize,
    /// The end of the bytes received.
    end: usize,
    read_size: usize,
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
        RecvBuffer { buf: Vec::new(), start: 0, end: 0, read_size }
    }

    /// The bytes received and not yet used by the connection (a waiting frame, usually).
    pub fn unused(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The buffer's size: what it holds plus the room it has.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Room for the next transport read, after the unused bytes: exactly the bytes a waiting
    /// frame still misses (see [`Connection::wanted`]), or at least `read_size` otherwise.
    /// Write received bytes at its start and report them with [`filled`](Self::filled).
    ///
    /// Unused bytes move to the front only when the room after them is too small (they are then
    /// part of one frame at most), and the buffer grows only when that is not enough either.
    pub fn spare<M: MaskSource>(&mut self, conn: &Connection<M>) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        let unused = self.end - self.start;
        let missing = conn.wanted().saturating_sub(unused);
        let room = if missing > 0 { missing } else { self.read_size };
        if self.buf.len() - self.end < room {
            move_to_front(&mut self.buf, self.start, self.end);
            (self.start, self.end) = (0, unused);
            if self.buf.len() - self.end < room {
                self.buf.resize(self.end + room, 0);
            }
        }
        let stop = if missing > 0 { self.end + missing } else { self.buf.len() };
        &mut self.buf[self.end..stop]
    }

    /// Records that the transport wrote `n` bytes at the start of [`spare`](Self::spare).
    ///
    /// # Panics
    /// If `n` is more than the room `spare` offered (a driver bug, not a peer's).
    #[inline]
    pub fn filled(&mut self, n: usize) {
        assert!(n <= self.buf.len() - self.end, "filled({n}) beyond the spare room");
        self.end += n;
    }

    /// The next event from the bytes received so far, or `None` when the connection needs more
    /// input ([`spare`](Self::spare) and [`filled`](Self::filled) again). Errors are those of
    /// [`Connection::read`], with the failing Close already queued.
    ///
    /// It tells the connection that this buffer keeps unused bytes, so frames may wait in it
    /// (up to `Config::in_place_up_to`, or else, with whole-message delivery, up to
    /// `Config::retain_capacity`); drive a connection through one `RecvBuffer` only.
    #[inline(always)]
    pub fn next<'a, M: MaskSource>(
        &'a mut self,
        conn: &'a mut Connection<M>,
    ) -> Result<Option<Event<'a>>, ProtocolError> {
        let RecvBuffer { buf, start, end, .. } = self;
        let read = conn.read_keeping_unused(&mut buf[*start..*end])?;
        *start += read.consumed;
        Ok(read.event)
    }

    /// One `read` from a blocking (or non-blocking) reader into [`spare`](Self::spare);
    /// returns what the reader returned (0 at end of stream).
    #[cfg(feature = "std")]
    pub fn read_from<M: MaskSource, R: std::io::Read>(
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
        (self.start, self.end) = (0, self.end - self.start);
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
        let mut client = Connection::client(Config::default(), || [9, 8, 7, 6]);
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
        let (seen, max_cap) = run(&wire, Config::default().in_place_up_to(2 << 20), 16 * 1024);
        assert_eq!(seen, sizes.map(|n| (n, true)));
        // The largest frame (header included) plus one read at most.
        assert!(max_cap <= (1 << 20) + 14 + 16 * 1024, "capacity {max_cap}");
    }

    #[test]
    fn by_default_messages_up_to_retain_capacity_wait_in_place() {
        // `Config::default()`: no `in_place_up_to`, whole-message delivery, 1 MiB retained.
        let sizes = [100_000, 5, (1 << 20) + 1, 70_000];
        let wire = client_wire(&sizes);
        let (seen, max_cap) = run(&wire, Config::default(), 16 * 1024);
        assert_eq!(seen, [(100_000, true), (5, true), ((1 << 20) + 1, false), (70_000, true)]);
        assert!(max_cap <= 100_000 + 14 + 16 * 1024, "capacity {max_cap}");
        let (seen, max_cap) = run(&wire, Config::default().retain_capacity(50_000), 16 * 1024);
        assert_eq!(seen, [(100_000, false), (5, true), ((1 << 20) + 1, false), (70_000, false)]);
        assert_eq!(max_cap, 16 * 1024);
    }

    #[test]
    fn streaming_it_is_a_plain_read_buffer() {
        let sizes = [100_000, 5, 70_000];
        let wire = client_wire(&sizes);
        let (seen, max_cap) = run(&wire, Config::default().delivery(crate::Delivery::Stream), 4096);
        // Streamed in pieces as they arrive; a small message whole in one read, as always.
        assert_eq!(seen, [(100_000, false), (5, true), (70_000, false)]);
        assert_eq!(max_cap, 4096);
    }

    #[test]
    fn a_waiting_frame_gets_exactly_its_missing_bytes() {
        let wire = client_wire(&[50_000]);
        let mut conn = Connection::server(Config::default().in_place_up_to(1 << 20));
        let mut buf = RecvBuffer::with_read_size(1000);
        assert_eq!(buf.spare(&conn).len(), 1000);
        buf.spare(&conn).copy_from_slice(&wire[..1000]);
        buf.filled(1000);
        assert!(buf.next(&mut conn).unwrap().is_none());
        assert_eq!(buf.unused().len(), 1000); // the frame waits, from its header on
        assert_eq!(buf.spare(&conn).len(), wire.len() - 1000);
        let n = wire.len() - 1000;
        buf.spare(&conn).copy_from_slice(&wire[1000..]);
        buf.filled(n);
        assert!(matches!(buf.next(&mut conn).unwrap(), Some(Event::Message(Message::Binary(d))) if d.len() == 50_000));
        assert!(buf.next(&mut conn).unwrap().is_none());
        assert_eq!(buf.spare(&conn).len(), wire.len()); // all room again, from the front
        buf.shrink();
        assert_eq!(buf.capacity(), 1000);
    }

    #[cfg(feature = "std")]
    #[test]
    fn read_from_a_reader_until_end_of_stream() {
        let wire = client_wire(&[3, 70_000, 0]);
        let mut reader = &wire[..]; // `std::io::Read` for `&[u8]`: hands out what fits
        let mut conn = Connection::server(Config::default().in_place_up_to(1 << 20));
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

    #[test]
    #[should_panic(expected = "beyond the spare room")]
    fn filling_more_than_offered_is_a_driver_bug() {
        let conn = Connection::server(Config::default());
        let mut buf = RecvBuffer::with_read_size(10);
        let _ = buf.spare(&conn);
        buf.filled(11);
    }
}
