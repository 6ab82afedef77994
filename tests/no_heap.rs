//! The chunk-streaming engine with fixed arrays only: what `--no-default-features` users get.

use wsmachine::{Assembly, Config, Connection, Delivery, Event, MessageKind};

#[test]
fn streams_a_fragmented_split_message_with_fixed_buffers() {
    let mut client = Connection::client_with_test_masks(Config::new(), || [9, 8, 7, 6]);
    let mut wire = [0u8; 256];
    let mut len = 0;
    len += client.send_fragment(MessageKind::Text, "héllo ".as_bytes(), false, &mut wire[len..]).unwrap();
    len += client.ping(b"hi", &mut wire[len..]).unwrap();
    len += client.send_fragment(MessageKind::Text, "wörld".as_bytes(), true, &mut wire[len..]).unwrap();
    len += client.send_binary(&[1, 2, 3], &mut wire[len..]).unwrap();

    let mut server = Connection::server(Config::new().delivery(Delivery::Stream));
    let mut text = [0u8; 64];
    let mut text_len = 0;
    let (mut pings, mut binaries, mut pong) = (0, 0, [0u8; 16]);
    let mut pong_len = 0;
    // 126 bytes inline: where a control frame split across reads waits.
    let mut assembly = Assembly::new();
    // Feed the wire 5 bytes at a time, as a tiny embedded TCP stack would.
    for piece in wire[..len].chunks_mut(5) {
        let mut at = 0;
        loop {
            let read = server.read(&mut piece[at..], &mut assembly).unwrap();
            at += read.consumed;
            match read.event {
                Some(Event::Chunk(c)) if c.kind() == MessageKind::Text => {
                    let data = c.data();
                    text[text_len..text_len + data.len()].copy_from_slice(data);
                    text_len += data.len();
                }
                Some(Event::Ping(p)) => {
                    assert_eq!(p, b"hi");
                    pings += 1;
                }
                Some(Event::Chunk(c)) if c.is_last() => {
                    assert_eq!(c.kind(), MessageKind::Binary);
                    assert!(c.data().len() <= 3);
                    binaries += 1;
                }
                Some(Event::Chunk(_)) => {}
                Some(Event::Message(m)) => panic!("stream delivery has chunks only, got {m:?}"),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
            pong_len += server.poll_transmit(&mut pong[pong_len..]);
        }
    }
    assert_eq!(core::str::from_utf8(&text[..text_len]), Ok("héllo wörld"));
    assert_eq!((pings, binaries), (1, 1));
    assert_eq!(&pong[..pong_len], b"\x8a\x02hi");
}
