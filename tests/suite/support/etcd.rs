//! A real etcd for the integration tests: started on free ports in a temp dir through
//! `support::spawn_server` (so it dies with the test process), stopped by its own pid when
//! dropped. [`shared`] gives one server per test binary (tests use unique key names); fault,
//! TLS and auth tests start their own with [`Etcd::start`].
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{alive, free_port, spawn_server, stop, wait_until};

pub struct Etcd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pid: u32,
    /// How it was started, for [`Etcd::restart`].
    argv: Vec<std::ffi::OsString>,
    /// `host:port` for etcdctl.
    pub endpoint: String,
    /// `etcd3+http://127.0.0.1:PORT` (or `+https` with the TLS options).
    pub url: String,
    /// etcdctl flags for TLS / auth, when the server needs them.
    pub ctl_flags: Vec<String>,
}

/// Paths of a throw-away CA and a server/client certificate for 127.0.0.1.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::start_with(None)
    }

    /// With TLS (client certificates required) when `certs` is given.
    pub fn start_with(certs: Option<&Certs>) -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let peer = free_port();
        let scheme = if certs.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new("etcd");
        cmd.arg("--data-dir")
            .arg(dir.path().join("etcd"))
            .args([
                "--name",
                "t",
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("etcd.log")).expect("log file"));
        let mut ctl_flags = Vec::new();
        let mut url = format!("etcd3+{scheme}://127.0.0.1:{port}");
        if let Some(c) = certs {
            cmd.arg("--cert-file")
                .arg(&c.cert)
                .arg("--key-file")
                .arg(&c.key);
            cmd.arg("--client-cert-auth")
                .arg("--trusted-ca-file")
                .arg(&c.ca);
            ctl_flags = vec![
                format!("--cacert={}", c.ca.display()),
                format!("--cert={}", c.cert.display()),
                format!("--key={}", c.key.display()),
            ];
            url = format!(
                "{url}?ca_cert={}&cert_cert={}&cert_key={}",
                c.ca.display(),
                c.cert.display(),
                c.key.display()
            );
        }
        let argv = cmd.get_args().map(|a| a.to_os_string()).collect();
        let pid = spawn_server(cmd);
        let etcd = Etcd {
            dir,
            port,
            pid,
            argv,
            endpoint: format!("127.0.0.1:{port}"),
            url,
            ctl_flags,
        };
        etcd.wait_ready();
        etcd
    }

    fn wait_ready(&self) {
        let ready = wait_until(Duration::from_secs(20), || {
            alive(self.pid) && self.ctl(&["endpoint", "health"]).status.success()
        });
        assert!(
            ready,
            "etcd did not start: {}",
            std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
        );
    }

    /// Stop it and start it again on the same ports and data.
    pub fn restart(&mut self) {
        stop(self.pid);
        let mut cmd = Command::new("etcd");
        cmd.args(&self.argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.pid = spawn_server(cmd);
        self.wait_ready();
    }

    /// `etcdctl` against this server (API v3), with its TLS flags.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&self.endpoint)
            .args(&self.ctl_flags)
            .args(args);
        c.arg("--command-timeout=5s");
        c.stdin(Stdio::null()).output().expect("etcdctl")
    }

    /// The stdout of an etcdctl command that never ends by itself (`elect -l`, `watch`),
    /// stopped after `secs`.
    pub fn ctl_for(&self, secs: u32, args: &[&str]) -> String {
        let mut c = Command::new("timeout");
        c.arg(secs.to_string())
            .arg("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&self.endpoint);
        c.args(&self.ctl_flags).args(args).stdin(Stdio::null());
        String::from_utf8_lossy(&c.output().expect("etcdctl").stdout).into_owned()
    }

    /// etcdctl's stdout, asserting success.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys under `prefix` (etcdctl get --prefix --keys-only).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.ctl_ok(&["get", "--prefix", "--keys-only", prefix])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Ids (hex) of every live lease.
    pub fn leases(&self) -> Vec<String> {
        self.ctl_ok(&["lease", "list"])
            .lines()
            .filter(|l| !l.starts_with("found ") && !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// Whether lease `id` (hex) is still alive.
    pub fn lease_alive(&self, id: &str) -> bool {
        let out = self.ctl(&["lease", "timetolive", id]);
        let text = String::from_utf8_lossy(&out.stdout);
        out.status.success() && !text.contains("already expired") && !text.contains("not found")
    }

    /// The server's metrics page (empty when it cannot be read).
    fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = sock.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut text = String::new();
        let _ = sock.read_to_string(&mut text);
        text
    }

    /// How many watchers the server has now (from its metrics endpoint).
    pub fn watchers(&self) -> u64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix("etcd_debugging_mvcc_watcher_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0)
    }

    /// How many watch responses (messages on watch streams: events, creations,
    /// cancellations) the server has sent so far, to all its watchers.
    pub fn watch_messages(&self) -> u64 {
        self.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("grpc_server_msg_sent_total{") && l.contains("grpc_method=\"Watch\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// How many plain reads (KV `Range` calls, not the reads inside transactions) the
    /// server has answered so far.
    pub fn range_calls(&self) -> u64 {
        self.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("grpc_server_handled_total{")
                    && l.contains("grpc_method=\"Range\"")
                    && l.contains("grpc_service=\"etcdserverpb.KV\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// The SIGSTOP / SIGCONT partition the client sees as "no answers".
    pub fn pause(&self) {
        crate::support::signal(self.pid, libc::SIGSTOP);
    }

    pub fn resume(&self) {
        crate::support::signal(self.pid, libc::SIGCONT);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        crate::support::signal(self.pid, libc::SIGCONT);
        stop(self.pid);
    }
}

/// One server for every test of this binary that needs nothing special.
pub fn shared() -> &'static Etcd {
    static SHARED: OnceLock<Etcd> = OnceLock::new();
    SHARED.get_or_init(Etcd::start)
}

/// A throw-away CA and one certificate (server and client use, SAN 127.0.0.1) made with
/// openssl in `dir`.
pub fn make_certs(dir: &Path) -> Certs {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
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
        "/CN=toozctl test CA",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("node.pem"),
        key: dir.join("node.key"),
    }
}
