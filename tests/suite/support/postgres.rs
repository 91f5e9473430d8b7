//! Real `postgres` processes for the `postgresql://` tests: one shared server per test
//! binary and private servers for fault tests. `initdb` runs once per binary into a
//! template that every server copies; servers run as the unprivileged `postgres` user
//! (PostgreSQL refuses root) in a temp dir on a free port, with their socket in that dir.
//! Local connections are trusted, TCP ones need a password (scram), so tests can check
//! authentication, except for role `toozctl`, as which the fixtures connect over TCP.
//! Stopping uses PostgreSQL's fast shutdown (SIGINT), which ends client sessions, so a
//! restart never waits for a holder to go away.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{alive, free_port, signal, spawn_server, wait_until};

pub const DB: &str = "postgres";
pub const USER: &str = "toozctl";
pub const PASSWORD: &str = "toozctl";

/// The server binaries (Debian's /usr/lib/postgresql/VERSION/bin).
fn bindir() -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("install postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    v.sort();
    v.pop().expect("no /usr/lib/postgresql/*/bin/postgres")
}

/// The uid and gid of the `postgres` user.
fn pg_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a postgres user")
    };
    (id("-u"), id("-g"))
}

fn chown_r(path: &Path) {
    let st = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(st.success());
}

fn as_postgres(cmd: &mut Command) -> &mut Command {
    let (uid, gid) = pg_ids();
    cmd.uid(uid).gid(gid).env("HOME", "/tmp")
}

/// The pids whose parent is `pid` (a postmaster's backends and helpers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let p: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let ppid: u32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == pid).then_some(p)
    })
    .collect()
}

/// The template data directory, made once.
fn template() -> &'static Path {
    static T: OnceLock<tempfile::TempDir> = OnceLock::new();
    T.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        chown_r(t.path());
        let pwfile = t.path().join("pw");
        std::fs::write(&pwfile, "postgres-unused\n").unwrap();
        chown_r(&pwfile);
        let out = as_postgres(&mut Command::new(bindir().join("initdb")))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(t.path().join("data"))
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The fixtures' role is trusted over TCP (no password in their URLs, and no
        // SCRAM hashing, slow in debug builds, per connection); every other role needs
        // its password.
        let hba = t.path().join("data/pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host all {USER} 127.0.0.1/32 trust\n{rest}")).unwrap();
        crate::support::remove_at_exit(t.path());
        t
    })
    .path()
}

pub struct Postgres {
    pub port: u16,
    pub pid: u32,
    pub dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new("cp")
            .arg("-a")
            .arg(template().join("data"))
            .arg(dir.path())
            .status()
            .expect("cp");
        assert!(st.success());
        chown_r(dir.path());
        let mut p = Postgres {
            port: free_port(),
            pid: 0,
            dir,
        };
        p.spawn();
        p.sql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{USER}') THEN \
             CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'; END IF; END $$"
        ));
        p
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(bindir().join("postgres"));
        as_postgres(&mut cmd)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=16MB",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.pid = spawn_server(cmd);
        assert!(
            wait_until(Duration::from_secs(30), || alive(self.pid)
                && self.try_sql("SELECT 1").is_some()),
            "postgres did not start on port {}",
            self.port
        );
    }

    /// One server shared by every test of this binary.
    pub fn shared() -> &'static Postgres {
        static S: OnceLock<Postgres> = OnceLock::new();
        S.get_or_init(|| {
            let p = Postgres::start();
            crate::support::remove_at_exit(p.dir.path());
            p
        })
    }

    /// A backend URL as `user` with `password` over TCP.
    pub fn url_as(&self, user: &str, password: Option<&str>) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{p}@"),
            None => format!("{user}@"),
        };
        format!("postgresql://{auth}127.0.0.1:{}/{DB}", self.port)
    }

    pub fn url(&self) -> String {
        self.url_as(USER, None)
    }

    /// Run SQL as `postgres` over the socket; `None` when psql fails.
    pub fn try_sql(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-U", "postgres", "-d", DB, "-h"])
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|| panic!("psql -c {sql:?} failed"))
    }

    /// A login role with `password`.
    pub fn user_with(&self, user: &str, password: &str) {
        let pw = password.replace('\'', "''");
        self.sql(&format!(
            "CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{pw}'"
        ));
    }

    /// The pid of the session holding tooz's key of `name`, if any.
    pub fn holder_pid(&self, name: &str) -> Option<i32> {
        let n = name.replace('\'', "''");
        let out = self.sql(&format!(
            "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted \
             AND l.classid = get_byte(decode(md5('{n}'), 'hex'), 0) \
             AND l.objid = get_byte(decode(md5('{n}'), 'hex'), 1)"
        ));
        out.lines().next().and_then(|l| l.trim().parse().ok())
    }

    /// End the session holding `name` (the nearest thing to deleting a key).
    pub fn kill_holder(&self, name: &str) -> bool {
        match self.holder_pid(name) {
            Some(pid) => self.sql(&format!("SELECT pg_terminate_backend({pid})")) == "t",
            None => false,
        }
    }

    /// Fast shutdown (sessions are ended), then SIGQUIT, then SIGKILL.
    pub fn stop(&self) {
        signal(self.pid, libc::SIGCONT);
        for (sig, wait) in [(libc::SIGINT, 10), (libc::SIGQUIT, 5), (libc::SIGKILL, 5)] {
            signal(self.pid, sig);
            if wait_until(Duration::from_secs(wait), || !alive(self.pid)) {
                return;
            }
        }
    }

    /// Stop it and start it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
