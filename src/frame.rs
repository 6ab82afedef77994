//! Frame headers (RFC 6455 §5.2): a decoder that works on any prefix of the input and an encoder.
//!
//! The decoder is deliberately stateless: [`decode`] reports how many bytes a header needs
//! ([`Decoded::Incomplete`]) and the [`Connection`](crate::Connection) stages at most 14 bytes
//! inline until it has them, so any split of the input works without allocation.

use crate::error::ProtocolError;
use crate::event::MessageKind;

/// The longest possible frame header: 2 fixed bytes, 8 bytes of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest payload a control frame may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest control frame: a 2-byte header, a 4-byte masking key and 125 bytes of payload.
/// [`Connection::poll_transmit`](crate::Connection::poll_transmit) needs this much room.
pub const MAX_CONTROL_FRAME_LEN: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

/// A frame's opcode (RFC 6455 §5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the closing handshake.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// The opcode of a message's first frame (§5.6).
    #[inline]
    pub(crate) const fn starting(kind: MessageKind) -> OpCode {
        match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }

    /// Parses the 4-bit opcode; reserved values (0x3–0x7, 0xB–0xF) are `None` (RFC 6455 §5.2).
    #[inline]
    pub const fn from_u8(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames have the high opcode bit set (RFC 6455 §5.5).
    #[inline]
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A decoded or to-be-encoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of its message.
    pub fin: bool,
    /// RSV1..RSV3 as the low three bits (RSV1 = 0b100); nonzero only with an extension (§5.2).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame (§5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// The result of [`decode`] on a prefix of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole header and the number of bytes it occupied (2..=14).
    Complete(FrameHeader, usize),
    /// Not enough bytes yet; the header needs this many in total (2..=14).
    Incomplete(usize),
}

/// The number of header bytes implied by the first two bytes of a frame (RFC 6455 §5.2).
#[inline]
pub const fn header_len_from_prefix(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// The number of header bytes needed to send a payload of `payload_len` bytes.
#[inline]
pub const fn header_len(payload_len: u64, masked: bool) -> usize {
    let ext = if payload_len < 126 {
        0
    } else if payload_len <= u16::MAX as u64 {
        2
    } else {
        8
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// Decodes a frame header from the start of `buf`.
///
/// Enforces the rules that need no connection context (RFC 6455 §5.2, §5.5): reserved opcodes,
/// the most significant bit of a 64-bit length, and control frames that are fragmented or longer
/// than 125 bytes. RSV bits, masking direction, fragmentation order and size limits depend on the
/// connection and are checked by it.
///
/// ```
/// use wsmachine::frame::{decode, Decoded, OpCode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// let Decoded::Complete(h, n) = decode(&bytes).unwrap() else { panic!() };
/// assert_eq!((h.opcode, h.fin, h.payload_len, n), (OpCode::Text, true, 5, 2));
/// ```
#[inline]
pub fn decode(buf: &[u8]) -> Result<Decoded, ProtocolError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(Decoded::Incomplete(2)),
    };
    let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    if opcode.is_control() {
        // RFC 6455 §5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
        if !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        if len7 > 125 {
            return Err(ProtocolError::ControlFrameTooLong);
        }
    }
    let needed = header_len_from_prefix(b1);
    if buf.len() < needed {
        return Ok(Decoded::Incomplete(needed));
    }
    let (payload_len, mut at) = match len7 {
        126 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(be);
            // RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
            if len >> 63 != 0 {
                return Err(ProtocolError::InvalidLength);
            }
            (len, 10)
        }
        n => (n as u64, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(key)
    } else {
        None
    };
    let header = FrameHeader { fin, rsv: (b0 >> 4) & 0x07, opcode, mask, payload_len };
    Ok(Decoded::Complete(header, at))
}

impl FrameHeader {
    /// The number of bytes [`FrameHeader::encode`] writes.
    #[inline]
    pub const fn encoded_len(&self) -> usize {
        header_len(self.payload_len, self.mask.is_some())
    }

    /// Encodes the header (with the minimal length encoding, §5.2) into `out`, returning its length.
    ///
    /// ```
    /// use wsmachine::frame::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 256 };
    /// let mut out = [0u8; 14];
    /// let n = h.encode(&mut out);
    /// assert_eq!(&out[..n], &[0x82, 0x7E, 0x01, 0x00]); // RFC 6455 §5.7, 256 bytes binary
    /// ```
    #[inline]
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        // Composed in two registers and stored whole: a sender that copies the header out with
        // a few wide loads right after gets them forwarded from these stores, where separate byte
        // stores would make it wait for them to reach the cache (a store-forwarding stall: 1 KiB
        // client sends took about 12 % longer).
        let b0 = (self.fin as u64) << 7 | ((self.rsv & 0x07) as u64) << 4 | self.opcode.as_u8() as u64;
        let b0 = b0 | if self.mask.is_some() { 0x80 << 8 } else { 0 };
        let key = self.mask.map_or(0, |key| u32::from_le_bytes(key) as u64);
        let (lo, hi, at) = if self.payload_len < 126 {
            (b0 | self.payload_len << 8 | key << 16, 0, 2)
        } else if self.payload_len <= u16::MAX as u64 {
            (b0 | 126 << 8 | ((self.payload_len as u16).swap_bytes() as u64) << 16 | key << 32, 0, 4)
        } else {
            // Big-endian length (§5.2): its first six bytes in `lo`, its last two in `hi`.
            let be = self.payload_len.swap_bytes();
            (b0 | 127 << 8 | be << 16, be >> 48 | key << 16, 10)
        };
        out[..8].copy_from_slice(&lo.to_le_bytes());
        out[8..].copy_from_slice(&hi.to_le_bytes()[..MAX_HEADER_LEN - 8]);
        at + if self.mask.is_some() { 4 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> (FrameHeader, usize) {
        match decode(bytes).unwrap() {
            Decoded::Complete(h, n) => (h, n),
            other => panic!("expected a complete header, got {other:?}"),
        }
    }

    #[test]
    fn rfc6455_section_5_7_examples() {
        // Unmasked "Hello".
        let (h, n) = complete(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!((h.fin, h.opcode, h.mask, h.payload_len, n), (true, OpCode::Text, None, 5, 2));
        // Masked "Hello".
        let (h, n) = complete(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        assert_eq!((h.mask, h.payload_len, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 5, 6));
        // Fragmented "Hel" + "lo".
        let (h, _) = complete(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = complete(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        // Unmasked ping "Hello" and masked pong "Hello".
        assert_eq!(complete(&[0x89, 0x05]).0.opcode, OpCode::Ping);
        let (h, n) = complete(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!((h.opcode, n), (OpCode::Pong, 6));
        // 256 bytes and 64 KiB binary.
        assert_eq!(complete(&[0x82, 0x7E, 0x01, 0x00]).0.payload_len, 256);
        let (h, n) = complete(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn encode_matches_rfc_examples() {
        let mut out = [0u8; MAX_HEADER_LEN];
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Text,
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            payload_len: 5,
        };
        let n = h.encode(&mut out);
        assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 65536 };
        let n = h.encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(n, h.encoded_len());
    }

    #[test]
    fn incomplete_reports_the_needed_length() {
        assert_eq!(decode(&[]).unwrap(), Decoded::Incomplete(2));
        assert_eq!(decode(&[0x82]).unwrap(), Decoded::Incomplete(2));
        assert_eq!(decode(&[0x82, 0xFF]).unwrap(), Decoded::Incomplete(14));
        assert_eq!(decode(&[0x82, 0xFE, 0]).unwrap(), Decoded::Incomplete(8));
        assert_eq!(decode(&[0x82, 0x7E, 0]).unwrap(), Decoded::Incomplete(4));
    }

    #[test]
    fn rejects_what_rfc_forbids() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(decode(&[0x80 | op, 0]), Err(ProtocolError::ReservedOpcode(op)));
        }
        assert_eq!(decode(&[0x09, 0]), Err(ProtocolError::FragmentedControlFrame));
        assert_eq!(decode(&[0x89, 126]), Err(ProtocolError::ControlFrameTooLong));
        assert_eq!(decode(&[0x88, 127]), Err(ProtocolError::ControlFrameTooLong));
        assert_eq!(decode(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(ProtocolError::InvalidLength));
        // A 125-byte ping is fine.
        assert!(decode(&[0x89, 125]).is_ok());
    }

    #[test]
    fn header_len_is_minimal() {
        assert_eq!(header_len(125, false), 2);
        assert_eq!(header_len(126, false), 4);
        assert_eq!(header_len(65535, true), 8);
        assert_eq!(header_len(65536, true), 14);
        for b1 in 0..=255u8 {
            let n = header_len_from_prefix(b1);
            assert!((2..=MAX_HEADER_LEN).contains(&n));
        }
    }

    /// The register-composed encoding writes the bytes a field-by-field encoding writes (§5.2:
    /// FIN, RSV, opcode, mask bit, minimal length, big-endian extended length, key), and
    /// decodes back to the same header, for every length class and its edges.
    #[test]
    fn encode_writes_each_field_where_section_5_2_puts_it() {
        let lens = [0, 1, 125, 126, 127, 255, 256, 65535, 65536, 0x0102_0304_0506, (1 << 63) - 1];
        for payload_len in lens {
            for mask in [None, Some([0x37, 0xfa, 0x21, 0x3d])] {
                for (fin, rsv, opcode) in
                    [(true, 0, OpCode::Binary), (false, 0b101, OpCode::Text), (true, 7, OpCode::Ping)]
                {
                    let h = FrameHeader { fin, rsv, opcode, mask, payload_len };
                    let mut out = [0u8; MAX_HEADER_LEN];
                    let n = h.encode(&mut out);
                    // The fields one after another into a fixed array (no heap: this runs without
                    // `alloc` too).
                    let (mut expected, mut e) = ([0u8; MAX_HEADER_LEN], 0);
                    let mut put = |bytes: &[u8]| {
                        expected[e..e + bytes.len()].copy_from_slice(bytes);
                        e += bytes.len();
                    };
                    put(&[(fin as u8) << 7 | rsv << 4 | opcode.as_u8()]);
                    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
                    if payload_len < 126 {
                        put(&[mask_bit | payload_len as u8]);
                    } else if payload_len <= 0xffff {
                        put(&[mask_bit | 126]);
                        put(&(payload_len as u16).to_be_bytes());
                    } else {
                        put(&[mask_bit | 127]);
                        put(&payload_len.to_be_bytes());
                    }
                    if let Some(key) = mask {
                        put(&key);
                    }
                    let expected = &expected[..e];
                    assert_eq!(&out[..n], expected, "{h:?}");
                    assert_eq!(n, h.encoded_len());
                    // A control frame longer than 125 bytes is refused by decode (§5.5).
                    if opcode != OpCode::Ping || payload_len < 126 {
                        assert_eq!(complete(&out[..n]), (h, n));
                    }
                }
            }
        }
    }
}
