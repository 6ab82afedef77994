//! Connection settings: limits, delivery mode, automatic replies and timers.

use core::time::Duration;

/// How messages that are not found whole in the caller's buffer are delivered.
///
/// A complete, unfragmented frame found whole in the buffer is always delivered as
/// [`Event::Message`](crate::Event::Message) borrowed in place, with no copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Fragmented or split messages come as [`Event::Chunk`](crate::Event::Chunk)s borrowed
    /// from the input: no allocation at all (embedded targets, huge messages, proxies). Chunks of
    /// a compressed (permessage-deflate) message come from the inflater's reusable buffer instead.
    Stream,
    /// Fragmented or split messages are assembled internally (up to `max_message_len`) and come
    /// as one [`Event::Message`](crate::Event::Message). Needs the `alloc` feature.
    #[cfg(feature = "alloc")]
    Assemble,
}

/// Settings of a [`Connection`](crate::Connection). Build with [`Config::new`] and the `const`
/// setters; every field has a default chosen for an internet-facing server.
///
/// ```
/// use core::time::Duration;
/// use wsmachine::Config;
/// const CONFIG: Config = Config::new()
///     .max_message_len(64 << 20)
///     .keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));
/// assert_eq!(CONFIG.max_message_len, 64 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload one frame may announce; checked on the header, before any payload is
    /// accepted (close 1009). Default 16 MiB.
    pub max_frame_payload: u64,
    /// Largest message, summed over its fragments (and, with compression, after inflation),
    /// checked before the bytes are accepted (close 1009). Default 16 MiB.
    pub max_message_len: u64,
    /// How messages not found whole in one buffer are delivered. Default: `Assemble` with the
    /// `alloc` feature, `Stream` without.
    pub delivery: Delivery,
    /// Answer pings with a pong carrying the same payload (RFC 6455 §5.5.2). Default on.
    pub auto_pong: bool,
    /// Echo a received Close frame's code (RFC 6455 §5.5.1). Default on.
    pub auto_close: bool,
    /// Split outgoing messages into frames of at most this many payload bytes; 0 never splits.
    pub fragment_size: usize,
    /// After sending a Close, how long to wait for the peer's before closing the transport
    /// anyway; also how long a client waits for the server to close TCP (§7.1.1). Default 10 s.
    pub close_timeout: Option<Duration>,
    /// Send a ping after this long without receiving anything. Default off.
    pub keepalive_interval: Option<Duration>,
    /// After a keepalive ping, fail the connection if nothing arrives within this. Default 20 s.
    /// Deadlines saturate, so `Duration::MAX` here or in the other timers means "never".
    pub pong_timeout: Duration,
    /// How long a data message may take from its first frame header to its last byte;
    /// past it the connection fails with 1008 (Policy Violation, RFC 6455 §7.4.1). RFC 6455
    /// sets no limit (a fragmented message may interleave control frames for ever, §5.4), so
    /// this is the endpoint's policy: without it a peer that starts a message and then trickles
    /// it, or stops inside it, holds the connection and its partial message (up to
    /// `max_message_len`) as long as it still answers pings. It counts from the first timed
    /// call after the header arrived; control frames between fragments do not reset it. A
    /// frame waiting whole in a [`RecvBuffer`](crate::RecvBuffer) counts from its header too.
    /// Default off.
    pub message_timeout: Option<Duration>,
    /// How long output may stay blocked (the driver reported
    /// [`output_blocked`](crate::Connection::output_blocked) and not yet
    /// [`output_drained`](crate::Connection::output_drained)) before the connection is given
    /// up as [`TimedOut`](crate::State::TimedOut). A peer that stops reading makes TCP
    /// back-pressure pile our output up in the driver; it may still send, so no receive timer
    /// sees it, and no Close can reach it (RFC 6455 §7.1.1 lets an endpoint drop the
    /// transport when the closing handshake is impossible). Default off.
    pub write_stall_timeout: Option<Duration>,
    /// Memory kept between messages, for the next large one: after a message larger than
    /// this, the [`Assembly`](crate::Assembly) and the [`RecvBuffer`](crate::RecvBuffer) give
    /// back all but this much (the buffer all but one read) once they are empty again (the
    /// buffer when the next read is prepared), so an idle `RecvBuffer` holds at most one read
    /// plus twice this. Default 1 MiB.
    pub retain_capacity: usize,
    /// Accept frames with RSV1 set (an extension such as permessage-deflate owns the bit).
    /// Set by the extension layer, not usually by hand.
    pub(crate) allow_rsv1: bool,
}

impl Config {
    /// The defaults.
    pub const fn new() -> Self {
        Config {
            max_frame_payload: 16 << 20,
            max_message_len: 16 << 20,
            #[cfg(feature = "alloc")]
            delivery: Delivery::Assemble,
            #[cfg(not(feature = "alloc"))]
            delivery: Delivery::Stream,
            auto_pong: true,
            auto_close: true,
            fragment_size: 0,
            close_timeout: Some(Duration::from_secs(10)),
            keepalive_interval: None,
            pong_timeout: Duration::from_secs(20),
            message_timeout: None,
            write_stall_timeout: None,
            retain_capacity: 1 << 20,
            allow_rsv1: false,
        }
    }

    /// Sets [`max_frame_payload`](Config::max_frame_payload).
    pub const fn max_frame_payload(mut self, bytes: u64) -> Self {
        self.max_frame_payload = bytes;
        self
    }

    /// Sets [`max_message_len`](Config::max_message_len).
    pub const fn max_message_len(mut self, bytes: u64) -> Self {
        self.max_message_len = bytes;
        self
    }

    /// Sets both limits at once (a frame can never usefully exceed its message).
    pub const fn max_len(self, bytes: u64) -> Self {
        self.max_frame_payload(bytes).max_message_len(bytes)
    }

    /// Sets [`delivery`](Config::delivery).
    pub const fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Sets [`auto_pong`](Config::auto_pong).
    pub const fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`auto_close`](Config::auto_close).
    pub const fn auto_close(mut self, on: bool) -> Self {
        self.auto_close = on;
        self
    }

    /// Sets [`fragment_size`](Config::fragment_size).
    pub const fn fragment_size(mut self, bytes: usize) -> Self {
        self.fragment_size = bytes;
        self
    }

    /// Sets [`close_timeout`](Config::close_timeout).
    pub const fn close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets the keepalive ping interval and the pong deadline.
    pub const fn keepalive(mut self, interval: Option<Duration>, pong_timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.pong_timeout = pong_timeout;
        self
    }

    /// Sets [`message_timeout`](Config::message_timeout).
    pub const fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// Sets [`write_stall_timeout`](Config::write_stall_timeout).
    pub const fn write_stall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_stall_timeout = timeout;
        self
    }

    /// Sets [`retain_capacity`](Config::retain_capacity).
    pub const fn retain_capacity(mut self, bytes: usize) -> Self {
        self.retain_capacity = bytes;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Config {
    /// Small limits, every delivery mode and timers of up to a minute, so fuzzers reach the
    /// limit checks quickly.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let delivery = if u.arbitrary()? {
            Delivery::Stream
        } else {
            #[cfg(feature = "alloc")]
            {
                Delivery::Assemble
            }
            #[cfg(not(feature = "alloc"))]
            {
                Delivery::Stream
            }
        };
        Ok(Config::new()
            .max_frame_payload(u.int_in_range(0..=4096)?)
            .max_message_len(u.int_in_range(0..=8192)?)
            .delivery(delivery)
            .auto_pong(u.arbitrary()?)
            .auto_close(u.arbitrary()?)
            .fragment_size(u.int_in_range(0..=512)?)
            .message_timeout(u.arbitrary::<Option<u16>>()?.map(|ms| Duration::from_millis(ms.into())))
            .write_stall_timeout(u.arbitrary::<Option<u16>>()?.map(|ms| Duration::from_millis(ms.into()))))
    }
}
