//! fastwebsockets echo: hyper 1 serves the upgrade (`fastwebsockets::upgrade::upgrade`), then a
//! `FragmentCollector` reads frames and writes the data frames back, as its echo_server
//! example does (auto pong and auto close are on by default). Its message limit refuses a
//! message of exactly 64 MiB (`>=`), so it is raised by one byte for the 64 MiB case.

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_max_message_size((64 << 20) + 1);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = echo(fut).await;
    });
    Ok(response)
}

fn main() {
    wsmachine_load_peers::run(|listener| async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(sock);
                let _ = http1::Builder::new().serve_connection(io, service_fn(upgrade)).with_upgrades().await;
            });
        }
    });
}
