//! The TLS side: rustls with the ring provider, a PEM certificate or a self-signed one made
//! at start, and ALPN (`h2` first, so that browsers speak HTTP/2 and can open WebSockets
//! with extended CONNECT on the same connection, RFC 8441).

use std::io;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rcgen::PublicKeyData;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Where the certificate and key come from.
pub enum Source<'a> {
    /// PEM files: the certificate chain and its private key.
    Pem { cert: &'a Path, key: &'a Path },
    /// A fresh self-signed certificate for `127.0.0.1` and `localhost`; its PEM is written here.
    SelfSigned { write_cert_to: &'a Path },
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Builds the rustls server configuration; `alpn` in preference order.
pub fn config(source: Source<'_>, alpn: &[&[u8]]) -> io::Result<Arc<ServerConfig>> {
    let (certs, key) = match source {
        Source::Pem { cert, key } => {
            let certs =
                CertificateDer::pem_file_iter(cert).map_err(other)?.collect::<Result<Vec<_>, _>>().map_err(other)?;
            (certs, PrivateKeyDer::from_pem_file(key).map_err(other)?)
        }
        Source::SelfSigned { write_cert_to } => {
            let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).map_err(other)?;
            std::fs::write(write_cert_to, ck.cert.pem())?;
            // The pin Chromium takes in `--ignore-certificate-errors-spki-list`: base64 of the
            // SHA-256 of the DER SubjectPublicKeyInfo.
            let spki = ck.signing_key.subject_public_key_info();
            let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
            let pin = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
            println!("self-signed certificate for 127.0.0.1 and localhost in {}", write_cert_to.display());
            println!("spki pin: {pin}");
            let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
            (vec![ck.cert.der().clone()], key)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(other)?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}
