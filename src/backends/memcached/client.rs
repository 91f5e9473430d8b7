//! A small memcached text-protocol client: one TCP (or TLS) connection, requests written
//! whole and answers read in order. It speaks the meta commands of memcached 1.6 (`mg`,
//! `ms`, `md`) for everything keyed — they give compare-and-set and compare-and-delete
//! with a CAS value and return the new CAS in the same answer — plus `stats`,
//! `lru_crawler metadump` (listing keys) and the ASCII authentication of `-Y`.
//!
//! Why our own: the maintained Rust clients either block (`memcache`), lack TLS
//! (`async-memcached`, `memcache-async`) or hide the item flags and meta answers this
//! backend needs (flags 1/2 as tooz writes them, `C<cas>` on set and delete). This module
//! knows nothing of locks or groups; `mod.rs` owns timeouts, pooling and error mapping.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};

/// A byte stream to the server (plain TCP or TLS).
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The longest line or value we read (memcached's largest item is 1 MB by default; a
/// group map of many members stays far below).
const MAX_VALUE: usize = 64 << 20;

/// What went wrong on one connection.
#[derive(Debug)]
pub(super) enum Fault {
    /// The connection broke or the server said something we cannot parse.
    Io(String),
    /// The server refused the request (`CLIENT_ERROR ...`, `SERVER_ERROR ...`, `ERROR`).
    Server(String),
}

impl From<std::io::Error> for Fault {
    fn from(e: std::io::Error) -> Fault {
        Fault::Io(e.to_string())
    }
}

/// One meta answer: its code (`HD`, `VA`, `EN`, `NS`, `EX`, `NF`, `MN`), its returned
/// flags (`c123`, `f1`, `t30`) and, for `VA`, the value.
#[derive(Debug, Clone, Default)]
pub(super) struct Meta {
    pub code: String,
    pub flags: Vec<String>,
    pub value: Option<Vec<u8>>,
}

impl Meta {
    fn flag(&self, c: char) -> Option<&str> {
        self.flags.iter().find_map(|f| f.strip_prefix(c))
    }
    /// The CAS value returned with `c`.
    pub fn cas(&self) -> Option<u64> {
        self.flag('c').and_then(|v| v.parse().ok())
    }
    /// The client flags returned with `f`.
    pub fn client_flags(&self) -> Option<u32> {
        self.flag('f').and_then(|v| v.parse().ok())
    }
    /// Seconds left (returned with `t`; -1 = no expiry).
    pub fn ttl(&self) -> Option<i64> {
        self.flag('t').and_then(|v| v.parse().ok())
    }
    pub fn hit(&self) -> bool {
        self.code == "VA" || self.code == "HD"
    }
}

/// One request: the command line (without CRLF) and, for sets, the data block.
pub(super) struct Req {
    pub line: String,
    pub data: Option<Vec<u8>>,
}

impl Req {
    pub fn new(line: impl Into<String>) -> Req {
        Req {
            line: line.into(),
            data: None,
        }
    }
    pub fn with_data(line: impl Into<String>, data: &[u8]) -> Req {
        Req {
            line: line.into(),
            data: Some(data.to_vec()),
        }
    }
}

pub(super) struct Conn {
    io: BufStream<Box<dyn Stream>>,
}

impl Conn {
    pub fn new(stream: Box<dyn Stream>) -> Conn {
        Conn {
            io: BufStream::new(stream),
        }
    }

    async fn send(&mut self, reqs: &[Req]) -> Result<(), Fault> {
        for r in reqs {
            self.io.write_all(r.line.as_bytes()).await?;
            self.io.write_all(b"\r\n").await?;
            if let Some(d) = &r.data {
                self.io.write_all(d).await?;
                self.io.write_all(b"\r\n").await?;
            }
        }
        self.io.flush().await?;
        Ok(())
    }

    async fn line(&mut self) -> Result<String, Fault> {
        let mut buf = Vec::new();
        let n = (&mut self.io)
            .take(64 * 1024)
            .read_until(b'\n', &mut buf)
            .await?;
        // `lru_crawler metadump` ends its lines with LF alone.
        if n == 0 || !buf.ends_with(b"\n") {
            return Err(Fault::Io("the connection closed mid-answer".into()));
        }
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        if line == "ERROR" || line.starts_with("CLIENT_ERROR") || line.starts_with("SERVER_ERROR") {
            return Err(Fault::Server(line));
        }
        Ok(line)
    }

    async fn data(&mut self, len: usize) -> Result<Vec<u8>, Fault> {
        if len > MAX_VALUE {
            return Err(Fault::Io(format!("a value of {len} bytes is too large")));
        }
        let mut v = vec![0u8; len + 2];
        self.io.read_exact(&mut v).await?;
        if !v.ends_with(b"\r\n") {
            return Err(Fault::Io("a value did not end with CRLF".into()));
        }
        v.truncate(len);
        Ok(v)
    }

    async fn meta_answer(&mut self) -> Result<Meta, Fault> {
        let line = self.line().await?;
        let mut words = line.split(' ');
        let code = words.next().unwrap_or("").to_string();
        let mut m = Meta {
            code,
            ..Meta::default()
        };
        if m.code == "VA" {
            let len: usize = words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| Fault::Io(format!("bad answer '{line}'")))?;
            m.flags = words.map(str::to_string).collect();
            m.value = Some(self.data(len).await?);
        } else if matches!(m.code.as_str(), "HD" | "EN" | "NS" | "EX" | "NF" | "MN") {
            m.flags = words.map(str::to_string).collect();
        } else {
            return Err(Fault::Io(format!("unexpected answer '{line}'")));
        }
        Ok(m)
    }

    /// Send meta requests in one write and read one answer each, in order.
    pub async fn metas(&mut self, reqs: &[Req]) -> Result<Vec<Meta>, Fault> {
        self.send(reqs).await?;
        let mut out = Vec::with_capacity(reqs.len());
        for _ in reqs {
            out.push(self.meta_answer().await?);
        }
        Ok(out)
    }

    pub async fn meta(&mut self, req: Req) -> Result<Meta, Fault> {
        let mut v = self.metas(std::slice::from_ref(&req)).await?;
        Ok(v.remove(0))
    }

    /// A request answered by one line (`version`, authentication).
    pub async fn one_line(&mut self, req: Req) -> Result<String, Fault> {
        self.send(std::slice::from_ref(&req)).await?;
        self.line().await
    }

    /// A request answered by lines up to `END` (`stats`, `lru_crawler metadump`).
    pub async fn until_end(&mut self, req: Req) -> Result<Vec<String>, Fault> {
        self.send(std::slice::from_ref(&req)).await?;
        let mut out = Vec::new();
        loop {
            let l = self.line().await?;
            if l == "END" {
                return Ok(out);
            }
            if out.is_empty() && l.starts_with("BUSY") {
                return Err(Fault::Server(l));
            }
            out.push(l);
        }
    }
}

/// The TLS settings tooz reads (`use_ssl`, `ca_cert`, `ssl_cert`, `ssl_key`,
/// `ssl_check_hostname`), turned into a rustls client configuration.
pub(super) struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// Verifies the certificate chain as tooz does and, unless `ssl_check_hostname` asks for
/// it, accepts a certificate issued for another name (tooz's default: `check_hostname`
/// false, chain still verified).
#[derive(Debug)]
pub(super) struct ChainOnly(pub Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Open a stream to `host:port`, wrapped in TLS when `tls` is given.
pub(super) async fn open(
    host: &str,
    port: u16,
    tls: Option<&Tls>,
) -> std::io::Result<Box<dyn Stream>> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Box::new(tcp)),
        Some(t) => {
            let connector = tokio_rustls::TlsConnector::from(t.config.clone());
            let s = connector.connect(t.server_name.clone(), tcp).await?;
            Ok(Box::new(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_flags() {
        let m = Meta {
            code: "VA".into(),
            flags: vec!["c12".into(), "f1".into(), "t-1".into()],
            value: Some(b"x".to_vec()),
        };
        assert_eq!(m.cas(), Some(12));
        assert_eq!(m.client_flags(), Some(1));
        assert_eq!(m.ttl(), Some(-1));
        assert!(m.hit());
    }

    #[tokio::test]
    async fn answers_are_parsed_in_order() {
        let (a, mut b) = tokio::io::duplex(4096);
        let mut c = Conn::new(Box::new(a));
        let server = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let _ = b.read(&mut buf).await.unwrap();
            b.write_all(b"VA 3 c7 f2\r\nabc\r\nEN\r\nHD c9\r\n")
                .await
                .unwrap();
            b
        });
        let r = c
            .metas(&[Req::new("mg a"), Req::new("mg b"), Req::new("mg c")])
            .await
            .unwrap();
        assert_eq!(r[0].value.as_deref(), Some(&b"abc"[..]));
        assert_eq!(r[0].cas(), Some(7));
        assert_eq!(r[1].code, "EN");
        assert_eq!(r[2].cas(), Some(9));
        drop(server.await);
    }
}
