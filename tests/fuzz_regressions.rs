//! Regression tests for bugs found by the fuzz targets in `fuzz/` (see `fuzz/README.md`).
//! Each test feeds the bytes of a (minimised) crash through the public API only.
#![cfg(feature = "alloc")]

use wsmachine::{Config, Connection, Event, State};

/// Feeds `chunks` to `conn` one `read` per chunk (draining `poll_transmit`), returning the owned
/// events, the first error and everything transmitted.
fn feed<M: wsmachine::Masking>(
    conn: &mut Connection<M>,
    chunks: &[&[u8]],
) -> (Vec<wsmachine::OwnedEvent>, Option<wsmachine::ProtocolError>, Vec<u8>) {
    let (mut events, mut error, mut out) = (Vec::new(), None, Vec::new());
    let mut assembly = wsmachine::Assembly::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut start = 0;
        loop {
            match conn.read(&mut buf[start..], &mut assembly) {
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
    assert_eq!(server.state(), State::Failed(wsmachine::CloseCode::PROTOCOL_ERROR));
}

/// fuzz: deflate crash-cd7de418. `Codec::inflate` (src/deflate.rs) maps a `decompress` error to
/// `InvalidCompressedData` before it checks the output that same call produced against the
/// message limit (and before `read_compressed` checks it for UTF-8), so a message that is both
/// over `max_message_len` and corrupt further on is refused with 1009 when the read ends before
/// the corrupt bytes and with 1007 when it does not: the close code depends on the segmentation.
#[test]
#[cfg(feature = "deflate")]
fn deflate_error_does_not_depend_on_the_split() {
    use wsmachine::deflate::DeflateConfig;
    use wsmachine::{Delivery, ProtocolError};
    // One unmasked binary frame, FIN + RSV1, whose 39-byte payload inflates to at least one byte
    // within its first 5 bytes and is invalid DEFLATE later on.
    let payload = [
        0xF2, 0x02, 0x04, 0x58, 0xC9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xF2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x07, 0x00,
    ];
    let wire = [&[0xC2, payload.len() as u8][..], &payload].concat();
    let params = DeflateConfig::new().accept_response([]).unwrap();
    let config = Config::new().max_message_len(0).max_frame_payload(65536).delivery(Delivery::Stream).auto_pong(false);
    let run = |chunks: &[&[u8]]| {
        let mut seed = 0u32;
        let mut client = Connection::client_with_test_masks(config.auto_close(false), move || {
            seed = seed.wrapping_add(1);
            seed.to_le_bytes()
        })
        .with_deflate(&params);
        feed(&mut client, chunks).1
    };
    let split = run(&[&wire[..7], &wire[7..]]);
    let whole = run(&[&wire]);
    assert_eq!(split, Some(ProtocolError::MessageTooLarge));
    // Expected: the same MessageTooLarge (1009); actual: InvalidCompressedData (1007).
    assert_eq!(whole, split);
}

/// fuzz: server_read crash-a05aba54 (in-place mode through a `RecvBuffer`). A frame header
/// cut short used to be staged inside the connection, after which its frame was no longer left
/// to wait in place but streamed into the assembly buffer: a truncated text frame with bad
/// UTF-8 failed (1007) when its first byte arrived alone and waited quietly when the header
/// arrived whole. Now a short header waits in the buffer as well, whatever the split, and the
/// buffer checks the frame's text as it arrives: every split fails by the call of `next` after
/// the one that left the first bad payload byte waiting (the first call, if the bad byte came
/// after the header).
#[test]
fn in_place_frames_wait_whatever_the_split_of_their_header() {
    // A masked text frame of 93 bytes whose payload is invalid UTF-8 (0xFF), 40 bytes of it here.
    let mut wire = vec![0x81, 0x80 | 93, 0, 0, 0, 0];
    wire.extend_from_slice(&[0xFF; 40]);
    for cut in 0..8 {
        let mut conn = Connection::server(Config::default());
        let mut buf = wsmachine::RecvBuffer::new();
        let mut received = 0;
        let mut failed_at = None;
        'feed: for mut piece in [&wire[..cut], &wire[cut..]] {
            while !piece.is_empty() {
                let space = buf.spare(&conn);
                let n = space.len().min(piece.len());
                space[..n].copy_from_slice(&piece[..n]);
                piece = &piece[n..];
                buf.filled(n);
                received += n;
                // The buffer looks at what a read left waiting on the next call.
                let result = match buf.next(&mut conn).map(|e| e.is_some()) {
                    Ok(false) => buf.next(&mut conn).map(|e| e.is_some()),
                    other => other,
                };
                match result {
                    Err(e) => {
                        assert_eq!(e, wsmachine::ProtocolError::InvalidUtf8, "cut {cut}");
                        failed_at = Some(received);
                        break 'feed;
                    }
                    Ok(event) => assert!(!event, "cut {cut}"),
                }
                // The header, whole or not, and the frame wait in the buffer, unused.
                assert_eq!(buf.unused().len(), received, "cut {cut}");
            }
        }
        // The first read that brings payload bytes is the one that fails.
        let first_payload_read = if cut > 6 { cut } else { wire.len() };
        assert_eq!(failed_at, Some(first_payload_read), "cut {cut}");
        assert_eq!(conn.state(), State::Failed(wsmachine::CloseCode::INVALID_PAYLOAD), "cut {cut}");
    }
}
