//! wss://: a blocking rustls client stream (`StreamOwned` drives the TLS session on each read
//! and write). Trust: the system's roots (`rustls-native-certs`: the OS store, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), plus the certificates of `--ca`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The connection's byte stream: plain TCP (ws://) or TLS on TCP (wss://).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Starts TLS on `sock` for `host` (a name or an IP address); the handshake runs on the
    /// first write.
    pub fn tls(sock: TcpStream, host: &str, ca: Option<&str>) -> io::Result<Stream> {
        let mut roots = RootCertStore::empty();
        // Unreadable system certificates are skipped: `--ca` may still be enough.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = ca {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
            if certs.is_empty() {
                return Err(io::Error::other(format!("{path}: no certificate")));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| io::Error::other(format!("{path}: {e}")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // The upgrade is an HTTP/1.1 request (RFC 6455 §4.1; RFC 7301 ALPN).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
        let conn = ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, sock))))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(sock) => sock,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Ends the connection; over TLS with a close_notify first (RFC 8446 §6.1).
    pub fn shutdown(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(sock) => sock.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(sock) => sock.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(sock) => sock.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
