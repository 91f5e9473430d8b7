//! TLS to ZooKeeper (`?use_ssl=true`): turns tooz's ZooKeeper TLS options into the
//! client library's [`zk::TlsOptions`] (rustls), with kazoo's meaning, or refuses with one
//! line (exit 2) what rustls cannot do.
//!
//! | option | kazoo (through tooz) | here |
//! |---|---|---|
//! | `use_ssl` | TLS to every host | same |
//! | `ca` | PEM bundle trusted besides the system's CAs | same |
//! | `certfile` + `keyfile` | client certificate chain and key (mutual TLS) | same (PEM; the key may also sit in `certfile`) |
//! | `keyfile_password` | decrypts an encrypted key | refused: decrypt the key first |
//! | `verify_certs=false` | no verification at all | refused: rustls always verifies the chain |
//! | (`check_hostname`) | kazoo's, off through tooz | off by default as with tooz; `?check_hostname=true` turns it on |

use std::sync::Arc;
use std::time::Duration;

use zookeeper_client as zk;

use crate::coordination::{BackendUrl, Error, Result};

/// Where Linux distributions keep the system's CA bundle (Python's `load_default_certs`
/// reads the same through OpenSSL); `SSL_CERT_FILE` comes first, as for OpenSSL.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// What we give the client library, and keep to explain a failed connection.
pub(super) struct Tls {
    pub(super) options: zk::TlsOptions,
    /// PEM certificates trusted.
    trusted: String,
    /// Client certificate chain and key, PEM.
    identity: Option<(String, String)>,
    check_hostname: bool,
}

/// The TLS settings of a ZooKeeper URL: `None` without `use_ssl=true`.
pub(super) fn options(url: &BackendUrl) -> Result<Option<Tls>> {
    if url.bool_option("use_ssl") != Some(true) {
        return Ok(None);
    }
    if url.bool_option("verify_certs") == Some(false) {
        return Err(Error::Unsupported(format!(
            "verify_certs=false: toozctl always verifies the ZooKeeper server's certificate chain (rustls cannot skip it); give the CA that signed it with ?ca=PEM (backend URL '{url}')"
        )));
    }
    if url.option("keyfile_password").is_some() {
        return Err(Error::Unsupported(format!(
            "keyfile_password: encrypted private keys are not supported; decrypt the key (openssl pkey -in KEY -out KEY.plain), point keyfile at it and drop keyfile_password (backend URL '{url}')"
        )));
    }
    // The option is present whenever this is called; its file is read as PEM text.
    let read = |option: &str, path: &str| -> Result<String> {
        let bytes = url.option_file(option)?.unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| {
            Error::InvalidUrl(format!("option {option}={path}: not a PEM (text) file"))
        })
    };
    let bad = |option: &str, path: &str, e: zk::Error| {
        Error::InvalidUrl(format!(
            "{option}: '{path}' is not usable: {e} (backend URL '{url}')"
        ))
    };

    // Trusted: the system's CAs and `ca`, as kazoo's load_default_certs + load_verify_locations.
    let mut trusted = String::new();
    if let Some(bundle) = system_bundle() {
        trusted.push_str(&bundle);
        trusted.push('\n');
    }
    if let Some(ca) = url.option("ca") {
        let pem = read("ca", ca)?;
        zk::TlsCa::from_pem(&pem).map_err(|e| bad("ca", ca, e))?;
        trusted.push_str(&pem);
    }
    if trusted.trim().is_empty() {
        return Err(Error::InvalidUrl(format!(
            "use_ssl: no CA to verify the ZooKeeper server with: give ?ca=PEM (no system CA bundle found) (backend URL '{url}')"
        )));
    }
    let mut tls = zk::TlsOptions::new()
        .with_pem_ca(&trusted)
        .map_err(|e| Error::InvalidUrl(format!("ca: {e} (backend URL '{url}')")))?;

    let mut identity = None;
    match (url.option("certfile"), url.option("keyfile")) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(Error::InvalidUrl(format!(
                "keyfile needs certfile (the client certificate) in backend URL '{url}'"
            )))
        }
        (Some(certfile), keyfile) => {
            let cert = read("certfile", certfile)?;
            let (key_option, key_path, key) = match keyfile {
                Some(k) => ("keyfile", k, read("keyfile", k)?),
                None => ("certfile", certfile, cert.clone()),
            };
            if key.contains("ENCRYPTED") {
                return Err(Error::Unsupported(format!(
                    "{key_option}: the private key in '{key_path}' is encrypted, which is not supported; decrypt it (openssl pkey -in KEY -out KEY.plain) and point keyfile at it (backend URL '{url}')"
                )));
            }
            tls = tls
                .with_pem_identity(&cert, &key)
                .map_err(|e| bad(key_option, key_path, e))?;
            identity = Some((cert, key));
        }
    }

    let check_hostname = url.bool_option("check_hostname") == Some(true);
    if !check_hostname {
        // tooz never asks kazoo to check the host name (kazoo's check_hostname=False): the
        // chain is verified against the trusted CAs, the name in the certificate is not.
        // SAFETY: not memory safety; the library marks the weaker check `unsafe`.
        tls = unsafe { tls.with_no_hostname_verification() };
    }
    Ok(Some(Tls {
        options: tls,
        trusted,
        identity,
        check_hostname,
    }))
}

impl Tls {
    /// Why a TLS handshake with `host:port` fails, found with a handshake of our own (the
    /// client library only says "no available hosts"); `None` if it does not fail or the
    /// server is not reached. Blocking: at most `limit` per step.
    pub(super) fn diagnose(&self, host: &str, port: u16, limit: Duration) -> Option<String> {
        use std::io::{Read, Write};
        use std::net::ToSocketAddrs;

        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.trusted.as_bytes()).flatten() {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .ok()?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?;
                builder.with_client_auth_cert(chain, key).ok()?
            }
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(host.to_string()).ok()?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
        let addr = (host, port).to_socket_addrs().ok()?.next()?;
        let mut tcp = match std::net::TcpStream::connect_timeout(&addr, limit) {
            Ok(tcp) => tcp,
            Err(e) => return Some(format!("{host}:{port}: {e}")),
        };
        tcp.set_read_timeout(Some(limit)).ok()?;
        tcp.set_write_timeout(Some(limit)).ok()?;
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        // The handshake, then one read: a server that wants a client certificate says so
        // only after the client's part of a TLS 1.3 handshake.
        let failure = match stream.flush() {
            Err(e) => e,
            Ok(()) => match stream.read(&mut [0u8; 1]) {
                Err(e) => e,
                Ok(_) => return None,
            },
        };
        let Some(tls) = failure
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return conn.is_handshaking().then(|| {
                format!("TLS handshake with {host}:{port} failed: {failure} (is it the server's secureClientPort?)")
            });
        };
        if !self.check_hostname
            && matches!(
                tls,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                )
            )
        {
            return None;
        }
        let hint = match tls {
            rustls::Error::AlertReceived(_) if self.identity.is_none() => {
                " (does the server want a client certificate? give ?certfile=PEM&keyfile=PEM)"
            }
            _ => "",
        };
        Some(format!(
            "TLS handshake with {host}:{port} failed: {tls}{hint}"
        ))
    }
}

fn system_bundle() -> Option<String> {
    let from_env = std::env::var("SSL_CERT_FILE").ok();
    from_env
        .iter()
        .map(String::as_str)
        .chain(SYSTEM_BUNDLES.iter().copied())
        .find_map(|p| std::fs::read_to_string(p).ok())
        .filter(|pem| zk::TlsCa::from_pem(pem).is_ok())
}
