//! The server under test as a child process (started by the generator for every case, on a
//! free loopback port, killed by PID when dropped) and what /proc says about it and about the
//! generator itself.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server to run: a name (the table's column) and a shell command with `{addr}` where its
/// listen address goes. `raw` is the plain TCP echo: it answers nothing but our own bytes.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub cmd: String,
    pub raw: bool,
    /// A fan-out server: takes part in the fan-out case only.
    pub fanout: bool,
}

impl Spec {
    /// `NAME=CMD`, `NAME=raw:CMD` for the plain TCP echo, `NAME=fanout:CMD` for a fan-out server.
    pub fn parse(arg: &str) -> Option<Spec> {
        let (name, cmd) = arg.split_once('=')?;
        let (raw, cmd) = cmd.strip_prefix("raw:").map_or((false, cmd), |c| (true, c));
        let (fanout, cmd) = cmd.strip_prefix("fanout:").map_or((false, cmd), |c| (true, c));
        Some(Spec { name: name.to_string(), cmd: cmd.to_string(), raw, fanout })
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Server {
    /// Starts the server (stdout and stderr appended to `log`) and waits until it accepts a
    /// connection (bounded: 20 s).
    pub fn start(spec: &Spec, log: &Path) -> Result<Server, String> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let out = File::options().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // `exec`: the shell becomes the server, so the PID is the server's.
        let cmd = format!("exec {}", spec.cmd.replace("{addr}", &addr.to_string()));
        let child = Command::new("sh")
            .args(["-c", &cmd])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", spec.name))?;
        let pid = child.id();
        let mut srv = Server { child, addr, pid };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !srv.alive() {
                return Err(format!("{} exited at start (see {})", spec.name, log.display()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // Settle: the probe connection's teardown, the runtime's start-up allocations.
                std::thread::sleep(Duration::from_millis(300));
                return Ok(srv);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{} not listening on {addr} within 20 s", spec.name))
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident set size in bytes (/proc/PID/status VmRSS).
    pub fn rss(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    pub fn cpu_secs(&self) -> (f64, f64) {
        cpu_secs(&format!("/proc/{}/stat", self.pid))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU seconds of a process (`/proc/PID/stat` fields 14 and 15, utime and
/// stime; 100 ticks a second, so a 4 s window resolves 0.25 % of it).
pub fn cpu_secs(stat_path: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The fields after the command name (which ends with ')'): utime and stime are 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    (f.get(11).unwrap_or(&0.0) / 100.0, f.get(12).unwrap_or(&0.0) / 100.0)
}

/// CPU of the server and of this generator over a measured window.
pub struct Meter {
    t: Instant,
    srv: (f64, f64),
    gen: (f64, f64),
}

/// What a [`Meter`] saw: wall seconds, server and generator CPU seconds (user + system), and
/// the server's split into user (its own code and libraries) and system (the kernel's work for
/// it: system calls, TCP, page faults).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub wall: f64,
    pub srv: f64,
    pub gen: f64,
    pub srv_user: f64,
    pub srv_sys: f64,
}

impl Cpu {
    /// The generator used more than half the server's CPU: the number may be the generator's
    /// limit, not the server's.
    pub fn generator_bound(&self) -> bool {
        self.gen > 0.5 * self.srv
    }
}

impl Meter {
    pub fn start(srv: &Server) -> Meter {
        Meter { t: Instant::now(), srv: srv.cpu_secs(), gen: cpu_secs("/proc/self/stat") }
    }

    pub fn stop(&self, srv: &Server) -> Cpu {
        let (s, g) = (srv.cpu_secs(), cpu_secs("/proc/self/stat"));
        let (srv_user, srv_sys) = (s.0 - self.srv.0, s.1 - self.srv.1);
        Cpu {
            wall: self.t.elapsed().as_secs_f64(),
            srv: srv_user + srv_sys,
            gen: (g.0 - self.gen.0) + (g.1 - self.gen.1),
            srv_user,
            srv_sys,
        }
    }
}
