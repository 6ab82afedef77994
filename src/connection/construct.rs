//! Building a connection: a server, a client with an unpredictable key source, or a client with
//! test keys; every one starts `Open` with nothing received (the transitions are in
//! `connection.rs`).

use super::*;

impl Connection<NoMask> {
    /// A server-side connection: expects masked frames, sends unmasked ones.
    pub fn server(config: Config) -> Self {
        Connection::new(Role::Server, config, NoMask)
    }
}

impl<M: MaskSource> Connection<M> {
    /// A client-side connection, masking every frame with keys from `mask` (RFC 6455 §5.3).
    ///
    /// With `std`, [`ChaChaMask::from_entropy`](crate::ChaChaMask::from_entropy) is the
    /// unpredictable source the RFC asks for; on `no_std`, seed a [`ChaChaMask`](crate::ChaChaMask)
    /// or implement [`MaskSource`] over your hardware RNG. [`NoMask`] is no `MaskSource`, so
    /// `Connection::client(config, NoMask)` does not compile.
    pub fn client(config: Config, mask: M) -> Self {
        Connection::new(Role::Client, config, mask)
    }
}

impl<F: FnMut() -> [u8; 4]> Connection<crate::mask::TestMasks<F>> {
    /// A client whose masking keys come from `keys`, for tests and fuzzing that need the same
    /// bytes every run. Predictable keys break RFC 6455 §5.3 (they let a page poison proxies'
    /// caches, §10.3): never use this with a real peer.
    pub fn client_with_test_masks(config: Config, keys: F) -> Self {
        Connection::new(Role::Client, config, crate::mask::TestMasks(keys))
    }
}

impl<M: Masking> Connection<M> {
    fn new(role: Role, config: Config, mask: M) -> Self {
        Connection {
            role,
            mask,
            fast_ready: config.delivery != Delivery::Stream,
            fast_stream: config.delivery == Delivery::Stream,
            #[cfg(feature = "alloc")]
            assembled_at: None,
            fast_max_len: if config.max_frame_payload < config.max_message_len {
                config.max_frame_payload
            } else {
                config.max_message_len
            },
            phase: Phase::Header,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 0 },
            frame_done: 0,
            incoming: None,
            message_len: 0,
            first_chunk: true,
            utf8: Utf8Validator::new(),
            compressed: false,
            unmasked_ahead: 0,
            inflated_len: 0,
            #[cfg(feature = "deflate")]
            codec: None,
            outgoing: None,
            pong: ControlSlot::EMPTY,
            keepalive_ping: false,
            close_pending: false,
            close_code: None,
            state: State::Open,
            peer_code: None,
            eof: false,
            last_received: None,
            received: 0,
            received_seen: 0,
            wanted: 0,
            waiting_seen: 0,
            waiting_mark: 0,
            close_deadline: Deadline::Off,
            pong_deadline: None,
            message_deadline: Deadline::Off,
            write_deadline: Deadline::Off,
            config,
        }
    }
}
