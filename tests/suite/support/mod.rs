//! Shared by the integration tests: run the real binary with a clean environment, make
//! throw-away backends, start servers that are stopped with the test process, and find the
//! Python tooz reference peer (installed by scripts/test).
#![allow(dead_code)]

pub mod cluster;
pub mod etcd;
pub mod fixture;
pub mod mariadb;
pub mod memcached;
pub mod postgres;
pub mod redis;
pub mod zookeeper;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_toozctl"))
}

/// `toozctl` with a clean environment: only PATH, and a private HOME so the default
/// backend and config never touch the developer's own.
pub fn toozctl(home: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_clear();
    c.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c.env("HOME", home);
    c.env("LANG", "C.UTF-8");
    c.stdin(Stdio::null());
    c
}

/// A temporary file backend: its directory and URL.
pub struct FileBackend {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl FileBackend {
    pub fn new() -> FileBackend {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().display());
        FileBackend { dir, url }
    }

    /// `toozctl -b file://DIR ARGS...` with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = toozctl(self.dir.path());
        c.arg("-b").arg(&self.url).args(args);
        c
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// Wait until `f` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<u32>>);

/// Servers are spawned by one long-lived thread with PR_SET_PDEATHSIG, so they die with
/// the test process even when a shared server outlives every test (no leak), and each test
/// can still stop its own server early with [`stop`].
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            let mut children: Vec<Child> = Vec::new();
            for (mut cmd, reply) in rx {
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let r = cmd.spawn().map(|c| {
                    let pid = c.id();
                    children.push(c);
                    pid
                });
                children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
                let _ = reply.send(r);
            }
            // The sender lives in a static and is never dropped: this thread parks here
            // until the process exits, which is what PDEATHSIG is tied to.
        });
        Mutex::new(tx)
    })
}

/// Start a server process owned by the test process; returns its pid.
pub fn spawn_server(cmd: Command) -> u32 {
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap()
        .send((cmd, tx))
        .expect("spawner thread");
    rx.recv()
        .expect("spawner reply")
        .expect("cannot start server")
}

/// Remove `path` when the test process exits: for the data directories of servers kept
/// in statics (shared servers, templates), which are never dropped; the servers die with
/// the process (PDEATHSIG), so nothing uses the files by then.
pub fn remove_at_exit(path: &Path) {
    static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    extern "C" fn cleanup() {
        if let Ok(paths) = PATHS.lock() {
            for p in paths.iter() {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
    let mut paths = PATHS.lock().unwrap();
    if paths.is_empty() {
        // SAFETY: registers a plain function that only removes files.
        unsafe {
            libc::atexit(cleanup);
        }
    }
    paths.push(path.to_path_buf());
}

/// Send `sig` to a process we started.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on a pid we own.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Stop a server we started (SIGTERM, then SIGKILL) and wait until it is gone.
pub fn stop(pid: u32) {
    signal(pid, libc::SIGTERM);
    if !wait_until(Duration::from_secs(5), || !alive(pid)) {
        signal(pid, libc::SIGKILL);
        wait_until(Duration::from_secs(5), || !alive(pid));
    }
}

/// The remote ports of `pid`'s established TCP connections (its sockets' inodes looked
/// up in /proc/net/tcp and tcp6).
pub fn peer_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: Vec<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; 01 = ESTABLISHED
            if f.len() > 9 && f[3] == "01" && inodes.iter().any(|i| i == f[9]) {
                if let Some(p) = f[2]
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                {
                    ports.push(p);
                }
            }
        }
    }
    ports
}

/// Whether `pid` still runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// The Python of the tooz venv made by scripts/test. Interop tests fail (not skip)
/// without it, so CI can never pass them silently.
pub fn tooz_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("TOOZCTL_TOOZ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/tooz-venv/bin/python"));
    assert!(
        py.exists(),
        "{} is missing: run scripts/test once (it makes the tooz venv), or set TOOZCTL_TOOZ_PYTHON",
        py.display()
    );
    py
}

/// Run a Python snippet with tooz available; returns (status, stdout, stderr).
pub fn python(code: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(tooz_python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
