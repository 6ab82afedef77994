//! tokio-tungstenite echo: `accept_async_with_config`, then `next()` / `send()` per message, as
//! its README and examples do. The frame limit is raised from 16 MiB to the message limit
//! (64 MiB), as the other servers allow, for the 64 MiB case.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let config = WebSocketConfig::default().max_frame_size(Some(64 << 20)).max_message_size(Some(64 << 20));
                let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(sock, Some(config)).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
