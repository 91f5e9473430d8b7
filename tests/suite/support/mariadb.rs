//! Real `mariadbd` processes for the `mysql://` tests: one shared server per test binary and
//! private servers for fault tests. `mariadb-install-db` runs once per binary into a
//! template data directory that every server copies (it takes seconds; a copy does not);
//! each server runs in a temp dir on a free port with its own socket and is stopped by pid.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{free_port, signal, spawn_server, stop, wait_until};

/// The database every fixture URL names.
pub const DB: &str = "test";

pub struct Mariadb {
    pub port: u16,
    pub pid: u32,
    pub dir: tempfile::TempDir,
    argv: Vec<String>,
}

/// The template data directory, made once.
fn template() -> &'static Path {
    static T: OnceLock<tempfile::TempDir> = OnceLock::new();
    T.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=8M",
            ])
            .arg(format!("--datadir={}", t.path().join("data").display()))
            .output()
            .expect("mariadb-install-db (install mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        crate::support::remove_at_exit(t.path());
        t
    })
    .path()
}

impl Mariadb {
    pub fn start() -> Mariadb {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new("cp")
            .arg("-a")
            .arg(template().join("data"))
            .arg(dir.path())
            .status()
            .expect("cp");
        assert!(st.success());
        let port = free_port();
        let d = dir.path();
        let argv = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", d.join("data").display()),
            format!("--socket={}", d.join("sock").display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".into(),
            "--user=root".into(),
            format!("--pid-file={}", d.join("pid").display()),
            format!("--log-error={}", d.join("err.log").display()),
            "--innodb-buffer-pool-size=16M".into(),
            "--innodb-log-file-size=8M".into(),
            "--skip-name-resolve".into(),
            "--max-connections=500".into(),
        ];
        let pid = spawn(&argv);
        let m = Mariadb {
            port,
            pid,
            dir,
            argv,
        };
        assert!(m.wait_ready(), "mariadbd did not start on port {port}");
        m.sql(&format!("CREATE DATABASE IF NOT EXISTS {DB}"));
        m
    }

    /// One server shared by every test of this binary.
    pub fn shared() -> &'static Mariadb {
        static S: OnceLock<Mariadb> = OnceLock::new();
        S.get_or_init(|| {
            let m = Mariadb::start();
            crate::support::remove_at_exit(m.dir.path());
            m
        })
    }

    fn wait_ready(&self) -> bool {
        wait_until(Duration::from_secs(30), || {
            crate::support::alive(self.pid) && self.try_sql("SELECT 1").is_some()
        })
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// A backend URL as user `user` with `password` (root has none).
    pub fn url_as(&self, user: &str, password: Option<&str>) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{p}@"),
            None => format!("{user}@"),
        };
        format!("mysql://{auth}127.0.0.1:{}/{DB}", self.port)
    }

    /// The root URL (no password).
    pub fn url(&self) -> String {
        self.url_as("root", None)
    }

    /// Run SQL as root over the socket; `None` when the client fails.
    pub fn try_sql(&self, sql: &str) -> Option<String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--connect-timeout=2", "-e", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// [`Mariadb::try_sql`] that must succeed.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|| panic!("mariadb -e {sql:?} failed"))
    }

    /// The connection id holding user lock `name`, if any.
    pub fn holder_id(&self, name: &str) -> Option<u64> {
        let out = self.sql(&format!(
            "SELECT IS_USED_LOCK('{}')",
            name.replace('\'', "''")
        ));
        out.parse().ok()
    }

    /// Kill the session holding `name` (the nearest thing to deleting a key): true when
    /// there was one.
    pub fn kill_holder(&self, name: &str) -> bool {
        match self.holder_id(name) {
            Some(id) => self.try_sql(&format!("KILL {id}")).is_some(),
            None => false,
        }
    }

    /// A user that logs in with `password` and may do anything (KILL included).
    pub fn user_with(&self, user: &str, password: &str) {
        let pw = password.replace('\\', "\\\\").replace('\'', "''");
        self.sql(&format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{pw}'; GRANT ALL ON *.* TO '{user}'@'%'"
        ));
    }

    /// Stop it and start it again on the same port and data directory.
    pub fn restart(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
        self.pid = spawn(&self.argv);
        assert!(
            self.wait_ready(),
            "mariadbd did not come back on port {}",
            self.port
        );
    }
}

fn spawn(argv: &[String]) -> u32 {
    let mut cmd = Command::new("mariadbd");
    cmd.args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    spawn_server(cmd)
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        signal(self.pid, libc::SIGCONT);
        stop(self.pid);
    }
}
