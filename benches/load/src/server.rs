//! The echo server under test: started on a free loopback port (optionally with a low fd
//! limit), watched through /proc, killed by PID when dropped.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// The limits line the server printed at start.
    pub limits: String,
}

impl Server {
    /// Starts `path` with `args`, under `ulimit -n nofile` when given; waits for its start-up
    /// lines (bounded).
    pub fn start(path: &str, args: &[String], nofile: Option<u32>) -> Result<Server, String> {
        // A free port: bind port 0, read it, let it go (the server binds it right after).
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let limit = nofile.map_or("unlimited".to_string(), |n| n.to_string());
        // `exec` keeps the PID: the shell becomes the server, with the lowered limit.
        let script = if nofile.is_some() { "ulimit -n \"$1\" && shift && exec \"$@\"" } else { "shift && exec \"$@\"" };
        let mut child = Command::new("sh")
            .args(["-c", script, "sh", &limit, path, &addr.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("start {path}: {e}"))?;
        let pid = child.id();
        let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut limits = String::new();
        for _ in 0..2 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{path} exited before it was listening"));
            }
            if line.starts_with("engine limits") {
                limits = line.trim().to_string();
            }
        }
        // Keep draining its stdout so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = out.read_to_end(&mut Vec::new());
        });
        Ok(Server { child, addr, pid, limits })
    }

    /// A field of /proc/PID/status in bytes (`VmRSS`, `VmHWM`).
    pub fn status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    pub fn rss(&self) -> u64 {
        self.status("VmRSS")
    }

    /// Resets the peak (VmHWM) to the current RSS (`echo 5 > /proc/PID/clear_refs`).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    pub fn peak(&self) -> u64 {
        self.status("VmHWM")
    }

    /// CPU seconds the server has used (user + system, /proc/PID/stat).
    pub fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name (which ends with ')'): utime and stime are 12 and 13.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
        // Clock ticks: 100 per second on Linux.
        (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
    }

    /// Open file descriptors of the server.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    /// Waits (bounded) until `fds() <= n`; returns the last count.
    pub fn wait_fds(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.fds();
            if now <= n || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until the RSS is at most `bytes`; returns the last reading.
    pub fn wait_rss(&self, bytes: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.rss();
            if now <= bytes || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `12.3 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}
