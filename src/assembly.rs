//! Caller-owned memory for what is not whole in the input: a control frame split across reads,
//! the fragments of a message, inflated bytes.
//!
//! It lives outside the [`Connection`](crate::Connection) on purpose: events borrow it (and the
//! input) but never the connection, so the connection stays free to send while you hold a
//! message, and an echo is `conn.send_text(text, &mut out)` with no copy.
//!
//! Soundness of the one `unsafe` here ([`Assembly::message`]) is argued from this file alone:
//! the assembled bytes are private and only [`Assembly::push`] writes them, feeding every byte
//! it writes to the assembly's own UTF-8 validator in order.

use crate::frame::MAX_CONTROL_PAYLOAD;
#[cfg(feature = "alloc")]
use crate::{event::Message, utf8::Utf8Validator};

/// Where a [`Connection`](crate::Connection) puts together what your input does not hold
/// whole. Give every connection its own (a [`RecvBuffer`](crate::RecvBuffer) has one inside).
///
/// Without `alloc` it is 126 bytes inline: a control frame (≤ 125 bytes, RFC 6455 §5.5) split
/// across reads waits here. With `alloc` it also assembles fragmented or split messages
/// ([`Delivery::Assemble`](crate::Delivery::Assemble)) and holds inflated bytes
/// (permessage-deflate); its heap ([`heap_bytes`](Self::heap_bytes)) grows only with bytes
/// that arrived, and shrinks back to `Config::retain_capacity` once a larger message is done.
#[derive(Clone)]
pub struct Assembly {
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    /// The message is `bytes[..len]`; bytes past it are left from earlier messages, kept
    /// initialised so payload is unmasked straight into them with no zero-filling.
    #[cfg(feature = "alloc")]
    bytes: alloc::vec::Vec<u8>,
    #[cfg(feature = "alloc")]
    len: usize,
    /// Accepted exactly `bytes[..len]`, in order, while `checked` holds.
    #[cfg(feature = "alloc")]
    utf8: Utf8Validator,
    /// Every byte of `bytes[..len]` went through `push`, so `utf8` speaks of all of them.
    #[cfg(feature = "alloc")]
    checked: bool,
}

impl Default for Assembly {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Assembly {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Assembly");
        d.field("control_len", &self.control_len);
        #[cfg(feature = "alloc")]
        d.field("len", &self.len).field("capacity", &self.bytes.capacity());
        d.finish()
    }
}

impl Assembly {
    /// An empty assembly; it allocates nothing until a message needs it.
    pub const fn new() -> Self {
        Assembly {
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            #[cfg(feature = "alloc")]
            bytes: alloc::vec::Vec::new(),
            #[cfg(feature = "alloc")]
            len: 0,
            #[cfg(feature = "alloc")]
            utf8: Utf8Validator::new(),
            #[cfg(feature = "alloc")]
            checked: true,
        }
    }

    /// Heap bytes held (0 without `alloc`, and after [`release`](Self::release)).
    pub fn heap_bytes(&self) -> usize {
        #[cfg(feature = "alloc")]
        return self.bytes.capacity();
        #[cfg(not(feature = "alloc"))]
        0
    }

    /// Gives the heap back, whatever it holds: for an idle connection whose memory you would
    /// rather free than keep for the next large message. A message in progress is lost, so
    /// call it only between messages (the connection's `read` keeps it small by itself).
    pub fn release(&mut self) {
        #[cfg(feature = "alloc")]
        {
            self.bytes = alloc::vec::Vec::new();
            self.len = 0;
            self.utf8.reset();
            self.checked = true;
        }
    }

    /// Hands the assembly a buffer to put the next message together in, such as one that
    /// [`Connection::take_message`](crate::Connection::take_message) gave you and you have
    /// written out: a connection that forwards large messages then reuses two buffers instead
    /// of faulting in fresh pages for each message. Adopted (emptied) only if larger than what
    /// the assembly holds and no byte of a message is in it yet; dropped otherwise. Capacity
    /// beyond `Config::retain_capacity` still goes back between messages.
    #[cfg(feature = "alloc")]
    pub fn recycle(&mut self, mut buf: alloc::vec::Vec<u8>) {
        if self.len == 0 && buf.capacity() > self.bytes.capacity() {
            buf.clear();
            self.bytes = buf;
        }
    }

    /// Gives back heap beyond `keep` bytes, or beyond the part of a message it holds, whichever
    /// is more: for a driver that keeps large buffers while a connection is busy (a high
    /// `Config::retain_capacity`) and trims them when it goes quiet. Unlike
    /// [`release`](Self::release), no message in progress is lost.
    pub fn trim(&mut self, keep: usize) {
        #[cfg(feature = "alloc")]
        {
            let keep = keep.max(self.len);
            if self.bytes.capacity() > keep {
                self.bytes.truncate(keep);
                self.bytes.shrink_to(keep);
            }
        }
        #[cfg(not(feature = "alloc"))]
        let _ = keep;
    }

    // Control frames --------------------------------------------------------------------------

    pub(crate) fn begin_control(&mut self) {
        self.control_len = 0;
    }

    /// Appends up to what the control frame of `total` bytes still misses; returns the bytes taken.
    pub(crate) fn push_control(&mut self, src: &[u8], total: usize) -> usize {
        let have = self.control_len as usize;
        let take = (total - have).min(src.len());
        self.control[have..have + take].copy_from_slice(&src[..take]);
        self.control_len += take as u8;
        take
    }

    pub(crate) fn control_len(&self) -> usize {
        self.control_len as usize
    }

    pub(crate) fn control_mut(&mut self) -> &mut [u8] {
        &mut self.control[..self.control_len as usize]
    }

    pub(crate) fn control(&self) -> &[u8] {
        &self.control[..self.control_len as usize]
    }
}

#[cfg(feature = "alloc")]
impl Assembly {
    /// Starts a new message; memory past `retain` from a larger earlier message is given back.
    pub(crate) fn begin(&mut self, retain: usize) {
        self.shrink_to(retain);
    }

    /// Between messages (the last one's event is gone): forgets it and gives back capacity
    /// beyond `retain`.
    pub(crate) fn shrink_to(&mut self, retain: usize) {
        self.len = 0;
        self.checked = true;
        self.utf8.reset();
        if self.bytes.capacity() > retain {
            self.bytes.clear();
            self.bytes.shrink_to(retain);
        }
    }

    /// Appends a piece of payload, unmasking it with `key` (already rotated to the piece's
    /// offset); for text, validates it as it lands (RFC 6455 §8.1, failing fast). Returns
    /// false on invalid UTF-8.
    #[inline]
    pub(crate) fn push(&mut self, src: &[u8], key: Option<[u8; 4]>, text: bool) -> bool {
        let at = self.len;
        let n = src.len();
        if self.bytes.len() < at + n {
            if !text {
                self.grow_binary(src, key);
                return true;
            }
            self.bytes.resize(at + n, 0);
        }
        self.len = at + n;
        let target = &mut self.bytes[at..at + n];
        let ascii = match key {
            Some(key) if text => crate::mask::copy_masked_ascii(src, target, key),
            Some(key) => {
                crate::mask::copy_masked(src, target, key);
                false
            }
            None => {
                crate::mask::copy_payload(target, src);
                false
            }
        };
        // ASCII after a code point boundary keeps the validator where it is.
        !text || (ascii && self.utf8.is_complete()) || self.utf8.feed(target)
    }

    /// [`push`](Self::push) of binary past what earlier messages left: straight into the spare
    /// capacity, unmasked as it is copied, with no zero-fill first (a large message's fresh pages
    /// were written twice, and the zero-fill took their page faults). Out of line: messages
    /// that fit the buffer never come here.
    #[cold]
    #[inline(never)]
    fn grow_binary(&mut self, src: &[u8], key: Option<[u8; 4]>) {
        self.bytes.truncate(self.len);
        match key {
            Some(key) => crate::mask::extend_frame_masked::<0>(&mut self.bytes, &[], 0, src, key),
            None => crate::mask::extend_frame::<0>(&mut self.bytes, &[], 0, src),
        }
        self.len = self.bytes.len();
    }

    /// Hands over the assembled bytes (see `Connection::take_message`), leaving the assembly
    /// empty, as after [`release`](Self::release). The `Vec` holds the message and no more
    /// (growth by doubling, while inflating, can leave up to twice its size), so that what the
    /// driver then counts is the message.
    pub(crate) fn take(&mut self) -> alloc::vec::Vec<u8> {
        let mut bytes = core::mem::take(&mut self.bytes);
        bytes.truncate(self.len);
        bytes.shrink_to_fit();
        self.release();
        bytes
    }

    /// Whether the text pushed so far ends at a code point boundary.
    pub(crate) fn utf8_complete(&self) -> bool {
        self.utf8.is_complete()
    }

    /// Lends the message's bytes to an inflater that appends to them. Appended bytes are not
    /// known to this file's validator, so a text message that took this path is validated
    /// again by [`message`](Self::message).
    #[cfg(feature = "deflate")]
    pub(crate) fn append_with<R>(&mut self, f: impl FnOnce(&mut alloc::vec::Vec<u8>) -> R) -> R {
        self.bytes.truncate(self.len);
        let r = f(&mut self.bytes);
        self.len = self.bytes.len();
        self.checked = false;
        r
    }

    /// Lends the bytes for one streamed chunk of inflated output (the message is not kept).
    #[cfg(feature = "deflate")]
    pub(crate) fn chunk_with<R>(&mut self, f: impl FnOnce(&mut alloc::vec::Vec<u8>) -> R) -> R {
        self.bytes.clear();
        let r = f(&mut self.bytes);
        self.len = 0;
        self.checked = false;
        r
    }

    /// The last streamed chunk (see [`chunk_with`](Self::chunk_with)).
    #[cfg(feature = "deflate")]
    pub(crate) fn chunk(&self) -> &[u8] {
        &self.bytes
    }

    /// The assembled message; `None` if a text message is not UTF-8.
    pub(crate) fn message(&self, kind: crate::MessageKind) -> Option<Message<'_>> {
        let bytes = &self.bytes[..self.len];
        match kind {
            crate::MessageKind::Binary => Some(Message::Binary(bytes)),
            crate::MessageKind::Text if self.checked && self.utf8.is_complete() => {
                // SAFETY: while `checked` holds, every byte of `bytes[..len]` was written by
                // `push`, which fed it (or saw it to be ASCII after a code point boundary) to
                // `self.utf8` in order; `utf8` accepted all of them and ends at a boundary, so
                // `bytes` is valid UTF-8. `bytes`, `len`, `utf8` and `checked` are private to
                // this file, and `begin`, `release` and `take` (through `release`) reset them
                // together; `recycle` replaces `bytes` only while `len` is 0, and `trim` keeps
                // `bytes[..len]`.
                #[allow(unsafe_code)]
                Some(Message::Text(unsafe { crate::utf8::validated_str(bytes) }))
            }
            crate::MessageKind::Text => core::str::from_utf8(bytes).ok().map(Message::Text),
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::MessageKind;

    #[test]
    fn pushed_text_is_checked_as_it_lands() {
        let mut a = Assembly::new();
        a.begin(0);
        let text = "héllo wörld".as_bytes();
        let key = [1, 2, 3, 4];
        let mut masked = text.to_vec();
        crate::mask::apply_mask(&mut masked, key, 0);
        let (first, second) = masked.split_at(2); // cut inside 'é'
        assert!(a.push(first, Some(key), true));
        assert!(!a.utf8_complete());
        assert!(a.push(second, Some(crate::mask::rotate(key, 2)), true));
        assert_eq!(a.message(MessageKind::Text), Some(Message::Text("héllo wörld")));
        a.begin(0);
        assert!(!a.push(&[0xFF], None, true));
    }

    #[test]
    fn binary_pieces_land_unmasked_whether_the_buffer_grows_or_not() {
        // Pieces cut at every key phase, masked and not, in messages that first grow the buffer
        // (written into its spare capacity), then fit in what an earlier message left (written
        // over it), then grow it again past that; the same bytes either way.
        let data: alloc::vec::Vec<u8> = (0..5000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let key = [0x9A, 0x01, 0xFE, 0x42];
        let mut masked = data.clone();
        crate::mask::apply_mask(&mut masked, key, 0);
        let mut a = Assembly::new();
        for (len, cut) in [(3000, 1), (1000, 2), (5000, 3), (5000, 4), (4999, 1021)] {
            for (src, key) in [(&masked, Some(key)), (&data, None)] {
                a.begin(usize::MAX);
                let mut at = 0;
                while at < len {
                    let n = cut.min(len - at).max(1) + at % 5;
                    let n = n.min(len - at);
                    assert!(a.push(&src[at..at + n], key.map(|k| crate::mask::rotate(k, at)), false));
                    at += n;
                }
                assert_eq!(a.message(MessageKind::Binary), Some(Message::Binary(&data[..len])), "{len} by {cut}");
            }
        }
    }

    #[test]
    fn capacity_beyond_retain_is_given_back_between_messages() {
        let mut a = Assembly::new();
        a.begin(1024);
        assert!(a.push(&[7; 100_000], None, false));
        assert!(a.heap_bytes() >= 100_000);
        a.begin(1024);
        assert!(a.heap_bytes() <= 1024);
        assert!(a.push(&[7; 10], None, false));
        assert_eq!(a.message(MessageKind::Binary), Some(Message::Binary(&[7; 10])));
        a.release();
        assert_eq!(a.heap_bytes(), 0);
    }

    #[test]
    fn a_recycled_buffer_is_reused_only_when_nothing_is_assembled() {
        let mut a = Assembly::new();
        a.begin(usize::MAX);
        let mut stale = alloc::vec::Vec::with_capacity(10_000);
        stale.extend_from_slice(&[0xEE; 6000]); // what the buffer held before: never seen again
        a.recycle(stale);
        assert_eq!(a.heap_bytes(), 10_000);
        let key = [9, 8, 7, 6];
        let data: alloc::vec::Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        let mut masked = data.clone();
        crate::mask::apply_mask(&mut masked, key, 0);
        assert!(a.push(&masked[..1234], Some(key), false));
        // Bytes of a message are in it: a buffer handed over now is dropped, whatever its size.
        a.recycle(alloc::vec::Vec::with_capacity(1 << 20));
        assert!(a.push(&masked[1234..], Some(crate::mask::rotate(key, 1234)), false));
        assert_eq!(a.message(MessageKind::Binary), Some(Message::Binary(&data[..])));
        assert_eq!(a.heap_bytes(), 10_000, "no reallocation: the recycled capacity was enough");
        let taken = a.take();
        assert_eq!(taken, data);
        // A smaller buffer than the one held is dropped; text lands in a recycled one too.
        a.begin(usize::MAX);
        a.recycle(taken);
        a.recycle(alloc::vec::Vec::with_capacity(16));
        assert_eq!(a.heap_bytes(), 5000);
        assert!(a.push("déjà vu".as_bytes(), None, true));
        assert_eq!(a.message(MessageKind::Text), Some(Message::Text("déjà vu")));
    }

    #[test]
    fn trim_gives_back_capacity_but_never_the_message_in_progress() {
        let mut a = Assembly::new();
        a.begin(usize::MAX);
        assert!(a.push(&[1; 100_000], None, false));
        a.begin(usize::MAX); // between messages: the capacity stays
        assert!(a.heap_bytes() >= 100_000);
        assert!(a.push(&[2; 3000], None, false));
        a.trim(1024); // a message of 3000 bytes is in progress
        assert!((3000..100_000).contains(&a.heap_bytes()), "{}", a.heap_bytes());
        assert!(a.push(&[3; 10], None, false));
        let mut want = alloc::vec![2; 3000];
        want.extend_from_slice(&[3; 10]);
        assert_eq!(a.message(MessageKind::Binary), Some(Message::Binary(&want[..])));
        a.begin(usize::MAX);
        a.trim(1024);
        assert!(a.heap_bytes() <= 1024);
        a.trim(0);
        assert_eq!(a.heap_bytes(), 0);
    }

    #[test]
    fn text_is_a_message_only_when_whole_and_checked() {
        // An unfinished code point: not a message (the caller fails the connection, 1007).
        let mut a = Assembly::new();
        a.begin(0);
        assert!(a.push(&[b'a', 0xC3], None, true));
        assert_eq!(a.message(MessageKind::Text), None);
        // Bytes an inflater appended are not known to the validator: checked again.
        #[cfg(feature = "deflate")]
        {
            a.begin(0);
            a.append_with(|v| v.extend_from_slice(&[b'a', 0xFF]));
            assert_eq!(a.message(MessageKind::Text), None);
            a.begin(0);
            a.append_with(|v| v.extend_from_slice("ok".as_bytes()));
            assert_eq!(a.message(MessageKind::Text), Some(Message::Text("ok")));
        }
    }

    #[test]
    fn debug_shows_what_it_holds() {
        let mut a = Assembly::new();
        a.begin(0);
        assert!(a.push(b"abc", None, false));
        let shown = alloc::format!("{a:?}");
        assert!(shown.starts_with("Assembly {") && shown.contains("len: 3"), "{shown}");
    }

    #[test]
    fn a_control_frame_waits_inline() {
        let mut a = Assembly::new();
        a.begin_control();
        assert_eq!(a.push_control(b"pi", 4), 2);
        assert_eq!(a.push_control(b"ng and more", 4), 2);
        assert_eq!(a.control(), b"ping");
    }
}
