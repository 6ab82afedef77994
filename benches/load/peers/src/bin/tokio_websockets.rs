//! tokio-websockets echo: `ServerBuilder::accept`, then `next()` / `send()` per message, as its
//! echo_server example does (limits lifted the same way).

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{Config, Limits, ServerBuilder};

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let builder =
                    ServerBuilder::new().config(Config::default().frame_size(usize::MAX)).limits(Limits::unlimited());
                let Ok((_request, mut ws)) = builder.accept(sock).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
