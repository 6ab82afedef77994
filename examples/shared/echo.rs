//! The echo of the README's drive loop, shared by `tokio_echo` and `hyper_server` (included with
//! `#[path]`): every message sent back as it was borrowed, with no copy and no second UTF-8
//! validation.

use wsmachine::{Assembly, CloseCode, Connection, Event, Message};

/// Feeds received bytes to the engine and queues the echoes and protocol replies in `out`.
pub fn echo(conn: &mut Connection, assembly: &mut Assembly, data: &mut [u8], out: &mut Vec<u8>) {
    let mut start = 0;
    // On a protocol error the engine has queued its Close; the rest of the input is ignored.
    while let Ok(r) = conn.read(&mut data[start..], assembly) {
        start += r.consumed;
        // Queued control frames (pongs) go out before later data.
        conn.poll_transmit_vec(out);
        let sent = match r.event {
            None => break,
            Some(Event::Message(Message::Text(text))) => conn.send_text_vec(text, out),
            Some(Event::Message(Message::Binary(data))) => conn.send_binary_vec(data, out),
            Some(Event::Close(frame)) => {
                let (code, reason) = frame.map_or((CloseCode::NORMAL, ""), |f| (f.code, f.reason));
                // RFC 6455 §5.5.1: echo the status code (and here the reason too), after the
                // replies drained above (a Close drops any still queued).
                let _ = conn.close_vec(code, reason, out);
                continue;
            }
            Some(_) => continue,
        };
        if let Err(e) = sent {
            eprintln!("send: {e}");
        }
    }
    conn.poll_transmit_vec(out);
}
