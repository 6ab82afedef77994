//! The engine the way an embedded TCP stack would use it: fixed arrays only, streamed
//! delivery, no heap. Blocking `std::net` stands in for the device's sockets.
//!
//! ```text
//! cargo run --example no_alloc -- --self-test     # client and server over loopback
//! cargo run --example no_alloc -- [ADDR]          # echo server, one connection at a time
//! ```
//!
//! Builds with `--no-default-features` too. In `--self-test` a counting global allocator
//! checks that neither side allocates once the sockets are connected.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

use wsmachine::handshake::client::{ClientRequest, Reply};
use wsmachine::handshake::server::{AcceptOptions, Request, RequestParser};
use wsmachine::{Assembly, ChaChaMask, CloseCode, Config, Connection, Delivery, Event, Masking, MessageKind};

/// Counts heap allocations made by threads that have set `WATCH`.
struct Counting;

static WATCHED_ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCH.with(Cell::get) {
            WATCHED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 4 KiB in, 4 KiB + a frame header out: the whole per-connection memory besides the engine.
const BUF: usize = 4096;
const OUT: usize = BUF + 14;
const CONFIG: Config = Config::new().delivery(Delivery::Stream).max_len(1 << 30);

fn err(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

/// Random bytes without a heap or an RNG crate: std's `RandomState` is seeded from the OS.
/// (A device would use its hardware RNG here.)
fn random_u64(counter: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(counter)
}

/// The client's masking keys: a ChaCha keystream from a 32-byte secret seed, no heap.
fn mask_source() -> ChaChaMask {
    let mut seed = [0u8; 32];
    for (i, part) in seed.chunks_exact_mut(8).enumerate() {
        part.copy_from_slice(&random_u64(0x5EED + i as u64).to_le_bytes());
    }
    ChaChaMask::from_seed(seed)
}

fn write_all_out<M: Masking>(sock: &mut TcpStream, conn: &mut Connection<M>, out: &mut [u8; OUT]) -> io::Result<()> {
    while conn.wants_write() {
        let n = conn.poll_transmit(out);
        sock.write_all(&out[..n])?;
    }
    Ok(())
}

/// Serves one connection: handshake into fixed buffers, then echo every chunk as a fragment,
/// straight from the input buffer where it was unmasked.
fn serve(mut sock: TcpStream) -> io::Result<()> {
    let mut head = [0u8; BUF];
    let mut filled = 0;
    let mut parser = RequestParser::with_max_head_len(BUF);
    let mut out = [0u8; OUT];
    let (mut conn, mut input, mut start, mut end) = loop {
        let n = sock.read(&mut head[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        match parser.parse(&head[..filled]) {
            Ok(Request::Partial) if filled < BUF => continue,
            Ok(Request::Upgrade(incoming)) => {
                let accept = incoming.accept(&AcceptOptions::new()).map_err(|_| err("accept"))?;
                let len = accept.write_response(&mut out).map_err(|_| err("response too long"))?;
                sock.write_all(&out[..len])?;
                // Bytes after the head are frames: move them to the front of the input.
                let used = incoming.head_len();
                let mut input = [0u8; BUF];
                input[..filled - used].copy_from_slice(&head[used..filled]);
                break (Connection::server(CONFIG), input, 0, filled - used);
            }
            Ok(_) => {
                sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            Err(rejection) => {
                let len = rejection.write_response(&mut out).unwrap_or(0);
                sock.write_all(&out[..len])?;
                return Ok(());
            }
        }
    };
    // Without `alloc`, 126 bytes inline: a control frame split across reads waits here.
    let mut assembly = Assembly::new();
    loop {
        // On a protocol error the Close is already queued; later input is ignored.
        while let Ok(r) = conn.read(&mut input[start..end], &mut assembly) {
            start += r.consumed;
            // Queued control frames (pongs, the Close echo) go out before later data.
            write_all_out(&mut sock, &mut conn, &mut out)?;
            // With stream delivery every data frame, whole or not, arrives as chunks.
            match r.event {
                None => break,
                Some(Event::Chunk(c)) => {
                    // The chunk borrows `input`, never the connection: echo it from there.
                    if let Ok(n) = conn.send_fragment(c.kind(), c.data(), c.is_last(), &mut out) {
                        sock.write_all(&out[..n])?;
                    }
                }
                Some(_) => {}
            }
        }
        write_all_out(&mut sock, &mut conn, &mut out)?;
        if conn.should_close_transport() {
            let _ = sock.shutdown(std::net::Shutdown::Write);
            // Wait for the client's EOF so that nothing is reset.
            while sock.read(&mut input)? > 0 {}
            return Ok(());
        }
        let n = sock.read(&mut input)?;
        if n == 0 {
            let _ = conn.read_eof();
            return Ok(());
        }
        (start, end) = (0, n);
    }
}

/// Byte `i` of the self-test's large message.
fn gen(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// What the self-test client has received so far (checked as it arrives, never stored).
struct Check {
    input: [u8; BUF],
    assembly: Assembly,
    start: usize,
    end: usize,
    text_at: usize,
    big_at: usize,
    big_done: bool,
    pong: bool,
    closed: bool,
    eof: bool,
}

const TEXT: &str = "h\u{e9}llo from a heap-free client \u{1F980}";
const BIG: usize = 1 << 20;

impl Check {
    /// Processes buffered input, then reads once from the non-blocking socket.
    fn poll<M: Masking>(&mut self, conn: &mut Connection<M>, sock: &mut TcpStream) -> io::Result<()> {
        while self.start < self.end {
            let input = &mut self.input[self.start..self.end];
            let r = conn.read(input, &mut self.assembly).map_err(|_| err("protocol error"))?;
            self.start += r.consumed;
            match r.event {
                None => break,
                Some(Event::Chunk(c)) if c.kind() == MessageKind::Text => {
                    if TEXT.as_bytes().get(self.text_at..self.text_at + c.data().len()) != Some(c.data()) {
                        return Err(err("text echo differs"));
                    }
                    self.text_at += c.data().len();
                }
                Some(Event::Chunk(c)) => {
                    if c.data().iter().enumerate().any(|(j, b)| *b != gen(self.big_at + j)) {
                        return Err(err("binary echo differs"));
                    }
                    self.big_at += c.data().len();
                    self.big_done |= c.is_last();
                }
                Some(Event::Pong(p)) => self.pong = p == b"ping!",
                Some(Event::Close(f)) => self.closed = f.is_some_and(|f| f.code == CloseCode::NORMAL),
                Some(_) => {}
            }
        }
        if self.start < self.end || self.eof {
            return Ok(());
        }
        match sock.read(&mut self.input) {
            Ok(0) => {
                self.eof = true;
                let _ = conn.read_eof();
            }
            Ok(n) => (self.start, self.end) = (0, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Writes `bytes`, reading (and checking) the echoes whenever the socket is full.
fn send<M: Masking>(sock: &mut TcpStream, bytes: &[u8], conn: &mut Connection<M>, check: &mut Check) -> io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
        match sock.write(&bytes[at..]) {
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => check.poll(conn, sock)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The client half of the self-test: text, a streamed 1 MiB binary message, ping, close.
fn self_test_client(mut sock: TcpStream, host: &str) -> io::Result<()> {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&random_u64(0xA).to_le_bytes());
    nonce[8..].copy_from_slice(&random_u64(0xB).to_le_bytes());
    let req = ClientRequest::new(host, "/", nonce);
    let mut out = [0u8; OUT];
    let len = req.write_request(&mut out).map_err(|_| err("request"))?;
    sock.write_all(&out[..len])?;
    let mut parser = req.response_parser();
    let mut check = Check {
        input: [0; BUF],
        assembly: Assembly::new(),
        start: 0,
        end: 0,
        text_at: 0,
        big_at: 0,
        big_done: false,
        pong: false,
        closed: false,
        eof: false,
    };
    let mut filled = 0;
    loop {
        let n = sock.read(&mut check.input[filled..])?;
        if n == 0 {
            return Err(err("EOF in handshake"));
        }
        filled += n;
        match parser.parse(&check.input[..filled]) {
            Ok(Reply::Partial) => continue,
            Ok(Reply::Accepted(a)) => {
                (check.start, check.end) = (a.head_len(), filled);
                break;
            }
            _ => return Err(err("handshake refused")),
        }
    }
    sock.set_nonblocking(true)?;
    let mut conn = Connection::client(CONFIG, mask_source());

    // 1. A text message in one frame, with non-ASCII text.
    let n = conn.send_text(TEXT, &mut out).map_err(|_| err("send"))?;
    send(&mut sock, &out[..n], &mut conn, &mut check)?;
    // 2. A 1 MiB binary message streamed in 4 KiB fragments.
    let mut piece = [0u8; BUF];
    let mut sent = 0;
    while sent < BIG {
        let len = BUF.min(BIG - sent);
        for (j, b) in piece[..len].iter_mut().enumerate() {
            *b = gen(sent + j);
        }
        sent += len;
        let n =
            conn.send_fragment(MessageKind::Binary, &piece[..len], sent == BIG, &mut out).map_err(|_| err("send"))?;
        send(&mut sock, &out[..n], &mut conn, &mut check)?;
    }
    // 3. A ping, then the close.
    // (Replies still queued go first: a Close drops them.)
    while conn.wants_write() {
        let n = conn.poll_transmit(&mut out);
        send(&mut sock, &out[..n], &mut conn, &mut check)?;
    }
    let n = conn.ping(b"ping!", &mut out).map_err(|_| err("ping"))?;
    send(&mut sock, &out[..n], &mut conn, &mut check)?;
    while conn.wants_write() {
        let n = conn.poll_transmit(&mut out);
        send(&mut sock, &out[..n], &mut conn, &mut check)?;
    }
    let n = conn.close(CloseCode::NORMAL, "self-test done", &mut out).map_err(|_| err("close"))?;
    send(&mut sock, &out[..n], &mut conn, &mut check)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check.eof {
        if std::time::Instant::now() > deadline {
            return Err(err("timed out waiting for the server's close"));
        }
        check.poll(&mut conn, &mut sock)?;
    }
    if check.text_at != TEXT.len() || check.big_at != BIG || !check.big_done || !check.pong || !check.closed {
        return Err(err("missing echoes, pong or close"));
    }
    Ok(())
}

fn self_test() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (sock, _) = listener.accept()?;
        WATCH.with(|w| w.set(true));
        let r = serve(sock);
        WATCH.with(|w| w.set(false));
        r
    });
    let sock = TcpStream::connect(addr)?;
    let host = "localhost";
    WATCH.with(|w| w.set(true));
    let client = self_test_client(sock, host);
    WATCH.with(|w| w.set(false));
    let server = server.join().map_err(|_| err("server thread panicked"))?;
    client?;
    server?;
    let allocs = WATCHED_ALLOCS.load(Ordering::Relaxed);
    if allocs != 0 {
        return Err(io::Error::other(format!("{allocs} heap allocations during the sessions")));
    }
    println!("self-test passed: text, 1 MiB streamed binary, ping/pong, close; 0 heap allocations");
    Ok(())
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".into());
    let result = if arg == "--self-test" {
        self_test()
    } else {
        TcpListener::bind(&arg).and_then(|listener| {
            println!("listening on ws://{}", listener.local_addr()?);
            for sock in listener.incoming() {
                match sock.and_then(serve) {
                    Ok(()) => {}
                    Err(e) => eprintln!("connection: {e}"),
                }
            }
            Ok(())
        })
    };
    if let Err(e) = result {
        eprintln!("no_alloc: {e}");
        std::process::exit(1);
    }
}
