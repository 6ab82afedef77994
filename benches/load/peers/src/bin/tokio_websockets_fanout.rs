//! tokio-websockets fan-out for the broadcast cases of benches/load: every text message a client
//! sends goes to every other client. A task per connection; messages pass through a
//! `tokio::sync::broadcast` channel, and each subscriber's task encodes every message for its
//! own connection (tokio-websockets has no shared-frame API and no permessage-deflate): `feed`
//! for each message waiting, then one `flush`, so a batch costs one write, as in wsmachine's
//! fan-out server.

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_websockets::{Config, Limits, Message, ServerBuilder};

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        // (sender's id, message): a client does not get its own messages back.
        let (tx, _) = broadcast::channel::<(u64, Message)>(4096);
        for id in 0u64.. {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            let (tx, mut rx) = (tx.clone(), tx.subscribe());
            tokio::spawn(async move {
                let builder =
                    ServerBuilder::new().config(Config::default().frame_size(usize::MAX)).limits(Limits::unlimited());
                let Ok((_request, mut ws)) = builder.accept(sock).await else { return };
                loop {
                    tokio::select! {
                        msg = ws.next() => match msg {
                            Some(Ok(msg)) if msg.is_text() || msg.is_binary() => {
                                let _ = tx.send((id, msg));
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        got = rx.recv() => {
                            let mut next = got;
                            // Bounded by the channel's capacity: what is waiting now, then one flush.
                            for _ in 0..4096 {
                                match next {
                                    Ok((from, msg)) if from != id => {
                                        if ws.feed(msg).await.is_err() {
                                            return;
                                        }
                                    }
                                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                                    Err(RecvError::Closed) => return,
                                }
                                match rx.try_recv() {
                                    Ok(m) => next = Ok(m),
                                    Err(_) => break,
                                }
                            }
                            if ws.flush().await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
