//! Regression tests for bugs found by the fuzz targets in `fuzz/` (see `fuzz/README.md`).
//! Each test feeds the bytes of a (minimised) crash through the public API only.
#![cfg(feature = "alloc")]

use wsmachine::{Config, Connection, Event, State};

/// Feeds `chunks` to `conn` one `read` per chunk (draining `poll_transmit`), returning the owned
/// events, the first error and everything transmitted.
fn feed<M: wsmachine::MaskSource>(
    conn: &mut Connection<M>,
    chunks: &[&[u8]],
) -> (Vec<wsmachine::OwnedEvent>, Option<wsmachine::ProtocolError>, Vec<u8>) {
    let (mut events, mut error, mut out) = (Vec::new(), None, Vec::new());
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut start = 0;
        loop {
            match conn.read(&mut buf[start..]) {
                Ok(r) => {
                    start += r.consumed;
                    let more = r.event.is_some();
                    events.extend(r.event.map(Event::into_owned));
                    conn.poll_transmit_vec(&mut out);
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    error.get_or_insert(e);
                    conn.poll_transmit_vec(&mut out);
                    break;
                }
            }
        }
    }
    (events, error, out)
}

/// fuzz: server_read crash-58bd2c6c. A header staged with only its first byte took just the
/// second byte from the next read and then reported all of that read as consumed, silently
/// dropping the mask key and payload (and desynchronising the stream).
#[test]
fn header_split_after_first_byte_keeps_the_rest_of_the_read() {
    // RFC 6455 §5.7 masked "Hello", split after the first byte.
    let frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut server = Connection::server(Config::new());
    let (events, error, _) = feed(&mut server, &[&frame[..1], &frame[1..]]);
    assert_eq!(error, None);
    assert_eq!(events, [wsmachine::OwnedEvent::Text("Hello".into())]);

    // The crash itself: a masked pong with RSV2 set must fail (1002) whatever the split.
    let wire = [0xAA, 0xF4, 0x41, 0x00, 0xF4, 0x26, 0x00, 0xF4, 0x41, 0x80, 0x40];
    let mut server = Connection::server(Config::new());
    let (_, error, out) = feed(&mut server, &[&wire[..1], &wire[1..]]);
    assert_eq!(error, Some(wsmachine::ProtocolError::ReservedBits(2)));
    assert_eq!(out, [0x88, 0x02, 0x03, 0xEA]);
    assert_eq!(server.state(), State::Failed);
}
