//! An in-memory driver for one connection or a client–server pair (no sockets, no clock).
#![allow(dead_code)]

use wsmachine::{Assembly, Config, Connection, Event, Masking, OwnedEvent, ProtocolError, TestMasks};

/// A deterministic client mask source: keys 0x01020304, 0x05060708, ...
pub fn counter_mask() -> impl FnMut() -> [u8; 4] {
    let mut n: u8 = 0;
    move || {
        let k = [n.wrapping_add(1), n.wrapping_add(2), n.wrapping_add(3), n.wrapping_add(4)];
        n = n.wrapping_add(4);
        k
    }
}

/// What feeding a byte stream to a connection produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<OwnedEvent>,
    pub transmitted: Vec<u8>,
    pub error: Option<ProtocolError>,
}

/// Where the pieces of a `len`-byte input cut at `cuts` (any order, clamped) end.
fn piece_ends(len: usize, cuts: &[usize]) -> Vec<usize> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(len)).collect();
    ends.sort_unstable();
    ends.push(len);
    ends
}

/// Feeds `bytes` cut into pieces at `cuts` (sorted or not, clamped), draining `poll_transmit`
/// after every `read` call, like a driver that reads from a socket into one fixed buffer, with
/// a fresh [`Assembly`] beside the connection. Checks the read contract: "no event" means all
/// input was used.
pub fn feed<M: Masking>(conn: &mut Connection<M>, bytes: &[u8], cuts: &[usize]) -> Outcome {
    feed_with(conn, &mut Assembly::new(), bytes, cuts)
}

/// [`feed`] with the caller's `Assembly` (for a connection fed more than once).
pub fn feed_with<M: Masking>(
    conn: &mut Connection<M>,
    assembly: &mut Assembly,
    bytes: &[u8],
    cuts: &[usize],
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut start = 0;
    for end in piece_ends(bytes.len(), cuts) {
        let mut piece = bytes[start..end].to_vec();
        start = end;
        let mut at = 0;
        loop {
            let rest = piece.len() - at;
            match conn.read(&mut piece[at..], assembly) {
                Ok(read) => {
                    assert!(read.consumed <= rest);
                    at += read.consumed;
                    let done = read.event.is_none();
                    if let Some(event) = read.event {
                        outcome.events.push(event.into_owned());
                    }
                    conn.poll_transmit_vec(&mut outcome.transmitted);
                    if done {
                        assert_eq!(piece.len() - at, 0, "None must mean all input was used");
                        break;
                    }
                }
                Err(e) => {
                    if outcome.error.is_none() {
                        outcome.error = Some(e);
                    }
                    conn.poll_transmit_vec(&mut outcome.transmitted);
                    break;
                }
            }
        }
    }
    outcome
}

/// Feeds `bytes` through a [`wsmachine::RecvBuffer`], each transport read taking at most the
/// next of `reads` bytes (cycled; at least 1) and never more than the room offered.
pub fn feed_recv_buffer<M: Masking>(conn: &mut Connection<M>, bytes: &[u8], reads: &[usize]) -> Outcome {
    let mut outcome = Outcome::default();
    let mut buf = wsmachine::RecvBuffer::with_read_size(4096);
    let mut rest = bytes;
    let mut sizes = reads.iter().copied().cycle();
    while !rest.is_empty() && outcome.error.is_none() {
        let space = buf.spare(conn);
        let n = space.len().min(rest.len()).min(sizes.next().unwrap_or(usize::MAX).max(1));
        space[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        buf.filled(n);
        loop {
            match buf.next(conn) {
                Ok(Some(event)) => outcome.events.push(event.into_owned()),
                Ok(None) => break,
                Err(e) => {
                    outcome.error = Some(e);
                    break;
                }
            }
            conn.poll_transmit_vec(&mut outcome.transmitted);
        }
        conn.poll_transmit_vec(&mut outcome.transmitted);
    }
    // The driver's next wakeup: the buffer checks the text of a frame that a read left waiting
    // on the next call, so bad bytes that came with the last read fail the connection here.
    if outcome.error.is_none() {
        if let Err(e) = buf.next(conn) {
            outcome.error = Some(e);
            conn.poll_transmit_vec(&mut outcome.transmitted);
        }
    }
    outcome
}

/// Joins streamed chunks into whole messages so that outcomes of both delivery modes and of
/// any chunking compare equal.
pub fn normalise(events: &[OwnedEvent]) -> Vec<OwnedEvent> {
    let mut out = Vec::new();
    let mut partial: Option<(wsmachine::MessageKind, Vec<u8>)> = None;
    for e in events {
        match e {
            OwnedEvent::Chunk { kind, data, first, last, .. } => {
                if *first {
                    assert!(partial.is_none(), "a new message started inside another");
                    partial = Some((*kind, Vec::new()));
                }
                let (k, buf) = partial.as_mut().expect("chunk without a first chunk");
                assert_eq!(k, kind);
                buf.extend_from_slice(data);
                if *last {
                    let (k, buf) = partial.take().unwrap();
                    out.push(match k {
                        wsmachine::MessageKind::Text => {
                            OwnedEvent::Text(String::from_utf8(buf).expect("text chunks are UTF-8"))
                        }
                        _ => OwnedEvent::Binary(buf),
                    });
                }
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Reads one event from a whole buffer (test helper for single frames).
pub fn read_one<M: Masking>(conn: &mut Connection<M>, bytes: &[u8]) -> Result<Option<OwnedEvent>, ProtocolError> {
    let mut buf = bytes.to_vec();
    let mut assembly = Assembly::new();
    let read = conn.read(&mut buf, &mut assembly)?;
    Ok(read.event.map(Event::into_owned))
}

/// Drains everything a connection wants to send.
pub fn drain<M: Masking>(conn: &mut Connection<M>) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit_vec(&mut out);
    out
}

/// A client and a server over an in-memory "wire".
pub struct Pair<M: Masking> {
    pub client: Connection<M>,
    pub server: Connection,
}

impl<M: Masking> Pair<M> {
    /// Moves the client's queued control frames plus `data` to the server.
    pub fn deliver_to_server(&mut self, data: &[u8]) -> Outcome {
        let mut wire = drain(&mut self.client);
        wire.extend_from_slice(data);
        feed(&mut self.server, &wire, &[])
    }

    /// Moves the server's queued control frames plus `data` to the client.
    pub fn deliver_to_client(&mut self, data: &[u8]) -> Outcome {
        let mut wire = drain(&mut self.server);
        wire.extend_from_slice(data);
        feed(&mut self.client, &wire, &[])
    }
}

/// A server with the default configuration.
pub fn server() -> Connection {
    Connection::server(Config::default())
}

/// A client whose keys count up (predictable, for tests).
pub type TestClient = Connection<TestMasks<Box<dyn FnMut() -> [u8; 4]>>>;

/// A masked client frame, built by a client connection with a counter mask.
pub fn client_frames(f: impl FnOnce(&mut TestClient, &mut Vec<u8>)) -> Vec<u8> {
    let mut client: TestClient = Connection::client_with_test_masks(Config::default(), Box::new(counter_mask()));
    let mut out = Vec::new();
    f(&mut client, &mut out);
    out
}

/// A client frame with the mask bit set and the all-zero key: first byte `b0`, a 7-bit length,
/// the payload as is (XOR with zeros).
pub fn masked(b0: u8, len: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0, 0x80 | len, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}
