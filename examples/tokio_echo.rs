//! The same engine under tokio: one task per connection, echoing every message from where it
//! was received.
//!
//! ```text
//! cargo run --release --example tokio_echo [ADDR]      # default 127.0.0.1:9002
//! ```
//!
//! Memory: the tasks of a runtime thread share one read buffer (`shared/thread_read.rs`), so an
//! idle connection holds its state and no read buffer. Echoes larger than [`RETAIN`] are written from where the engine assembled them
//! (`Connection::take_message`, vectored writes after their header), as `echo_server` does, and
//! the buffers they needed go back a second or two after the last one.
//!
//! Nothing holds a task for ever: the request head must come within 10 s, a message within 60 s
//! of its first byte (else 1008), an idle connection is pinged after 30 s and dropped 10 s later
//! without a pong, and output that cannot be written for 30 s ends the connection.

use std::io::{self, IoSlice, Write};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, timeout, Instant};
use wsmachine::deflate::{DeflateConfig, EXTENSION_NAME};
use wsmachine::handshake::server::{reject, AcceptOptions, Request, RequestParser};
use wsmachine::{Assembly, Config, Connection};

#[path = "shared/echo.rs"]
mod echo;
#[path = "echo_server/output.rs"]
mod output;
#[path = "shared/thread_read.rs"]
mod thread_read;
use echo::{echo, Sink};
use output::Output;
use thread_read::read_with;

/// Buffer capacity a connection keeps between messages, in its assembly and its output.
pub const RETAIN: usize = 64 << 10;

/// 64 MiB messages, and the deadlines that keep a silent or stuck peer from holding a task: a
/// message must finish within 60 s (else 1008), an idle connection is pinged after 30 s and
/// dropped 10 s later without a pong. `auto_close` is off so that the echo returns the peer's
/// close reason too.
pub const CONFIG: Config = Config::new()
    .max_len(64 << 20)
    .retain_capacity(RETAIN)
    .auto_close(false)
    .message_timeout(Some(Duration::from_secs(60)))
    .keepalive(Some(Duration::from_secs(30)), Duration::from_secs(10));

/// The request head must arrive within this (a slowloris client cannot hold a task).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A round of output that cannot be written within this ends the connection: a peer that stops
/// reading cannot hold the task. (The writes are awaited, so this is a plain timeout around
/// them; the engine's own write-stall timer is for drivers that queue output and report
/// `output_blocked`.)
const WRITE_STALL: Duration = Duration::from_secs(30);

/// How long a connection may go without input before it gives back the buffers of large
/// messages (after one more such wait if it echoed one since the last).
const QUIET: Duration = Duration::from_secs(1);

/// `Write` for [`Output::write_to`]: tokio's non-blocking writes, `WouldBlock` once the socket
/// takes no more.
struct NonBlocking<'a>(&'a TcpStream);

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The opening handshake: the connection and the bytes that came after the request head, or
/// `None` when the request got an HTTP answer or the peer left.
async fn handshake(sock: &mut TcpStream, config: Config) -> io::Result<Option<(Connection, Vec<u8>)>> {
    let mut head = Vec::new();
    let mut parser = RequestParser::with_max_head_len(8 * 1024);
    loop {
        if read_with(sock, |data| head.extend_from_slice(data)).await?.is_none() {
            return Ok(None);
        }
        let incoming = match parser.parse(&head) {
            Ok(Request::Partial) => continue,
            Ok(Request::Upgrade(incoming)) => incoming,
            Ok(_) => {
                let body: &[u8] = b"this is a WebSocket echo server\n";
                let resp = reject(404, "", &[("Content-Type", "text/plain")], body).map(|r| r.response_vec());
                sock.write_all(&resp.unwrap_or_default()).await?;
                return Ok(None);
            }
            Err(rejection) => {
                sock.write_all(&rejection.response_vec()).await?;
                return Ok(None);
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
        let conn = match &params {
            Some(p) => Connection::server(config).with_deflate(p),
            // Large echoes are taken out of the assembly and their buffers reused: the engine
            // keeps what they need between messages, and `serve` trims it when quiet.
            None => Connection::server(config.retain_capacity(config.max_message_len as usize)),
        };
        let rest = head[incoming.head_len()..].to_vec();
        sock.write_all(&response).await?;
        return Ok(Some((conn, rest)));
    }
}

/// Serves one connection until it closes, with [`CONFIG`].
pub async fn serve(sock: TcpStream) -> io::Result<()> {
    serve_with(sock, CONFIG).await
}

/// Serves one connection until it closes.
pub async fn serve_with(mut sock: TcpStream, config: Config) -> io::Result<()> {
    let start = Instant::now();
    let Ok(head) = timeout(HEAD_TIMEOUT, handshake(&mut sock, config)).await else { return Ok(()) };
    let Some((mut conn, mut rest)) = head? else { return Ok(()) };
    // One `Assembly` per connection, beside it: events borrow it and the input, never the
    // connection, so every message is echoed from where it was received.
    let mut assembly = Assembly::new();
    let mut out = Output::new(RETAIN);
    echo(&mut conn, &mut assembly, &mut rest, &mut out, false);
    drop(rest);
    // One timer for the connection, and the deadline it is armed for.
    let mut timer = Box::pin(sleep_until(start));
    let mut armed: Option<Instant> = None;
    loop {
        if out.backlog() > 0 {
            let write = async {
                while out.backlog() > 0 {
                    sock.writable().await?;
                    out.write_to(&mut NonBlocking(&sock))?;
                }
                io::Result::Ok(())
            };
            timeout(WRITE_STALL, write).await.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        }
        if conn.should_close_transport() {
            let _ = timeout(WRITE_STALL, sock.shutdown()).await;
            return Ok(());
        }
        // The engine's next timer (keepalive, message and close deadlines), and while buffers
        // of large messages are held, the moment to give them back if the peer stays quiet.
        let due = conn.poll_timeout(start.elapsed()).map(|d| start + d);
        let large = assembly.heap_bytes() > RETAIN || out.capacity() > RETAIN;
        let quiet = large.then(|| Instant::now() + QUIET);
        let deadline = match (due, quiet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The timer is moved only to an earlier deadline: most reads push the keepalive
        // deadline later, and a wakeup before anything is due costs one look, whereas moving
        // the timer at every read costs a timer registration per read.
        if let Some(deadline) = deadline.filter(|&d| armed.is_none_or(|a| d < a)) {
            timer.as_mut().reset(deadline);
            armed = Some(deadline);
        }
        let read = read_with(&mut sock, |data| echo(&mut conn, &mut assembly, data, &mut out, false));
        let read = match armed {
            Some(_) => tokio::select! {
                biased;
                read = read => Some(read?),
                () = timer.as_mut() => None,
            },
            None => Some(read.await?),
        };
        match read {
            Some(Some(())) => {}
            Some(None) => {
                let _ = conn.read_eof();
                return Ok(());
            }
            // The timer: no byte came before it.
            None => {
                armed = None;
                let now = Instant::now();
                if due.is_some_and(|due| now >= due) {
                    // Keepalive ping, or a deadline's verdict (see `Connection::handle_timeout`).
                    conn.handle_timeout(now - start);
                    conn.poll_transmit_vec(out.bytes());
                }
                if quiet.is_some_and(|quiet| now >= quiet) && out.quiet(1) {
                    assembly.trim(RETAIN);
                }
            }
        }
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
