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
//! A waiting frame is not a blind spot: its bytes count as traffic for the keepalive timer, and
//! this buffer unmasks and validates text as it arrives, so bad UTF-8 fails the connection by
//! the next read after it arrived (RFC 6455 §8.1), with no byte unmasked or validated twice.
//! That progress ([`TextNote`]) is kept here, beside the bytes it describes, and only this
//! module writes them while it does: the `&str` of the whole frame rests on this file alone.
//!
//! [`Delivery::Assemble`]: crate::Delivery::Assemble
//! [`Delivery::Stream`]: crate::Delivery::Stream

use alloc::vec::Vec;

use crate::connection::Resume;
use crate::frame::{self, Decoded, FrameHeader, OpCode};
use crate::mask::{apply_mask, apply_mask_ascii, Masking};
use crate::utf8::Utf8Validator;
use crate::{Assembly, Connection, Event, Message, ProtocolError};

/// A growable receive buffer that keeps what [`Connection::read`] left unused, with the
/// [`Assembly`] its events borrow (feature `alloc`).
///
/// Events borrow the buffer, never the connection: reply while you hold a message.
///
/// Memory ([`heap_bytes`](Self::heap_bytes)): the bytes that arrived and are not used yet,
/// plus one read. After a message larger than `Config::retain_capacity`, memory beyond it goes
/// back when the buffer is empty and the next read is prepared ([`spare`](Self::spare) or
/// [`read_from`](Self::read_from), where a driver waits), so an idle connection holds at most
/// `read_size` plus twice `retain_capacity` (the buffer and its [`Assembly`]), and nothing after
/// [`release`](Self::release). No allocation happens once it has reached the size the traffic
/// needs.
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
    /// The last read left a frame (or a header) waiting at `start`, or `text` is kept: the
    /// next call looks at it before any read. Always set while `text` is.
    waits: bool,
    /// This buffer's progress with the text frame waiting at `start`.
    text: Option<TextNote>,
    assembly: Assembly,
}

/// What `look_at_waiting` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Nothing for this buffer to check: read on.
    Read,
    /// A text frame, checked so far, still waits.
    NotYet,
    /// A text frame, whole and checked, of this many payload bytes, just before `start`.
    Text(usize),
}

/// How far this buffer got with the text frame waiting at the start of its unused bytes: the
/// first `checked` payload bytes are unmasked in place and `utf8` accepted them. Positions are
/// relative to `start`, so moving the unused bytes to the front keeps the note true.
#[derive(Debug, Clone, Copy)]
struct TextNote {
    header: FrameHeader,
    header_len: usize,
    checked: usize,
    utf8: Utf8Validator,
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
            waits: false,
            text: None,
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
    ///
    /// A text frame waiting here is checked as its bytes arrive, before any event after it:
    /// bad UTF-8 fails the connection (1007, RFC 6455 §8.1) on the first call after the one
    /// that returned `None` with those bytes in the buffer, so at the latest with the next read.
    #[inline(always)]
    pub fn next<'a, M: Masking>(&'a mut self, conn: &mut Connection<M>) -> Result<Option<Event<'a>>, ProtocolError> {
        // The last read left a frame (or a header) waiting at `start`, or a text frame here is
        // checked in part: look at it first. (The look returns a small value, not the event, so
        // that the common path below keeps its event in registers rather than merging it with a
        // call's result in memory.)
        if self.waits {
            match self.look_at_waiting(conn)? {
                Look::Read => {}
                Look::NotYet => return Ok(None),
                Look::Text(len) => {
                    // `look_at_waiting` used the frame: its payload ends at `start`.
                    let payload = &self.buf[self.start - len..self.start];
                    // SAFETY: `Look::Text` comes only from `look_at_waiting`, after the frame's
                    // note accepted all of `payload`, in order, ending at a code point boundary:
                    // `TextNote::check` fed it each byte once unmasked, and nothing wrote these
                    // bytes since. Only this module writes `buf`: while a note is kept, the
                    // connection gets no access to the frame (it sees the decoded header only, in
                    // `resume_waiting_text`), the transport gets only the room after `end`
                    // (`spare`), and moving the unused bytes to the front keeps them unchanged
                    // (`move_to_front`, `shrink`); nothing runs between that check and this.
                    #[allow(unsafe_code)]
                    let text = unsafe { crate::utf8::validated_str(payload) };
                    return Ok(Some(Event::Message(Message::Text(text))));
                }
            }
        }
        let RecvBuffer { buf, start, end, assembly, waits, .. } = self;
        let read = conn.read_keeping_unused(&mut buf[*start..*end], assembly)?;
        *start += read.consumed;
        if read.event.is_none() {
            *waits = conn.wanted() > 0;
        }
        Ok(read.event)
    }

    /// A frame waited at `start` after the last read. Text is this buffer's to check as it
    /// arrives (§8.1); anything else goes back to the connection (`Look::Read`).
    #[cold]
    #[inline(never)]
    fn look_at_waiting<M: Masking>(&mut self, conn: &mut Connection<M>) -> Result<Look, ProtocolError> {
        let mut note = match self.text {
            Some(note) => note,
            None => match frame::decode(&self.buf[self.start..self.end]) {
                Ok(Decoded::Complete(header, header_len)) if header.opcode == OpCode::Text => {
                    TextNote { header, header_len, checked: 0, utf8: Utf8Validator::new() }
                }
                _ => {
                    self.waits = false;
                    return Ok(Look::Read);
                }
            },
        };
        // From here the note is kept only if the frame still waits (`Look::NotYet`).
        (self.text, self.waits) = (None, false);
        let available = self.end - self.start;
        let resume = conn.resume_waiting_text(&note.header, note.header_len, available, &mut self.assembly);
        let payload_start = self.start + note.header_len;
        let frame_end = match resume {
            Ok(Resume::Wait) => self.end,
            Ok(Resume::Whole) => payload_start + note.header.payload_len as usize,
            Ok(Resume::Reread) | Err(_) => {
                // Mask again what this buffer unmasked, so that the connection reads the frame
                // exactly as it arrived.
                if let Some(key) = note.header.mask {
                    apply_mask(&mut self.buf[payload_start..payload_start + note.checked], key, 0);
                }
                resume?;
                return Ok(Look::Read);
            }
        };
        let whole = resume == Ok(Resume::Whole);
        if !note.check(&mut self.buf[payload_start..frame_end]) || whole && !note.utf8.is_complete() {
            return Err(conn.fail_waiting_text());
        }
        if !whole {
            // Kept with `waits`, so that no read reaches these bytes while the note speaks of them.
            (self.text, self.waits) = (Some(note), true);
            return Ok(Look::NotYet);
        }
        self.start = frame_end;
        Ok(Look::Text(frame_end - payload_start))
    }

    /// Everything received was used: start again at the front, and give back what a large
    /// message needed.
    fn idle<M: Masking>(&mut self, conn: &Connection<M>) {
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

    /// Gives back all the memory of a connection gone quiet, for a server that holds many idle
    /// connections (call it when one has had nothing to read for a while, not at every wait:
    /// the next [`spare`](Self::spare) allocates a read again). Returns false, and keeps
    /// everything, while received bytes wait in the buffer (a frame not whole yet); otherwise
    /// the read buffer goes back, and so does the [`Assembly`] unless it holds part of a
    /// fragmented message, which is kept for its next fragment.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, RecvBuffer};
    ///
    /// let conn = Connection::server(Config::default());
    /// let mut buf = RecvBuffer::new();
    /// let _room = buf.spare(&conn); // a read prepared, and nothing came
    /// assert_eq!(buf.heap_bytes(), RecvBuffer::DEFAULT_READ_SIZE);
    /// assert!(buf.release(&conn));
    /// assert_eq!(buf.heap_bytes(), 0);
    /// ```
    pub fn release<M: Masking>(&mut self, conn: &Connection<M>) -> bool {
        // (A text note speaks of bytes still in the buffer: kept with them.)
        if self.start != self.end || self.text.is_some() {
            return false;
        }
        (self.start, self.end, self.offered) = (0, 0, 0);
        self.buf = Vec::new();
        if conn.between_messages() {
            self.assembly.shrink_to(0);
        }
        true
    }

    /// Gives back memory beyond the unused bytes and one read (after a burst of large frames).
    pub fn shrink(&mut self) {
        move_to_front(&mut self.buf, self.start, self.end);
        (self.start, self.end) = (0, self.end - self.start);
        self.offered = 0;
        self.buf.truncate(self.end + self.read_size);
        self.buf.shrink_to_fit();
    }
}

impl TextNote {
    /// Unmasks and validates the payload bytes that arrived since the last check (`payload`:
    /// all of the frame's payload in the buffer so far); false on bytes that can never be UTF-8.
    fn check(&mut self, payload: &mut [u8]) -> bool {
        let Some(new) = payload.get_mut(self.checked..) else { return true };
        let ascii = self.header.mask.is_some_and(|key| apply_mask_ascii(new, key, self.checked));
        // ASCII after a code point boundary needs no validator (as in the connection's paths).
        if !(ascii && self.utf8.is_complete() || self.utf8.feed(new)) {
            return false;
        }
        self.checked = payload.len();
        true
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
mod tests;
