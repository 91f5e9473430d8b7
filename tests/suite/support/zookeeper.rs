//! A real ZooKeeper server for tests: started with the machine's Java and the Debian
//! `zookeeper` jars on a free port, tickTime 500 ms (session timeouts from 1 to 60 s;
//! tooz's default is 10 s, a test that restarts the server asks for more with `?timeout=`),
//! owned by the test process through `spawn_server`. One shared server per test binary
//! ([`Zk::shared`], tests use unique namespaces); tests that stop or restart a server
//! start their own ([`Zk::start`]). [`Zk::start_tls`] adds a TLS port (Netty, PEM key and
//! trust stores from [`TlsFiles`], a throw-away CA made with `openssl`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{free_port, spawn_server, stop, wait_until};

pub struct Zk {
    pub port: u16,
    /// The TLS port of a server from [`Zk::start_tls`].
    pub secure_port: Option<u16>,
    pid: std::sync::Mutex<u32>,
    dir: tempfile::TempDir,
}

impl Zk {
    /// The server shared by every test of this binary.
    pub fn shared() -> &'static Zk {
        static ZK: OnceLock<Zk> = OnceLock::new();
        ZK.get_or_init(Zk::start)
    }

    /// A server of its own, for tests that stop it.
    pub fn start() -> Zk {
        Zk::start_with(None)
    }

    /// A server of its own that also speaks TLS on `secure_port` with the server
    /// certificate of `tls`, trusting its CA; `need_client_cert` makes it demand a client
    /// certificate (`ssl.clientAuth=need`). Its plain port stays for readiness checks.
    pub fn start_tls(tls: &TlsFiles, need_client_cert: bool) -> Zk {
        Zk::start_with(Some((tls, need_client_cert)))
    }

    fn start_with(tls: Option<(&TlsFiles, bool)>) -> Zk {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let mut cfg = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n\
             4lw.commands.whitelist=ruok,srvr,stat\nmaxClientCnxns=0\n",
            dir.path().join("data").display()
        );
        let secure_port = tls.map(|(files, need)| {
            let secure_port = free_port();
            cfg.push_str(&format!(
                "secureClientPort={secure_port}\nsecureClientPortAddress=127.0.0.1\n\
                 serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
                 ssl.keyStore.location={}\nssl.keyStore.type=PEM\nssl.keyStore.password=\n\
                 ssl.trustStore.location={}\nssl.trustStore.type=PEM\nssl.clientAuth={}\n",
                files.server_keystore.display(),
                files.ca.display(),
                if need { "need" } else { "none" }
            ));
            secure_port
        });
        std::fs::write(dir.path().join("zoo.cfg"), cfg).unwrap();
        let pid = launch(dir.path(), port);
        Zk {
            port,
            secure_port,
            pid: std::sync::Mutex::new(pid),
            dir,
        }
    }

    /// `zookeeper://127.0.0.1:SECURE_PORT?use_ssl=true&ca=CA&namespace=NS&timeout=SECS`.
    pub fn tls_url(&self, ca: &Path, namespace: &str, timeout: u32) -> String {
        format!(
            "zookeeper://127.0.0.1:{}?use_ssl=true&ca={}&namespace={namespace}&timeout={timeout}",
            self.secure_port.expect("a server from Zk::start_tls"),
            ca.display()
        )
    }

    /// `zookeeper://127.0.0.1:PORT?namespace=NS&timeout=SECS`.
    pub fn url(&self, namespace: &str, timeout: u32) -> String {
        format!(
            "zookeeper://127.0.0.1:{}?namespace={namespace}&timeout={timeout}",
            self.port
        )
    }

    pub fn pid(&self) -> u32 {
        *self.pid.lock().unwrap()
    }

    /// Stop the server (its data stays).
    pub fn stop(&self) {
        stop(self.pid());
    }

    /// Start it again on the same port and data directory (sessions survive).
    pub fn restart(&self) {
        *self.pid.lock().unwrap() = launch(self.dir.path(), self.port);
    }
}

fn launch(dir: &Path, port: u16) -> u32 {
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx256m")
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-cp")
        .arg("/usr/share/java/*:/etc/zookeeper/conf_example")
        .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(dir.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("server.out")).unwrap())
        .stderr(Stdio::null());
    let pid = spawn_server(cmd);
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || ready(port)),
        "ZooKeeper did not answer on port {port} within {:?} (see {})",
        started.elapsed(),
        dir.join("server.out").display()
    );
    pid
}

/// Serving requests: the four-letter word `srvr` answers with the server's mode (`ruok`
/// says `imok` before the server takes sessions).
pub fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"srvr").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains("Mode:")
}

/// A throw-away PKI made with `openssl`: a CA, a server certificate for 127.0.0.1 and
/// localhost, a client certificate, all PEM, unencrypted keys.
pub struct TlsFiles {
    pub dir: tempfile::TempDir,
    /// The CA certificate.
    pub ca: std::path::PathBuf,
    /// The server's key and certificate in one file (ZooKeeper's PEM key store).
    pub server_keystore: std::path::PathBuf,
    pub client_cert: std::path::PathBuf,
    pub client_key: std::path::PathBuf,
}

impl TlsFiles {
    pub fn new() -> TlsFiles {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // A subject of its own: another `TlsFiles`' CA must not even look like the issuer.
        let ca_subject = format!(
            "/CN=toozctl test CA {}",
            d.file_name().unwrap().to_string_lossy()
        );
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            &ca_subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        for who in ["server", "client"] {
            let (key, csr, pem) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.pem"),
            );
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={who}"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ]);
        }
        let keystore = [
            std::fs::read_to_string(d.join("server.key")).unwrap(),
            std::fs::read_to_string(d.join("server.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(d.join("server.keystore.pem"), keystore).unwrap();
        TlsFiles {
            ca: d.join("ca.pem"),
            server_keystore: d.join("server.keystore.pem"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            dir,
        }
    }
}
