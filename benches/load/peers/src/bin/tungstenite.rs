//! tokio-tungstenite echo: `accept_async`, then `next()` / `send()` per message, as its README
//! and examples do.

use futures_util::{SinkExt, StreamExt};

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(sock).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
