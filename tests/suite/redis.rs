//! The Redis backend against a real `redis-server`: what is specific to it — tooz's key
//! layout and interop with a live Python tooz client, TLS, Unix sockets, Sentinel,
//! keyspace notifications, reconnection, lease options. The promises every backend keeps
//! are in `conformance/`.

use crate::support;
use crate::support::redis as redis_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{toozctl, wait_until};
use redis_support::RedisServer;

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

    /// Let it run its teardown now, without waiting for it.
    fn go(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
    }

    fn finish(mut self) {
        self.go();
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
    // A new counter starts at the server clock (µs), then counts up by one.
    let first: u64 = out.trim().strip_prefix("job ").unwrap().parse().unwrap();
    let (_, out, _) = run(&mut tz(
        h.path(),
        &url,
        &["lock", "job", "--", "sh", "-c", cmd],
    ));
    assert_eq!(out.trim(), format!("job {}", first + 1));
    assert!(!s.exists("t_basic_job_lock"), "lock key removed on release");
    assert!(!s.exists("t_basic_job_lock.holder"));
    assert_eq!(
        s.cli(&["GET", "t_basic_job_lock.fence"]),
        (first + 1).to_string()
    );
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
    assert_eq!(
        rec["fencing_token"].as_u64().map(|t| t.to_string()),
        Some(s.cli(&["GET", "t_holder_rec_lock.fence"]))
    );
    assert_eq!(rec["mode"], "exclusive");
    // Only the program name by default (issue 16): its words may carry secrets.
    assert_eq!(rec["command"], "sh");
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

/// (Semaphores and their misuse on every backend: conformance/sharing.rs.) tooz cannot
/// take a name our semaphore holds, and the slots live in tooz's namespace.
#[test]
fn tooz_cannot_take_a_semaphore_name() {
    let s = RedisServer::shared();
    let url = s.url("t_sem", "");
    let h = home();
    let a = spawn(tz(
        h.path(),
        &url,
        &["-m", "sem-a", "lock", "-l", "2", "sem"],
    ));
    assert!(wait_until(Duration::from_secs(10), || s
        .cli(&["ZCARD", "t_sem_sem_lock.sem"])
        == "1"));
    let (code, out, err) = support::python(
        "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'p')\nco.start()\nprint(co.get_lock(b'sem').acquire(blocking=False))\nco.stop()",
        &[&url],
    );
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    support::signal(a.id(), libc::SIGTERM);
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(!s.exists("t_sem_sem_lock") && !s.exists("t_sem_sem_lock.sem"));
}

#[test]
fn hand_off_is_fast() {
    let s = RedisServer::shared();
    let url = s.url("t_hand", "");
    let h = home();
    let stamp = |c: Child| -> i64 {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let mut lat = Vec::new();
    for _ in 0..5 {
        // Both ends are `date +%s%N`: the holder's COMMAND stamps just before it exits,
        // the waiter's COMMAND is the stamp.
        let holder = spawn(tz(
            h.path(),
            &url,
            &[
                "lock",
                "hand",
                "--",
                "sh",
                "-c",
                "sleep 0.4; exec date +%s%N",
            ],
        ));
        assert!(wait_until(Duration::from_secs(10), || s.exists("t_hand_hand_lock")));
        let waiter = spawn(tz(h.path(), &url, &["lock", "hand", "--", "date", "+%s%N"]));
        let end = stamp(holder);
        let start = stamp(waiter);
        lat.push((start - end) as f64 / 1e6);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!("hand-off latencies (ms): {lat:?}");
    // Without the release message the waiter would retry only after 1 s (the key's TTL is 30 s).
    assert!(lat[2] < 80.0, "median hand-off {} ms", lat[2]);
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

// ---- The coordination API of the backend, driven directly (the `locks`, `unlock`,
// ---- `group`, `elect` and `watch` commands call exactly these).

mod api {
    use super::*;
    use toozctl::backends::connect;
    use toozctl::coordination::{
        BackendUrl, Capabilities, Coordinator, Error, EventKind, Health, Identity, LockMode,
        LockRequest, Wait, WatchTarget,
    };

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

    fn req(name: &str, ttl_ms: u64) -> LockRequest {
        LockRequest {
            name: name.into(),
            mode: LockMode::Exclusive,
            wait: Wait::NoWait,
            ttl: Some(Duration::from_millis(ttl_ms)),
        }
    }

    const TOOZ_HOLD: &str = "l = co.get_lock(b'tz')\nassert l.acquire()";

    #[tokio::test]
    async fn locks_listing_and_break() {
        let s = RedisServer::shared();
        let url = s.url("t_api_locks", "");
        let c = open(&url, "api-1").await;
        let held = c.acquire(&req("a", 1500)).await.unwrap().expect("free");
        assert_eq!(
            held.fencing_token.to_string(),
            s.cli(&["GET", "t_api_locks_a_lock.fence"])
        );
        let peer = ToozPeer::start(&url, "tooz-peer", TOOZ_HOLD, "l.release()");
        let locks = c.locks().await.unwrap();
        let names: Vec<&str> = locks.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["a", "tz"]);
        let a = &locks[0];
        assert_eq!(a.holders[0].member_id.as_deref(), Some("api-1"));
        assert_eq!(a.holders[0].pid, Some(4242));
        assert_eq!(a.fencing_token, Some(held.fencing_token));
        assert!(a.ttl.is_some_and(|t| t <= Duration::from_millis(1500)));
        assert!(
            locks[1].holders[0]
                .note
                .as_deref()
                .unwrap_or("")
                .contains("tooz client"),
            "{:?}",
            locks[1]
        );
        // Breaking: the holder is told who held it, and the holder notices the loss.
        let mut health = held.health();
        let who = c.break_lock("a").await.unwrap();
        assert_eq!(who[0].member_id.as_deref(), Some("api-1"));
        assert!(!s.exists("t_api_locks_a_lock") && !s.exists("t_api_locks_a_lock.holder"));
        let lost = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                if let Health::Lost(_) = &*health.borrow_and_update() {
                    return;
                }
                health.changed().await.unwrap();
            }
        })
        .await;
        assert!(
            lost.is_ok(),
            "broken lock reported lost within a refresh period"
        );
        assert!(matches!(held.release().await, Err(Error::Lost(_))));
        let who = c.break_lock("tz").await.unwrap();
        assert!(who[0].note.is_some());
        peer.finish();
    }

    #[tokio::test]
    async fn groups_in_tooz_layout_both_ways() {
        let s = RedisServer::shared();
        let url = s.url("t_api_g", "");
        let c = open(&url, "rust-1").await;
        let caps = Capabilities::from_json_text(r#"{"role": "api", "n": 1}"#).unwrap();
        let membership = c.join("g", &caps, true).await.unwrap();
        assert_eq!(s.cli(&["SISMEMBER", "t_api_g_groups", "g"]), "1");
        assert_eq!(s.cli(&["HGET", "t_api_g_group:g", "__created__"]), "1");
        assert_eq!(s.cli(&["GET", "t_api_g_beats:rust-1"]), "Not dead!");
        // tooz reads our capabilities as the same dict, and we read tooz's.
        let py = "caps = co.get_members_with_capabilities(b'g').get()\nprint(sorted((k.decode(), v) for k, v in caps.items()))";
        let peer = ToozPeer::start(
            &url,
            "tooz-1",
            "co.join_group(b'g', {'weight': 1}).get()",
            "co.leave_group(b'g').get()",
        );
        let ms = c.members("g").await.unwrap();
        let ids: Vec<&str> = ms.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, vec!["rust-1", "tooz-1"]);
        assert_eq!(
            ms[1].capabilities.to_json(),
            serde_json::json!({"weight": 1})
        );
        let (code, out, err) = support::python(
            &format!("import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'reader')\nco.start()\n{py}\nco.stop()"),
            &[&url],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("('rust-1', {'role': 'api', 'n': 1})"), "{out}");
        peer.finish();
        // A dead member (no beat key) is pruned when listing, as tooz does.
        s.cli(&["HSET", "t_api_g_group:g", "ghost", ""]);
        let ids: Vec<String> = c
            .members("g")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.member_id)
            .collect();
        assert_eq!(ids, vec!["rust-1"]);
        assert_eq!(s.cli(&["HEXISTS", "t_api_g_group:g", "ghost"]), "0");
        assert!(matches!(c.delete_group("g").await, Err(Error::NotEmpty(_))));
        assert!(matches!(c.members("nope").await, Err(Error::NotFound(_))));
        membership.release().await.unwrap();
        assert!(!s.exists("t_api_g_beats:rust-1"));
        let gl = c.groups().await.unwrap();
        assert_eq!((gl[0].name.as_str(), gl[0].members), ("g", 0));
        c.delete_group("g").await.unwrap();
        assert!(!s.exists("t_api_g_group:g"));
        assert!(matches!(c.create_group("g2").await, Ok(())));
        assert!(matches!(
            c.create_group("g2").await,
            Err(Error::AlreadyExists(_))
        ));
    }

    #[tokio::test]
    async fn removed_member_is_lost() {
        let s = RedisServer::shared();
        let url = s.url("t_api_rm", "membership_timeout=1.5");
        let c = open(&url, "rm-1").await;
        let m = c.join("g", &Capabilities::default(), true).await.unwrap();
        let mut h = m.health();
        c.leave("g", "rm-1").await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                if matches!(&*h.borrow_and_update(), Health::Lost(_)) {
                    return;
                }
                h.changed().await.unwrap();
            }
        })
        .await;
        assert!(r.is_ok());
        assert!(matches!(
            c.leave("g", "nobody").await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn leaders_ours_and_tooz() {
        let s = RedisServer::shared();
        let url = s.url("t_api_lead", "");
        let c = open(&url, "lead-1").await;
        c.join("g", &Capabilities::default(), true).await.unwrap();
        let l = c
            .campaign("g", Wait::NoWait)
            .await
            .unwrap()
            .expect("elected");
        assert!(s.exists("t_api_lead_leader_of_g_lock"));
        assert_eq!(
            c.leader("g").await.unwrap().unwrap().member_id.as_deref(),
            Some("lead-1")
        );
        assert!(c.members("g").await.unwrap()[0].leader);
        // tooz cannot be elected meanwhile.
        let elect = "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'tz-l')\nco.start()\nco.join_group(b'g').get()\nwon = []\nco.watch_elected_as_leader(b'g', lambda e: won.append(e))\nco.run_watchers()\nprint(bool(won))\nco.stop()";
        let (code, out, err) = support::python(elect, &[&url]);
        assert_eq!((code, out.trim()), (0, "False"), "{err}");
        l.release().await.unwrap();
        assert!(c.leader("g").await.unwrap().is_none());
        // A tooz leader shows as an unknown tooz member, and keeps us out.
        let peer = ToozPeer::start(
            &url,
            "tz-l",
            "co.join_group(b'g').get()\nwon = []\nco.watch_elected_as_leader(b'g', lambda e: won.append(e))\nco.run_watchers()\nassert won",
            "",
        );
        let h = c.leader("g").await.unwrap().unwrap();
        assert!(h.member_id.is_none() && h.note.unwrap().contains("tooz"));
        assert!(c.campaign("g", Wait::NoWait).await.unwrap().is_none());
        peer.finish();
        let again = c
            .campaign(
                "g",
                Wait::Until(tokio::time::Instant::now() + Duration::from_secs(5)),
            )
            .await
            .unwrap();
        assert!(again.is_some(), "elected once tooz stopped");
    }

    #[tokio::test]
    async fn watches_see_changes_at_once() {
        let s = RedisServer::shared();
        let url = s.url("t_api_w", "");
        let c = open(&url, "w-1").await;
        let mut ev = c.watch(&WatchTarget::Lock("x".into())).await.unwrap();
        let t = Instant::now();
        let h = c.acquire(&req("x", 3000)).await.unwrap().unwrap();
        let e = ev.recv().await.unwrap().unwrap();
        assert_eq!(
            (e.kind, e.fencing_token),
            (EventKind::Acquired, Some(h.fencing_token))
        );
        h.release().await.unwrap();
        let e = ev.recv().await.unwrap().unwrap();
        assert_eq!(e.kind, EventKind::Released);
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "pub/sub, not the 1 s poll: {:?}",
            t.elapsed()
        );
        let mut gev = c.watch(&WatchTarget::Group("wg".into())).await.unwrap();
        let m = c.join("wg", &Capabilities::default(), true).await.unwrap();
        let e = gev.recv().await.unwrap().unwrap();
        assert_eq!(
            (e.kind, e.member.as_deref()),
            (EventKind::Join, Some("w-1"))
        );
        m.release().await.unwrap();
        let e = gev.recv().await.unwrap().unwrap();
        assert_eq!(e.kind, EventKind::Leave);
        let mut lev = c.watch(&WatchTarget::Leader("wg".into())).await.unwrap();
        let _l = c.campaign("wg", Wait::NoWait).await.unwrap().unwrap();
        let e = lev.recv().await.unwrap().unwrap();
        assert_eq!(
            (e.kind, e.member.as_deref()),
            (EventKind::Elected, Some("w-1"))
        );
    }
}

#[test]
fn tls_with_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    redis_support::make_certs(dir.path());
    let port = support::free_port();
    let args: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        "srv.crt",
        "--tls-key-file",
        "srv.key",
        "--tls-ca-cert-file",
        "ca.crt",
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ca = dir.path().join("ca.crt").display().to_string();
    let _srv = redis_support::RawServer::start_in(dir, &args, |_| redis_support::listening(port));
    let h = home();
    let url = format!("redis://127.0.0.1:{port}?ssl=true&ssl_ca_certs={ca}&namespace=t_tls");
    let mut holder = spawn(tz(h.path(), &url, &["lock", "tls"]));
    // The waiter's pub/sub connection uses TLS too.
    let waiter = spawn(tz(
        h.path(),
        &url,
        &["lock", "-w", "20", "tls", "--", "echo", "got it"],
    ));
    std::thread::sleep(Duration::from_millis(500));
    support::signal(holder.id(), libc::SIGTERM);
    assert!(holder.wait().unwrap().success());
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "got it");
    // Without the CA the certificate is refused; without TLS the server hangs up: both 69.
    let (code, _, err) = run(&mut tz(
        h.path(),
        &format!("redis://127.0.0.1:{port}?ssl=true"),
        &["lock", "x", "--", "true"],
    ));
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("certificate"), "{err}");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &format!("redis://127.0.0.1:{port}"),
        &["lock", "x", "--", "true"],
    ));
    assert_eq!(code, 69, "{err}");
}

#[test]
fn unix_socket_and_db() {
    let args: Vec<String> = [
        "--port",
        "0",
        "--unixsocket",
        "r.sock",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let srv = redis_support::RawServer::start(&args, |d| d.join("r.sock").exists());
    let sock = srv.dir.path().join("r.sock").display().to_string();
    let h = home();
    let url = format!("redis://{sock}?db=3&namespace=t_unix");
    let (code, out, err) = run(tz(
        h.path(),
        &url,
        &[
            "lock",
            "--ttl",
            "5s",
            "--kill-after",
            "1s",
            "u",
            "--",
            "sh",
            "-c",
            "redis-cli -s \"$S\" -n 3 EXISTS t_unix_u_lock",
        ],
    )
    .env("S", &sock));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "1", "the lock lives in db 3");
}

#[test]
fn sentinel_finds_the_master() {
    let s = RedisServer::start();
    let sport = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sentinel.conf"),
        format!(
            "port {sport}\nbind 127.0.0.1\nsentinel monitor toozmaster 127.0.0.1 {} 1\n",
            s.port
        ),
    )
    .unwrap();
    let args: Vec<String> = ["sentinel.conf", "--sentinel"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let _sentinel = redis_support::RawServer::start_in(dir, &args, |_| redis_support::ping(sport));
    let h = home();
    let dead = support::free_port();
    // The first sentinel is down; the fallback one answers.
    let url = format!("redis://127.0.0.1:{dead}?sentinel=toozmaster&sentinel_fallback=127.0.0.1:{sport}&namespace=t_sent");
    let (code, out, err) = run(&mut tz(h.path(), &url, &["lock", "s", "--", "echo", "ok"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    assert!(
        s.cli(&["GET", "t_sent_s_lock.fence"])
            .parse::<u64>()
            .is_ok(),
        "the lock was taken on the master"
    );
    let bad = format!("redis://127.0.0.1:{sport}?sentinel=nosuch");
    let (code, _, err) = run(&mut tz(h.path(), &bad, &["lock", "s", "--", "true"]));
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("nosuch"), "{err}");
    s.stop();
}

#[test]
fn dropped_connections_are_remade_without_losing_the_lock() {
    let s = RedisServer::start();
    let url = s.url("t_recon", "");
    let h = home();
    let holder = spawn(tz(
        h.path(),
        &url,
        &[
            "lock",
            "--ttl",
            "1.5s",
            "--kill-after",
            "0.2s",
            "r",
            "--",
            "sleep",
            "3",
        ],
    ));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_recon_r_lock")));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(600));
        s.cli(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    }
    let out = holder.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!s.exists("t_recon_r_lock"));
    s.stop();
}

#[test]
fn kill_after_must_fit_in_the_lease_from_the_url() {
    let s = RedisServer::shared();
    let h = home();
    // timeout=3 makes the lock lease 3 s: a --kill-after of 10 s cannot fit...
    let (code, _, err) = run(&mut tz(
        h.path(),
        &s.url("t_grace", "timeout=3"),
        &["lock", "--kill-after", "10s", "g", "--", "true"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kill-after"), "{err}");
    // ...while without --kill-after the grace shrinks to half the lease.
    let (code, _, err) = run(&mut tz(
        h.path(),
        &s.url("t_grace", "timeout=3"),
        &["lock", "g", "--", "true"],
    ));
    assert_eq!(code, 0, "the default grace fits any lease: {err}");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &s.url("t_grace", "timeout=3"),
        &["lock", "--ttl", "20s", "g", "--", "true"],
    ));
    assert_eq!(code, 0, "--ttl overrides it: {err}");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &s.url("t_grace", "lock_timeout=0"),
        &["lock", "g", "--", "true"],
    ));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn keyspace_notifications_wake_waiters_on_a_tooz_release() {
    let s = RedisServer::start_with(None, &["--notify-keyspace-events", "Kgx"]);
    let url = s.url("t_ks", "");
    let h = home();
    let mut peer = ToozPeer::start(
        &url,
        "tooz-ks",
        "l = co.get_lock(b'ks')\nassert l.acquire()",
        "l.release()",
    );
    let waiter = spawn(tz(
        h.path(),
        &url,
        &["lock", "-w", "20", "ks", "--", "true"],
    ));
    // Let the waiter try, subscribe and start its 1 s fallback wait.
    std::thread::sleep(Duration::from_millis(400));
    let released = Instant::now();
    peer.go();
    let out = waiter.wait_with_output().unwrap();
    let took = released.elapsed();
    peer.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took < Duration::from_millis(450),
        "woken by the keyspace event, not the 1 s poll: {took:?}"
    );
    s.stop();
}

// ---- group, elect and watch through the CLI, with tooz clients on the same server.

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect(l))
        .collect()
}

const TOOZ_MEMBERS: &str = "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'reader')\nco.start()\nm = co.get_members_with_capabilities(sys.argv[2].encode()).get()\nprint(sorted((k.decode(), v) for k, v in m.items()))\nco.stop()";

#[test]
fn cli_groups_with_tooz_members_and_capabilities() {
    let s = RedisServer::shared();
    let url = s.url("t_cg", "");
    let h = home();
    let (code, _, err) = run(&mut tz(h.path(), &url, &["group", "create", "web"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run(&mut tz(h.path(), &url, &["group", "create", "web"]));
    assert_eq!(code, 1, "creating twice");
    let peer = ToozPeer::start(
        &url,
        "tooz-w",
        "co.join_group(b'web', {'weight': 2}).get()",
        "co.leave_group(b'web').get()",
    );
    let mut joiner = spawn(tz(
        h.path(),
        &url,
        &[
            "-m",
            "rust-w",
            "group",
            "join",
            "web",
            "--capabilities",
            r#"{"role": "api", "n": 1}"#,
        ],
    ));
    assert!(wait_until(Duration::from_secs(10), || s.cli(&[
        "HEXISTS",
        "t_cg_group:web",
        "rust-w"
    ]) == "1"));
    // tooz sees our member and its capabilities as the same dict.
    let (code, out, err) = support::python(TOOZ_MEMBERS, &[&url, "web"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "[('rust-w', {'role': 'api', 'n': 1}), ('tooz-w', {'weight': 2})]"
    );
    // We see tooz's member and its capabilities; a dead member is pruned as tooz would.
    s.cli(&["HSET", "t_cg_group:web", "ghost", ""]);
    let (code, out, err) = run(&mut tz(
        h.path(),
        &url,
        &["-o", "json", "group", "members", "web"],
    ));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<(String, serde_json::Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member_id"].as_str().unwrap().to_string(),
                m["capabilities"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "rust-w".to_string(),
                serde_json::json!({"role": "api", "n": 1})
            ),
            ("tooz-w".to_string(), serde_json::json!({"weight": 2}))
        ]
    );
    assert_eq!(s.cli(&["HEXISTS", "t_cg_group:web", "ghost"]), "0");
    let (_, out, _) = run(&mut tz(h.path(), &url, &["-o", "json", "group", "list"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["members"], 2, "{v}");
    let (code, _, _) = run(&mut tz(h.path(), &url, &["group", "delete", "web"]));
    assert_eq!(code, 1, "not empty");
    let (code, _, _) = run(&mut tz(h.path(), &url, &["group", "members", "nope"]));
    assert_eq!(code, 4);
    support::signal(joiner.id(), libc::SIGTERM);
    assert!(joiner.wait().unwrap().success());
    assert_eq!(
        s.cli(&["HEXISTS", "t_cg_group:web", "rust-w"]),
        "0",
        "left on exit"
    );
    assert!(!s.exists("t_cg_beats:rust-w"));
    peer.finish();
    let (code, _, err) = run(&mut tz(h.path(), &url, &["group", "delete", "web"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = support::python(
        "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'r')\nco.start()\nprint(co.get_groups().get())\nco.stop()",
        &[&url],
    );
    assert_eq!((code, out.trim()), (0, "[]"));
}

#[test]
fn cli_elect_and_leader_with_tooz() {
    let s = RedisServer::shared();
    let url = s.url("t_ce", "");
    let h = home();
    let mut leader = spawn(tz(h.path(), &url, &["-m", "rust-lead", "elect", "sched"]));
    assert!(wait_until(Duration::from_secs(10), || s
        .exists("t_ce_leader_of_sched_lock")));
    let (code, out, err) = run(&mut tz(h.path(), &url, &["group", "leader", "sched"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rust-lead"), "{out}");
    let elect = "import sys\nfrom tooz import coordination as c\nco = c.get_coordinator(sys.argv[1], b'tz-e')\nco.start()\nco.join_group(b'sched').get()\nwon = []\nco.watch_elected_as_leader(b'sched', lambda e: won.append(e))\nco.run_watchers()\nprint(bool(won))\nco.leave_group(b'sched').get()\nco.stop()";
    let (code, out, err) = support::python(elect, &[&url]);
    assert_eq!(
        (code, out.trim()),
        (0, "False"),
        "tooz is not elected while we lead: {err}"
    );
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &["elect", "-w", "0.5", "sched", "--", "true"],
    ));
    assert_eq!(code, 1, "{err}");
    let first: u64 = s
        .cli(&["GET", "t_ce_leader_of_sched_lock.fence"])
        .parse()
        .unwrap();
    support::signal(leader.id(), libc::SIGTERM);
    assert!(leader.wait().unwrap().success());
    assert!(!s.exists("t_ce_leader_of_sched_lock"), "stood down on exit");
    // tooz elected: shown as an unknown tooz member, and it keeps us out.
    let peer = ToozPeer::start(
        &url,
        "tz-e",
        "co.join_group(b'sched').get()\nwon = []\nco.watch_elected_as_leader(b'sched', lambda e: won.append(e))\nco.run_watchers()\nassert won",
        "",
    );
    let (code, out, err) = run(&mut tz(h.path(), &url, &["group", "leader", "sched"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tooz"), "{out}");
    let (code, _, _) = run(&mut tz(
        h.path(),
        &url,
        &["elect", "-w", "0.5", "sched", "--", "true"],
    ));
    assert_eq!(code, 1);
    let waiter = spawn(tz(
        h.path(),
        &url,
        &[
            "elect",
            "-w",
            "20",
            "sched",
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ],
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
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (first + 1).to_string(),
        "fencing token of the leadership"
    );
}

/// (Watch basics on every backend: conformance/groups.rs.) A tooz member joining is seen:
/// tooz publishes nothing, so the bounded poll finds it.
#[test]
fn cli_watch_sees_a_tooz_member_join() {
    let s = RedisServer::shared();
    let url = s.url("t_cw", "");
    let h = home();
    let (code, _, _) = run(&mut tz(h.path(), &url, &["group", "create", "wg"]));
    assert_eq!(code, 0);
    let watch = spawn(tz(
        h.path(),
        &url,
        &["-o", "json", "watch", "group", "wg", "--until", "join"],
    ));
    std::thread::sleep(Duration::from_millis(500));
    let peer = ToozPeer::start(
        &url,
        "tooz-j",
        "co.join_group(b'wg').get()",
        "co.leave_group(b'wg').get()",
    );
    let t = Instant::now();
    let out = watch.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    let ev = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (ev[0]["event"].as_str(), ev[0]["member_id"].as_str()),
        (Some("join"), Some("tooz-j"))
    );
    peer.finish();
}

#[test]
fn kill_after_must_fit_in_the_membership_lease() {
    let s = RedisServer::shared();
    let h = home();
    let url = s.url("t_mgrace", "membership_timeout=3");
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &[
            "group",
            "join",
            "--create",
            "g",
            "--kill-after",
            "10s",
            "--",
            "true",
        ],
    ));
    assert_eq!(
        code, 2,
        "--kill-after 10s cannot fit a 3 s membership: {err}"
    );
    let (code, _, err) = run(&mut tz(
        h.path(),
        &url,
        &[
            "group",
            "join",
            "--create",
            "g",
            "--kill-after",
            "1s",
            "--",
            "true",
        ],
    ));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn cli_locks_and_unlock_show_ours_and_toozs() {
    let s = RedisServer::shared();
    let url = s.url("t_cl", "");
    let h = home();
    let mut ours = spawn(tz(h.path(), &url, &["-m", "rust-h", "lock", "mine"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_cl_mine_lock")));
    let peer = ToozPeer::start(
        &url,
        "tooz-h",
        "l = co.get_lock(b'theirs')\nassert l.acquire()",
        "l.release()",
    );
    let (code, out, err) = run(&mut tz(h.path(), &url, &["-o", "json", "locks"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(
        (
            rows[0]["name"].as_str(),
            rows[0]["holder"]["member_id"].as_str()
        ),
        (Some("mine"), Some("rust-h"))
    );
    assert_eq!(
        rows[0]["fencing_token"].as_u64().map(|t| t.to_string()),
        Some(s.cli(&["GET", "t_cl_mine_lock.fence"]))
    );
    assert!(
        rows[0]["ttl_ms"]
            .as_u64()
            .is_some_and(|t| t > 0 && t <= 30_000),
        "{v}"
    );
    assert_eq!(rows[1]["name"], "theirs");
    assert!(rows[1].to_string().contains("tooz client"), "{v}");
    // Breaking ours: the holder notices and exits 3; the output names who held it.
    let (code, out, err) = run(&mut tz(h.path(), &url, &["unlock", "mine"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rust-h") || err.contains("rust-h"),
        "{out}{err}"
    );
    assert!(!s.exists("t_cl_mine_lock"));
    let broke = Instant::now();
    let st = ours.wait().unwrap();
    assert_eq!(st.code(), Some(3));
    // Seen at once through the lock's channel, not at the next renewal (10 s here).
    assert!(
        broke.elapsed() < Duration::from_secs(3),
        "{:?}",
        broke.elapsed()
    );
    let (code, _, err) = run(&mut tz(h.path(), &url, &["unlock", "theirs"]));
    assert_eq!(code, 0, "{err}");
    assert!(!s.exists("t_cl_theirs_lock"));
    drop(peer);
}

#[test]
fn hold_mode_keeps_a_short_lease_renewed() {
    let s = RedisServer::shared();
    let url = s.url("t_holdm", "lock_timeout=1.5");
    let h = home();
    // No COMMAND: nothing to stop, so --kill-after (10 s) must not eat the 1.5 s lease.
    let mut holder = spawn(tz(h.path(), &url, &["lock", "hm"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_holdm_hm_lock")));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        s.exists("t_holdm_hm_lock"),
        "still held after twice the lease"
    );
    assert!(holder.try_wait().unwrap().is_none());
    support::signal(holder.id(), libc::SIGTERM);
    assert_eq!(holder.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn watch_reports_lost_and_resync_across_an_outage() {
    use toozctl::coordination::{BackendUrl, EventKind, Identity, WatchTarget};
    let s = RedisServer::start();
    let url = s.url("t_wlost", "timeout=1");
    let id = Identity {
        member_id: "w".into(),
        host: "h".into(),
        pid: 1,
        command: String::new(),
    };
    let c = toozctl::backends::connect(&BackendUrl::parse(&url).unwrap(), id)
        .await
        .unwrap();
    let mut ev = c.watch(&WatchTarget::Lock("o".into())).await.unwrap();
    support::signal(s.pid, libc::SIGSTOP);
    let e = tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .expect("lost in time")
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, EventKind::Lost);
    // While it was away, someone took the lock: after the resync the watch reports it.
    support::signal(s.pid, libc::SIGCONT);
    s.cli(&["SET", "t_wlost_o_lock", "sometoken", "PX", "30000"]);
    let e = tokio::time::timeout(Duration::from_secs(15), ev.recv())
        .await
        .expect("resync in time")
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, EventKind::Resync);
    let e = tokio::time::timeout(Duration::from_secs(5), ev.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, EventKind::Acquired);
    assert!(e.holder.unwrap().note.unwrap().contains("tooz"));
    s.stop();
}

#[test]
fn sentinel_with_a_password() {
    let s = RedisServer::start_with(Some("masterpw1"), &[]);
    let sport = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sentinel.conf"),
        format!(
            "port {sport}\nbind 127.0.0.1\nrequirepass sentpw22\nsentinel monitor pm 127.0.0.1 {} 1\nsentinel auth-pass pm masterpw1\n",
            s.port
        ),
    )
    .unwrap();
    let args: Vec<String> = ["sentinel.conf", "--sentinel"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let _sentinel = redis_support::RawServer::start_in(dir, &args, |_| redis_support::ping(sport));
    let h = home();
    let url = format!("redis://:masterpw1@127.0.0.1:{sport}?sentinel=pm&sentinel_password=sentpw22&namespace=t_sp");
    let (code, out, err) = run(&mut tz(h.path(), &url, &["-vv", "lock", "s", "--", "env"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("sentpw22") && !err.contains("sentpw22") && !out.contains("masterpw1"),
        "{out}{err}"
    );
    assert!(
        out.contains(&format!(
            "TOOZCTL_FENCING_TOKEN={}\n",
            s.cli(&["GET", "t_sp_s_lock.fence"])
        )),
        "the lock was taken on the master: {out}"
    );
    let bad = url.replace("sentpw22", "wrongpw33");
    let (code, out, err) = run(&mut tz(h.path(), &bad, &["-vv", "lock", "s", "--", "true"]));
    assert_eq!(code, 69, "{err}");
    assert!(
        !out.contains("wrongpw33") && !err.contains("wrongpw33"),
        "{err}"
    );
    s.stop();
}

#[test]
fn with_keyspace_events_a_deleted_key_is_lost_at_once() {
    let s = RedisServer::start_with(None, &["--notify-keyspace-events", "Kgx"]);
    let url = s.url("t_ksdel", "");
    let h = home();
    let holder = spawn(tz(h.path(), &url, &["lock", "d", "--", "sleep", "60"]));
    assert!(wait_until(Duration::from_secs(10), || s.exists("t_ksdel_d_lock")));
    std::thread::sleep(Duration::from_millis(300));
    s.cli(&["DEL", "t_ksdel_d_lock"]);
    let deleted = Instant::now();
    let out = holder.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        deleted.elapsed() < Duration::from_secs(3),
        "renewals are every 10 s; this took {:?}",
        deleted.elapsed()
    );
    s.stop();
}
