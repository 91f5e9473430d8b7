//! Real `memcached` processes for the memcached tests: one shared server per test binary
//! (tests keep apart by unique names) and private servers for fault tests. Servers run on
//! a free port in a temp dir and die with the test process (`spawn_server`); a restart
//! starts the same command line again, and memcached comes back empty, as after a crash.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{free_port, signal, spawn_server, stop, wait_until};

pub struct Memcached {
    pub port: u16,
    pub pid: u32,
    /// `user:password` when started with `-Y` ([`Memcached::start_with_auth`]).
    pub auth: Option<(String, String)>,
    pub dir: tempfile::TempDir,
    argv: Vec<std::ffi::OsString>,
}

impl Memcached {
    pub fn start() -> Memcached {
        Memcached::start_with(&[], None)
    }

    /// A server that requires `user`/`password` (memcached's ASCII authentication, `-Y`).
    pub fn start_with_auth(user: &str, password: &str) -> Memcached {
        Memcached::start_with(&[], Some((user, password)))
    }

    /// A server with extra arguments (TLS: `-Z -o ssl_chain_cert=...`); `ready` names
    /// when it serves (plain servers answer `version`).
    pub fn start_with(extra: &[String], auth: Option<(&str, &str)>) -> Memcached {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut extra: Vec<String> = extra.to_vec();
        if let Some((u, p)) = auth {
            let f = dir.path().join("auth");
            std::fs::write(&f, format!("{u}:{p}\n")).unwrap();
            extra.push("-Y".into());
            extra.push(f.display().to_string());
        }
        let tls = extra.iter().any(|a| a == "-Z");
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("memcached");
            cmd.args([
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "0",
                "-u",
                "root",
            ])
            .args(&extra)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
            let argv: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
            let pid = spawn_server(cmd);
            let up = if tls || auth.is_some() {
                wait_until(Duration::from_secs(10), || listening(port))
            } else {
                wait_until(Duration::from_secs(10), || version(port))
            };
            if up {
                return Memcached {
                    port,
                    pid,
                    auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
                    dir,
                    argv,
                };
            }
            stop(pid);
        }
        panic!("memcached did not start");
    }

    /// One server shared by every test of this binary.
    pub fn shared() -> &'static Memcached {
        static S: OnceLock<Memcached> = OnceLock::new();
        S.get_or_init(Memcached::start)
    }

    /// The backend URL with extra query options (`a=1&b=2`, or empty).
    pub fn url(&self, opts: &str) -> String {
        let auth = self
            .auth
            .as_ref()
            .map(|(u, p)| format!("{u}:{p}@"))
            .unwrap_or_default();
        let q = if opts.is_empty() {
            String::new()
        } else {
            format!("?{opts}")
        };
        format!("memcached://{auth}127.0.0.1:{}{q}", self.port)
    }

    /// Raw access to this server.
    pub fn probe(&self) -> Probe {
        Probe {
            port: self.port,
            auth: self.auth.clone(),
        }
    }

    /// Stop it and start it again on the same port: memcached comes back empty.
    pub fn restart(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
        // `stop` sees the main thread a zombie while memcached's other threads may still
        // hold the listening socket: a new server started then cannot bind the port, and
        // the check below would meet the old socket. Wait until nothing listens.
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(10), || !listening(port)),
            "the old memcached still listens on port {port}"
        );
        let mut cmd = Command::new("memcached");
        cmd.args(&self.argv)
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.pid = spawn_server(cmd);
        assert!(
            wait_until(Duration::from_secs(10), || listening(port)),
            "memcached did not come back on port {port}"
        );
    }
}

/// Raw text-protocol access to a server (ours or a fixture's), as another client would.
pub struct Probe {
    pub port: u16,
    pub auth: Option<(String, String)>,
}

impl Probe {
    /// A server without authentication on `port`.
    pub fn at(port: u16) -> Probe {
        Probe { port, auth: None }
    }

    /// Send raw text-protocol requests and return everything answered until `done` holds
    /// on the answer so far (or 2 s pass). Authenticates first on a `-Y` server.
    pub fn raw_bytes(&self, req: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect memcached");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut pre = String::new();
        if let Some((u, p)) = &self.auth {
            let t = format!("{u} {p}");
            pre = format!("set a 0 0 {}\r\n{t}\r\n", t.len());
        }
        s.write_all(format!("{pre}{req}").as_bytes()).unwrap();
        let skip = if pre.is_empty() {
            0
        } else {
            "STORED\r\n".len()
        };
        let mut out = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 65536];
        while std::time::Instant::now() < end {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if out.len() >= skip && done(&out[skip..]) {
                break;
            }
        }
        out.drain(..skip.min(out.len()));
        out
    }

    /// [`Probe::raw_bytes`] as text.
    pub fn raw(&self, req: &str, done: impl Fn(&str) -> bool) -> String {
        let out = self.raw_bytes(req, |b| done(&String::from_utf8_lossy(b)));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `mg KEY v f t` as (flags, ttl, value bytes), or `None` when missing.
    pub fn get(&self, key: &str) -> Option<(u32, i64, Vec<u8>)> {
        let complete = |b: &[u8]| -> bool {
            if b.starts_with(b"EN\r\n") {
                return true;
            }
            let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
                return false;
            };
            let head = String::from_utf8_lossy(&b[..i]);
            let len: usize = head
                .split(' ')
                .nth(1)
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            b.len() >= i + 2 + len + 2
        };
        let out = self.raw_bytes(&format!("mg {key} v f t\r\n"), complete);
        let i = out.windows(2).position(|w| w == b"\r\n")?;
        let head = String::from_utf8_lossy(&out[..i]).into_owned();
        let mut w = head.split(' ');
        if w.next() != Some("VA") {
            return None;
        }
        let len: usize = w.next()?.parse().ok()?;
        let (mut flags, mut ttl) = (0, 0);
        for f in w {
            if let Some(v) = f.strip_prefix('f') {
                flags = v.parse().ok()?;
            }
            if let Some(v) = f.strip_prefix('t') {
                ttl = v.parse().ok()?;
            }
        }
        Some((flags, ttl, out[i + 2..i + 2 + len].to_vec()))
    }

    /// Delete a key; whether it was there.
    pub fn delete(&self, key: &str) -> bool {
        self.raw(&format!("md {key}\r\n"), |t| t.ends_with("\r\n"))
            .starts_with("HD")
    }

    /// Store a raw value (flags 0, no expiry).
    pub fn set(&self, key: &str, value: &str) {
        let out = self.raw(
            &format!("ms {key} {} T0\r\n{value}\r\n", value.len()),
            |t| t.ends_with("\r\n"),
        );
        assert!(out.starts_with("HD"), "{out}");
    }
}

/// Whether a memcached answers `version` on `port`.
pub fn version(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"version\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"VERSION"))
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

impl Drop for Memcached {
    fn drop(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
    }
}
