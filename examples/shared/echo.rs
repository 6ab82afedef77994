//! The echo of the README's drive loop, shared by `echo_server`, `tokio_echo` and `hyper_server`
//! (included with `#[path]`): events borrow the input and the assembly, never the connection, so
//! every message is sent back from where it was received, with no copy and no second UTF-8
//! validation. An output that can write a payload it owns after its frames (the `Output` of
//! `echo_server/output.rs`, with vectored writes, which `tokio_echo` uses too) takes large
//! messages out of the assembly (`Connection::take_message`) instead of copying them, on
//! connections without permessage-deflate.

use wsmachine::{Assembly, CloseCode, Connection, Event, Message};

/// Where [`echo`] queues what it sends.
pub trait Sink {
    /// The encoded frames, in order.
    fn bytes(&mut self) -> &mut Vec<u8>;

    /// Whether a message of `len` bytes put together in the assembly should be taken out of it
    /// and [`keep`](Self::keep)t whole rather than copied into [`bytes`](Self::bytes).
    fn keeps(&self, _len: usize) -> bool {
        false
    }

    /// A buffer of an earlier kept payload, written out, for the assembly to reuse.
    fn spare(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// Queues `payload` after the frames queued so far.
    fn keep(&mut self, payload: Vec<u8>) {
        self.bytes().extend_from_slice(&payload);
    }
}

impl Sink for Vec<u8> {
    fn bytes(&mut self) -> &mut Vec<u8> {
        self
    }
}

/// Feeds received bytes to the engine and queues the echoes and protocol replies in `out`;
/// `verbose` logs protocol and send errors to stderr.
pub fn echo(conn: &mut Connection, assembly: &mut Assembly, data: &mut [u8], out: &mut impl Sink, verbose: bool) {
    let mut start = 0;
    loop {
        let read = match conn.read(&mut data[start..], assembly) {
            Ok(read) => read,
            Err(e) => {
                // The Close with the error's code is queued; later input is ignored.
                if verbose {
                    eprintln!("protocol error: {e}");
                }
                break;
            }
        };
        start += read.consumed;
        // Queued control frames go out before later data; draining after every event also
        // gives each ping its own pong (RFC 6455 §5.5.2; pings are answered by the engine).
        conn.poll_transmit_vec(out.bytes());
        let sent = match read.event {
            None => break,
            // Only without permessage-deflate: a compressed connection's echoes are compressed
            // (RFC 7692 §6 would allow them plain, but kosoku, the Autobahn runner, mishandles
            // plain messages on a compressed connection).
            Some(Event::Message(m))
                if out.keeps(m.as_bytes().len()) && !conn.deflate_enabled() && conn.last_message_assembled() =>
            {
                // `m` is not used past here, so the assembly can hand its bytes over.
                let kind = m.kind();
                let Some(mut payload) = conn.take_message(assembly) else { continue };
                if let Some(spare) = out.spare() {
                    assembly.recycle(spare);
                }
                conn.frame_header(kind, &mut payload, true).map(|head| {
                    out.bytes().extend_from_slice(head.as_bytes());
                    out.keep(payload);
                })
            }
            Some(Event::Message(Message::Text(text))) => conn.send_text_vec(text, out.bytes()).map(drop),
            Some(Event::Message(Message::Binary(data))) => conn.send_binary_vec(data, out.bytes()).map(drop),
            // RFC 6455 §5.5.1: echo the code, and here the reason too; a Close without a code
            // is answered with 1000.
            Some(Event::Close(frame)) => {
                let (code, reason) = frame.map_or((CloseCode::NORMAL, ""), |f| (f.code, f.reason));
                // Written after the replies drained above (a Close drops any still queued).
                let _ = conn.close_vec(code, reason, out.bytes());
                continue;
            }
            Some(_) => continue,
        };
        if let Err(e) = sent {
            if verbose {
                eprintln!("send: {e}");
            }
        }
    }
    conn.poll_transmit_vec(out.bytes());
}
