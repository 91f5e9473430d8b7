//! Redis `lock --shared` against a live Python tooz client and the raw keys: a tooz
//! exclusive holder keeps toozctl readers out and a toozctl reader keeps tooz out; the
//! documented layout beside tooz's key; renewal past the lease, loss when the key is
//! deleted, fencing tokens that increase per reader.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::conformance::helpers::run;
use crate::support::fixture::Holder;
use crate::support::redis::RedisServer;
use crate::support::{self, toozctl};

fn tz(home: &std::path::Path, url: &str, args: &[&str]) -> Command {
    let mut c = toozctl(home);
    c.arg("-b").arg(url).args(args);
    c
}

/// Try tooz's exclusive lock once: "True" or "False".
const TOOZ_TRY: &str = "import sys\nfrom tooz import coordination\n\
    c = coordination.get_coordinator(sys.argv[1], b'tooz-try')\nc.start()\n\
    l = c.get_lock(sys.argv[2].encode())\nok = l.acquire(blocking=False)\nprint(ok)\n\
    ok and l.release()\nc.stop()";

#[test]
fn a_tooz_lock_excludes_toozctl_readers_and_a_reader_excludes_tooz() {
    let s = RedisServer::shared();
    let url = s.url("t_shr", "");
    let h = tempfile::tempdir().unwrap();
    // tooz holds the lock exclusively: a reader is kept out and named the tooz client.
    let mut py = Command::new(support::tooz_python())
        .args([
            "-c",
            "import sys\nfrom tooz import coordination\nc = coordination.get_coordinator(sys.argv[1], b'tooz-w')\n\
             c.start(start_heart=True)\nl = c.get_lock(b'books')\nassert l.acquire()\nprint('held', flush=True)\n\
             sys.stdin.readline()\nl.release()\nc.stop()",
            &url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let (code, _, err) = run(tz(
        h.path(),
        &url,
        &["lock", "-s", "-n", "books", "--", "true"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tooz client"), "{err}");
    // A waiting reader gets in once tooz releases.
    let waiter = tz(
        h.path(),
        &url,
        &["lock", "-s", "-w", "20", "books", "--", "true"],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(py.stdin.take().unwrap()).unwrap();
    assert!(py.wait().unwrap().success());
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !s.exists("t_shr_books_lock"),
        "the last reader deleted the key"
    );

    // Two toozctl readers: tooz is kept out; the layout beside tooz's key.
    let r1 = Holder::spawn(tz(
        h.path(),
        &url,
        &["-o", "json", "-m", "r1", "lock", "-s", "books"],
    ));
    let r2 = Holder::spawn(tz(
        h.path(),
        &url,
        &["-o", "json", "-m", "r2", "lock", "-s", "books"],
    ));
    let token = |h: &Holder| -> u64 {
        serde_json::from_str::<serde_json::Value>(&h.first).unwrap()["fencing_token"]
            .as_u64()
            .unwrap()
    };
    assert!(
        token(&r2) > token(&r1),
        "each reader gets a newer fencing token"
    );
    assert_eq!(s.cli(&["GET", "t_shr_books_lock"]), "toozctl-shared");
    let pttl: i64 = s.cli(&["PTTL", "t_shr_books_lock"]).parse().unwrap();
    assert!(
        pttl > 0,
        "the marker expires with the readers' leases: {pttl}"
    );
    assert_eq!(s.cli(&["ZCARD", "t_shr_books_lock.sem"]), "2");
    assert_eq!(s.cli(&["HLEN", "t_shr_books_lock.holders"]), "2");
    let (code, out, err) = support::python(TOOZ_TRY, &[&url, "books"]);
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    // A writer waits for both readers and names one.
    let (code, _, err) = run(tz(h.path(), &url, &["lock", "-n", "books", "--", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("r1") || err.contains("r2"), "{err}");
    r1.stop();
    let (code, out, err) = support::python(TOOZ_TRY, &[&url, "books"]);
    assert_eq!(
        (code, out.trim()),
        (0, "False"),
        "one reader still holds: {err}"
    );
    r2.stop();
    let (code, out, err) = support::python(TOOZ_TRY, &[&url, "books"]);
    assert_eq!((code, out.trim()), (0, "True"), "{err}");
    for k in [
        "t_shr_books_lock",
        "t_shr_books_lock.sem",
        "t_shr_books_lock.holders",
    ] {
        assert!(!s.exists(k), "{k} left behind");
    }
}

#[test]
fn readers_renew_past_their_lease_and_lose_the_lock_when_it_is_deleted() {
    let s = RedisServer::shared();
    let url = s.url("t_shr2", "");
    let h = tempfile::tempdir().unwrap();
    let pidfile = h.path().join("pid");
    let reader = tz(
        h.path(),
        &url,
        &[
            "-m",
            "reader",
            "lock",
            "-s",
            "--ttl",
            "2s",
            "--kill-after",
            "0.5s",
            "ledger",
            "--",
            "sh",
            "-c",
            &format!("echo $$ > {}; exec sleep 60", pidfile.display()),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut reader = Holder {
        child: reader,
        first: String::new(),
    };
    let child = crate::conformance::helpers::pid_in(&pidfile);
    // Three leases later it still holds: renewals keep the marker and its entry alive.
    std::thread::sleep(Duration::from_secs(6));
    assert!(reader.running());
    let (code, out, err) = support::python(TOOZ_TRY, &[&url, "ledger"]);
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    // Deleted behind its back: COMMAND is stopped and toozctl exits 3.
    s.cli(&["DEL", "t_shr2_ledger_lock"]);
    let deleted = Instant::now();
    let (code, err) = reader.finish(Duration::from_secs(10));
    assert_eq!(code, 3, "{err}");
    assert!(
        deleted.elapsed() < Duration::from_secs(3),
        "noticed within the check interval: {:?}",
        deleted.elapsed()
    );
    assert!(!support::alive(child), "COMMAND was stopped");
    assert!(err.contains("lost") || err.contains("deleted"), "{err}");
}
