//! Real `redis-server` processes for the Redis tests: one shared server per test binary
//! (tests use their own namespaces on it) and private servers for fault tests. Servers run
//! in a temp dir on a free port and die with the test process (`spawn_server`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{free_port, spawn_server, stop, wait_until};

pub struct RedisServer {
    pub port: u16,
    pub pid: u32,
    pub password: Option<String>,
    _dir: tempfile::TempDir,
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
            let pid = spawn_server(cmd);
            if wait_until(Duration::from_secs(10), || ping(port)) {
                return RedisServer {
                    port,
                    pid,
                    password: password.map(str::to_string),
                    _dir: dir,
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
