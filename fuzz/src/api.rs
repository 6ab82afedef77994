//! The whole API, driven by arbitrary sequences of calls on an in-memory client–server pair.
//!
//! Each side reads what the other wrote, in arbitrary pieces, through `Connection::read` with
//! an `Assembly` or through a `RecvBuffer` (chosen per side by the input); the calls interleave
//! sends, pings, pongs, closes, the end of the stream, output reported blocked or drained, and
//! the timers (close, keepalive, message and write-stall deadlines), with arbitrary times.
//! Asserted, besides "no panic":
//!
//! * the state only moves forward, along the diagram of `src/connection.rs`;
//! * every byte either side writes parses, in order, as valid frames of its role (checked by a
//!   strict observer connection that reads the same bytes), and nothing follows its Close;
//! * right after `handle_timeout(now)`, `poll_timeout(now)` is never at or before `now`: no
//!   deadline lies in the past;
//! * what one side sent is what the other received, in order, while neither side failed.

use arbitrary::{Arbitrary, Unstructured};
use std::time::Duration;
use wsmachine::{
    Assembly, CloseCode, Config, Connection, Delivery, Event, Masking, Message, MessageKind, OwnedEvent, RecvBuffer,
    State,
};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Text(Side, String),
    Binary(Side, Vec<u8>),
    /// A fragment of a text (valid UTF-8, split at a char boundary) or binary message.
    Fragment(Side, bool, String, bool),
    Ping(Side, Vec<u8>),
    Pong(Side, Vec<u8>),
    Close(Side, u16, String),
    /// Moves up to this many written bytes to the other side and lets it read them.
    Deliver(Side, u16),
    /// The clock moves on by this many milliseconds.
    Wait(u32),
    Timers(Side),
    /// The transport of this side ends (the other side's bytes will never come).
    Eof(Side),
    /// This side's driver reports its output backed up (the peer does not read), or drained.
    OutputBlocked(Side),
    OutputDrained(Side),
    /// This side's driver gives back assembly capacity beyond this many bytes
    /// (`Assembly::trim`), message in progress or not.
    Trim(Side, u16),
    /// This side's driver hands the last message it took (`Connection::take_message`) back to
    /// its assembly (`Assembly::recycle`).
    Recycle(Side),
    /// This side's driver gives its `RecvBuffer`'s memory back (`RecvBuffer::release`), as
    /// for a connection gone quiet; refused while bytes wait in it.
    Release(Side),
}

/// One step of the diagram in `src/connection.rs`.
fn step(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Open, CloseSent | CloseReceived | Failed(_) | TimedOut)
            | (CloseSent, Closed | Failed(_) | TimedOut)
            | (CloseReceived, Closed | TimedOut)
            | (Closed, TimedOut)
            | (Failed(_), TimedOut)
    )
}

/// Whether `to` is `from` or can be reached from it along the diagram (a state is sampled once
/// per call, and one call may take several steps: a Close read and its echo written).
fn forward(from: State, to: State) -> bool {
    use State::*;
    let via = [CloseSent, CloseReceived, Closed, Failed(CloseCode::ABNORMAL), TimedOut];
    from == to
        || step(from, to)
        || via.iter().any(|&m| step(from, m) && (step(m, to) || via.iter().any(|&n| step(m, n) && step(n, to))))
}

/// One end: its connection, how it reads, what it wrote and what it received.
struct End<M: Masking> {
    conn: Connection<M>,
    assembly: Assembly,
    buffer: Option<RecvBuffer>,
    /// Bytes written and not yet delivered to the other side.
    wire: Vec<u8>,
    /// Every byte written, for the observer.
    written: Vec<u8>,
    /// Data messages and pings this end sent, in order (what the other end must receive).
    sent: Vec<OwnedEvent>,
    /// A fragmented message being sent: its kind and bytes so far.
    sending: Option<(MessageKind, Vec<u8>)>,
    /// What this end received, messages joined from chunks.
    received: Vec<OwnedEvent>,
    receiving: Option<(MessageKind, Vec<u8>)>,
    /// The last message taken out of the assembly, for `Op::Recycle`.
    taken: Option<Vec<u8>>,
    failed: bool,
    eof: bool,
    state: State,
}

impl<M: Masking> End<M> {
    fn new(conn: Connection<M>, via_buffer: bool, read_size: usize) -> Self {
        End {
            conn,
            assembly: Assembly::new(),
            buffer: via_buffer.then(|| RecvBuffer::with_read_size(read_size)),
            wire: Vec::new(),
            written: Vec::new(),
            sent: Vec::new(),
            sending: None,
            received: Vec::new(),
            receiving: None,
            taken: None,
            failed: false,
            eof: false,
            state: State::Open,
        }
    }

    /// Records `n` bytes just appended to `wire` as written.
    fn wrote(&mut self, from: usize) {
        let new = self.wire[from..].to_vec();
        self.written.extend_from_slice(&new);
    }

    fn flush_replies(&mut self) {
        let from = self.wire.len();
        self.conn.poll_transmit_vec(&mut self.wire);
        self.wrote(from);
    }

    fn check_state(&mut self) {
        let now = self.conn.state();
        assert!(forward(self.state, now), "state went from {:?} to {now:?}", self.state);
        self.state = now;
    }

    /// Reads `bytes` (from the other side) through this end's reader.
    fn read(&mut self, bytes: &[u8]) {
        if self.eof {
            return;
        }
        let End { conn, assembly, buffer, wire, written, received, receiving, taken, failed, .. } = self;
        let mut flush = |conn: &mut Connection<M>| {
            let from = wire.len();
            conn.poll_transmit_vec(wire);
            written.extend_from_slice(&wire[from..]);
        };
        match buffer.as_mut() {
            Some(buf) => {
                let mut rest = bytes;
                loop {
                    let space = buf.spare(conn);
                    let n = space.len().min(rest.len());
                    space[..n].copy_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    buf.filled(n);
                    loop {
                        match buf.next(conn) {
                            Ok(Some(event)) => record(received, receiving, &event),
                            Ok(None) => break,
                            Err(_) => {
                                *failed = true;
                                break;
                            }
                        }
                        flush(conn);
                    }
                    flush(conn);
                    if rest.is_empty() || *failed {
                        break;
                    }
                }
            }
            None => {
                let mut input = bytes.to_vec();
                let mut at = 0;
                loop {
                    match conn.read(&mut input[at..], assembly) {
                        Ok(read) => {
                            at += read.consumed;
                            // The event borrows `input` and the assembly, never the connection.
                            let Some(event) = read.event else { break };
                            record(received, receiving, &event);
                            // A message put together in the assembly is taken out of it, as a
                            // driver that writes it out later does: exactly its bytes.
                            if conn.last_message_assembled() {
                                let bytes = match event {
                                    Event::Message(m) => m.as_bytes().to_vec(),
                                    _ => panic!("assembled, but not a message"),
                                };
                                let got = conn.take_message(assembly).expect("the message said assembled");
                                assert_eq!(got, bytes);
                                assert_eq!(assembly.heap_bytes(), 0);
                                *taken = Some(got);
                            } else {
                                assert_eq!(conn.take_message(assembly), None);
                            }
                        }
                        Err(_) => {
                            *failed = true;
                            break;
                        }
                    }
                    flush(conn);
                }
                flush(conn);
            }
        }
        self.check_state();
    }
}

/// Joins chunks into messages and records data messages and pings.
fn record(received: &mut Vec<OwnedEvent>, receiving: &mut Option<(MessageKind, Vec<u8>)>, event: &Event<'_>) {
    let whole = match *event {
        Event::Message(Message::Text(t)) => Some(OwnedEvent::Text(t.into())),
        Event::Message(Message::Binary(b)) => Some(OwnedEvent::Binary(b.to_vec())),
        Event::Chunk(c) => {
            if c.is_first() {
                assert!(receiving.is_none(), "a message began inside another");
                *receiving = Some((c.kind(), Vec::new()));
            }
            let (kind, bytes) = receiving.as_mut().expect("a chunk with no first chunk");
            assert_eq!(*kind, c.kind());
            bytes.extend_from_slice(c.data());
            if c.is_last() {
                let (kind, bytes) = receiving.take().unwrap();
                Some(match kind {
                    MessageKind::Text => OwnedEvent::Text(String::from_utf8(bytes).expect("text is UTF-8")),
                    _ => OwnedEvent::Binary(bytes),
                })
            } else {
                None
            }
        }
        Event::Ping(p) => Some(OwnedEvent::Ping(p.to_vec())),
        _ => None,
    };
    received.extend(whole);
}

/// Checks that `bytes` are valid frames of `role`'s peer as written by `role` (masked when a
/// client wrote them), and that nothing follows a Close.
fn observe(bytes: &[u8], written_by_client: bool) {
    let config = Config::default().delivery(Delivery::Stream).max_len(u64::MAX).auto_pong(false).auto_close(false);
    let mut assembly = Assembly::new();
    let mut input = bytes.to_vec();
    let mut at = 0;
    let mut closed = false;
    let run = |at: &mut usize,
               closed: &mut bool,
               input: &mut Vec<u8>,
               assembly: &mut Assembly,
               read: &mut dyn FnMut(
        &mut [u8],
        &mut Assembly,
    ) -> Result<(usize, bool, bool), wsmachine::ProtocolError>| loop {
        if *at == input.len() {
            break;
        }
        assert!(!*closed, "{} bytes after the Close", input.len() - *at);
        let (consumed, event, close) = read(&mut input[*at..], assembly).expect("the written bytes are valid frames");
        *at += consumed;
        *closed |= close;
        if !event {
            break;
        }
    };
    if written_by_client {
        let mut server = Connection::server(config);
        run(&mut at, &mut closed, &mut input, &mut assembly, &mut |i, a| {
            let r = server.read(i, a)?;
            Ok((r.consumed, r.event.is_some(), matches!(r.event, Some(Event::Close(_)))))
        });
    } else {
        let mut client = Connection::client_with_test_masks(config, || [0; 4]);
        run(&mut at, &mut closed, &mut input, &mut assembly, &mut |i, a| {
            let r = client.read(i, a)?;
            Ok((r.consumed, r.event.is_some(), matches!(r.event, Some(Event::Close(_)))))
        });
    }
}

/// Runs one input: a config choice, then the calls.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((client_buffer, server_buffer, stream, read_size)) = <(bool, bool, bool, u16)>::arbitrary(&mut u) else {
        return;
    };
    let delivery = if stream { Delivery::Stream } else { Delivery::Assemble };
    let config = Config::default()
        .delivery(delivery)
        .close_timeout(Some(Duration::from_millis(500)))
        .keepalive(Some(Duration::from_millis(700)), Duration::from_millis(300))
        .message_timeout(Some(Duration::from_millis(1500)))
        .write_stall_timeout(Some(Duration::from_millis(1000)));
    let mut seed = 0u32;
    let client = Connection::client_with_test_masks(config, move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        seed.to_le_bytes()
    });
    let read_size = read_size as usize % 4096 + 1;
    // A RecvBuffer delivers whole messages only with whole-message delivery.
    let mut c = End::new(client, client_buffer && !stream, read_size);
    let mut s = End::new(Connection::server(config), server_buffer && !stream, read_size);
    let mut now = Duration::ZERO;
    for _ in 0..64 {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        match op {
            Op::Deliver(Side::Client, n) => deliver(&mut c, &mut s, n as usize),
            Op::Deliver(Side::Server, n) => deliver(&mut s, &mut c, n as usize),
            Op::Wait(ms) => now += Duration::from_millis(ms as u64 % 2000),
            Op::Timers(Side::Client) => timers(&mut c, now),
            Op::Timers(Side::Server) => timers(&mut s, now),
            Op::Eof(Side::Client) => eof(&mut c),
            Op::Eof(Side::Server) => eof(&mut s),
            Op::OutputBlocked(Side::Client) => output(&mut c, true),
            Op::OutputBlocked(Side::Server) => output(&mut s, true),
            Op::OutputDrained(Side::Client) => output(&mut c, false),
            Op::OutputDrained(Side::Server) => output(&mut s, false),
            Op::Trim(Side::Client, keep) => c.assembly.trim(keep as usize),
            Op::Trim(Side::Server, keep) => s.assembly.trim(keep as usize),
            Op::Recycle(Side::Client) => recycle(&mut c),
            Op::Recycle(Side::Server) => recycle(&mut s),
            Op::Release(Side::Client) => release(&mut c),
            Op::Release(Side::Server) => release(&mut s),
            op => match side_of(&op) {
                Side::Client => command(&mut c, op),
                Side::Server => command(&mut s, op),
            },
        }
    }
    // Everything written was valid frames.
    observe(&c.written, true);
    observe(&s.written, false);
    // Whatever happened (failures, cut streams, timeouts), what arrived is what was sent, in
    // order: a prefix of it.
    for (sent, received) in [(&c.sent, &s.received), (&s.sent, &c.received)] {
        assert!(received.len() <= sent.len(), "received more than was sent");
        assert_eq!(received[..], sent[..received.len()], "received differs from sent");
    }
}

fn side_of(op: &Op) -> Side {
    match *op {
        Op::Text(s, _)
        | Op::Binary(s, _)
        | Op::Fragment(s, ..)
        | Op::Ping(s, _)
        | Op::Pong(s, _)
        | Op::Close(s, ..) => s,
        Op::Deliver(s, _) | Op::Timers(s) | Op::Eof(s) | Op::OutputBlocked(s) | Op::OutputDrained(s) => s,
        Op::Trim(s, _) | Op::Recycle(s) | Op::Release(s) => s,
        Op::Wait(_) => Side::Client,
    }
}

fn command<M: Masking>(end: &mut End<M>, op: Op) {
    // Replies go out before anything the user sends (the README's rule).
    end.flush_replies();
    let from = end.wire.len();
    let limit = |v: &[u8]| v.len().min(2048);
    match op {
        Op::Text(_, t) => {
            let t: String = t.chars().take(512).collect();
            if end.sending.is_none() && end.conn.send_text_vec(&t, &mut end.wire).is_ok() {
                end.sent.push(OwnedEvent::Text(t));
            }
        }
        Op::Binary(_, b) => {
            let b = &b[..limit(&b)];
            if end.sending.is_none() && end.conn.send_binary_vec(b, &mut end.wire).is_ok() {
                end.sent.push(OwnedEvent::Binary(b.to_vec()));
            }
        }
        Op::Fragment(_, text, s, fin) => {
            let kind = if text { MessageKind::Text } else { MessageKind::Binary };
            let s: String = s.chars().take(256).collect();
            let mut out = vec![0u8; s.len() + 14];
            if let Ok(n) = end.conn.send_fragment(kind, s.as_bytes(), fin, &mut out) {
                end.wire.extend_from_slice(&out[..n]);
                let (k, bytes) = end.sending.get_or_insert((kind, Vec::new()));
                assert_eq!(*k, kind, "a fragment of another kind was accepted");
                bytes.extend_from_slice(s.as_bytes());
                if fin {
                    let (k, bytes) = end.sending.take().unwrap();
                    end.sent.push(match k {
                        MessageKind::Text => OwnedEvent::Text(String::from_utf8(bytes).unwrap()),
                        _ => OwnedEvent::Binary(bytes),
                    });
                }
            }
        }
        Op::Ping(_, p) => {
            if end.conn.ping_vec(&p, &mut end.wire).is_ok() {
                end.sent.push(OwnedEvent::Ping(p));
            }
        }
        Op::Pong(_, p) => {
            let _ = end.conn.pong_vec(&p, &mut end.wire);
        }
        Op::Close(_, code, reason) => {
            let reason: String = reason.chars().take(40).collect();
            let _ = end.conn.close_vec(CloseCode(code), &reason, &mut end.wire);
        }
        _ => unreachable!(),
    }
    end.wrote(from);
    end.check_state();
}

fn deliver<A: Masking, B: Masking>(from: &mut End<A>, to: &mut End<B>, n: usize) {
    let n = n.min(from.wire.len());
    let bytes: Vec<u8> = from.wire.drain(..n).collect();
    to.read(&bytes);
}

fn timers<M: Masking>(end: &mut End<M>, now: Duration) {
    // A keepalive ping is queued now and goes out with the replies just below: it is sent.
    if end.conn.handle_timeout(now) == Some(wsmachine::Timeout::KeepalivePing) && end.conn.wants_write() {
        end.sent.push(OwnedEvent::Ping(Vec::new()));
    }
    end.flush_replies();
    if let Some(deadline) = end.conn.poll_timeout(now) {
        assert!(deadline > now, "deadline {deadline:?} is not after now {now:?}");
    }
    end.check_state();
}

fn eof<M: Masking>(end: &mut End<M>) {
    if !end.eof {
        end.eof = true;
        let _ = end.conn.read_eof();
        end.check_state();
    }
}

fn recycle<M: Masking>(end: &mut End<M>) {
    if let Some(buf) = end.taken.take() {
        end.assembly.recycle(buf);
    }
}

fn release<M: Masking>(end: &mut End<M>) {
    if let Some(buf) = &mut end.buffer {
        let waiting = !buf.unused().is_empty();
        let released = buf.release(&end.conn);
        assert_eq!(released, !waiting, "release refused exactly while bytes wait");
        if released {
            assert!(buf.unused().is_empty() && buf.capacity() == 0, "a released buffer holds nothing");
        }
    }
}

fn output<M: Masking>(end: &mut End<M>, blocked: bool) {
    if blocked {
        end.conn.output_blocked();
    } else {
        end.conn.output_drained();
    }
    end.check_state();
}
