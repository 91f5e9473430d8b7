//! Real `redis-server` processes for the Redis tests: one shared server per test binary
//! (tests use their own namespaces on it) and private servers for fault tests. Servers run
//! in a temp dir on a free port and die with the test process (`spawn_server`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{free_port, signal, spawn_server, stop, wait_until};

pub struct RedisServer {
    pub port: u16,
    pub pid: u32,
    pub password: Option<String>,
    _dir: tempfile::TempDir,
    /// The full command line, for [`RedisServer::restart`].
    argv: Vec<std::ffi::OsString>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(None, &[])
    }

    /// A server requiring `password`, with extra `redis-server` arguments.
    pub fn start_with(password: Option<&str>, extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("redis-server");
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
            if let Some(p) = password {
                cmd.args(["--requirepass", p]);
            }
            let argv: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
            let pid = spawn_server(cmd);
            if wait_until(Duration::from_secs(10), || ping(port)) {
                return RedisServer {
                    port,
                    pid,
                    password: password.map(str::to_string),
                    _dir: dir,
                    argv,
                };
            }
            stop(pid);
        }
        panic!("redis-server did not start");
    }

    /// One server shared by every test of this binary.
    pub fn shared() -> &'static RedisServer {
        static S: OnceLock<RedisServer> = OnceLock::new();
        S.get_or_init(RedisServer::start)
    }

    /// A backend URL with namespace `ns` and extra query options.
    pub fn url(&self, ns: &str, opts: &str) -> String {
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        let sep = if opts.is_empty() { "" } else { "&" };
        format!(
            "redis://{auth}127.0.0.1:{}?namespace={ns}{sep}{opts}",
            self.port
        )
    }

    /// `redis-cli` against this server; returns its stdout, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut c = Command::new("redis-cli");
        c.args(["-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            c.env("REDISCLI_AUTH", p);
        }
        let out = c.args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn exists(&self, key: &str) -> bool {
        self.cli(&["EXISTS", key]) == "1"
    }

    pub fn stop(&self) {
        stop(self.pid);
    }

    /// Stop it and start it again on the same port: without persistence it comes back
    /// empty, as after a crash.
    pub fn restart(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
        let mut cmd = Command::new("redis-server");
        cmd.args(&self.argv)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.pid = spawn_server(cmd);
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(10), || ping(port)),
            "redis-server did not come back on port {port}"
        );
    }
}

/// Whether a Redis server answers on `port` (a password-protected one answers NOAUTH).
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf.starts_with(b"+PONG") || buf.starts_with(b"-NOAUTH")))
}

/// A server started from raw arguments (TLS, Unix socket, Sentinel); stopped when dropped.
pub struct RawServer {
    pub pid: u32,
    pub dir: tempfile::TempDir,
}

impl RawServer {
    /// Start `redis-server ARGS` in a temp dir and wait until `ready(dir)` holds.
    pub fn start(args: &[String], ready: impl Fn(&std::path::Path) -> bool) -> RawServer {
        let dir = tempfile::tempdir().expect("tempdir");
        RawServer::start_in(dir, args, ready)
    }

    pub fn start_in(
        dir: tempfile::TempDir,
        args: &[String],
        ready: impl Fn(&std::path::Path) -> bool,
    ) -> RawServer {
        let mut cmd = Command::new("redis-server");
        cmd.args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let pid = spawn_server(cmd);
        assert!(
            wait_until(Duration::from_secs(10), || ready(dir.path())),
            "redis-server {args:?} did not start"
        );
        RawServer { pid, dir }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        stop(self.pid);
    }
}

/// A CA and a server certificate for 127.0.0.1 in `dir` (ca.crt, srv.crt, srv.key).
pub fn make_certs(dir: &std::path::Path) {
    let sh = "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=toozctl-test-ca \
              && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 \
              && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext \
              && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext";
    let st = Command::new("sh")
        .args(["-c", sh])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl failed");
}

/// Whether something accepts TCP connections on `port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
    }
}
