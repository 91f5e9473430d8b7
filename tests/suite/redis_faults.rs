//! Redis under faults, beyond what every backend shares (`conformance/faults.rs`): a lock
//! key deleted behind toozctl's back or a server restarted empty is noticed within the
//! ownership check interval, not at the next renewal; fencing tokens keep increasing across
//! a restart, `FLUSHALL`, a deleted counter, and are refused (never smaller) when the counter
//! is garbage or at its limit; a loss found only at release is `Error::Lost`.

use std::time::{Duration, Instant};

use crate::conformance::faultkit::{group_alive, read_pid, tree_command, Running};
use crate::support::redis::RedisServer;
use crate::support::toozctl;

fn tz(home: &std::path::Path, url: &str, args: &[&str]) -> std::process::Command {
    let mut c = toozctl(home);
    c.arg("-b").arg(url).args(args);
    c
}

fn run(mut c: std::process::Command) -> (i32, String, String) {
    let out = c.output().expect("toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fencing token a `lock NAME -- COMMAND` run hands to COMMAND, or the failure.
fn token(home: &std::path::Path, url: &str, name: &str) -> Result<u64, (i32, String)> {
    let (code, out, err) = run(tz(
        home,
        url,
        &[
            "lock",
            name,
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ],
    ));
    match code {
        0 => Ok(out.trim().parse().expect("a token")),
        _ => Err((code, err)),
    }
}

/// Hold `name` with a 30 s lease (renewals every 10 s) while a process tree runs; return
/// the running toozctl and the tree's process group.
fn hold_long(home: &std::path::Path, url: &str, name: &str) -> (Running, u32) {
    let pidfile = home.join(format!("{name}.pid"));
    let cmd = tree_command(&pidfile, 30);
    let mut args = vec!["lock", "--ttl", "30", name, "--"];
    args.extend(cmd.iter().map(String::as_str));
    let holder = Running::spawn(tz(home, url, &args));
    let pgid = read_pid(&pidfile, Duration::from_secs(10));
    (holder, pgid)
}

#[test]
fn a_deleted_key_is_noticed_within_the_check_interval_not_at_the_renewal() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_del", "");
    let home = tempfile::tempdir().unwrap();
    let (mut holder, pgid) = hold_long(home.path(), &url, "d");
    assert!(s.exists("t_rf_del_d_lock"));
    let t = Instant::now();
    assert_eq!(s.cli(&["DEL", "t_rf_del_d_lock"]), "1");
    let (code, err) = holder
        .exit_within(Duration::from_secs(9))
        .expect("noticed before the first renewal (10 s)");
    let took = t.elapsed();
    assert_eq!(code, 3, "{err}");
    assert!(
        took < Duration::from_millis(1500),
        "a deleted key must be noticed within the check interval (default 0.5 s), took {took:?}: {err}"
    );
    assert!(!group_alive(pgid), "COMMAND's group outlived toozctl");
    assert!(err.contains("t_rf_del_d_lock"), "names the key: {err}");
}

#[test]
fn a_restart_without_persistence_is_noticed_at_once() {
    let mut s = RedisServer::start();
    let url = s.url("t_rf_rs", "");
    let home = tempfile::tempdir().unwrap();
    let (mut holder, pgid) = hold_long(home.path(), &url, "r");
    s.restart();
    let t = Instant::now();
    let (code, err) = holder
        .exit_within(Duration::from_secs(9))
        .expect("noticed before the first renewal (10 s)");
    let took = t.elapsed();
    assert_eq!(code, 3, "{err}");
    assert!(
        took < Duration::from_millis(1500),
        "an emptied server must be noticed right after reconnecting, took {took:?}: {err}"
    );
    assert!(!group_alive(pgid), "COMMAND's group outlived toozctl");
    assert!(err.contains("t_rf_rs_r_lock"), "names the key: {err}");
}

/// Hole 7 through the CLI: COMMAND itself replaces the key with another token and exits at
/// once, so the loss is found by the release, not by a check (1 s apart here). The backend
/// reports `Error::Lost` (see `api` below); `commands::hold` must make that exit 3.
#[test]
fn a_loss_found_only_at_release_exits_3() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_rel", "ownership_check_interval=1");
    let home = tempfile::tempdir().unwrap();
    let body = format!(
        "redis-cli -p {} SET t_rf_rel_k_lock someone-else PX 30000 >/dev/null",
        s.port
    );
    let (code, _, err) = run(tz(
        home.path(),
        &url,
        &["lock", "--ttl", "30", "k", "--", "sh", "-c", &body],
    ));
    assert_eq!(
        s.cli(&["GET", "t_rf_rel_k_lock"]),
        "someone-else",
        "not ours to delete"
    );
    s.cli(&["DEL", "t_rf_rel_k_lock"]);
    assert_eq!(code, 3, "a loss found at release is a loss: {err}");
    assert!(err.contains("t_rf_rel_k_lock"), "{err}");
}

/// With persistence (AOF, fsync always) a restart keeps the key: the check after the
/// reconnect finds it still ours, COMMAND runs on, and nobody else gets in meanwhile.
#[test]
fn a_restart_with_persistence_keeps_holding() {
    let mut s = RedisServer::start_with(None, &["--appendonly", "yes", "--appendfsync", "always"]);
    let url = s.url("t_rf_aof", "");
    let home = tempfile::tempdir().unwrap();
    let pidfile = home.path().join("p.pid");
    let body = format!("echo $$ > {}; sleep 4", pidfile.display());
    let mut holder = Running::spawn(tz(
        home.path(),
        &url,
        &["lock", "--ttl", "30", "k", "--", "sh", "-c", &body],
    ));
    read_pid(&pidfile, Duration::from_secs(10));
    s.restart();
    assert!(s.exists("t_rf_aof_k_lock"), "the AOF brought the key back");
    let (code, _, err) = run(tz(home.path(), &url, &["lock", "-n", "k", "--", "true"]));
    assert_eq!(code, 1, "still held after the restart: {err}");
    let (code, err) = holder.exit_within(Duration::from_secs(20)).expect("ends");
    assert_eq!(code, 0, "the lock survived the restart: {err}");
    assert!(!s.exists("t_rf_aof_k_lock"), "released");
}

#[test]
fn the_check_interval_option_is_validated() {
    let home = tempfile::tempdir().unwrap();
    for bad in ["0", "-1", "abc", "2", "0.001", "nan", "inf"] {
        // Nothing listens on port 1: a bad option must be refused before connecting.
        let url = format!("redis://127.0.0.1:1?ownership_check_interval={bad}");
        let (code, _, err) = run(tz(home.path(), &url, &["lock", "x", "--", "true"]));
        assert_eq!(code, 2, "ownership_check_interval={bad}: {err}");
        assert!(err.contains("ownership_check_interval"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let s = RedisServer::shared();
    let url = s.url("t_rf_opt", "ownership_check_interval=0.2");
    let (code, _, err) = run(tz(home.path(), &url, &["lock", "x", "--", "true"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_member_removed_by_hand_is_noticed_within_the_check_interval() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_mem", "membership_timeout=30");
    let home = tempfile::tempdir().unwrap();
    let pidfile = home.path().join("m.pid");
    let cmd = tree_command(&pidfile, 30);
    let mut args = vec!["-m", "m1", "group", "join", "--create", "g", "--"];
    args.extend(cmd.iter().map(String::as_str));
    let mut member = Running::spawn(tz(home.path(), &url, &args));
    let pgid = read_pid(&pidfile, Duration::from_secs(10));
    let t = Instant::now();
    // As a tooz client pruning us would: no message on toozctl's channel.
    assert_eq!(s.cli(&["HDEL", "t_rf_mem_group:g", "m1"]), "1");
    let (code, err) = member
        .exit_within(Duration::from_secs(9))
        .expect("noticed before the next heartbeat (10 s)");
    assert_eq!(code, 3, "{err}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "took {:?}: {err}",
        t.elapsed()
    );
    assert!(!group_alive(pgid), "COMMAND's group outlived toozctl");
}

#[test]
fn timeouts_too_long_for_the_clock_are_refused() {
    let home = tempfile::tempdir().unwrap();
    for opt in ["lock_timeout=1e19", "timeout=1e12", "socket_timeout=1e13"] {
        let url = format!("redis://127.0.0.1:1?{opt}");
        let (code, _, err) = run(tz(home.path(), &url, &["lock", "x", "--", "true"]));
        assert_eq!(code, 2, "{opt}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn tokens_increase_across_a_restart_without_persistence() {
    let mut s = RedisServer::start();
    let url = s.url("t_rf_tr", "");
    let home = tempfile::tempdir().unwrap();
    let before = token(home.path(), &url, "k").unwrap();
    let again = token(home.path(), &url, "k").unwrap();
    assert_eq!(
        again,
        before + 1,
        "consecutive acquisitions count up by one"
    );
    s.restart();
    assert_eq!(s.cli(&["EXISTS", "t_rf_tr_k_lock.fence"]), "0", "emptied");
    let after = token(home.path(), &url, "k").unwrap();
    assert!(after > again, "token after restart {after} <= {again}");
}

#[test]
fn tokens_increase_across_flushall_and_a_deleted_counter() {
    let s = RedisServer::start();
    let url = s.url("t_rf_tf", "");
    let home = tempfile::tempdir().unwrap();
    let first = token(home.path(), &url, "k").unwrap();
    s.cli(&["FLUSHALL"]);
    let second = token(home.path(), &url, "k").unwrap();
    assert!(second > first, "after FLUSHALL: {second} <= {first}");
    // An evicted (here: deleted) counter is the same as a flushed one.
    s.cli(&["DEL", "t_rf_tf_k_lock.fence"]);
    let third = token(home.path(), &url, "k").unwrap();
    assert!(
        third > second,
        "after a deleted counter: {third} <= {second}"
    );
}

#[test]
fn a_garbage_or_exhausted_counter_is_refused_and_leaves_nothing() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_tg", "");
    let home = tempfile::tempdir().unwrap();
    let fence = "t_rf_tg_k_lock.fence";
    for bad in [
        "garbage",
        "9223372036854775807",
        "-5",
        "0",
        "1.5",
        "two\nlines",
    ] {
        s.cli(&["SET", fence, bad]);
        match token(home.path(), &url, "k") {
            Ok(t) => panic!("counter {bad:?}: handed out token {t} instead of refusing"),
            Err((code, err)) => {
                assert!(code == 69, "counter {bad:?}: exit {code}, want 69: {err}");
                assert!(err.contains(fence), "names the counter key: {err}");
                assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            }
        }
        assert!(
            !s.exists("t_rf_tg_k_lock") && !s.exists("t_rf_tg_k_lock.holder"),
            "counter {bad:?}: a refused acquire left the lock key set"
        );
        assert_eq!(
            s.cli(&["GET", fence]),
            bad,
            "the counter is left for the operator"
        );
    }
    // Another type under the counter's name is refused the same way.
    s.cli(&["DEL", fence]);
    s.cli(&["HSET", fence, "a", "b"]);
    let (code, err) = token(home.path(), &url, "k").unwrap_err();
    assert_eq!(code, 69, "{err}");
    assert!(!s.exists("t_rf_tg_k_lock"));
    // Deleting it is the fix the message names: a fresh counter, seeded from the clock.
    s.cli(&["DEL", fence]);
    assert!(token(home.path(), &url, "k").unwrap() > 1_000_000_000_000_000);
}

#[test]
fn a_semaphore_refuses_a_garbage_counter_too() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_ts", "");
    let home = tempfile::tempdir().unwrap();
    s.cli(&["SET", "t_rf_ts_k_lock.fence", "garbage"]);
    let (code, _, err) = run(tz(
        home.path(),
        &url,
        &["lock", "-l", "2", "k", "--", "true"],
    ));
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("t_rf_ts_k_lock.fence"), "{err}");
    assert!(!s.exists("t_rf_ts_k_lock") && !s.exists("t_rf_ts_k_lock.sem"));
}

#[test]
fn a_tooz_holder_is_named_once() {
    let s = RedisServer::shared();
    let url = s.url("t_rf_tz", "");
    let home = tempfile::tempdir().unwrap();
    // What a tooz client leaves: a random token, nothing else.
    s.cli(&["SET", "t_rf_tz_k_lock", "0123456789abcdef", "PX", "30000"]);
    let (code, _, err) = run(tz(home.path(), &url, &["lock", "-n", "k", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("held by a tooz client"), "{err}");
    assert!(!err.contains("held by held by"), "{err}");
    s.cli(&["DEL", "t_rf_tz_k_lock"]);
}

/// `conformance::cancel`'s in-flight scenario for a `--limit` semaphore: the slot (and the
/// marker in tooz's key) an unanswered try took for a cancelled waiter is given back.
#[test]
fn a_cancelled_semaphore_try_in_flight_leaves_nothing() {
    let s = RedisServer::start();
    let url = s.url("t_rf_semc", "");
    let home = tempfile::tempdir().unwrap();
    let pidfile = home.path().join("a.pid");
    let cmd = tree_command(&pidfile, 60);
    let mut args = vec!["lock", "-l", "1", "--ttl", "2", "k", "--"];
    args.extend(cmd.iter().map(String::as_str));
    let mut a = Running::spawn(tz(home.path(), &url, &args));
    read_pid(&pidfile, Duration::from_secs(10));
    let mut b = Running::spawn(tz(
        home.path(),
        &url,
        &["-v", "lock", "-l", "1", "k", "--", "true"],
    ));
    assert!(
        b.wait_for("waiting for lock", Duration::from_secs(10)),
        "{}",
        b.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    crate::support::signal(s.pid, libc::SIGSTOP);
    let (code, err) = a.exit_within(Duration::from_secs(12)).expect("A gives up");
    assert_eq!(code, 3, "A: {err}");
    // Past A's 2 s lease, with B's next try (at most 1 s apart) unanswered.
    std::thread::sleep(Duration::from_millis(3200));
    b.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    crate::support::signal(s.pid, libc::SIGCONT);
    let (code, err) = b.exit_within(Duration::from_secs(20)).expect("B ends");
    assert_eq!(code, 130, "B: {err}");
    let (code, _, err) = run(tz(
        home.path(),
        &url,
        &["lock", "-l", "1", "-n", "k", "--", "true"],
    ));
    assert_eq!(code, 0, "the cancelled try's slot was left behind: {err}");
}

mod api {
    use std::time::Duration;

    use toozctl::backends::connect;
    use toozctl::coordination::{
        BackendUrl, Coordinator, Error, Identity, LockMode, LockRequest, Wait,
    };

    use crate::support::redis::RedisServer;

    async fn open(url: &str, member: &str) -> Box<dyn Coordinator> {
        let id = Identity {
            member_id: member.into(),
            host: "testhost".into(),
            pid: 4242,
            command: "api test".into(),
        };
        connect(&BackendUrl::parse(url).unwrap(), id)
            .await
            .expect("connect")
    }

    fn req(name: &str) -> LockRequest {
        LockRequest {
            name: name.into(),
            mode: LockMode::Exclusive,
            wait: Wait::NoWait,
            ttl: Some(Duration::from_secs(30)),
        }
    }

    /// Deleted and taken by another holder before we noticed: release says so.
    #[tokio::test]
    async fn release_after_the_key_was_retaken_is_lost() {
        let s = RedisServer::shared();
        let url = s.url("t_rf_api", "");
        let a = open(&url, "a").await;
        let b = open(&url, "b").await;
        let held = a.acquire(&req("x")).await.unwrap().expect("free");
        assert_eq!(s.cli(&["DEL", "t_rf_api_x_lock"]), "1");
        let theirs = b.acquire(&req("x")).await.unwrap().expect("free again");
        assert!(theirs.fencing_token > held.fencing_token);
        match held.release().await {
            Err(Error::Lost(m)) => assert!(m.contains("t_rf_api_x_lock"), "{m}"),
            other => panic!("release of a re-taken lock: {other:?}"),
        }
        // And it did not touch the new holder's key.
        assert!(s.exists("t_rf_api_x_lock"));
        theirs.release().await.unwrap();
        a.close().await.unwrap();
        b.close().await.unwrap();
    }

    /// Deleted and nobody took it: still a loss, found at release.
    #[tokio::test]
    async fn release_after_the_key_was_deleted_is_lost() {
        let s = RedisServer::shared();
        let url = s.url("t_rf_api2", "");
        let a = open(&url, "a").await;
        let held = a.acquire(&req("y")).await.unwrap().expect("free");
        assert_eq!(s.cli(&["DEL", "t_rf_api2_y_lock"]), "1");
        assert!(matches!(held.release().await, Err(Error::Lost(_))));
        a.close().await.unwrap();
    }
}
