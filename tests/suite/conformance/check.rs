//! `toozctl check`: one finding per topic with ok/warn/info, exit 0 when all are ok, 1 with
//! a warning, 69 when the backend cannot be reached; `-o json`. Backend specifics that
//! decide a promise are tested against servers configured for them (a Redis without
//! keyspace notifications is a warning).

use std::os::unix::fs::PermissionsExt;

use super::helpers::run;
use crate::support::fixture::{Fx, Kind};
use crate::support::redis::RedisServer;
use crate::support::{toozctl, FileBackend};

crate::on_every_backend!(
    check_reports_each_topic_and_exits_by_its_findings,
    check_of_an_unreachable_backend_exits_69,
);

fn findings(out: &str) -> (String, Vec<serde_json::Value>) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (
        v["status"].as_str().unwrap().to_string(),
        v["checks"].as_array().unwrap().clone(),
    )
}

fn level_of<'a>(checks: &'a [serde_json::Value], name: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no '{name}' check in {checks:?}"))["level"]
        .as_str()
        .unwrap()
}

fn check_reports_each_topic_and_exits_by_its_findings(kind: Kind) {
    let fx = Fx::shared(kind, "check");
    let (rc, out, err) = run(fx.cmd(&["-o", "json", "check"]));
    let (status, checks) = findings(&out);
    let warned = checks.iter().any(|c| c["level"] == "warn");
    assert_eq!(rc, if warned { 1 } else { 0 }, "{out}\n{err}");
    assert_eq!(status, if warned { "warn" } else { "ok" });
    for c in &checks {
        assert!(c["value"].is_string() && c["meaning"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            ["ok", "warn", "info"].contains(&c["level"].as_str().unwrap()),
            "{c}"
        );
    }
    let expected: &[&str] = match kind {
        Kind::File => &["directory", "file system", "inotify"],
        Kind::Redis => &[
            "server version",
            "keyspace notifications",
            "eviction",
            "persistence",
            "round trip",
            "clock skew",
            "tls",
            "authentication",
        ],
        Kind::Zookeeper => &[
            "persistent watches",
            "persistence",
            "round trip",
            "tls",
            "authentication",
        ],
        Kind::Etcd => &[
            "server version",
            "leader",
            "alarms",
            "persistence",
            "round trip",
            "tls",
            "authentication",
        ],
        Kind::Ipc => &[
            "semaphore sets",
            "ipc namespace",
            "killed holders",
            "fencing tokens",
        ],
        Kind::Memcached => &[
            "server version",
            "eviction",
            "round trip",
            "clock skew",
            "tls",
            "authentication",
        ],
        Kind::Mysql | Kind::Postgres => &[
            "server version",
            "round trip",
            "clock skew",
            "fencing tokens",
            "tls",
            "authentication",
        ],
    };
    for name in expected {
        level_of(&checks, name);
    }
    match kind {
        // The test servers: ZooKeeper 3.8 (persistent watches), etcd 3.4.
        Kind::Zookeeper => {
            assert_eq!(level_of(&checks, "persistent watches"), "ok");
            assert!(
                checks.iter().any(|c| c["check"]
                    .as_str()
                    .unwrap()
                    .starts_with("server 127.0.0.1:")
                    && c["level"] == "ok"),
                "{out}"
            );
        }
        Kind::Etcd => assert_eq!(level_of(&checks, "server version"), "ok"),
        // The shared test Redis persists nothing: a restart forgets every lock.
        Kind::Redis => assert_eq!(level_of(&checks, "persistence"), "warn"),
        Kind::File => assert_eq!(level_of(&checks, "directory"), "ok"),
        Kind::Ipc => assert_eq!(level_of(&checks, "killed holders"), "ok"),
        // The test servers run on this machine: one clock.
        Kind::Mysql | Kind::Postgres => assert_eq!(level_of(&checks, "clock skew"), "ok"),
        // The test memcached runs without -M: under memory pressure it may evict a held lock.
        Kind::Memcached => assert_eq!(level_of(&checks, "eviction"), "warn"),
    }
    // Text: a header, then one line per finding starting with its level.
    let (rc_text, text, _) = run(fx.cmd(&["check"]));
    assert_eq!(rc_text, rc);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), checks.len() + 1, "{text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| ["ok ", "warn ", "info "].iter().any(|p| l.starts_with(p))),
        "{text}"
    );
}

fn check_of_an_unreachable_backend_exits_69(kind: Kind) {
    let fx = Fx::shared(kind, "checkdown");
    let Some(url) = fx.unreachable_url() else {
        return; // the file backend has no server to be unreachable
    };
    let (rc, out, err) = run(fx.cmd_on(&url, &["check"]));
    assert_eq!(rc, 69, "{out}\n{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The case: a Redis without keyspace notifications is a warning (exit 1); the same
/// Redis with them, and with AOF, is all ok (exit 0).
#[test]
fn redis_without_keyspace_notifications_is_a_warning() {
    let home = tempfile::tempdir().unwrap();
    let check = |s: &RedisServer| {
        let mut c = toozctl(home.path());
        c.args(["-b", &s.url("chk", ""), "-o", "json", "check"]);
        run(c)
    };
    let off = RedisServer::start_with(None, &["--appendonly", "yes"]);
    let (rc, out, err) = check(&off);
    let (_, checks) = findings(&out);
    assert_eq!(level_of(&checks, "keyspace notifications"), "warn", "{out}");
    assert_eq!(level_of(&checks, "persistence"), "ok", "{out}");
    assert_eq!(rc, 1, "{out}\n{err}");

    let on = RedisServer::start_with(
        None,
        &["--appendonly", "yes", "--notify-keyspace-events", "Kgx"],
    );
    let (rc, out, err) = check(&on);
    let (status, checks) = findings(&out);
    assert_eq!(level_of(&checks, "keyspace notifications"), "ok", "{out}");
    assert_eq!((rc, status.as_str()), (0, "ok"), "{out}\n{err}");
}

/// A directory everyone can write (sticky, so toozctl accepts it) is a warning.
#[test]
fn a_world_writable_file_backend_directory_is_a_warning() {
    let fb = FileBackend::new();
    std::fs::set_permissions(fb.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let (rc, out, err) = run(fb.cmd(&["-o", "json", "check"]));
    let (_, checks) = findings(&out);
    assert_eq!(level_of(&checks, "directory"), "warn", "{out}");
    assert_eq!(rc, 1, "{err}");
}

/// Checking reads only: a missing file backend directory is reported, not created.
#[test]
fn check_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-yet");
    let mut c = toozctl(tmp.path());
    c.args([
        "-b",
        &format!("file://{}", dir.display()),
        "-o",
        "json",
        "check",
    ]);
    let (rc, out, err) = run(c);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("(missing)"), "{out}");
    assert!(!dir.exists(), "check created the directory");
}
