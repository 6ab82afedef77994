//! `--tls`: https and wss:// on the same mio loop as plain connections, with rustls driven
//! sans-IO (`read_tls` / `process_new_packets` / `reader` / `writer` / `write_tls`).
//!
//! [`Transport`] is what the server loop reads from and writes to: the TCP stream itself, or
//! the plaintext side of a TLS session on it. The loop's own output backlog (`out`) and its
//! `out_limit` still give the backpressure: rustls buffers at most [`TLS_BUFFER`] bytes of
//! output, a write beyond that says `WouldBlock`, the rest waits in `out`, and once `out` holds
//! more than `out_limit` the server stops reading from that client.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

use base64::Engine;
use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rcgen::PublicKeyData;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

/// Most TLS output rustls holds per connection (its default too; set explicitly because the
/// backpressure above relies on it).
pub const TLS_BUFFER: usize = 64 * 1024;
/// TLS records read without any plaintext before the loop gets control back (a peer sending
/// only empty records or handshake messages cannot hold the thread).
const MAX_RECORDS_WITHOUT_DATA: usize = 64;
/// Where the self-signed certificate is written unless `--cert-out` says otherwise.
pub const DEFAULT_CERT_OUT: &str = "echo_server-cert.pem";

/// The TLS command-line options.
#[derive(Default)]
pub struct TlsArgs {
    enabled: bool,
    cert: Option<String>,
    key: Option<String>,
    cert_out: Option<String>,
}

impl TlsArgs {
    /// Takes `arg` (and its value from `rest`) if it is a TLS option; false if it is not one.
    pub fn take(&mut self, arg: &str, rest: &mut impl Iterator<Item = String>) -> Result<bool, String> {
        let slot = match arg {
            "--tls" => {
                self.enabled = true;
                return Ok(true);
            }
            "--cert" => &mut self.cert,
            "--key" => &mut self.key,
            "--cert-out" => &mut self.cert_out,
            _ => return Ok(false),
        };
        *slot = Some(rest.next().ok_or_else(|| format!("{arg} needs a file name"))?);
        Ok(true)
    }

    /// The server's TLS configuration (`None` without `--tls`); prints the URLs, and for a
    /// self-signed certificate its pin and the file it was written to.
    pub fn config(&self, local: SocketAddr) -> Result<Option<Arc<ServerConfig>>, String> {
        if !self.enabled {
            if self.cert.is_some() || self.key.is_some() || self.cert_out.is_some() {
                return Err("--cert, --key and --cert-out need --tls".into());
            }
            return Ok(None);
        }
        let (certs, key) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{cert}: {e}"))?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
                println!("certificate: {cert}");
                (certs, key)
            }
            (None, None) => self_signed(self.cert_out.as_deref().unwrap_or(DEFAULT_CERT_OUT))?,
            _ => return Err("--cert and --key go together".into()),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| e.to_string())?;
        // One TLS connection carries one HTTP/1.1 request or one WebSocket (RFC 7301 ALPN).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        println!("wss://{local}/ (WebSocket), https://{local}/ (page)");
        Ok(Some(Arc::new(config)))
    }
}

/// A fresh self-signed certificate for 127.0.0.1 and localhost, written as PEM to `out`.
fn self_signed(out: &str) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    std::fs::write(out, ck.cert.pem()).map_err(|e| format!("{out}: {e}"))?;
    // The pin Chromium's --ignore-certificate-errors-spki-list takes: SHA-256 of the SPKI.
    let spki = ck.signing_key.subject_public_key_info();
    let pin = base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
    println!("self-signed certificate for 127.0.0.1 and localhost written to {out}");
    println!("SPKI pin (SHA-256, base64): {pin}");
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    Ok((vec![ck.cert.der().clone()], key))
}

/// A connection's byte stream: plain TCP, or TLS on TCP.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A server-side TLS session on a non-blocking socket.
pub struct TlsStream {
    sock: TcpStream,
    tls: ServerConnection,
    /// The close_notify is queued; shut down TCP's write half once it is sent.
    shut: bool,
    tcp_shut: bool,
}

impl Transport {
    pub fn new(sock: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Transport> {
        let Some(config) = tls else { return Ok(Transport::Plain(sock)) };
        let mut tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER));
        Ok(Transport::Tls(Box::new(TlsStream { sock, tls, shut: false, tcp_shut: false })))
    }

    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(sock) => sock,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Shuts down the write half; over TLS after a close_notify (RFC 8446 §6.1).
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Plain(sock) => sock.shutdown(how),
            Transport::Tls(t) => {
                if !t.shut {
                    t.shut = true;
                    t.tls.send_close_notify();
                }
                t.flush_tls().map(drop)
            }
        }
    }
}

impl TlsStream {
    /// Sends what rustls has queued (handshake, alerts, records); true once all is sent.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shut && !self.tcp_shut {
            self.tcp_shut = true;
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(true)
    }

    /// Plaintext into `buf`: `Ok(0)` at the peer's close_notify or TCP EOF, `Err` on a TLS
    /// error (after sending the alert rustls queued for it).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for _ in 0..MAX_RECORDS_WITHOUT_DATA {
            // Drain the plaintext first: rustls refuses TLS input while it holds too much.
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP EOF without close_notify: for a WebSocket the Close frame tells if the
                // closure was clean.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush_tls()?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                let _ = self.tls.write_tls(&mut self.sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake replies (they are due even when the application writes nothing).
            self.flush_tls()?;
        }
        // The caller retries on Interrupted within its read budget and runs again later.
        Err(io::ErrorKind::Interrupted.into())
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_tls()?;
        let n = self.tls.writer().write(buf)?;
        self.flush_tls()?;
        if n == 0 && !buf.is_empty() {
            // rustls holds TLS_BUFFER bytes already: the rest waits for the socket.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(sock) => sock.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(sock) => sock.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    /// `writev(2)` on plain TCP; through TLS, the first slice that is not empty.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(sock) => sock.write_vectored(bufs),
            Transport::Tls(t) => t.write(bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b)),
        }
    }

    /// Sends the TLS records rustls still holds, as far as the socket takes them.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush_tls().map(drop),
        }
    }
}

impl Source for Transport {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp().register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp().deregister(registry)
    }
}
