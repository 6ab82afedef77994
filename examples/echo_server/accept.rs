//! The listening socket (with a chosen listen backlog) and an accept loop that survives
//! file descriptor exhaustion.
//!
//! With edge-triggered readiness, a listener reports new connections once. When `accept`
//! fails with EMFILE/ENFILE ("Too many open files"), the connections still queued in the
//! kernel would wait until yet another connection arrives. [`Acceptor`] remembers that the
//! listener may hold connections ([`Pending::Later`]) so that the server loop accepts again
//! as soon as one of its connections closes (an fd is free) and at every timer tick, until
//! `accept` reports `WouldBlock`. It logs the exhaustion once when it starts and once when
//! accepting resumes, not once per failed attempt.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

/// The default listen backlog (mio's `TcpListener::bind` uses 128).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// Most connections accepted in one call before the server loop serves its clients again.
const BUDGET: usize = 256;
/// Other accept errors in a row (each normally drops one dead connection from the queue)
/// before the loop gives up until the next tick: a persistent error (ENOBUFS) must not spin.
const MAX_ERRORS: usize = 64;

/// Binds a non-blocking listener on `addr` with `SO_REUSEADDR` and a listen queue of
/// `backlog` connections (the kernel caps it at `net.core.somaxconn`, see [`somaxconn`]).
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As mio's own `bind`: a restarted server can bind while old connections are in TIME_WAIT.
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The kernel's cap on listen backlogs (Linux), if it can be read.
pub fn somaxconn() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

/// Whether the listener may still hold connections that were not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// `accept` said `WouldBlock`: the next readiness event tells of new connections.
    No,
    /// The per-call budget ran out: accept again without waiting.
    Now,
    /// Out of file descriptors (or a persistent error): accept again when a connection
    /// closes or at the next tick.
    Later,
}

/// One episode of fd exhaustion: from the first EMFILE/ENFILE to the next `WouldBlock`.
struct Episode {
    since: Instant,
    /// `accept` calls that failed with EMFILE/ENFILE.
    refused: u64,
    /// Connections accepted during the episode (they had to wait in the queue).
    late: u64,
}

/// The accept loop's state between calls.
pub struct Acceptor {
    pending: Pending,
    episode: Option<Episode>,
    verbose: bool,
}

impl Acceptor {
    pub fn new(verbose: bool) -> Self {
        Acceptor { pending: Pending::No, episode: None, verbose }
    }

    pub fn pending(&self) -> Pending {
        self.pending
    }

    /// Accepts until the listener is drained, the fds run out or the budget is spent, and hands
    /// every new connection to `admit`.
    pub fn accept(&mut self, listener: &TcpListener, mut admit: impl FnMut(TcpStream)) {
        let mut errors = 0;
        for _ in 0..BUDGET {
            match listener.accept() {
                Ok((sock, _peer)) => {
                    errors = 0;
                    if let Some(episode) = &mut self.episode {
                        episode.late += 1;
                    }
                    admit(sock);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pending = Pending::No;
                    self.end_episode();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if out_of_fds(&e) => {
                    self.pending = Pending::Later;
                    self.refused(&e);
                    return;
                }
                // ECONNABORTED, EPROTO, EPERM, ...: that one connection is gone; go on.
                Err(e) => {
                    errors += 1;
                    if errors >= MAX_ERRORS {
                        eprintln!("accept: {e} ({errors} times in a row); trying again at the next tick");
                        self.pending = Pending::Later;
                        return;
                    }
                    if self.verbose {
                        eprintln!("accept: {e}");
                    }
                }
            }
        }
        self.pending = Pending::Now;
    }

    fn refused(&mut self, e: &io::Error) {
        match &mut self.episode {
            Some(episode) => episode.refused += 1,
            None => {
                eprintln!("accept: {e}; queued connections wait until a connection closes");
                self.episode = Some(Episode { since: Instant::now(), refused: 1, late: 0 });
            }
        }
    }

    fn end_episode(&mut self) {
        if let Some(Episode { since, refused, late }) = self.episode.take() {
            let ms = since.elapsed().as_millis();
            eprintln!(
                "accepting again after {ms} ms out of file descriptors: {late} connections accepted late, \
                 {refused} accept calls refused"
            );
        }
    }
}

/// EMFILE (this process) or ENFILE (the whole system): no file descriptor for a new socket.
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
