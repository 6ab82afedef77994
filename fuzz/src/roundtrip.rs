//! `roundtrip`: a structured script of sends by either role, delivered to the other role with
//! arbitrary chunking; everything sent must arrive identically and in order, pings are answered,
//! and a close is echoed until both ends reach `Closed`.

use arbitrary::Arbitrary;
use wsmachine::frame::MAX_CONTROL_FRAME_LEN;
use wsmachine::{Assembly, CloseCode, Config, Connection, Delivery, Masking, MessageKind, SendError, State};

use crate::read::counter_mask;
use crate::{Norm, Normaliser};

#[derive(Arbitrary, Debug)]
pub enum Op {
    SendText(String),
    SendBinary(Vec<u8>),
    /// One message sent with `send_fragment`; `cuts` are the fragment lengths (the last takes
    /// the rest, so text may be cut inside a code point); optionally a ping between fragments.
    SendFragments {
        text: bool,
        data: Vec<u8>,
        cuts: Vec<u8>,
        ping_between: bool,
    },
    Ping(Vec<u8>),
    Close(u16, String),
}

#[derive(Arbitrary, Debug)]
pub struct Step {
    pub from_client: bool,
    pub op: Op,
    /// Bytes left undelivered in each pipe after this step (carried into the next one).
    pub hold: u8,
}

#[derive(Arbitrary, Debug)]
pub struct Script {
    pub stream: bool,
    pub fragment_size: u8,
    pub chunks: Vec<u8>,
    pub steps: Vec<Step>,
}

const CODES: [u16; 8] = [1000, 1001, 1003, 1008, 1011, 3000, 4000, 4999];

/// One end and what it has sent but the other end has not read yet.
struct End<M: Masking> {
    conn: Connection<M>,
    /// This end's assembly: what its events borrow besides the input.
    assembly: Assembly,
    /// Bytes on the wire towards the other end.
    pipe: Vec<u8>,
    /// What the other end must see, in order.
    expect: Vec<Norm>,
    /// What this end has seen.
    seen: Normaliser,
    /// This end started the closing handshake.
    closed: bool,
}

impl<M: Masking> End<M> {
    fn new(conn: Connection<M>) -> Self {
        let seen = Normaliser::new(conn.config().delivery);
        End { conn, assembly: Assembly::new(), pipe: Vec::new(), expect: Vec::new(), seen, closed: false }
    }

    fn drain(&mut self) {
        let n = self.conn.poll_transmit_vec(&mut self.pipe);
        assert!(!self.conn.wants_write(), "poll_transmit_vec left {n} bytes behind");
    }

    /// Runs one command and records what the other end must see.
    fn apply(&mut self, op: &Op) {
        let open = self.conn.state() == State::Open;
        match op {
            Op::SendText(text) => {
                let needed = self.conn.encoded_len(text.len());
                let r = send_exact(&mut self.conn, &mut self.pipe, needed, |c, out| c.send_text(text, out));
                if expect_ok(r, open) {
                    self.expect.push(Norm::Text(text.clone()));
                }
            }
            Op::SendBinary(data) => {
                let needed = self.conn.encoded_len(data.len());
                let r = send_exact(&mut self.conn, &mut self.pipe, needed, |c, out| c.send_binary(data, out));
                if expect_ok(r, open) {
                    self.expect.push(Norm::Binary(data.clone()));
                }
            }
            Op::SendFragments { text, data, cuts, ping_between } => {
                let (kind, data) = if *text {
                    (MessageKind::Text, String::from_utf8_lossy(data).into_owned().into_bytes())
                } else {
                    (MessageKind::Binary, data.clone())
                };
                let mut pieces = Vec::new();
                let mut at = 0;
                for &c in cuts {
                    let end = (at + c as usize).min(data.len());
                    pieces.push(&data[at..end]);
                    at = end;
                }
                pieces.push(&data[at..]);
                for (i, piece) in pieces.iter().enumerate() {
                    let fin = i + 1 == pieces.len();
                    let mut out = vec![0u8; piece.len() + 14];
                    let r = self.conn.send_fragment(kind, piece, fin, &mut out);
                    if !expect_ok(r.map(|n| out.truncate(n)), open) {
                        return;
                    }
                    self.pipe.extend_from_slice(&out);
                    if i == 0 && !fin && *ping_between {
                        let needed = control_len(&self.conn, b"between".len());
                        send_exact(&mut self.conn, &mut self.pipe, needed, |c, out| c.ping(b"between", out))
                            .expect("ping between fragments");
                        self.expect.push(Norm::Ping(b"between".to_vec()));
                    }
                }
                self.expect.push(match kind {
                    MessageKind::Text => Norm::Text(String::from_utf8(data).unwrap()),
                    _ => Norm::Binary(data),
                });
            }
            Op::Ping(payload) => {
                if payload.len() > 125 && open {
                    let mut out = vec![0u8; payload.len() + 14];
                    let r = self.conn.ping(payload, &mut out);
                    assert_eq!(r, Err(SendError::ControlPayloadTooLong(payload.len())));
                }
                let payload = &payload[..payload.len().min(125)];
                let needed = control_len(&self.conn, payload.len());
                let r = send_exact(&mut self.conn, &mut self.pipe, needed, |c, out| c.ping(payload, out));
                if expect_ok(r, open) {
                    self.expect.push(Norm::Ping(payload.to_vec()));
                }
            }
            Op::Close(raw, reason) => {
                let code =
                    if raw & 0x8000 == 0 { CloseCode(CODES[*raw as usize % CODES.len()]) } else { CloseCode(*raw) };
                let mut room = vec![0u8; reason.len() + 16];
                if !open {
                    assert_eq!(self.conn.close(code, reason, &mut room), Err(SendError::Closed));
                    return;
                }
                if !code.is_valid_on_wire() {
                    assert_eq!(self.conn.close(code, reason, &mut room), Err(SendError::InvalidCloseCode(code.0)));
                    return;
                }
                let mut cut = reason.len().min(123);
                if cut < reason.len() {
                    let r = self.conn.close(code, reason, &mut room);
                    assert_eq!(r, Err(SendError::ReasonTooLong(reason.len())));
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                }
                let reason = &reason[..cut];
                let needed = control_len(&self.conn, 2 + reason.len());
                send_exact(&mut self.conn, &mut self.pipe, needed, |c, out| c.close(code, reason, out)).expect("close");
                assert_eq!(self.conn.state(), State::CloseSent);
                self.closed = true;
                self.expect.push(Norm::Close(Some((code.0, reason.to_owned()))));
            }
        }
        self.drain();
    }
}

/// The bytes of a control frame with `payload_len` bytes of payload (§5.2, §5.5).
fn control_len<M: Masking>(conn: &Connection<M>, payload_len: usize) -> usize {
    let n = 2 + payload_len + if conn.role() == wsmachine::Role::Client { 4 } else { 0 };
    assert!(n <= MAX_CONTROL_FRAME_LEN || payload_len > 125);
    n
}

/// Encodes with a buffer one byte short first (must be refused untouched: same state, nothing
/// queued), then exactly sized; `needed` is the expected frame length (`encoded_len` for data).
fn send_exact<M: Masking>(
    conn: &mut Connection<M>,
    pipe: &mut Vec<u8>,
    needed: usize,
    mut send: impl FnMut(&mut Connection<M>, &mut [u8]) -> Result<usize, SendError>,
) -> Result<(), SendError> {
    if conn.state() == State::Open {
        let mut short = vec![0u8; needed - 1];
        assert_eq!(send(conn, &mut short), Err(SendError::BufferTooSmall { needed }));
        assert_eq!((conn.state(), conn.wants_write()), (State::Open, false), "a refused send changed the state");
    }
    let mut out = vec![0u8; needed];
    let n = send(conn, &mut out)?;
    assert_eq!(n, needed, "the frame is not the length expected");
    pipe.extend_from_slice(&out);
    Ok(())
}

/// A command succeeds exactly while the connection is open.
fn expect_ok<T: std::fmt::Debug>(r: Result<T, SendError>, open: bool) -> bool {
    if open {
        r.expect("send on an open connection");
        true
    } else {
        assert_eq!(r.unwrap_err(), SendError::Closed);
        false
    }
}

/// Delivers `from.pipe` (all but `hold` bytes) to `to` in chunks; replies go into `to.pipe`.
fn deliver<A: Masking, B: Masking>(from: &mut End<A>, to: &mut End<B>, hold: usize, sizes: &mut Sizes) -> bool {
    let n = from.pipe.len().saturating_sub(hold);
    if n == 0 {
        return false;
    }
    let mut bytes: Vec<u8> = from.pipe.drain(..n).collect();
    let mut at = 0;
    while at < bytes.len() {
        let end = at.saturating_add(sizes.next()).min(bytes.len());
        let mut start = at;
        loop {
            let before = to.conn.state();
            let max = to.conn.config().max_message_len;
            let r =
                to.conn.read(&mut bytes[start..end], &mut to.assembly).expect("a peer's valid frames must be accepted");
            assert!(start + r.consumed <= end);
            start += r.consumed;
            let Some(event) = r.event else { break };
            to.seen.push(&event, max);
            match event {
                // The auto-pong goes back with the same payload (unless this end is closing).
                wsmachine::Event::Ping(p) if before == State::Open => to.expect.push(Norm::Pong(p.to_vec())),
                // The close echo carries the code and no reason (§5.5.1).
                wsmachine::Event::Close(c) if before == State::Open => {
                    to.expect.push(Norm::Close(c.map(|c| (c.code.0, String::new()))))
                }
                _ => {}
            }
            to.drain();
        }
        assert_eq!(start, end);
        at = end;
    }
    true
}

struct Sizes<'a> {
    sizes: &'a [u8],
    at: usize,
}

impl Sizes<'_> {
    fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let s = self.sizes[self.at % self.sizes.len()];
        self.at += 1;
        // 0 means "everything": a zero-sized chunk would never progress.
        if s == 0 {
            usize::MAX
        } else {
            s as usize
        }
    }
}

pub fn run(script: Script) {
    let delivery = if script.stream { Delivery::Stream } else { Delivery::Assemble };
    let config = Config::new().delivery(delivery).fragment_size(script.fragment_size as usize);
    let mut client = End::new(Connection::client_with_test_masks(config, counter_mask()));
    let mut server = End::new(Connection::server(config));
    let mut sizes = Sizes { sizes: &script.chunks, at: 0 };
    for step in &script.steps {
        if step.from_client {
            client.apply(&step.op);
        } else {
            server.apply(&step.op);
        }
        let hold = step.hold as usize;
        while deliver(&mut client, &mut server, hold, &mut sizes) | deliver(&mut server, &mut client, hold, &mut sizes)
        {
        }
    }
    while deliver(&mut client, &mut server, 0, &mut sizes) | deliver(&mut server, &mut client, 0, &mut sizes) {}
    // `client.expect` lists what the server must have seen, and the other way round.
    assert_eq!(server.seen.events, client.expect, "client -> server");
    assert_eq!(client.seen.events, server.expect, "server -> client");
    if client.closed || server.closed {
        assert_eq!(client.conn.state(), State::Closed, "client after the closing handshake");
        assert_eq!(server.conn.state(), State::Closed, "server after the closing handshake");
        assert!(server.conn.should_close_transport(), "the server closes TCP after the handshake");
    } else {
        assert_eq!((client.conn.state(), server.conn.state()), (State::Open, State::Open));
    }
}
