//! The kernel's limit: writes back whatever it reads, no framing at all. The load generator's
//! upgrade request comes back as its "101" and every masked frame comes back masked, so the
//! generator expects its own bytes (see `benches/load/src/load/echo.rs`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if sock.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
