//! `toozctl locks` and `toozctl unlock` on the file backend: toozctl holders (exclusive,
//! shared, semaphore, nested names), a lock held by a Python tooz client, free and stale
//! locks, and `unlock`'s answers (exit 2 naming the holder while its process runs, 4 when
//! nothing is held).

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::FileBackend;
use serde_json::Value;

/// A process holding something; stopped (SIGTERM, then SIGKILL) when dropped.
struct Holder {
    child: Child,
}

impl Holder {
    /// Start `cmd` and wait until it prints its first line on stdout.
    fn start(mut cmd: Command) -> Holder {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn holder");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(!line.is_empty(), "holder exited before it held anything");
        Holder { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        support::signal(self.child.id(), libc::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // SIGTERM: a toozctl holder forwards it to its COMMAND, so no sleep is orphaned.
        if matches!(self.child.try_wait(), Ok(None)) {
            support::signal(self.child.id(), libc::SIGTERM);
            let pid = self.child.id();
            if !support::wait_until(std::time::Duration::from_secs(5), || !support::alive(pid)) {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

/// The children of a process we started (to clean up after a SIGKILL).
/// The children of every thread of `pid` (toozctl starts its guard from a thread of its
/// own).
fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `toozctl -m MEMBER lock ARGS... -- sh -c 'echo ready; exec sleep 60'`
fn toozctl_holder(b: &FileBackend, member: &str, lock_args: &[&str]) -> Holder {
    let mut args = vec!["-m", member, "lock"];
    args.extend(lock_args);
    args.extend(["--", "sh", "-c", "echo ready; exec sleep 60"]);
    Holder::start(b.cmd(&args))
}

fn run(b: &FileBackend, args: &[&str]) -> (i32, String, String) {
    let out = b.cmd(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_rows(b: &FileBackend, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["locks", "-o", "json"];
    args.extend(extra);
    let (code, out, err) = run(b, &args);
    assert_eq!(code, 0, "{err}");
    match serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")) {
        Value::Array(rows) => rows,
        other => panic!("not a list: {other}"),
    }
}

#[test]
fn locks_shows_toozctl_holders_with_age_and_fencing_token() {
    let b = FileBackend::new();
    let _first = toozctl_holder(&b, "first", &["nightly"]);
    // Hand the lock over once so the token is not simply 1.
    let mut h = toozctl_holder(&b, "owner-1", &["a/b"]);
    h.stop();
    let h = toozctl_holder(&b, "owner-2", &["a/b"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let rows = json_rows(&b, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let ab = &rows[0];
    assert_eq!(ab["name"], "a/b");
    assert_eq!(ab["holder"]["member_id"], "owner-2");
    assert_eq!(ab["holder"]["pid"], h.pid());
    // Only the program name by default (issue 16): its words may carry secrets.
    assert_eq!(ab["holder"]["command"], "sh");
    assert_eq!(ab["fencing_token"], 2);
    assert!(ab["age_ms"].as_u64().unwrap() >= 50, "{ab}");
    assert!(ab["acquired_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ab["ttl_ms"], Value::Null);
    assert_eq!(rows[1]["name"], "nightly");
    assert_eq!(rows[1]["fencing_token"], 1);

    let (code, text, err) = run(&b, &["locks"]);
    assert_eq!(code, 0, "{err}");
    // Off a terminal, like every listing: aligned plain lines, no header (awk-friendly).
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, words) in lines.iter().zip([
        &["a/b", "owner-2", &format!("pid {}", h.pid()), "2"][..],
        &["nightly", "first", "1"],
    ]) {
        for w in words {
            assert!(line.contains(w), "{w:?} not in {line:?}\n{text}");
        }
    }
    let (code, yaml, _) = run(&b, &["locks", "-o", "yaml"]);
    assert_eq!(code, 0);
    let parsed: Vec<Value> = serde_yaml::from_str(&yaml).unwrap();
    let key = |r: &Value| {
        (
            r["name"].clone(),
            r["holder"].clone(),
            r["fencing_token"].clone(),
        )
    };
    assert_eq!(
        parsed.iter().map(key).collect::<Vec<_>>(),
        rows.iter().map(key).collect::<Vec<_>>()
    );
}

#[test]
fn shared_locks_and_semaphores_list_every_holder() {
    let b = FileBackend::new();
    let _r1 = toozctl_holder(&b, "reader-1", &["-s", "db"]);
    let _r2 = toozctl_holder(&b, "reader-2", &["-s", "db"]);
    let _s1 = toozctl_holder(&b, "slot-1", &["-l", "3", "encoders"]);
    let _s2 = toozctl_holder(&b, "slot-2", &["-l", "3", "encoders"]);
    let rows = json_rows(&b, &[]);
    let who = |name: &str| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r["name"] == name)
            .map(|r| {
                (
                    r["holder"]["member_id"].as_str().unwrap().into(),
                    r["holder"]["mode"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(
        who("db"),
        [
            ("reader-1".into(), "shared".into()),
            ("reader-2".into(), "shared".into())
        ]
    );
    assert_eq!(
        who("encoders"),
        [
            ("slot-1".into(), "limit 3".into()),
            ("slot-2".into(), "limit 3".into())
        ]
    );
    let (_, text, _) = run(&b, &["locks"]);
    assert!(
        text.contains("[shared]") && text.contains("[limit 3]"),
        "{text}"
    );
}

#[test]
fn free_and_stale_locks_are_not_listed_unless_all() {
    let b = FileBackend::new();
    let (code, _, err) = run(&b, &["lock", "once", "--", "true"]);
    assert_eq!(code, 0, "{err}");
    // A holder killed outright leaves a record without a lock: it is not a holder.
    let mut killed = toozctl_holder(&b, "doomed", &["crashy"]);
    // toozctl's children: COMMAND, and the guard that would kill COMMAND's tree when
    // toozctl dies (left out here: this test kills the orphan itself).
    let is_guard = |p: &u32| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .is_ok_and(|c| c.trim() == "toozctl-guard")
    };
    // Both are started by the time COMMAND said "ready"; the guard may still be between
    // its fork and naming itself for a moment.
    let (mut guards, mut orphans) = (Vec::new(), Vec::new());
    support::wait_until(std::time::Duration::from_secs(5), || {
        let kids = children(killed.pid());
        guards = kids.iter().copied().filter(is_guard).collect();
        orphans = kids.into_iter().filter(|p| !is_guard(p)).collect();
        guards.len() == 1 && orphans.len() == 1
    });
    assert_eq!(orphans.len(), 1, "the holder's COMMAND");
    support::signal(killed.pid(), libc::SIGKILL);
    let _ = killed.child.wait();
    for pid in orphans {
        support::signal(pid, libc::SIGKILL);
    }
    // The guard holds the lock's descriptors until COMMAND's tree is dead, then exits:
    // only then is the lock free (the contract's kill -9 rule). It goes within a moment.
    assert_eq!(guards.len(), 1, "toozctl's guard");
    assert!(
        support::wait_until(std::time::Duration::from_secs(2), || guards
            .iter()
            .all(|&g| !support::alive(g))),
        "the guard exits once COMMAND's tree is dead"
    );
    let (code, out, err) = run(&b, &["locks"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("no locks held"), "{err}");
    assert_eq!(json_rows(&b, &[]), Vec::<Value>::new());
    let all = json_rows(&b, &["--all"]);
    let names: Vec<&str> = all.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["crashy", "once"]);
    assert!(all.iter().all(|r| r["holder"].is_null()), "{all:?}");
    assert_eq!(all[1]["fencing_token"], 1, "the last token handed out");
    let (_, text, _) = run(&b, &["locks", "-a"]);
    assert!(text.contains("(free)"), "{text}");
    // The stale record is gone; the dead holder's lock can be taken at once.
    let (code, _, err) = run(&b, &["lock", "-n", "crashy", "--", "true"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unlock_names_a_live_toozctl_holder_and_leaves_the_lock_alone() {
    let b = FileBackend::new();
    let h = toozctl_holder(&b, "busy-member", &["deploy"]);
    let (code, out, err) = run(&b, &["unlock", "deploy"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for w in [
        "lock 'deploy'",
        "busy-member",
        &format!("pid {}", h.pid()),
        &format!("kill {}", h.pid()),
    ] {
        assert!(err.contains(w), "{w:?} not in {err}");
    }
    // Still held by the same holder.
    let rows = json_rows(&b, &[]);
    assert_eq!(rows[0]["holder"]["member_id"], "busy-member");
    let (code, _, _) = run(&b, &["lock", "-n", "deploy", "--", "true"]);
    assert_eq!(code, 1);
}

#[test]
fn unlock_of_a_free_or_invalid_lock() {
    let b = FileBackend::new();
    let (code, _, err) = run(&b, &["unlock", "never-taken"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("lock 'never-taken' is not held"), "{err}");
    let (code, _, _) = run(&b, &["lock", "was-taken", "--", "true"]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&b, &["unlock", "was-taken"]);
    assert_eq!(code, 4, "{err}");
    for bad in ["../escape", "/etc/passwd", ".toozctl/x", ""] {
        let (code, _, err) = run(&b, &["unlock", bad]);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}

const TOOZ_HOLDER: &str = r#"
import sys, time
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b"tooz-peer")
c.start()
lock = c.get_lock(sys.argv[2].encode())
assert lock.acquire(blocking=True)
print("held", flush=True)
sys.stdin.read()
lock.release()
c.stop()
"#;

#[test]
fn a_lock_held_by_a_python_tooz_client() {
    let b = FileBackend::new();
    let mut cmd = Command::new(support::tooz_python());
    cmd.arg("-c")
        .arg(TOOZ_HOLDER)
        .arg(&b.url)
        .arg("cinder-volume-lock")
        .stdin(Stdio::piped());
    let mut py = Holder::start(cmd);
    let pid = py.pid();
    let rows = json_rows(&b, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "cinder-volume-lock");
    let holder = &rows[0]["holder"];
    assert_eq!(holder["pid"], pid);
    assert!(
        holder["note"].as_str().unwrap().contains("tooz"),
        "{holder}"
    );
    assert!(
        holder["command"].as_str().unwrap().contains("python"),
        "{holder}"
    );
    assert_eq!(
        rows[0]["fencing_token"],
        Value::Null,
        "tooz keeps no fencing token"
    );
    let (_, text, _) = run(&b, &["locks"]);
    assert!(
        text.contains("cinder-volume-lock") && text.contains(&format!("pid {pid}")),
        "{text}"
    );

    let (code, _, err) = run(&b, &["unlock", "cinder-volume-lock"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("kill {pid}")) && err.contains("tooz"),
        "{err}"
    );
    assert!(!err.contains('\n') || err.lines().count() == 1, "{err}");

    // The client releases: nothing is held any more.
    drop(py.child.stdin.take());
    let _ = py.child.wait();
    assert_eq!(json_rows(&b, &[]), Vec::<Value>::new());
    let (code, _, _) = run(&b, &["unlock", "cinder-volume-lock"]);
    assert_eq!(code, 4);
}

#[test]
fn a_lock_held_with_flock_1_names_its_process() {
    let b = FileBackend::new();
    let file = b.dir.path().join("shared-with-flock");
    let mut cmd = Command::new("flock");
    cmd.arg(&file)
        .args(["sh", "-c", "echo ready; exec sleep 60"]);
    let h = Holder::start(cmd);
    let rows = json_rows(&b, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "shared-with-flock");
    assert_eq!(rows[0]["holder"]["pid"], h.pid());
    assert!(
        rows[0]["holder"]["note"]
            .as_str()
            .unwrap()
            .contains("flock"),
        "{rows:?}"
    );
    let (code, _, err) = run(&b, &["unlock", "shared-with-flock"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("kill {}", h.pid())), "{err}");
}
