//! systemd readiness (`Type=notify`): with `$NOTIFY_SOCKET` set, a holding command sends
//! `STATUS=` while it waits (naming the holder), `READY=1` with `MAINPID=` its own pid only
//! once the primitive is held and COMMAND has started, and `STOPPING=1` on the way out. A
//! fake service manager (a datagram socket) listens.

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

crate::on_every_backend!(
    ready_comes_only_once_the_lock_is_held_and_command_started,
    group_join_is_ready_once_joined,
);

/// A fake service manager: the messages received so far.
struct Manager {
    sock: UnixDatagram,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    got: Vec<String>,
}

impl Manager {
    fn new() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Manager {
            sock,
            _dir: dir,
            path,
            got: Vec::new(),
        }
    }

    /// Take in what has arrived, for up to `within`, until `until` holds of a message.
    fn until(&mut self, within: Duration, until: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.got.push(m.clone());
                if until(&m) {
                    return Some(m);
                }
            }
        }
        None
    }
}

fn ready_comes_only_once_the_lock_is_held_and_command_started(kind: Kind) {
    let fx = Fx::shared(kind, "notify");
    let name = fx.name("svc");
    let first = fx.hold(&["-m", "first-holder", "lock", &name]);
    let mut mgr = Manager::new();
    let marker = fx.home.path().join("started");
    let script = format!(
        "echo ${{NOTIFY_SOCKET:-unset}} > {}; sleep 1",
        marker.display()
    );
    let mut ours = fx
        .cmd(&["-m", "unit", "lock", &name, "--", "sh", "-c", &script])
        .env("NOTIFY_SOCKET", &mgr.path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = mgr
        .until(Duration::from_secs(20), |m| m.contains("STATUS="))
        .unwrap_or_else(|| panic!("no STATUS while waiting: {:?}", mgr.got));
    assert!(
        status.contains("waiting for lock") && status.contains("first-holder"),
        "{status}"
    );
    // The lock is still held by the first holder: nothing may say READY.
    assert!(
        mgr.until(Duration::from_secs(1), |m| m.contains("READY=1"))
            .is_none(),
        "READY while another held the lock: {:?}",
        mgr.got
    );
    assert!(!marker.exists());
    first.stop();
    let ready = mgr
        .until(Duration::from_secs(30), |m| m.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY after the lock came free: {:?}", mgr.got));
    assert!(
        ready.contains(&format!("MAINPID={}", ours.id())),
        "toozctl is the main pid: {ready}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || marker.exists()),
        "COMMAND had started by READY"
    );
    assert!(
        mgr.until(Duration::from_secs(20), |m| m.contains("STOPPING=1"))
            .is_some(),
        "no STOPPING: {:?}",
        mgr.got
    );
    assert_eq!(ours.wait().unwrap().code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "unset",
        "COMMAND does not inherit NOTIFY_SOCKET"
    );
    let _ = ours.stderr.take();
}

fn group_join_is_ready_once_joined(kind: Kind) {
    if !kind.has_groups() {
        return; // no groups on this backend
    }
    let fx = Fx::shared(kind, "notifyjoin");
    let group = fx.name("g");
    let mut mgr = Manager::new();
    let mut c = fx
        .cmd(&["group", "join", "--create", &group, "--", "sleep", "0.5"])
        .env("NOTIFY_SOCKET", &mgr.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = mgr
        .until(Duration::from_secs(20), |m| m.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY: {:?}", mgr.got));
    assert!(ready.contains(&format!("MAINPID={}", c.id())), "{ready}");
    assert_eq!(c.wait().unwrap().code(), Some(0));
    assert!(
        mgr.until(Duration::from_secs(2), |m| m.contains("STOPPING=1"))
            .is_some(),
        "{:?}",
        mgr.got
    );
}
