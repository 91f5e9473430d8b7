//! The Redis backend against a real `redis-server`: locks, semaphores, failure handling,
//! password safety, and interop with a live Python tooz client on the same server.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_support::RedisServer;
use support::{toozctl, wait_until};

/// `toozctl -b URL ARGS` with a clean environment and a private HOME.
fn tz(home: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = toozctl(home);
    c.arg("-b").arg(url).args(args);
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().expect("toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn toozctl")
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A Python tooz client kept running: it executes `setup`, prints `ready`, waits for a
/// line on stdin, executes `teardown` and exits.
struct ToozPeer {
    child: Child,
}

impl ToozPeer {
    fn start(url: &str, member: &str, setup: &str, teardown: &str) -> ToozPeer {
        let code = format!(
            "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], sys.argv[2].encode())\nco.start(start_heart=True)\n{setup}\nprint('ready', flush=True)\nsys.stdin.readline()\n{teardown}\nco.stop()\n"
        );
        let mut child = Command::new(support::tooz_python())
            .arg("-c")
            .arg(code)
            .args([url, member])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "tooz peer did not start");
        ToozPeer { child }
    }

    fn finish(mut self) {
        let _ = self.child.stdin.as_mut().unwrap().write_all(b"go\n");
        let st = self.child.wait().unwrap();
        assert!(st.success(), "tooz peer failed: {st}");
    }
}

impl Drop for ToozPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lock_runs_command_with_increasing_fencing_tokens_and_cleans_up() {
    let s = RedisServer::shared();
    let url = s.url("t_basic", "");
    let h = home();
    let cmd = "echo $TOOZCTL_LOCK $TOOZCTL_FENCING_TOKEN; exit 7";
    let (code, out, _) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "job", "--", "sh", "-c", cmd],
    ));
    assert_eq!(code, 7, "the child's status is passed through");
    assert_eq!(out.trim(), "job 1");
    let (_, out, _) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "job", "--", "sh", "-c", cmd],
    ));
    assert_eq!(out.trim(), "job 2");
    assert!(!s.exists("t_basic_job_lock"), "lock key removed on release");
    assert!(!s.exists("t_basic_job_lock.holder"));
    assert_eq!(s.cli(&["GET", "t_basic_job_lock.fence"]), "2");
}

#[test]
fn holder_record_and_ttl_while_held() {
    let s = RedisServer::shared();
    let url = s.url("t_holder", "lock_timeout=7");
    let h = home();
    let (code, out, err) = run(tz(
        h.path(),
        &url,
        &[
            "lock",
            "--kill-after",
            "1s",
            "rec",
            "--",
            "sh",
            "-c",
            "redis-cli -p $P PTTL t_holder_rec_lock; redis-cli -p $P GET t_holder_rec_lock.holder",
        ],
    )
    .env("P", s.port.to_string()));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let pttl: u64 = lines.next().unwrap().parse().unwrap();
    assert!(
        pttl > 5000 && pttl <= 7000,
        "lock_timeout=7 gives the key a 7 s TTL, got {pttl}"
    );
    let rec: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(rec["fencing_token"], 1);
    assert_eq!(rec["mode"], "exclusive");
    assert!(rec["command"].as_str().unwrap().starts_with("sh -c"));
    // --ttl overrides lock_timeout.
    let (_, out, _) = run(tz(
        h.path(),
        &url,
        &[
            "lock",
            "--ttl",
            "3s",
            "--kill-after",
            "1s",
            "rec",
            "--",
            "sh",
            "-c",
            "redis-cli -p $P PTTL t_holder_rec_lock",
        ],
    )
    .env("P", s.port.to_string()));
    let pttl: u64 = out.trim().parse().unwrap();
    assert!(pttl > 2000 && pttl <= 3000, "{pttl}");
}

#[test]
fn busy_lock_no_wait_and_wait_limits() {
    let s = RedisServer::shared();
    let url = s.url("t_busy", "");
    let h = home();
    let mut holder = spawn(tz(h.path(), &url, &["-m", "holder-1", "lock", "busy"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_busy_busy_lock")));
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "busy", "--", "true"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("holder-1"), "names the holder: {err}");
    let (code, _, _) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "-E", "42", "busy", "--", "true"],
    ));
    assert_eq!(code, 42);
    let t = Instant::now();
    let (code, _, _) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-w", "0.5", "busy", "--", "true"],
    ));
    assert_eq!(code, 1);
    assert!(t.elapsed() < Duration::from_secs(3));
    support::signal(holder.id(), libc::SIGTERM);
    assert!(holder.wait().unwrap().success());
    assert!(!s.exists("t_busy_busy_lock"));
}

#[test]
fn eight_contenders_never_overlap() {
    let s = RedisServer::shared();
    let url = s.url("t_eight", "");
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    // mkdir fails if another holder is inside: the child then exits 99.
    let body = "mkdir \"$D/inside\" || exit 99; echo $TOOZCTL_FENCING_TOKEN >> \"$D/tokens\"; sleep 0.05; rmdir \"$D/inside\"";
    let kids: Vec<Child> = (0..8)
        .map(|_| {
            spawn({
                let mut c = tz(
                    h.path(),
                    &url,
                    &["lock", "-w", "60", "eight", "--", "sh", "-c", body],
                );
                c.env("D", dir.path());
                c
            })
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut tokens: Vec<u64> = std::fs::read_to_string(dir.path().join("tokens"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    tokens.sort();
    assert_eq!(tokens, (1..=8).collect::<Vec<_>>());
}

#[test]
fn kill_9_of_a_holder_frees_the_lock_within_the_ttl() {
    let s = RedisServer::shared();
    let url = s.url("t_kill", "");
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let mut holder = spawn({
        let mut c = tz(
            h.path(),
            &url,
            &[
                "lock",
                "--ttl",
                "2s",
                "--kill-after",
                "0.5s",
                "k",
                "--",
                "sh",
                "-c",
                "echo $$ > \"$F\"; exec sleep 60",
            ],
        );
        c.env("F", &pidfile);
        c
    });
    assert!(wait_until(Duration::from_secs(10), || pidfile.exists()
        && s.exists("t_kill_k_lock")));
    support::signal(holder.id(), libc::SIGKILL);
    let killed = Instant::now();
    holder.wait().unwrap();
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-w", "20", "k", "--", "true"],
    ));
    let took = killed.elapsed();
    if let Ok(p) = std::fs::read_to_string(&pidfile) {
        support::signal(p.trim().parse().unwrap(), libc::SIGKILL);
    }
    assert_eq!(code, 0, "{err}");
    assert!(
        took < Duration::from_secs(4),
        "free within --ttl + 2 s, took {took:?}"
    );
}

#[test]
fn deleting_the_key_signals_the_child_and_exits_3() {
    let s = RedisServer::shared();
    let url = s.url("t_del", "");
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("termed");
    let child = "trap 'echo term > \"$M\"; exit 0' TERM; while :; do sleep 0.05; done";
    let holder = spawn({
        let mut c = tz(
            h.path(),
            &url,
            &[
                "lock",
                "--ttl",
                "3s",
                "--kill-after",
                "1s",
                "d",
                "--",
                "sh",
                "-c",
                child,
            ],
        );
        c.env("M", &mark);
        c
    });
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_del_d_lock")));
    std::thread::sleep(Duration::from_millis(200));
    s.cli(&["DEL", "t_del_d_lock"]);
    let deleted = Instant::now();
    let out = holder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(mark.exists(), "child got SIGTERM");
    assert!(err.contains("lock 'd' was lost"), "{err}");
    assert!(
        deleted.elapsed() < Duration::from_secs(3),
        "noticed within a refresh period"
    );
}

#[test]
fn unreachable_server_exits_69_fast() {
    let h = home();
    let port = support::free_port();
    let t = Instant::now();
    let (code, out, err) = run(&mut tz(
        h.path(),
        &format!("redis://127.0.0.1:{port}"),
        &["lock", "x", "--", "true"],
    ));
    assert_eq!(code, 69, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(t.elapsed() < Duration::from_secs(6));
}

#[test]
fn stopped_server_stops_the_child_before_the_lease_runs_out() {
    let s = RedisServer::start();
    let url = s.url("t_stop", "");
    let h = home();
    let holder = spawn(tz(
        h.path(),
        &url,
        &[
            "lock",
            "--ttl",
            "3s",
            "--kill-after",
            "0.5s",
            "p",
            "--",
            "sleep",
            "60",
        ],
    ));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_stop_p_lock")));
    std::thread::sleep(Duration::from_millis(300));
    support::signal(s.pid, libc::SIGSTOP);
    let stopped = Instant::now();
    let out = holder.wait_with_output().unwrap();
    let took = stopped.elapsed();
    support::signal(s.pid, libc::SIGCONT);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took < Duration::from_secs(3),
        "child stopped before the 3 s lease ran out: {took:?}"
    );
    s.stop();
}

#[test]
fn password_works_and_is_never_shown() {
    let pw = "Sup3rS3cretPw";
    let s = RedisServer::start_with(Some(pw), &[]);
    let url = s.url("t_pw", "");
    let h = home();
    let (code, out, err) = run(&mut tz(
        h.path(),
        &url,
        &["-vv", "lock", "--kill-after", "1s", "pw", "--", "env"],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("TOOZCTL_BACKEND=redis://:***@"), "{out}");
    assert!(!out.contains(pw) && !err.contains(pw), "{out}\n{err}");
    let bad = url.replace(pw, "WrongPassw0rd");
    let (code, out, err) = run(&mut tz(
        h.path(),
        &bad,
        &["-vv", "lock", "pw", "--", "true"],
    ));
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("authentication"), "{err}");
    assert!(
        !err.contains("WrongPassw0rd") && !out.contains("WrongPassw0rd"),
        "{err}"
    );
    let none = url.replace(&format!(":{pw}@"), "");
    let (code, _, err) = run(&mut tz(h.path(), &none, &["lock", "pw", "--", "true"]));
    assert_eq!(code, 69, "{err}");
    s.stop();
}

#[test]
fn semaphore_limit_and_misuse() {
    let s = RedisServer::shared();
    let url = s.url("t_sem", "");
    let h = home();
    let a = spawn(tz(
        h.path(),
        &url,
        &["-m", "sem-a", "lock", "-l", "2", "sem"],
    ));
    let b = spawn(tz(
        h.path(),
        &url,
        &["-m", "sem-b", "lock", "-l", "2", "sem"],
    ));
    assert!(wait_until(Duration::from_secs(10), || s
        .cli(&["ZCARD", "t_sem_sem_lock.sem"])
        == "2"));
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "-l", "2", "sem", "--", "true"],
    ));
    assert_eq!(code, 1, "a third holder waits: {err}");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "sem", "--", "true"],
    ));
    assert_eq!(
        code, 2,
        "an exclusive use of a semaphore is an error: {err}"
    );
    assert!(err.contains("--limit 2"), "{err}");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "-l", "3", "sem", "--", "true"],
    ));
    assert_eq!(code, 2, "{err}");
    // tooz cannot take the name either.
    let (code, out, err) = support::python(
        "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'p')\nco.start()\nprint(co.get_lock(b'sem').acquire(blocking=False))\nco.stop()",
        &[&url],
    );
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    for k in [a, b] {
        support::signal(k.id(), libc::SIGTERM);
        assert!(k.wait_with_output().unwrap().status.success());
    }
    assert!(!s.exists("t_sem_sem_lock") && !s.exists("t_sem_sem_lock.sem"));
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "sem", "--", "true"],
    ));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn exclusive_holder_blocks_a_semaphore_and_shared_is_refused() {
    let s = RedisServer::shared();
    let url = s.url("t_mix", "");
    let h = home();
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "--shared", "x", "--", "true"],
    ));
    assert_eq!(code, 2);
    assert!(err.contains("redis"), "{err}");
    let mut x = spawn(tz(h.path(), &url, &["-m", "excl", "lock", "x"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_mix_x_lock")));
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "-l", "3", "x", "--", "true"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exclusive") && err.contains("excl"), "{err}");
    support::signal(x.id(), libc::SIGTERM);
    x.wait().unwrap();
}

#[test]
fn hand_off_is_fast() {
    let s = RedisServer::shared();
    let url = s.url("t_hand", "");
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let now = "python3 -c 'import time; print(time.time())'";
    let mut lat = Vec::new();
    for i in 0..5 {
        let end = dir.path().join(format!("end{i}"));
        let start = dir.path().join(format!("start{i}"));
        let holder = spawn({
            let mut c = tz(
                h.path(),
                &url,
                &[
                    "lock",
                    "hand",
                    "--",
                    "sh",
                    "-c",
                    &format!("sleep 0.5; {now} > \"$F\""),
                ],
            );
            c.env("F", &end);
            c
        });
        assert!(wait_until(Duration::from_secs(10), || s.exists("t_hand_hand_lock")));
        let waiter = spawn({
            let mut c = tz(
                h.path(),
                &url,
                &["lock", "hand", "--", "sh", "-c", &format!("{now} > \"$F\"")],
            );
            c.env("F", &start);
            c
        });
        assert!(holder.wait_with_output().unwrap().status.success());
        assert!(waiter.wait_with_output().unwrap().status.success());
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .unwrap()
                .trim()
                .parse::<f64>()
                .unwrap()
        };
        lat.push(read(&start) - read(&end));
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = lat[2];
    eprintln!("hand-off latencies (s, includes a python start): {lat:?}");
    // Python's own start-up (~20-40 ms) is inside this figure; tooz's poll alone is 100 ms.
    assert!(median < 0.2, "median hand-off {median}s");
}

#[test]
fn tooz_holder_excludes_toozctl_and_is_shown_as_a_tooz_client() {
    let s = RedisServer::shared();
    let url = s.url("t_tz1", "");
    let h = home();
    let peer = ToozPeer::start(
        &url,
        "tooz-peer",
        "l = co.get_lock(b'shared')\nassert l.acquire()",
        "l.release()",
    );
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "-n", "shared", "--", "true"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tooz client"), "{err}");
    // A waiter gets it once tooz releases (noticed by the bounded fallback poll).
    let waiter = spawn(tz(
        h.path(),
        &url,
        &["lock", "-w", "20", "shared", "--", "true"],
    ));
    std::thread::sleep(Duration::from_millis(300));
    peer.finish();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!s.exists("t_tz1_shared_lock"));
}

#[test]
fn toozctl_holder_excludes_tooz() {
    let s = RedisServer::shared();
    let url = s.url("t_tz2", "");
    let h = home();
    let py = "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'p')\nco.start()\nl = co.get_lock(b'mine')\nprint(l.acquire(blocking=False))\nif l.acquired: l.release()\nco.stop()";
    let mut holder = spawn(tz(h.path(), &url, &["lock", "mine"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_tz2_mine_lock")));
    let (code, out, err) = support::python(py, &[&url]);
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    support::signal(holder.id(), libc::SIGTERM);
    assert!(holder.wait().unwrap().success());
    let (code, out, err) = support::python(py, &[&url]);
    assert_eq!((code, out.trim()), (0, "True"), "{err}");
}
