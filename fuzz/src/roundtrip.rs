//! `roundtrip`: a structured script of sends by either role, delivered to the other role with
//! arbitrary chunking; everything sent must arrive identically and in order, pings are answered,
//! and a close is echoed until both ends reach `Closed`.

use arbitrary::Arbitrary;
use wsmachine::{CloseCode, Config, Connection, Delivery, MaskSource, MessageKind, SendError, State};

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
struct End<M: MaskSource> {
    conn: Connection<M>,
    /// Bytes on the wire towards the other end.
    pipe: Vec<u8>,
    /// What the other end must see, in order.
    expect: Vec<Norm>,
    /// What this end has seen.
    seen: Normaliser,
    /// This end started the closing handshake.
    closed: bool,
}

impl<M: MaskSource> End<M> {
    fn new(conn: Connection<M>) -> Self {
        End { conn, pipe: Vec::new(), expect: Vec::new(), seen: Normaliser::default(), closed: false }
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
                let r = send_exact(&mut self.conn, &mut self.pipe, text.len(), |c, out| c.send_text(text, out));
                if expect_ok(r, open) {
                    self.expect.push(Norm::Text(text.clone()));
                }
            }
            Op::SendBinary(data) => {
                let r = send_exact(&mut self.conn, &mut self.pipe, data.len(), |c, out| c.send_binary(data, out));
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
                        self.conn.ping(b"between").expect("ping between fragments");
                        self.drain();
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
                    assert_eq!(self.conn.ping(payload), Err(SendError::ControlPayloadTooLong(payload.len())));
                }
                let payload = &payload[..payload.len().min(125)];
                if expect_ok(self.conn.ping(payload), open) {
                    self.expect.push(Norm::Ping(payload.to_vec()));
                }
            }
            Op::Close(raw, reason) => {
                let code =
                    if raw & 0x8000 == 0 { CloseCode(CODES[*raw as usize % CODES.len()]) } else { CloseCode(*raw) };
                if !open {
                    assert_eq!(self.conn.close(code, reason), Err(SendError::Closed));
                    return;
                }
                if !code.is_valid_on_wire() {
                    assert_eq!(self.conn.close(code, reason), Err(SendError::InvalidCloseCode(code.0)));
                    return;
                }
                let mut cut = reason.len().min(123);
                if cut < reason.len() {
                    assert_eq!(self.conn.close(code, reason), Err(SendError::ReasonTooLong(reason.len())));
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                }
                self.conn.close(code, &reason[..cut]).expect("close");
                assert_eq!(self.conn.state(), State::CloseSent);
                self.closed = true;
                self.expect.push(Norm::Close(Some((code.0, reason[..cut].to_owned()))));
            }
        }
        self.drain();
    }
}

/// Encodes with a buffer one byte short first (must be refused untouched), then exactly sized.
fn send_exact<M: MaskSource>(
    conn: &mut Connection<M>,
    pipe: &mut Vec<u8>,
    len: usize,
    mut send: impl FnMut(&mut Connection<M>, &mut [u8]) -> Result<usize, SendError>,
) -> Result<(), SendError> {
    let needed = conn.encoded_len(len);
    if conn.state() == State::Open {
        let mut short = vec![0u8; needed - 1];
        assert_eq!(send(conn, &mut short), Err(SendError::BufferTooSmall { needed }));
    }
    let mut out = vec![0u8; needed];
    let n = send(conn, &mut out)?;
    assert_eq!(n, needed, "encoded_len disagrees with the bytes written");
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
fn deliver<A: MaskSource, B: MaskSource>(from: &mut End<A>, to: &mut End<B>, hold: usize, sizes: &mut Sizes) -> bool {
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
            let r = to.conn.read(&mut bytes[start..end]).expect("a peer's valid frames must be accepted");
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
    let mut client = End::new(Connection::client(config, counter_mask()));
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
