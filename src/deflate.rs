//! permessage-deflate (RFC 7692): negotiation and the per-message codec (feature `deflate`, which implies `std`).
//!
//! The [`Connection`](crate::Connection) knows nothing about DEFLATE: it hands the payload of a
//! message whose first frame has RSV1 set to the codec's inflater and asks its compressor
//! for outgoing messages. Inflation is streamed in bounded steps and checked against the
//! inflated-size limit as it goes, so a compression bomb costs at most `max_message_len` bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use crate::error::ProtocolError;
use crate::handshake::Extension;
use crate::utf8::Utf8Validator;

/// The extension token (RFC 7692 §7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The tail a sender strips from every compressed message and a receiver appends (§7.2.1–2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How much inflated output one step may produce (bounds memory per `read` in stream mode).
const STEP: usize = 16 * 1024;

/// What this end asks for and accepts when negotiating (RFC 7692 §7.1).
///
/// ```
/// use wsmachine::deflate::DeflateConfig;
/// let cfg = DeflateConfig::new();
/// // A browser's offer: `permessage-deflate; client_max_window_bits`.
/// let params = cfg.accept_offer([("client_max_window_bits", None)]).unwrap();
/// assert_eq!(params.response(), "permessage-deflate");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Compression level 0–9. Default 1: most of the gain at a fraction of level 6's cost.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RSV1 clear); all others are compressed
    /// (but see [`min_compress_len_no_context`](Self::min_compress_len_no_context)), even when
    /// that does not make them smaller, so that the peer sees one predictable behaviour.
    /// Default 0 (compress everything).
    pub min_compress_len: usize,
    /// When this end takes no context over (its compressor starts every message afresh, RFC
    /// 7692 §7.1.1), messages shorter than this are sent uncompressed too (RSV1 clear: §6 lets
    /// the sender choose per message). A message compressed on its own has no history to match,
    /// so a short one gains little or grows, while each compressed message pays for a fresh
    /// compressor state (zlib-rs clears its 128 KiB hash table, about 3 µs, against 0.1 µs for
    /// a plain echo). Measured at level 1 on English text, chat-like JSON and random letters:
    /// up to 24 B every one grows (by 2 bytes), at 32 B most do, 64–96 B of JSON shrinks 7–9 %,
    /// and from 128 B the texts shrink 21–45 % (random letters never do): **128** is the value
    /// to set for such peers. Default 0 (compress everything, as before), because some peers
    /// mishandle uncompressed messages on a compressed connection: the Autobahn runner
    /// kosoku 0.1.0 fails cases 13.2.1/2 and 13.5–13.7.1/2 on uncompressed text (browsers and
    /// Node's `ws`, whose own default sends messages under 1 KiB uncompressed, take them). With
    /// context takeover only `min_compress_len` applies: short messages then match earlier ones
    /// (a 105 B JSON message after similar ones compresses to 15 B) and the compressor is kept.
    pub min_compress_len_no_context: usize,
    /// The largest LZ77 window (2^bits bytes) this end will compress with, 8–15. Default 15.
    pub local_max_window_bits: u8,
    /// The largest window this end asks the peer to compress with, 8–15. Default 15.
    pub remote_max_window_bits: u8,
    /// Reset this end's compressor after every message (saves 2^bits bytes between messages).
    pub local_no_context_takeover: bool,
    /// Ask the peer to reset its compressor after every message, so that this end's inflater
    /// holds no window between messages.
    pub remote_no_context_takeover: bool,
    /// Refuse a message whose inflated size exceeds this multiple of its compressed size plus
    /// 64 KiB (`None`: only `max_message_len` applies).
    pub max_ratio: Option<u32>,
}

impl DeflateConfig {
    /// The defaults: full windows, context takeover both ways, level 1, no ratio cap, every
    /// message compressed.
    pub const fn new() -> Self {
        DeflateConfig {
            level: 1,
            min_compress_len: 0,
            min_compress_len_no_context: 0,
            local_max_window_bits: 15,
            remote_max_window_bits: 15,
            local_no_context_takeover: false,
            remote_no_context_takeover: false,
            max_ratio: None,
        }
    }

    /// Sets the compression level (0–9).
    pub const fn level(mut self, level: u32) -> Self {
        self.level = if level > 9 { 9 } else { level };
        self
    }

    /// Sets [`min_compress_len`](Self::min_compress_len).
    pub const fn min_compress_len(mut self, bytes: usize) -> Self {
        self.min_compress_len = bytes;
        self
    }

    /// Sets [`min_compress_len_no_context`](Self::min_compress_len_no_context).
    pub const fn min_compress_len_no_context(mut self, bytes: usize) -> Self {
        self.min_compress_len_no_context = bytes;
        self
    }

    /// Sets the ratio cap.
    pub const fn max_ratio(mut self, ratio: Option<u32>) -> Self {
        self.max_ratio = ratio;
        self
    }

    /// Sets both no-context-takeover flags (no window kept between messages on either side).
    pub const fn no_context_takeover(mut self, on: bool) -> Self {
        self.local_no_context_takeover = on;
        self.remote_no_context_takeover = on;
        self
    }

    /// Sets both window limits (8–15; out-of-range values are clamped).
    pub const fn max_window_bits(mut self, bits: u8) -> Self {
        let bits = if bits < 8 {
            8
        } else if bits > 15 {
            15
        } else {
            bits
        };
        self.local_max_window_bits = bits;
        self.remote_max_window_bits = bits;
        self
    }

    /// Server side: decides on one `permessage-deflate` offer's parameters (§7.1). `None` when
    /// the offer must be declined (unknown, duplicated or invalid parameters); try the next.
    pub fn accept_offer<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Option<DeflateParams> {
        let offer = Offer::parse(params)?;
        // §7.1.2.1: answer with a server window no larger than the client asked for.
        let server_bits = offer.server_max_window_bits.unwrap_or(15).min(self.local_max_window_bits);
        // §7.1.2.2: a client window limit may be sent only if the client offered the parameter.
        let client_bits =
            offer.client_max_window_bits.map(|limit| limit.unwrap_or(15).min(self.remote_max_window_bits));
        Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover || self.local_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover || self.remote_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits.unwrap_or(15),
            client_bits_in_response: client_bits.is_some_and(|b| b < 15),
            config: *self,
        })
    }

    /// Server side: picks the first acceptable `permessage-deflate` offer among a request's
    /// extensions, in the client's order of preference (RFC 7692 §5, §7.1), e.g. from
    /// [`Incoming::extensions`](crate::handshake::server::Incoming::extensions).
    pub fn negotiate<'a>(&self, offers: impl IntoIterator<Item = Extension<'a>>) -> Option<DeflateParams> {
        offers
            .into_iter()
            .filter(|ext| ext.name().eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|ext| self.accept_offer(ext.params()))
    }

    /// Client side: checks the extensions a server accepted (e.g.
    /// [`Accepted::extensions`](crate::handshake::client::Accepted::extensions)). `Ok(None)`
    /// when the server did not accept permessage-deflate; `Err` when its answer is invalid or
    /// names it twice, and the client must fail the connection.
    pub fn negotiated<'a>(
        &self,
        accepted: impl IntoIterator<Item = Extension<'a>>,
    ) -> Result<Option<DeflateParams>, NegotiationError> {
        let mut found = None;
        for ext in accepted {
            if !ext.name().eq_ignore_ascii_case(EXTENSION_NAME) || found.is_some() {
                return Err(NegotiationError);
            }
            found = Some(self.accept_response(ext.params())?);
        }
        Ok(found)
    }

    /// Client side: the `Sec-WebSocket-Extensions` offer value.
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.local_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.remote_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.remote_max_window_bits < 15 {
            let _ = write!(s, "; server_max_window_bits={}", self.remote_max_window_bits);
        }
        // Always say that this client can limit its window (§7.1.2.2).
        match self.local_max_window_bits {
            15 => s.push_str("; client_max_window_bits"),
            bits => {
                let _ = write!(s, "; client_max_window_bits={bits}");
            }
        }
        s
    }

    /// Client side: validates the server's answer to [`offer`](Self::offer) (§7.1). An `Err`
    /// means the client must fail the connection (RFC 6455 §4.1).
    pub fn accept_response<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<DeflateParams, NegotiationError> {
        let answer = Offer::parse(params).ok_or(NegotiationError)?;
        let server_bits = answer.server_max_window_bits.unwrap_or(15);
        // The server may not use a larger window than the client asked for.
        if server_bits > self.remote_max_window_bits {
            return Err(NegotiationError);
        }
        if self.remote_no_context_takeover && !answer.server_no_context_takeover {
            return Err(NegotiationError);
        }
        let client_bits = match answer.client_max_window_bits {
            Some(Some(bits)) => bits,
            // A value is required in a response (§7.1.2.2).
            Some(None) => return Err(NegotiationError),
            None => 15,
        };
        Ok(DeflateParams {
            server_no_context_takeover: answer.server_no_context_takeover,
            client_no_context_takeover: answer.client_no_context_takeover || self.local_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits.min(self.local_max_window_bits),
            client_bits_in_response: false,
            config: *self,
        })
    }
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The server's answer or client's validated view of a negotiation failed (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegotiationError;

impl core::fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid permessage-deflate parameters")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NegotiationError {}

/// One offer's (or response's) parameters, checked for validity and duplicates (§7.1).
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<Option<u8>>,
}

impl Offer {
    fn parse<'a>(params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Option<Offer> {
        let mut o = Offer::default();
        // RFC 7692 §7.1.2.1, §7.1.2.2: a decimal 8..=15 "without leading zeroes" (so no sign,
        // no `09`); the parameter parser has already taken off any quotes (RFC 6455 §9.1).
        let bits = |v: &str| match *v.as_bytes() {
            [d @ b'8'..=b'9'] => Some(d - b'0'),
            [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
            _ => None,
        };
        for (name, value) in params {
            match (name.to_ascii_lowercase().as_str(), value) {
                ("server_no_context_takeover", None) if !o.server_no_context_takeover => {
                    o.server_no_context_takeover = true
                }
                ("client_no_context_takeover", None) if !o.client_no_context_takeover => {
                    o.client_no_context_takeover = true
                }
                ("server_max_window_bits", Some(v)) if o.server_max_window_bits.is_none() => {
                    o.server_max_window_bits = Some(bits(v)?)
                }
                ("client_max_window_bits", v) if o.client_max_window_bits.is_none() => {
                    o.client_max_window_bits = Some(match v {
                        Some(v) => Some(bits(v)?),
                        None => None,
                    })
                }
                // Unknown, duplicated or malformed: decline (§7.1).
                _ => return None,
            }
        }
        Some(o)
    }
}

/// Agreed permessage-deflate parameters, ready to be turned into a codec for a connection with
/// [`Connection::with_deflate`](crate::Connection::with_deflate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compression window (bits).
    pub server_max_window_bits: u8,
    /// The client's compression window (bits).
    pub client_max_window_bits: u8,
    client_bits_in_response: bool,
    config: DeflateConfig,
}

impl DeflateParams {
    /// The server's `Sec-WebSocket-Extensions` response value (§7.1).
    pub fn response(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            let _ = write!(s, "; server_max_window_bits={}", self.server_max_window_bits);
        }
        if self.client_bits_in_response {
            let _ = write!(s, "; client_max_window_bits={}", self.client_max_window_bits);
        }
        s
    }

    pub(crate) fn codec(&self, is_server: bool) -> Codec {
        let (local_bits, local_reset, remote_bits, remote_reset) = if is_server {
            (
                self.server_max_window_bits,
                self.server_no_context_takeover,
                self.client_max_window_bits,
                self.client_no_context_takeover,
            )
        } else {
            (
                self.client_max_window_bits,
                self.client_no_context_takeover,
                self.server_max_window_bits,
                self.server_no_context_takeover,
            )
        };
        Codec::new(&self.config, local_bits, local_reset, remote_bits, remote_reset)
    }
}

/// The per-connection DEFLATE state: one compressor, one inflater, one scratch buffer.
///
/// The zlib states are created on first use. When a side takes no context over (RFC 7692
/// §7.1.1) its state holds nothing worth keeping between messages, yet creating one costs far
/// more than a small message (zlib-rs zeroes about 290 KiB for a compressor and 46 KiB for an
/// inflater: 5.2 µs and 0.3 µs here, against 0.06 µs for a whole uncompressed echo). So a state
/// is kept, and `reset` between messages (§7.1.1.1, §7.1.1.2), while the connection is busy,
/// and released when it runs out of input ([`release_idle`](Self::release_idle), called by
/// the read that returns no event): messages pipelined in one read share one state, and an
/// idle connection holds none.
pub(crate) struct Codec {
    inflater: Option<Decompress>,
    inflate_bits: u8,
    reset_inflater: bool,
    compressor: Option<Compress>,
    compress_bits: u8,
    level: u32,
    reset_compressor: bool,
    /// The compressor holds the last message's history, which the next message may not use
    /// (no context takeover, a failed compression, or the 8-bit window's pieces): reset it before
    /// the next message. Left to then because zlib-rs's reset clears a 128 KiB hash table, which
    /// is wasted when the state is released first.
    compressor_stale: bool,
    /// The connection's count of bytes received at the last read that ran out of input: while
    /// the count is still there, no read is under way, so nothing will release a compressor
    /// kept after a send, and the send releases it itself.
    idle_at: u64,
    /// zlib cannot compress raw DEFLATE with a 256-byte window; with window bits 8 the input is
    /// cut into 256-byte pieces with a full flush between them, so no match reaches back further.
    tiny_window: bool,
    pub(crate) min_compress_len: usize,
    max_ratio: Option<u32>,
    /// Inflated output in stream mode; compressed output when sending.
    pub(crate) scratch: Vec<u8>,
    tail_fed: u8,
    stream_ended: bool,
    compressed_in: u64,
    inflated_out: u64,
}

impl Codec {
    fn new(cfg: &DeflateConfig, local_bits: u8, local_reset: bool, remote_bits: u8, remote_reset: bool) -> Codec {
        Codec {
            // A larger window inflates anything a smaller one produced; zlib's minimum is 9.
            inflater: None,
            inflate_bits: remote_bits.clamp(9, 15),
            reset_inflater: remote_reset,
            compressor: None,
            compress_bits: local_bits.clamp(9, 15),
            level: cfg.level,
            reset_compressor: local_reset,
            compressor_stale: false,
            idle_at: 0,
            tiny_window: local_bits <= 8,
            min_compress_len: if local_reset {
                cfg.min_compress_len.max(cfg.min_compress_len_no_context)
            } else {
                cfg.min_compress_len
            },
            max_ratio: cfg.max_ratio,
            scratch: Vec::new(),
            tail_fed: 0,
            stream_ended: false,
            compressed_in: 0,
            inflated_out: 0,
        }
    }

    /// Inflates `input` (a piece of the compressed payload) into `out`, at most `limit` bytes in
    /// total in `out` and at most `STEP` new bytes when `bounded`. With `last`, the §7.2.2 tail
    /// follows the input. Returns (input bytes used, message finished).
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: u64,
        bounded: bool,
        mut text: Option<&mut Utf8Validator>,
    ) -> Result<(usize, bool), ProtocolError> {
        let start_len = out.len();
        let mut used = 0;
        // Output room per step: a guess from the input size, doubled while the inflater fills it,
        // so a small message does not pay for zero-filling a whole STEP.
        let mut step = (input.len().saturating_mul(4)).clamp(256, STEP);
        loop {
            let room = if bounded { STEP - (out.len() - start_len) } else { STEP };
            if room == 0 {
                return Ok((used, false));
            }
            // Room for one byte past the limit so that crossing it is seen, never more.
            let cap = (limit.saturating_add(1).saturating_sub(out.len() as u64)).min(room.min(step) as u64) as usize;
            let feeding_tail = used == input.len() && last;
            let (src, flush): (&[u8], _) = if feeding_tail {
                (&TAIL[self.tail_fed as usize..], FlushDecompress::Sync)
            } else {
                (&input[used..], FlushDecompress::None)
            };
            let bits = self.inflate_bits;
            let inflater = self.inflater.get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
            let in_before = inflater.total_in();
            let len = out.len();
            if bounded {
                // A streamed chunk's buffer grows to the chunk it holds, never by doubling past it.
                out.reserve_exact(cap);
            }
            out.resize(len + cap, 0);
            let out_before = inflater.total_out();
            let status = inflater.decompress(src, &mut out[len..], flush);
            let produced = (inflater.total_out() - out_before) as usize;
            out.truncate(len + produced);
            // Judge the output in stream order, so that the error never depends on how the input
            // was split: bytes within the limit first (UTF-8, §8.1), then the limit, then the
            // stream's own validity.
            let within = (limit.saturating_sub(len as u64) as usize).min(produced);
            if let Some(v) = text.as_deref_mut() {
                if !v.feed(&out[len..len + within]) {
                    return Err(ProtocolError::InvalidUtf8);
                }
            }
            if within < produced {
                return Err(ProtocolError::MessageTooLarge);
            }
            let status = status.map_err(|_| ProtocolError::InvalidCompressedData)?;
            let consumed = (inflater.total_in() - in_before) as usize;
            if feeding_tail {
                self.tail_fed += consumed as u8;
            } else {
                used += consumed;
                self.compressed_in += consumed as u64;
            }
            self.inflated_out += produced as u64;
            if status == flate2::Status::StreamEnd {
                // A final block (BFINAL) ends the DEFLATE stream: no tail is needed, and the
                // next message starts a new stream.
                self.tail_fed = 4;
                self.stream_ended = true;
            }
            if let Some(ratio) = self.max_ratio {
                if self.inflated_out > self.compressed_in.saturating_mul(ratio as u64) + 65536 {
                    return Err(ProtocolError::MessageTooLarge);
                }
            }
            let input_done = used == input.len() && (!last || self.tail_fed == 4);
            if input_done && produced < cap {
                // Everything fed and the inflater had room to spare: nothing is pending.
                if last {
                    self.end_inflated_message();
                    return Ok((used, true));
                }
                return Ok((used, false));
            }
            if self.stream_ended && produced == 0 {
                // After a final block (RFC 7692 §7.2.3.4) the rest of the message is padding.
                used = input.len();
                continue;
            }
            if produced == cap {
                step = step.saturating_mul(2).min(STEP);
            }
            if consumed == 0 && produced == 0 {
                // No progress with room available: the stream is stuck.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }

    fn end_inflated_message(&mut self) {
        self.tail_fed = 0;
        self.compressed_in = 0;
        self.inflated_out = 0;
        // The next message starts with an empty window: the peer resets its compressor after
        // each message (§7.1.1.2), or this one ended its stream with a final block (§7.2.3.4).
        // A reset is cheap here; the state itself goes at `release_idle`.
        if core::mem::take(&mut self.stream_ended) || self.reset_inflater {
            if let Some(inflater) = self.inflater.as_mut() {
                inflater.reset(false);
            }
        }
    }

    /// The connection ran out of input (a read returned no event; the driver now waits for the
    /// network) with `received` bytes taken in all. With no context takeover, the states go:
    /// the compressor always (it is never inside a message between sends), the inflater unless
    /// a compressed message is under way (`in_message`: its stream state is needed to go on).
    pub(crate) fn release_idle(&mut self, in_message: bool, received: u64) {
        self.idle_at = received;
        if self.reset_compressor {
            self.compressor = None;
            self.compressor_stale = false;
        }
        if self.reset_inflater && !in_message {
            self.inflater = None;
        }
    }

    /// Forgets a partly received message's counters (a new compressed message starts).
    pub(crate) fn begin_inflated_message(&mut self) {
        self.tail_fed = 0;
        self.compressed_in = 0;
        self.inflated_out = 0;
    }

    /// Compresses one whole message into `self.scratch` (without the §7.2.1 tail). Returns
    /// false if the compressor failed; it is then reset, so the message can be sent
    /// uncompressed without the peer's window going out of step.
    ///
    /// `received`: the connection's count of bytes received. If no input was taken since the
    /// last read that ran out of it, the driver is not draining a read, so no such read is
    /// bound to follow: a compressor that takes no context over is released now, as an idle
    /// connection holds none. Otherwise it is kept for the next message of the same burst and
    /// released by the read that runs out of input (`release_idle`), which the read contract
    /// (call `read` until it returns no event) guarantees.
    pub(crate) fn compress(&mut self, data: &[u8], received: u64) -> bool {
        self.scratch.clear();
        if core::mem::take(&mut self.compressor_stale) {
            if let Some(compressor) = self.compressor.as_mut() {
                compressor.reset();
            }
        }
        if data.is_empty() {
            // RFC 7692 §7.2.3.6: an empty message compresses to a single 0x00 octet (an empty
            // stored block, once the receiver appends the tail), with no history involved.
            self.scratch.push(0x00);
            return true;
        }
        let pieces: &mut dyn Iterator<Item = &[u8]> =
            if self.tiny_window { &mut data.chunks(256) } else { &mut core::iter::once(data) };
        let mut ok = true;
        let mut pieces = pieces.peekable();
        while let Some(piece) = pieces.next() {
            let flush = if pieces.peek().is_some() { FlushCompress::Full } else { FlushCompress::Sync };
            let mut fed = 0;
            loop {
                self.scratch.reserve(piece.len() - fed + 64);
                let (level, bits) = (self.level, self.compress_bits);
                let compressor = self
                    .compressor
                    .get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(level), false, bits));
                let before = compressor.total_in();
                if compressor.compress_vec(&piece[fed..], &mut self.scratch, flush).is_err() {
                    ok = false;
                    break;
                }
                fed += (compressor.total_in() - before) as usize;
                // Done once all input is in and the flush left room in the buffer.
                if fed == piece.len() && self.scratch.len() < self.scratch.capacity() {
                    break;
                }
            }
            if !ok {
                break;
            }
        }
        if ok && self.scratch.ends_with(&TAIL) {
            self.scratch.truncate(self.scratch.len() - 4);
        } else {
            ok = false;
        }
        if self.reset_compressor && received == self.idle_at {
            self.compressor = None;
        } else if !ok || self.tiny_window || self.reset_compressor {
            self.compressor_stale = true;
        }
        ok
    }

    /// An upper bound of [`compress`](Self::compress)'s output for `len` bytes: zlib's bound,
    /// plus the flush blocks (one per 256-byte piece with an 8-bit window).
    pub(crate) fn compress_bound(&self, len: usize) -> usize {
        let pieces = if self.tiny_window { len / 256 + 1 } else { 1 };
        len + len / 16 + 64 + 12 * pieces
    }

    /// Heap bytes held: the zlib states that exist now and the compressed output buffer.
    /// zlib-rs's allocations, measured (and checked by `tests/alloc.rs`, so a new zlib-rs
    /// that allocates otherwise fails the test): a compressor takes 243 KiB plus
    /// `2^(bits + 2)` bytes for its window, an inflater 46.4 KiB whatever its window.
    pub(crate) fn heap_bytes(&self) -> usize {
        let deflate = if self.compressor.is_some() { 248_960 + (1 << (self.compress_bits + 2)) } else { 0 };
        let inflate = if self.inflater.is_some() { 47_552 } else { 0 };
        deflate + inflate + self.scratch.capacity()
    }

    /// Forgets the compressor's history (after a message had to go out uncompressed).
    pub(crate) fn reset_compressor(&mut self) {
        self.compressor_stale = true;
    }
}

/// What a shared compressed [`Broadcast`](crate::Broadcast) needs of a connection's codec.
impl Codec {
    /// The window (bits, 8–15) this end compresses with, when it keeps no history between
    /// messages (RFC 7692 §7.1.1.1); `None` when it takes its context over.
    pub(crate) fn context_free_window_bits(&self) -> Option<u8> {
        self.reset_compressor.then_some(if self.tiny_window { 8 } else { self.compress_bits })
    }
}
