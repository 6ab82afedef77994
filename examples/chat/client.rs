//! One connection: its phases (request head, WebSocket, gate, closing), its output, and what
//! its input asks of the room.

use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser};
use wsmachine::{Assembly, Config, Connection, Event, Message, State};

use crate::http::{plain, query_param, simple};
use crate::out::OutQueue;
use crate::{room, Options, LINGER};

pub enum Phase {
    Head {
        parser: RequestParser,
        buf: Vec<u8>,
        deadline: Instant,
    },
    Ws(Box<Ws>),
    /// A `/gate?id=` request waiting for `/done?id=` (the browser test's load-event trick).
    Gate {
        id: String,
        deadline: Instant,
    },
    /// Flush, shut down the write half, then drop at the deadline or at EOF.
    Closing {
        deadline: Instant,
    },
}

pub struct Ws {
    pub conn: Connection,
    pub assembly: Assembly,
}

pub struct Client {
    pub sock: TcpStream,
    pub phase: Phase,
    pub out: OutQueue,
    pub write_shut: bool,
}

impl Client {
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush(&mut self.sock)?;
        if matches!(self.phase, Phase::Closing { .. }) && self.out.len == 0 && !self.write_shut {
            self.write_shut = true;
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    pub fn ws_open(&self) -> bool {
        matches!(&self.phase, Phase::Ws(ws) if ws.conn.state() == State::Open)
    }

    /// Queues a text message of our own (ignored once the connection is closing).
    pub fn send_text(&mut self, text: &str) {
        if let Phase::Ws(ws) = &mut self.phase {
            let conn = &mut ws.conn;
            self.out.with_vec(|out| conn.send_text_vec(text, out)).ok();
        }
    }
}

/// What a client asked for, applied once its borrow ends.
pub enum Action {
    Join { room: String, name: String },
    Say(String),
}

/// Feeds bytes to a client in any phase; returns whether a `/done` arrived.
#[allow(clippy::too_many_arguments)]
pub fn on_bytes(
    c: &mut Client,
    data: &mut [u8],
    actions: &mut Vec<Action>,
    results: &mut HashMap<String, String>,
    config: &Config,
    opts: &Options,
    deflate: &DeflateConfig,
    now: Instant,
) -> bool {
    match &mut c.phase {
        Phase::Head { parser, buf, .. } => {
            buf.extend_from_slice(data);
            let incoming = match parser.parse(buf) {
                Ok(Request::Partial) => return false,
                Ok(Request::Upgrade(incoming)) => incoming,
                Ok(Request::Plain(req)) => {
                    let (reply, done) = plain(&req, results);
                    match reply {
                        Some(bytes) => {
                            c.out.with_vec(|o| o.extend_from_slice(&bytes));
                            c.phase = Phase::Closing { deadline: now + LINGER };
                        }
                        None => {
                            let id = query_param(req.path(), "id").unwrap_or_default();
                            c.phase = Phase::Gate { id, deadline: now + Duration::from_secs(60) };
                        }
                    }
                    return done;
                }
                Ok(_) => {
                    c.out.with_vec(|o| o.extend_from_slice(&simple(400, "text/plain", b"unsupported\n")));
                    c.phase = Phase::Closing { deadline: now + LINGER };
                    return false;
                }
                Err(rejection) => {
                    c.out.with_vec(|o| o.extend_from_slice(&rejection.response_vec()));
                    c.phase = Phase::Closing { deadline: now + LINGER };
                    return false;
                }
            };
            // permessage-deflate: the first acceptable offer (RFC 7692 §5), with
            // server_no_context_takeover, so one compressed Broadcast frame serves every member
            // that has it; the others get the plain frame (RSV1 clear, §6).
            let params = incoming
                .extensions()
                .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
                .find_map(|e| deflate.accept_offer(e.params()));
            let extensions = params.as_ref().map(|p| p.response());
            let mut accept = AcceptOptions::new();
            if let Some(e) = extensions.as_deref() {
                accept = accept.with_extensions(e);
            }
            let Ok(response) = incoming.accept(&accept).map(|a| a.response_vec()) else {
                c.phase = Phase::Closing { deadline: now };
                return false;
            };
            let mut conn = Connection::server(*config);
            if let Some(p) = &params {
                conn = conn.with_deflate(p);
            }
            let mut rest = buf[incoming.head_len()..].to_vec();
            c.out.with_vec(|o| o.extend_from_slice(&response));
            c.phase = Phase::Ws(Box::new(Ws { conn, assembly: Assembly::new() }));
            if !rest.is_empty() {
                return on_bytes(c, &mut rest, actions, results, config, opts, deflate, now);
            }
        }
        Phase::Ws(ws) => {
            read_ws(ws, data, &mut c.out, actions, opts.verbose);
            if ws.conn.should_close_transport() {
                c.phase = Phase::Closing { deadline: now + LINGER };
            }
        }
        Phase::Gate { .. } | Phase::Closing { .. } => {}
    }
    false
}

/// Reads WebSocket input: requests become actions, replies (pongs, the Close echo, errors)
/// are queued. A message over `max_len` fails the connection with 1009 (RFC 6455 §7.4.1).
pub fn read_ws(ws: &mut Ws, data: &mut [u8], out: &mut OutQueue, actions: &mut Vec<Action>, verbose: bool) {
    let Ws { conn, assembly } = ws;
    let mut start = 0;
    loop {
        let read = match conn.read(&mut data[start..], assembly) {
            Ok(read) => read,
            Err(e) => {
                if verbose {
                    eprintln!("protocol error: {e}");
                }
                break;
            }
        };
        start += read.consumed;
        out.with_vec(|o| conn.poll_transmit_vec(o));
        match read.event {
            None => break,
            Some(Event::Message(Message::Text(text))) => match serde_json::from_str::<room::Request>(text) {
                Ok(room::Request::Join { room, name }) => actions.push(Action::Join { room, name }),
                Ok(room::Request::Say { text }) => actions.push(Action::Say(text)),
                Err(e) => {
                    let reply = room::error(&format!("bad request: {e}"));
                    let _ = out.with_vec(|o| conn.send_text_vec(&reply, o));
                }
            },
            Some(Event::Message(Message::Binary(_))) => {
                let reply = room::error("binary messages are not used");
                let _ = out.with_vec(|o| conn.send_text_vec(&reply, o));
            }
            Some(_) => {}
        }
    }
    out.with_vec(|o| conn.poll_transmit_vec(o));
}
