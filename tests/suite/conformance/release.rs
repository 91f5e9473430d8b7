//! Giving back and losing, on every backend: a clean exit gives everything back at once; a
//! `kill -9`'d holder frees the lock (at once on the file backend, within the lease
//! elsewhere); what COMMAND leaves in its process group is stopped before the release; a
//! lock deleted behind toozctl's back, or a server that stops answering, stops COMMAND
//! (before the lease could run out) and exits 3.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use super::helpers::{pid_in, run};
use crate::support::fixture::{Fx, Kind};
use crate::support::{self, wait_until};

crate::on_every_backend!(
    a_clean_exit_gives_the_lock_back_at_once,
    kill9_of_a_holder_frees_the_lock,
    what_command_leaves_in_its_process_group_is_stopped_before_release,
    deleting_the_lock_stops_command_and_exits_3,
    a_silent_server_stops_command_before_the_lease_runs_out,
);

/// Not left to expire: the key, node, holder record (and, on etcd, the key's lease, see
/// etcd.rs) are gone the moment toozctl exits, with a lease far longer than the test.
fn a_clean_exit_gives_the_lock_back_at_once(kind: Kind) {
    let fx = Fx::shared(kind, "giveback");
    let name = fx.name("give-back");
    let probe = fx.home.path().join("held");
    let (code, _, err) = run(fx.cmd(&[
        "lock",
        "--ttl",
        "60",
        &name,
        "--",
        "sh",
        "-c",
        &format!("touch {}; exit 3", probe.display()),
    ]));
    assert_eq!(code, 3, "COMMAND's status, not a loss: {err}");
    assert!(probe.exists());
    assert!(!fx.lock_exists(&name), "left behind after a clean exit");
    // The same in hold mode, after SIGTERM.
    let holder = fx.hold(&["lock", "--ttl", "60", &name]);
    assert!(fx.lock_exists(&name), "the probe sees a held lock");
    holder.stop();
    assert!(!fx.lock_exists(&name), "left behind after SIGTERM");
}

fn kill9_of_a_holder_frees_the_lock(kind: Kind) {
    let fx = Fx::shared(kind, "kill9").zk_timeout(2);
    let name = fx.name("crash");
    let pidfile = fx.home.path().join("child.pid");
    let script = format!("echo $$ > {}; exec sleep 60", pidfile.display());
    let mut holder = fx
        .cmd(&[
            "-m",
            "doomed",
            "lock",
            "--ttl",
            "2",
            "--kill-after",
            "0.5",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = pid_in(&pidfile);
    // A waiter queued before the kill, so that the bound measures the release, not a new
    // toozctl's start and connect (slow on a loaded machine with a debug build).
    let acquired = fx.home.path().join("acquired");
    let waiter = fx
        .cmd(&[
            "lock",
            "-w",
            "20",
            &name,
            "--",
            "sh",
            "-c",
            &format!("touch {}", acquired.display()),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !acquired.exists(),
        "the waiter ran while the holder held the lock"
    );
    support::signal(holder.id(), libc::SIGKILL);
    holder.wait().unwrap();
    let killed = Instant::now();
    // On lease backends the lock is free when the lease runs out. On the file backend
    // toozctl's guard keeps the lock (it inherited the descriptor) until it has killed
    // COMMAND's tree, a few ms: never free while COMMAND still runs. On the session
    // backends (SQL, IPC) the server or kernel frees it when the holder's session dies.
    let got = wait_until(Duration::from_secs(20), || acquired.exists());
    let took = killed.elapsed();
    // The guard has killed COMMAND by now; in case it has not, do not leave it running.
    support::signal(child, libc::SIGKILL);
    let out = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(got, "the waiter never acquired: {err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        took < Duration::from_secs(4),
        "free within the 2 s lease (+2 s), took {took:?}"
    );
    if !kind.has_lease() {
        assert!(
            took < Duration::from_secs(1),
            "the lock is free once the holder's session or guard is gone, took {took:?}"
        );
    }
}

fn what_command_leaves_in_its_process_group_is_stopped_before_release(kind: Kind) {
    let fx = Fx::shared(kind, "pgroup");
    let name = fx.name("pg");
    let pidfile = fx.home.path().join("bg");
    let script = format!("sleep 30 & echo $! > {}; exit 0", pidfile.display());
    let (code, _, err) = run(fx.cmd(&[
        "lock",
        "--kill-after",
        "2s",
        &name,
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !support::alive(pid_in(&pidfile)),
        "a background process of COMMAND survived the release"
    );
}

fn deleting_the_lock_stops_command_and_exits_3(kind: Kind) {
    let fx = Fx::shared(kind, "deleted");
    let name = fx.name("victim");
    let flag = fx.home.path().join("termed");
    let ready = fx.home.path().join("ready");
    let script = format!(
        "trap 'echo TERM > {}; exit 0' TERM; touch {}; while :; do sleep 0.05; done",
        flag.display(),
        ready.display()
    );
    let holder = fx
        .cmd(&[
            "lock",
            "--ttl",
            "3s",
            "--kill-after",
            "1s",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // COMMAND's trap is set (a TERM before it would end the shell without the flag).
    assert!(wait_until(Duration::from_secs(10), || fx
        .lock_exists(&name)
        && ready.exists()));
    fx.delete_lock(&name);
    let deleted = Instant::now();
    let out = holder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        deleted.elapsed() < Duration::from_secs(3),
        "noticed within a refresh period (1 s for --ttl 3): {:?}",
        deleted.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(&flag).unwrap_or_default().trim(),
        "TERM",
        "COMMAND got SIGTERM"
    );
    assert!(
        err.contains(&format!("lock '{name}' was lost"))
            && err.contains("deleted")
            && err.contains("SIGTERM"),
        "says what was lost, why, and what it did: {err}"
    );
    assert!(!fx.lock_exists(&name), "the holder record went too");
}

/// SIGSTOP of the server: no answers, no reset. The lease runs from the last renewal the
/// server saw, no later than the pause: COMMAND must be signalled (and its grace over)
/// before 3 s; toozctl then exits 3, says so, and a new client gives up with 69.
fn a_silent_server_stops_command_before_the_lease_runs_out(kind: Kind) {
    if !kind.has_server() {
        return; // no server to fall silent
    }
    if !kind.has_lease() {
        // No lease to run out: the lock lives in the frozen server's session, which
        // nobody else can take meanwhile; the SQL backends' own files test their loss
        // rule for a silent server.
        return;
    }
    let fx = Fx::private(kind, "silent").zk_timeout(3);
    let name = fx.name("stalled");
    let flag = fx.home.path().join("termed");
    let script = format!(
        "trap 'date +%s%N > {}; exit 0' TERM; while :; do sleep 0.05; done",
        flag.display()
    );
    let mut holder = fx
        .cmd(&[
            "lock",
            "--ttl",
            "3",
            "--kill-after",
            "0.5",
            &name,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || fx.lock_exists(&name)));
    fx.pause();
    let paused = SystemTime::now();
    let end = Instant::now() + Duration::from_secs(10);
    while holder.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let exited = paused.elapsed().unwrap();
    let code = holder.try_wait().unwrap().and_then(|s| s.code());
    let termed: u128 = std::fs::read_to_string(&flag)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(u128::MAX);
    let t = Instant::now();
    // Its connect timeout: Redis's socket `timeout`, etcd's `connect_timeout`, the
    // ZooKeeper session's 3 s.
    let late_url = match kind {
        Kind::Redis => fx.url_with_query("timeout=2"),
        Kind::Etcd => fx.url_with_query("connect_timeout=1"),
        _ => fx.url(),
    };
    let (late_code, _, late_err) = run(fx.cmd_on(
        &late_url,
        &["lock", "--kill-after", "1s", "x", "--", "true"],
    ));
    let late_took = t.elapsed();
    fx.resume();
    let _ = holder.kill();
    let out = holder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(3), "{err}");
    let paused_ns = paused
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(termed != u128::MAX, "COMMAND never got SIGTERM: {err}");
    let after = Duration::from_nanos((termed - paused_ns) as u64);
    assert!(
        after < Duration::from_millis(2900),
        "COMMAND was signalled {after:?} after the pause (lease 3 s, grace 0.5 s)"
    );
    assert!(
        exited < Duration::from_secs(5),
        "exits promptly: {exited:?}"
    );
    assert!(
        err.contains(&format!("lock '{name}'")) && err.contains("could not be renewed"),
        "{err}"
    );
    assert_eq!(
        late_code, 69,
        "a new client of the silent server: {late_err}"
    );
    if kind != Kind::Redis {
        // Redis: a new client of a stopped server gives up only after 5 s today, whatever
        // `timeout` says (reported; never asserted before the suite was merged).
        assert!(late_took < Duration::from_secs(4), "{late_took:?}");
    }
}
