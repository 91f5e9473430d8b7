//! The guard is a fork of toozctl without exec (see `supervise/guard.rs`): it must start
//! as clean as an exec'd process would — only its pipe, /dev/null, stderr and the
//! descriptors that keep the primitive held; none of toozctl's signal handlers, the
//! signals it must survive ignored, nothing blocked; a process group of its own — and it
//! must still keep the file lock held after toozctl is killed, until COMMAND's tree is dead.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{alive, signal, wait_until, FileBackend};

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn stat_field(pid: u32, n: usize) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(n)?
        .parse()
        .ok()
}

/// The live children of `pid` named `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&c| stat_field(c, 1) == Some(pid as i64) && comm(c) == name)
                .collect()
        })
        .unwrap_or_default()
}

/// A signal mask line of /proc/PID/status (`SigCgt`, `SigIgn`, `SigBlk`) as bits.
fn mask(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

#[test]
fn the_forked_guard_starts_clean_and_keeps_the_file_lock_past_toozctls_death() {
    let b = FileBackend::new();
    let pidf = b.dir.path().join("pid");
    let script = format!("echo $$ > {}; echo ready; exec sleep 60", pidf.display());
    let mut holder = b
        .cmd(&["lock", "g", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let command: u32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut guards = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            guards = children_named(holder.id(), "toozctl-guard");
            guards.len() == 1
        }),
        "no guard named toozctl-guard among toozctl's children"
    );
    let guard = guards[0];
    // Named and with every signal set up only once it has set itself up: wait for that.
    assert!(wait_until(Duration::from_secs(10), || mask(
        guard, "SigBlk"
    ) == 0));

    // Descriptors: the pipe, /dev/null, stderr, and the lock file only.
    let fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{guard}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            Some((n, std::fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    let target = |n: i32| fds.iter().find(|(f, _)| *f == n).map(|(_, t)| t.as_str());
    assert!(target(0).is_some_and(|t| t.starts_with("pipe:")), "{fds:?}");
    assert_eq!(target(1), Some("/dev/null"), "{fds:?}");
    let kept: Vec<&(i32, String)> = fds.iter().filter(|(n, _)| *n >= 3).collect();
    let lock_file = b.dir.path().join("g").display().to_string();
    assert!(
        kept.len() == 1 && kept[0] == &(3, lock_file),
        "the guard keeps toozctl's descriptors: {fds:?}"
    );

    // Signals: no handler of toozctl's, what toozctl forwards and job control ignored.
    // (Signals 1-31: above them glibc keeps its own handler for set*id calls across
    // threads, installed with toozctl's first thread.)
    assert_eq!(
        mask(guard, "SigCgt") & 0x7fff_ffff,
        0,
        "toozctl's handlers live on in the guard"
    );
    let ignored = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGPIPE,
    ];
    let ign = mask(guard, "SigIgn");
    for s in ignored {
        assert!(ign & bit(s) != 0, "signal {s} not ignored: SigIgn {ign:x}");
    }
    // A process group of its own: neither toozctl's nor COMMAND's.
    let pgrp = stat_field(guard, 2).unwrap();
    assert_eq!(pgrp, guard as i64);

    // toozctl killed alone: the guard kills COMMAND and only then lets the lock go.
    signal(holder.id(), libc::SIGKILL);
    let _ = holder.wait();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(command)),
        "COMMAND survived toozctl's death"
    );
    assert!(
        wait_until(Duration::from_secs(10), || !alive(guard)),
        "the guard did not exit"
    );
    let out = b.cmd(&["lock", "-n", "g", "--", "true"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
