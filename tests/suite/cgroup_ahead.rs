//! COMMAND's cgroup is made before the primitive is taken (issue 13: a waiter makes it
//! while it queues, off the hand-off path) and removed when toozctl ends, whether a COMMAND
//! used it or the wait was cancelled.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{signal, wait_until, FileBackend};

/// The cgroup v2 directory that `pid` is in, as toozctl finds it (the cgroup2 mount, and
/// the process's path below the mount's root).
fn cgroup_dir_of(pid: u32) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (mount, root) = info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        Some((PathBuf::from(f.get(4)?), f.get(3)?.to_string()))
    })?;
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let rel = path.strip_prefix(root.as_str()).unwrap_or(path);
    Some(mount.join(rel.trim_start_matches('/')))
}

/// The cgroups toozctl `pid` made below `parent` (`toozctl-PID-N`).
fn made_by(parent: &std::path::Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("toozctl-{pid}-");
    std::fs::read_dir(parent)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_waiter_makes_its_cgroup_while_queued_and_removes_it_when_cancelled() {
    let b = FileBackend::new();
    let mut holder = b
        .cmd(&["lock", "cg", "--", "sh", "-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holder");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let parent = cgroup_dir_of(holder.id());
    let Some(parent) = parent.filter(|p| !made_by(p, holder.id()).is_empty()) else {
        // No cgroup could be made here (no writable cgroup2 hierarchy): COMMAND is then
        // contained by the /proc walk, and nothing is made ahead either.
        signal(holder.id(), libc::SIGTERM);
        let _ = holder.wait();
        return;
    };
    let mut waiter = b
        .cmd(&["lock", "-w", "30", "cg", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn waiter");
    assert!(
        wait_until(Duration::from_secs(10), || !made_by(&parent, waiter.id())
            .is_empty()),
        "the waiter made no cgroup while it queued"
    );
    signal(waiter.id(), libc::SIGINT);
    let st = waiter.wait().unwrap();
    assert_eq!(st.code(), Some(130));
    assert!(
        made_by(&parent, waiter.id()).is_empty(),
        "a cancelled waiter left its cgroup behind"
    );
    signal(holder.id(), libc::SIGTERM);
    let st = holder.wait().unwrap();
    assert_eq!(st.code(), Some(143));
    assert!(
        made_by(&parent, holder.id()).is_empty(),
        "the holder left its cgroup behind"
    );
}
