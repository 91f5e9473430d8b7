//! Faults while holding, on every backend: the lock deleted behind toozctl's back, and the
//! server restarted. The promise (contract, "Supervision"): COMMAND's whole tree is stopped
//! and toozctl exits 3 saying what was lost, or, where the backend keeps the primitive
//! through the fault, toozctl keeps holding and nobody else gets in meanwhile.

use std::time::{Duration, Instant};

use super::faultkit::{group_alive, read_pid, tree_command, Running};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(
    a_deleted_lock_stops_the_tree_and_exits_3,
    a_server_restart_while_holding_never_overlaps
);

/// `--ttl 30` where the backend takes one (renewals then come every 10 s or so, so a
/// detection within seconds cannot be a renewal's doing).
fn ttl_args(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Redis | Kind::Etcd | Kind::Memcached => vec!["--ttl", "30"],
        Kind::File | Kind::Zookeeper | Kind::Ipc | Kind::Mysql | Kind::Postgres => vec![],
    }
}

/// Expected: exit 3 within a few seconds (Redis: the ownership check, 0.5 s; ZooKeeper and
/// etcd: a watch on the node/key, at once; file: the holder watches its file), COMMAND's
/// whole process group dead before toozctl exits, and stderr naming the lost lock.
fn a_deleted_lock_stops_the_tree_and_exits_3(kind: Kind) {
    let fx = Fx::shared(kind, "deleted");
    let name = fx.name("del");
    let pidfile = fx.home.path().join("tree.pid");
    let mut args = vec!["lock"];
    args.extend(ttl_args(kind));
    args.push(&name);
    args.push("--");
    let cmd = tree_command(&pidfile, 30);
    args.extend(cmd.iter().map(String::as_str));
    let mut holder = Running::spawn(fx.cmd(&args));
    let pgid = read_pid(&pidfile, Duration::from_secs(15));
    let t = Instant::now();
    fx.delete_lock(&name);
    let (code, err) = holder
        .exit_within(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("{}: a deleted lock was never noticed", kind.name()));
    let took = t.elapsed();
    assert_eq!(code, 3, "{}: {err}", kind.name());
    assert!(
        !group_alive(pgid),
        "{}: COMMAND's process group outlived toozctl",
        kind.name()
    );
    assert!(
        took < Duration::from_secs(3),
        "{}: noticed only after {took:?}: {err}",
        kind.name()
    );
    assert!(
        err.contains(&format!("lock '{name}'")) && err.contains("lost"),
        "{}: stderr must say what was lost: {err}",
        kind.name()
    );
}

/// A server restart while holding.
/// - Redis (the fixture runs without persistence): the server comes back empty, so the
///   lock is gone: exit 3 within the ownership check interval of the server's return,
///   tree dead. (Another client may take the freed key before that: Redis without
///   persistence cannot exclude it; docs/redis-backend.md says so.)
/// - memcached keeps nothing across a restart: as Redis without persistence.
/// - etcd: keys and leases are on disk, and a restart refreshes leases: toozctl keeps
///   holding (exit 0) and a contender gets in only after COMMAND ended.
/// - ZooKeeper: sessions are on disk; the session survives when the client reconnects in
///   time (exit 0), otherwise toozctl stops COMMAND before the session can expire
///   (exit 3). Either way a contender gets in only after COMMAND's tree is dead.
/// - file: no server.
fn a_server_restart_while_holding_never_overlaps(kind: Kind) {
    if !kind.has_server() {
        return; // nothing to restart
    }
    let fx = Fx::private(kind, "restart");
    let name = fx.name("rs");
    let beats = fx.home.path().join("beats");
    let pidfile = fx.home.path().join("tree.pid");
    let body = format!(
        "echo $$ > {p}; for i in $(seq 100); do date +%s%N >> {b}; sleep 0.05; done",
        p = pidfile.display(),
        b = beats.display()
    );
    let mut args = vec!["lock"];
    args.extend(ttl_args(kind));
    args.extend([name.as_str(), "--", "sh", "-c", &body]);
    let mut holder = Running::spawn(fx.cmd(&args));
    let pgid = read_pid(&pidfile, Duration::from_secs(15));
    fx.restart();
    let back = Instant::now();
    if matches!(kind, Kind::Redis | Kind::Memcached) {
        let k = kind.name();
        let (code, err) = holder
            .exit_within(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{k}: an emptied server must be noticed"));
        assert_eq!(code, 3, "{k}: {err}");
        assert!(
            back.elapsed() < Duration::from_millis(2500),
            "{k}: noticed {:?} after the server came back: {err}",
            back.elapsed()
        );
        assert!(!group_alive(pgid), "{k}: COMMAND's group outlived toozctl");
        return;
    }
    let started = fx.home.path().join("contender");
    let mut contender = Running::spawn(fx.cmd(&[
        "lock",
        "-w",
        "60",
        &name,
        "--",
        "sh",
        "-c",
        &format!("date +%s%N > {}", started.display()),
    ]));
    let (code, err) = holder
        .exit_within(Duration::from_secs(60))
        .expect("the holder ends");
    assert!(
        !group_alive(pgid),
        "{}: COMMAND's group outlived toozctl",
        kind.name()
    );
    match kind {
        Kind::Etcd => assert_eq!(code, 0, "etcd: the lease survives a restart: {err}"),
        // The session (and its lock) ends with the server: a loss.
        Kind::Mysql | Kind::Postgres => assert_eq!(
            code,
            3,
            "{}: a restart ends the session: {err}",
            kind.name()
        ),
        _ => assert!(
            code == 0 || code == 3,
            "{}: exit {code}: {err}",
            kind.name()
        ),
    }
    let (c_code, c_err) = contender
        .exit_within(Duration::from_secs(60))
        .expect("the contender ends");
    assert_eq!(c_code, 0, "{}: contender: {c_err}", kind.name());
    let c_start: u128 = std::fs::read_to_string(&started)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // No beat at all: the loss stopped COMMAND before its first one (a backend that sees
    // the restart at once), so it cannot have overlapped the contender.
    let last_beat: u128 = std::fs::read_to_string(&beats)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0);
    assert!(
        last_beat < c_start,
        "{}: the contender started at {c_start} while the holder's COMMAND still ran (last beat {last_beat})",
        kind.name()
    );
}
