//! The echo of the README's drive loop, shared by `echo_server`, `tokio_echo` and `hyper_server`
//! (included with `#[path]`): events borrow the input and the assembly, never the connection, so
//! every message is sent back from where it was received, with no copy and no second UTF-8
//! validation.

use wsmachine::{Assembly, CloseCode, Connection, Event, Message};

/// Feeds received bytes to the engine and queues the echoes and protocol replies in `out`;
/// `verbose` logs protocol and send errors to stderr.
pub fn echo(conn: &mut Connection, assembly: &mut Assembly, data: &mut [u8], out: &mut Vec<u8>, verbose: bool) {
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
        conn.poll_transmit_vec(out);
        let sent = match read.event {
            None => break,
            Some(Event::Message(Message::Text(text))) => conn.send_text_vec(text, out),
            Some(Event::Message(Message::Binary(data))) => conn.send_binary_vec(data, out),
            // RFC 6455 §5.5.1: echo the code, and here the reason too; a Close without a code
            // is answered with 1000.
            Some(Event::Close(frame)) => {
                let (code, reason) = frame.map_or((CloseCode::NORMAL, ""), |f| (f.code, f.reason));
                // Written after the replies drained above (a Close drops any still queued).
                let _ = conn.close_vec(code, reason, out);
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
    conn.poll_transmit_vec(out);
}
