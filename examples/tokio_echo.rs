//! The same engine under tokio: one task per connection, reading into a buffer and writing
//! whatever the engine produces.
//!
//! ```text
//! cargo run --release --example tokio_echo [ADDR]      # default 127.0.0.1:9002
//! ```

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::server::{reject, AcceptOptions, Request, RequestParser};
use wsmachine::{Assembly, Config, Connection};

#[path = "shared/echo.rs"]
mod echo;
use echo::echo;

const CONFIG: Config = Config::new().max_len(64 << 20).retain_capacity(64 << 10).auto_close(false);

async fn serve(mut sock: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    let mut parser = RequestParser::with_max_head_len(8 * 1024);
    // The opening handshake. (A server facing the internet would also put a deadline on the
    // head, e.g. `tokio::time::timeout`, which needs tokio's `time` feature; the head size
    // is bounded by the parser.)
    let (response, mut conn, mut rest) = loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let incoming = match parser.parse(&head) {
            Ok(Request::Partial) => continue,
            Ok(Request::Upgrade(incoming)) => incoming,
            Ok(_) => {
                let body: &[u8] = b"this is a WebSocket echo server\n";
                let resp = reject(404, "", &[("Content-Type", "text/plain")], body).map(|r| r.response_vec());
                sock.write_all(&resp.unwrap_or_default()).await?;
                return Ok(());
            }
            Err(rejection) => {
                sock.write_all(&rejection.response_vec()).await?;
                return Ok(());
            }
        };
        let deflate = DeflateConfig::new();
        let params = incoming
            .extensions()
            .filter(|e| e.name().eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| deflate.accept_offer(e.params()));
        let ext = params.as_ref().map(|p| p.response());
        let mut opts = AcceptOptions::new();
        if let Some(e) = ext.as_deref() {
            opts = opts.with_extensions(e);
        }
        let response = incoming.accept(&opts).map_err(|e| io::Error::other(e.to_string()))?.response_vec();
        let mut conn = Connection::server(CONFIG);
        if let Some(p) = &params {
            conn = conn.with_deflate(p);
        }
        break (response, conn, head[incoming.head_len()..].to_vec());
    };
    sock.write_all(&response).await?;

    // One `Assembly` per connection, beside it: events borrow it and the input, never the
    // connection, so every message is echoed from where it was received.
    let mut assembly = Assembly::new();
    let mut out = Vec::new();
    // Bytes that came with the handshake first, then each read in place in `buf`.
    let mut data: &mut [u8] = &mut rest;
    loop {
        echo(&mut conn, &mut assembly, data, &mut out, false);
        if !out.is_empty() {
            sock.write_all(&out).await?;
            out.clear();
        }
        if conn.should_close_transport() {
            let _ = sock.shutdown().await;
            return Ok(());
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            let _ = conn.read_eof();
            return Ok(());
        }
        data = &mut buf[..n];
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("listening on ws://{a}"),
        Err(_) => println!("listening on ws://{addr}"),
    }
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                let _ = sock.set_nodelay(true);
                tokio::spawn(async move {
                    if let Err(e) = serve(sock).await {
                        eprintln!("connection: {e}");
                    }
                });
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
