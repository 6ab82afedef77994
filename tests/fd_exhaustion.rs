//! The `echo_server` example out of file descriptors: clients queued in the listen backlog
//! while `accept` fails with EMFILE are served as soon as connections close, with no new
//! connection arriving to wake the listener, and the exhaustion is logged once.
//!
//! The server runs in a child process (this test binary again, running only `server_child`)
//! whose fd limit is lowered with `setrlimit`, so that no other test is affected.
#![cfg(all(unix, feature = "std", feature = "deflate"))]

#[allow(dead_code)]
#[path = "../examples/echo_server/main.rs"]
mod echo_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "WSMACHINE_FD_EXHAUSTION_CHILD";
/// The child's soft `RLIMIT_NOFILE`.
const FD_LIMIT: libc::rlim_t = 64;
/// Clients queued while the server is out of fds.
const QUEUED: usize = 8;
/// The child stops by itself after this long, whatever happens to the parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

/// The server side: lowers its own fd limit, prints its address, serves until its stdin closes.
#[test]
#[ignore = "the server process of out_of_fds_queued_clients_are_served_when_fds_free_up"]
fn server_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = FD_LIMIT.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let listener = echo_server::accept::bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    println!("listening on ws://{}", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        s.store(true, Ordering::Relaxed);
    });
    let s = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(CHILD_LIFETIME);
        s.store(true, Ordering::Relaxed);
    });
    echo_server::run_with(listener, stop, echo_server::Options::default()).unwrap();
}

/// Kills the child if the test fails half-way.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A client that sent its upgrade request and reads the response head.
struct Peer {
    sock: TcpStream,
    head: Vec<u8>,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        write!(
            sock,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        Peer { sock, head: Vec::new() }
    }

    fn complete(&self) -> bool {
        self.head.windows(4).any(|w| w == b"\r\n\r\n")
    }

    /// Whether the whole response head arrived by `deadline`; it must be a 101.
    fn answered_by(&mut self, deadline: Instant) -> bool {
        let mut buf = [0u8; 1024];
        while !self.complete() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            match self.sock.read(&mut buf) {
                Ok(0) => panic!("EOF before a response, got {:?}", String::from_utf8_lossy(&self.head)),
                Ok(n) => self.head.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        assert!(self.head.starts_with(b"HTTP/1.1 101 "), "{:?}", String::from_utf8_lossy(&self.head));
        true
    }

    /// Sends a masked text frame and expects it echoed.
    fn echo(&mut self, text: &str) {
        assert!(text.len() < 126 && self.head.ends_with(b"\r\n\r\n"));
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.sock.write_all(&frame).unwrap();
        self.sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = vec![0u8; 2 + text.len()];
        self.sock.read_exact(&mut got).unwrap();
        assert_eq!(got[..2], [0x81, text.len() as u8]);
        assert_eq!(&got[2..], text.as_bytes());
    }
}

/// Waits (bounded) until a line of `log` contains `needle`.
fn wait_for_line(log: &Mutex<Vec<String>>, needle: &str, deadline: Instant) -> bool {
    loop {
        if log.lock().unwrap().iter().any(|l| l.contains(needle)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn out_of_fds_queued_clients_are_served_when_fds_free_up() {
    let start = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["server_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let stdin = child.0.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let (stderr, l) = (child.0.stderr.take().unwrap(), log.clone());
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("the server child printed no address");
        // The harness's "test server_child ... " may stand before it on the line.
        if let Some((_, a)) = line.split_once("listening on ws://") {
            break a.trim().parse().unwrap();
        }
    };

    // Fill the server's fds with idle WebSocket connections until accept fails.
    const EMFILE: &str = "Too many open files";
    let mut idle = Vec::new();
    let mut queued = Vec::new();
    for _ in 0..2 * FD_LIMIT {
        let mut peer = Peer::connect(addr);
        let deadline = Instant::now() + Duration::from_secs(5);
        let answered = loop {
            if peer.answered_by((Instant::now() + Duration::from_millis(20)).min(deadline)) {
                break true;
            }
            if wait_for_line(&log, EMFILE, Instant::now()) || Instant::now() >= deadline {
                // The fd may have gone to this very connection just before: give it a moment.
                break peer.answered_by(Instant::now() + Duration::from_millis(500));
            }
        };
        if answered {
            idle.push(peer);
        } else {
            queued.push(peer);
        }
        if wait_for_line(&log, EMFILE, Instant::now()) {
            break;
        }
    }
    assert!(wait_for_line(&log, EMFILE, Instant::now()), "accept never failed; log: {:?}", log.lock().unwrap());
    assert!(idle.len() >= QUEUED + 4 && idle.len() < FD_LIMIT as usize, "{} connections were accepted", idle.len());

    // Queue more; none is answered while the server is out of fds (ticks retry and fail).
    while queued.len() < QUEUED {
        queued.push(Peer::connect(addr));
    }
    let deadline = Instant::now() + Duration::from_millis(300);
    for peer in &mut queued {
        assert!(!peer.answered_by(deadline), "a queued client was answered with no fd free");
    }

    let filled = idle.len();
    // Free fds by closing idle clients (two more than queued, so accept ends on WouldBlock),
    // then connect nothing new: every queued client is answered within 2 s.
    idle.truncate(idle.len() - (QUEUED + 2));
    let freed = Instant::now();
    for peer in &mut queued {
        assert!(
            peer.answered_by(freed + Duration::from_secs(2)),
            "a queued client waited over 2 s after fds were freed"
        );
    }
    let waited = freed.elapsed();
    for (i, peer) in queued.iter_mut().chain(idle.iter_mut().take(2)).enumerate() {
        peer.echo(&format!("still served {i}"));
    }
    assert!(wait_for_line(&log, "accepting again", Instant::now() + Duration::from_secs(2)));

    // Stop the child (EOF on its stdin) and check its log.
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server child did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "server child: {status}");
    stderr_reader.join().unwrap();
    let log = log.lock().unwrap();
    let exhausted: Vec<&String> = log.iter().filter(|l| l.contains(EMFILE)).collect();
    assert_eq!(exhausted.len(), 1, "one line per episode: {log:?}");
    let resumed: Vec<&String> = log.iter().filter(|l| l.contains("accepting again")).collect();
    assert_eq!(resumed.len(), 1, "{log:?}");
    assert!(resumed[0].contains(&format!(" {} connections accepted late", queued.len())), "{log:?}");
    eprintln!(
        "{filled} idle connections filled the fds; {} queued clients answered {} ms after fds were freed; log: {log:?}",
        queued.len(),
        waited.as_millis()
    );
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}
