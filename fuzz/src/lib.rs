//! Shared drivers for the wsmachine fuzz targets (each target in `fuzz_targets/` is a thin
//! wrapper around one of these functions, so the invariants live in one reviewed place).

pub mod api;
pub mod deflate;
pub mod handshake;
pub mod read;
pub mod roundtrip;

use wsmachine::{Delivery, Event, Message};

/// An event with its data copied and stream chunks already joined into whole messages, so that
/// runs with different input splits can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Norm {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// Joins `Delivery::Stream` chunks into messages and checks the chunk flags on the way.
pub struct Normaliser {
    /// `Delivery::Stream`: every data message comes as chunks (a whole frame as one chunk,
    /// `first` and `last`), never as `Event::Message`; otherwise never as chunks.
    stream: bool,
    /// The kind and bytes of the message whose chunks are arriving.
    pending: Option<(wsmachine::MessageKind, Vec<u8>)>,
    pub events: Vec<Norm>,
}

impl Normaliser {
    pub fn new(delivery: Delivery) -> Self {
        Normaliser { stream: delivery == Delivery::Stream, pending: None, events: Vec::new() }
    }

    /// Records one event; `max_message_len` bounds every message and every chunk sum.
    pub fn push(&mut self, event: &Event<'_>, max_message_len: u64) {
        match *event {
            Event::Message(m) => {
                assert!(!self.stream, "Event::Message with Delivery::Stream: {m:?}");
                assert!(self.pending.is_none(), "a whole message inside a chunked one");
                assert!(m.as_bytes().len() as u64 <= max_message_len, "message over max_message_len");
                self.events.push(match m {
                    Message::Text(t) => Norm::Text(t.to_owned()),
                    Message::Binary(b) => Norm::Binary(b.to_vec()),
                    _ => unreachable!(),
                });
            }
            Event::Chunk(c) => {
                assert!(self.stream, "Event::Chunk with Delivery::Assemble");
                assert_eq!(c.is_first(), self.pending.is_none(), "chunk `first` flag out of step");
                let (kind, buf) = self.pending.get_or_insert_with(|| (c.kind(), Vec::new()));
                assert_eq!(*kind, c.kind(), "chunk kind changed inside a message");
                buf.extend_from_slice(c.data());
                assert!(buf.len() as u64 <= max_message_len, "chunks over max_message_len");
                if c.is_last() {
                    let (kind, buf) = self.pending.take().unwrap();
                    self.events.push(match kind {
                        wsmachine::MessageKind::Text => {
                            Norm::Text(String::from_utf8(buf).expect("text chunks must join to UTF-8"))
                        }
                        _ => Norm::Binary(buf),
                    });
                }
            }
            Event::Ping(p) => {
                assert!(p.len() <= 125);
                self.events.push(Norm::Ping(p.to_vec()));
            }
            Event::Pong(p) => {
                assert!(p.len() <= 125);
                self.events.push(Norm::Pong(p.to_vec()));
            }
            Event::Close(c) => {
                let c = c.map(|c| {
                    assert!(c.code.is_valid_on_wire(), "close code {} reported", c.code);
                    assert!(c.reason.len() <= 123);
                    (c.code.0, c.reason.to_owned())
                });
                self.events.push(Norm::Close(c));
            }
            _ => unreachable!("unknown event"),
        }
    }
}
