//! The etcd backend against a real etcd: leases and keys left (or not) behind, the
//! hand-over to the first waiter, TLS, endpoints, compaction, and interoperation with
//! Python tooz (etcd3gw) both ways. The promises every backend keeps are in
//! `conformance/`.
//!
//! Most tests share one server (unique key names); tests that count leases, stop the
//! server or need TLS/auth start their own.

use crate::support;
use crate::support::etcd as etcd_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{python, signal, wait_until};
use etcd_support::{make_certs, shared, Etcd};

/// `toozctl -b URL ARGS` with a clean environment and a private HOME.
fn tz(url: &str, home: &std::path::Path, args: &[&str]) -> Command {
    let mut c = support::toozctl(home);
    c.arg("-b").arg(url).args(args);
    c
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
struct Kid(Child);

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Start a holder in hold mode and wait for its "acquired" / "joined" / "elected" line.
fn hold(url: &str, home: &std::path::Path, args: &[&str]) -> Kid {
    let mut c = tz(url, home, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Kid(c.spawn().expect("spawn toozctl"));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        ["acquired", "joined", "elected"]
            .iter()
            .any(|w| line.contains(w)),
        "holder did not get it: {line:?}"
    );
    child
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Queue one more waiter for lock `name` (`lock -w 30s NAME -- sh -c COMMAND`) and wait
/// until it is the `nth` in the queue, so that the queue's order is the order of the calls.
fn queue_one(e: &Etcd, home: &std::path::Path, name: &str, command: &str, nth: usize) -> Kid {
    let kid = Kid(tz(
        &e.url,
        home,
        &["lock", "-w", "30s", name, "--", "sh", "-c", command],
    )
    .spawn()
    .unwrap());
    let prefix = format!("/toozctl/waiters/{name}/");
    assert!(
        wait_until(Duration::from_secs(5), || e.keys(&prefix).len() == nth),
        "waiter {nth} never queued"
    );
    kid
}

#[test]
fn lock_runs_command_and_gives_everything_back() {
    let e = shared();
    let h = home();
    let script = format!(
        "echo token=$TOOZCTL_FENCING_TOKEN lock=$TOOZCTL_LOCK; ETCDCTL_API=3 etcdctl --endpoints {} get /tooz/locksgive-back -w fields | grep '\"Lease\"'; exit 7",
        e.endpoint
    );
    let out = tz(
        &e.url,
        h.path(),
        &["lock", "give-back", "--", "sh", "-c", &script],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("lock=give-back"), "{stdout}");
    let token: u64 = stdout
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(token > 0);
    let lease: i64 = stdout
        .split(':')
        .next_back()
        .unwrap()
        .trim()
        .parse()
        .expect("lease id in etcdctl output");
    // A clean exit leaves no key, no holder record and no lease.
    assert!(e.keys("/tooz/locksgive-back").is_empty());
    assert!(e.keys("/toozctl/holders/tooz/locksgive-back").is_empty());
    assert!(
        !e.lease_alive(&format!("{lease:x}")),
        "lease {lease:x} survived a clean exit"
    );
    // The next acquisition gets a larger fencing token (the key's create revision).
    let out = tz(
        &e.url,
        h.path(),
        &[
            "lock",
            "give-back",
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ],
    )
    .output()
    .unwrap();
    let next: u64 = text(&out.stdout).trim().parse().unwrap();
    assert!(next > token, "{next} <= {token}");
}

#[test]
fn shared_readers_exclude_writers_tooz_and_semaphores() {
    let e = Etcd::start();
    let h = home();
    let url = &e.url;
    let tooz_url = format!("etcd3+http://127.0.0.1:{}", e.port);
    // tooz never revokes its leases: remember which ones are tooz's.
    let mut tooz_leases = std::collections::HashSet::new();
    let mut tooz_try = || {
        let before: std::collections::HashSet<String> = e.leases().into_iter().collect();
        let (code, out, err) = python(TOOZ_TRY, &[&tooz_url, "books"]);
        assert_eq!(code, 0, "{err}");
        tooz_leases.extend(e.leases().into_iter().filter(|l| !before.contains(l)));
        out.trim().to_string()
    };
    let mut r1 = hold(
        url,
        h.path(),
        &["-m", "reader-1", "lock", "--shared", "books"],
    );
    let mut r2 = hold(
        url,
        h.path(),
        &["-m", "reader-2", "lock", "--shared", "books"],
    );
    assert_eq!(e.keys("/toozctl/readers/books/").len(), 2);
    // Writers wait: toozctl's, tooz's; a semaphore of the same name is a usage error.
    let out = tz(url, h.path(), &["lock", "-n", "books", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("reader-1"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tooz_try(), "False");
    let out = tz(
        url,
        h.path(),
        &["lock", "-n", "-l", "2", "books", "--", "true"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // The first reader leaving does not free it for writers.
    signal(r1.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut r1, Duration::from_secs(5)), Some(0));
    assert_eq!(tooz_try(), "False");
    // The last one does: a waiting writer gets it at once.
    let mut writer = Kid(tz(
        url,
        h.path(),
        &[
            "-m", "writer", "lock", "-w", "10", "books", "--", "sleep", "0.5",
        ],
    )
    .spawn()
    .unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(writer.try_wait().unwrap(), None);
    signal(r2.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut r2, Duration::from_secs(5)), Some(0));
    // While the writer holds, a reader waits.
    let out = tz(url, h.path(), &["lock", "-s", "-n", "books", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = tz(
        url,
        h.path(),
        &["lock", "-s", "-w", "10", "books", "--", "true"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(wait_exit(&mut writer, Duration::from_secs(5)), Some(0));
    assert_eq!(tooz_try(), "True");
    assert!(
        e.keys("/").is_empty() && e.keys("tooz").is_empty(),
        "keys left: {:?}",
        e.keys("/")
    );
    let ours: Vec<String> = e
        .leases()
        .into_iter()
        .filter(|l| !tooz_leases.contains(l))
        .collect();
    assert!(ours.is_empty(), "leases left: {ours:?}");
}

#[test]
fn a_broken_shared_lock_stops_every_reader() {
    let e = shared();
    let h = home();
    let mut r1 = Kid(tz(
        &e.url,
        h.path(),
        &["lock", "-s", "broken-books", "--", "sleep", "30"],
    )
    .spawn()
    .unwrap());
    let mut r2 = Kid(tz(
        &e.url,
        h.path(),
        &["lock", "-s", "broken-books", "--", "sleep", "30"],
    )
    .spawn()
    .unwrap());
    assert!(wait_until(Duration::from_secs(5), || e
        .keys("/toozctl/readers/broken-books/")
        .len()
        == 2));
    let out = tz(&e.url, h.path(), &["unlock", "broken-books"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(wait_exit(&mut r1, Duration::from_secs(15)), Some(3));
    assert_eq!(wait_exit(&mut r2, Duration::from_secs(15)), Some(3));
}

#[test]
fn cancelled_waiter_leaves_no_key_or_lease() {
    let e = Etcd::start();
    let h = home();
    let mut holder = hold(&e.url, h.path(), &["lock", "queue"]);
    assert_eq!(e.leases().len(), 1);
    let mut waiter = Kid(tz(&e.url, h.path(), &["lock", "queue", "--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    assert!(
        wait_until(Duration::from_secs(5), || e.leases().len() == 2),
        "the waiter never took a lease"
    );
    signal(waiter.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut waiter, Duration::from_secs(5)), Some(143));
    assert_eq!(e.leases().len(), 1, "the cancelled waiter left a lease");
    assert_eq!(e.keys("/tooz/locksqueue").len(), 1);
    signal(holder.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut holder, Duration::from_secs(5)), Some(0));
    assert!(e.leases().is_empty(), "leases left: {:?}", e.leases());
    assert!(
        e.keys("/").is_empty() && e.keys("tooz").is_empty(),
        "keys left behind"
    );
}

/// (An unreachable server on every backend: conformance/access.rs.) A server that accepts
/// but never answers: 69 within the connect timeout, in one line.
#[test]
fn silent_server_exits_69_within_the_connect_timeout() {
    let h = home();
    let e = Etcd::start();
    e.pause();
    let t = Instant::now();
    let url = format!("{}?connect_timeout=1", e.url);
    let out = tz(&url, h.path(), &["lock", "x", "--", "true"])
        .output()
        .unwrap();
    e.resume();
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(text(&out.stderr).lines().count(), 1);
}

#[test]
fn tls_with_a_throwaway_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let e = Etcd::start_with(Some(&certs));
    let h = home();
    let out = tz(
        &e.url,
        h.path(),
        &[
            "lock",
            "secure",
            "--",
            "sh",
            "-c",
            "echo $TOOZCTL_FENCING_TOKEN",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim().parse::<u64>().is_ok());
    // Without the CA the server is not trusted: unavailable, in one line.
    let plain = format!("etcd3+https://127.0.0.1:{}?connect_timeout=2", e.port);
    let out = tz(&plain, h.path(), &["lock", "secure", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    // TLS options on a plain URL are a usage error.
    let out = tz(
        &format!("etcd3+http://127.0.0.1:{}?ca_cert=/x", e.port),
        h.path(),
        &["lock", "s", "--", "true"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

const TOOZ_HOLDER: &str = r#"
import sys
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b"tooz-peer")
c.start()
lock = c.get_lock(sys.argv[2].encode())
assert lock.acquire(blocking=False)
print("held", flush=True)
sys.stdin.readline()
assert lock.release()
c.stop()
"#;

const TOOZ_TRY: &str = r#"
import sys
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b"tooz-try")
c.start()
lock = c.get_lock(sys.argv[2].encode())
got = lock.acquire(blocking=False)
print(got)
if got:
    lock.release()
c.stop()
"#;

#[test]
fn tooz_lock_interop_both_ways() {
    let e = shared();
    let h = home();
    let tooz_url = format!("etcd3+http://127.0.0.1:{}", e.port);
    // tooz holds: toozctl is refused and names a tooz client; it gets in once tooz lets go.
    let mut py = Command::new(support::tooz_python())
        .args(["-c", TOOZ_HOLDER, &tooz_url, "interop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let out = tz(&e.url, h.path(), &["lock", "-n", "interop", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("tooz client"),
        "{}",
        text(&out.stderr)
    );
    let mut waiter = Kid(tz(
        &e.url,
        h.path(),
        &["lock", "-w", "10", "interop", "--", "true"],
    )
    .spawn()
    .unwrap());
    std::thread::sleep(Duration::from_millis(200));
    py.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(py.wait().unwrap().success());
    assert_eq!(wait_exit(&mut waiter, Duration::from_secs(3)), Some(0));
    // toozctl holds: tooz is refused; free again after toozctl exits.
    let mut holder = hold(&e.url, h.path(), &["lock", "interop"]);
    let (code, out, err) = python(TOOZ_TRY, &[&tooz_url, "interop"]);
    assert_eq!((code, out.trim()), (0, "False"), "{err}");
    signal(holder.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut holder, Duration::from_secs(5)), Some(0));
    let (code, out, err) = python(TOOZ_TRY, &[&tooz_url, "interop"]);
    assert_eq!((code, out.trim()), (0, "True"), "{err}");
}

/// Library-level tests of the primitives the CLI reaches through other commands.
mod api {
    use super::*;
    use toozctl::coordination::{
        BackendUrl, Capabilities, Coordinator, EventKind, Identity, LockMode, LockRequest, Wait,
        WatchTarget,
    };

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn connect(url: &str, member: &str) -> Box<dyn Coordinator> {
        let id = Identity {
            member_id: member.into(),
            host: "testhost".into(),
            pid: std::process::id(),
            command: String::new(),
        };
        toozctl::backends::connect(&BackendUrl::parse(url).unwrap(), id)
            .await
            .unwrap()
    }

    pub const TOOZ_GROUP: &str = r#"
import sys, json
from tooz import coordination
c = coordination.get_coordinator(sys.argv[1], b"tooz-member")
c.start()
if sys.argv[3] == "join":
    c.create_group(sys.argv[2].encode()).get()
    c.join_group(sys.argv[2].encode(), {"weight": 1}).get()
    print("joined", flush=True)
    sys.stdin.readline()
    c.leave_group(sys.argv[2].encode()).get()
else:
    members = sorted(m.decode() for m in c.get_members(sys.argv[2].encode()).get())
    caps = {m: c.get_member_capabilities(sys.argv[2].encode(), m.encode()).get() for m in members}
    print(json.dumps(caps, sort_keys=True))
c.stop()
"#;

    #[test]
    fn groups_with_capabilities_interoperate_with_tooz() {
        let e = shared();
        let tooz_url = format!("etcd3+http://127.0.0.1:{}", e.port);
        let mut py = Command::new(support::tooz_python())
            .args(["-c", TOOZ_GROUP, &tooz_url, "ig", "join"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(py.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "joined");
        rt().block_on(async {
            let c = connect(&e.url, "rust-member").await;
            let members = c.members("ig").await.unwrap();
            assert_eq!(members.len(), 1);
            assert_eq!(members[0].member_id, "tooz-member");
            assert_eq!(members[0].capabilities.to_json(), serde_json::json!({"weight": 1}));
            let caps = Capabilities::from_json_text(r#"{"role": "api", "n": 2}"#).unwrap();
            let held = c.join("ig", &caps, false).await.unwrap();
            let (code, out, err) = python(TOOZ_GROUP, &[&tooz_url, "ig", "read"]);
            assert_eq!(code, 0, "{err}");
            let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            assert_eq!(seen, serde_json::json!({"rust-member": {"role": "api", "n": 2}, "tooz-member": {"weight": 1}}));
            // group list shows the group once, without tooz's per-member junk entries.
            let groups = c.groups().await.unwrap();
            let ig: Vec<_> = groups.iter().filter(|g| g.name.starts_with("ig")).collect();
            assert_eq!(ig.len(), 1, "{groups:?}");
            assert_eq!(ig[0].members, 2);
            assert!(matches!(c.delete_group("ig").await, Err(toozctl::coordination::Error::NotEmpty(_))));
            held.release().await.unwrap();
            assert!(e.keys("tooz/groups/ig/rust-member").is_empty());
            c.close().await.unwrap();
        });
        py.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert!(py.wait().unwrap().success());
        rt().block_on(async {
            let c = connect(&e.url, "rust-member").await;
            assert!(c.members("ig").await.unwrap().is_empty());
            c.delete_group("ig").await.unwrap();
            assert!(matches!(
                c.members("ig").await,
                Err(toozctl::coordination::Error::NotFound(_))
            ));
            assert!(matches!(
                c.join("ig", &Capabilities::default(), false).await,
                Err(toozctl::coordination::Error::NotFound(_))
            ));
            let held = c.join("ig", &Capabilities::default(), true).await.unwrap();
            held.release().await.unwrap();
            c.delete_group("ig").await.unwrap();
        });
    }

    #[test]
    fn election_in_etcd_layout_with_leader_and_handover() {
        let e = shared();
        rt().block_on(async {
            let a = connect(&e.url, "cand-a").await;
            let b = connect(&e.url, "cand-b").await;
            let la = a
                .campaign("elg", Wait::NoWait)
                .await
                .unwrap()
                .expect("first candidate leads");
            assert!(b.campaign("elg", Wait::NoWait).await.unwrap().is_none());
            let leader = b.leader("elg").await.unwrap().unwrap();
            assert_eq!(leader.member_id.as_deref(), Some("cand-a"));
            assert_eq!(leader.host.as_deref(), Some("testhost"));
            // etcdctl's own election reader sees the same leader.
            let seen = e.ctl_for(1, &["elect", "-l", "toozctl/elections/elg"]);
            assert!(seen.contains("cand-a"), "{seen}");
            let waiting = tokio::spawn(async move {
                let r = b.campaign("elg", Wait::Forever).await;
                (b, r)
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            let t1 = la.fencing_token;
            la.release().await.unwrap();
            let (b, r) = tokio::time::timeout(Duration::from_secs(3), waiting)
                .await
                .unwrap()
                .unwrap();
            let lb = r
                .unwrap()
                .expect("second candidate elected after the first stood down");
            assert!(lb.fencing_token > t1);
            assert_eq!(
                a.leader("elg").await.unwrap().unwrap().member_id.as_deref(),
                Some("cand-b")
            );
            lb.release().await.unwrap();
            assert!(a.leader("elg").await.unwrap().is_none());
            a.close().await.unwrap();
            b.close().await.unwrap();
        });
        assert!(e.keys("toozctl/elections/elg/").is_empty());
    }

    #[test]
    fn watches_report_lock_and_group_events() {
        let e = shared();
        rt().block_on(async {
            let c = connect(&e.url, "watcher").await;
            let d = connect(&e.url, "doer").await;
            let mut locks = c.watch(&WatchTarget::Lock("watched".into())).await.unwrap();
            let req = LockRequest {
                name: "watched".into(),
                mode: LockMode::Exclusive,
                wait: Wait::NoWait,
                ttl: None,
            };
            let held = d.acquire(&req).await.unwrap().unwrap();
            let token = held.fencing_token;
            let ev = tokio::time::timeout(Duration::from_secs(3), locks.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(ev.kind, EventKind::Acquired);
            assert_eq!(ev.fencing_token, Some(token));
            assert_eq!(ev.holder.unwrap().member_id.as_deref(), Some("doer"));
            held.release().await.unwrap();
            let ev = tokio::time::timeout(Duration::from_secs(3), locks.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(ev.kind, EventKind::Released);

            d.create_group("wg").await.unwrap();
            let mut group = c.watch(&WatchTarget::Group("wg".into())).await.unwrap();
            let mut leaders = c.watch(&WatchTarget::Leader("wg".into())).await.unwrap();
            let m = d.join("wg", &Capabilities::default(), false).await.unwrap();
            let ev = tokio::time::timeout(Duration::from_secs(3), group.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                (ev.kind, ev.member.as_deref()),
                (EventKind::Join, Some("doer"))
            );
            let l = d.campaign("wg", Wait::NoWait).await.unwrap().unwrap();
            let ev = tokio::time::timeout(Duration::from_secs(3), leaders.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                (ev.kind, ev.member.as_deref()),
                (EventKind::Elected, Some("doer"))
            );
            assert_eq!(ev.fencing_token, Some(l.fencing_token));
            l.release().await.unwrap();
            m.release().await.unwrap();
            let ev = tokio::time::timeout(Duration::from_secs(3), group.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                (ev.kind, ev.member.as_deref()),
                (EventKind::Leave, Some("doer"))
            );
            d.delete_group("wg").await.unwrap();
        });
    }

    #[test]
    fn watch_reports_lost_then_resyncs_after_compaction() {
        let mut e = Etcd::start();
        let rt = rt();
        let (c, mut group) = rt.block_on(async {
            let c = connect(&e.url, "watcher").await;
            c.create_group("cg").await.unwrap();
            let w = c.watch(&WatchTarget::Group("cg".into())).await.unwrap();
            (c, w)
        });
        // Outside block_on the watch task does not run: restart the server, change the
        // group and compact past the change before the watch can resume.
        e.restart();
        e.ctl_ok(&["put", "tooz/groups/cg/ghost", "x"]);
        e.ctl_ok(&["del", "tooz/groups/cg/ghost"]);
        let put = e.ctl_ok(&["put", "tooz/groups/cg/late", "x", "-w", "json"]);
        let rev: String = put
            .split("\"revision\":")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        e.ctl_ok(&["compact", &rev]);
        rt.block_on(async {
            let mut kinds = Vec::new();
            while kinds.last() != Some(&(EventKind::Resync, None)) {
                let ev = tokio::time::timeout(Duration::from_secs(10), group.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                kinds.push((ev.kind, ev.member));
            }
            assert_eq!(
                kinds,
                vec![
                    (EventKind::Lost, None),
                    (EventKind::Join, Some("late".to_string())),
                    (EventKind::Resync, None)
                ]
            );
            c.close().await.unwrap();
        });
    }

    #[test]
    fn watch_resumes_from_its_revision_after_a_restart() {
        let mut e = Etcd::start();
        let rt = rt();
        let (c, mut group) = rt.block_on(async {
            let c = connect(&e.url, "watcher").await;
            c.create_group("rg").await.unwrap();
            let w = c.watch(&WatchTarget::Group("rg".into())).await.unwrap();
            (c, w)
        });
        // Changes made while the watch is cut off are replayed from its revision, in order.
        e.restart();
        e.ctl_ok(&["put", "tooz/groups/rg/early", "x"]);
        e.ctl_ok(&["del", "tooz/groups/rg/early"]);
        rt.block_on(async {
            let mut kinds = Vec::new();
            while kinds.len() < 3 {
                let ev = tokio::time::timeout(Duration::from_secs(10), group.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                kinds.push((ev.kind, ev.member));
            }
            assert_eq!(
                kinds,
                vec![
                    (EventKind::Lost, None),
                    (EventKind::Join, Some("early".to_string())),
                    (EventKind::Leave, Some("early".to_string()))
                ]
            );
            c.close().await.unwrap();
        });
    }

    #[test]
    fn locks_listing_and_breaking() {
        let e = shared();
        rt().block_on(async {
            let c = connect(&e.url, "lister").await;
            let req = LockRequest {
                name: "listed".into(),
                mode: LockMode::Exclusive,
                wait: Wait::NoWait,
                ttl: Some(Duration::from_secs(9)),
            };
            let held = c.acquire(&req).await.unwrap().unwrap();
            let mut health = held.health();
            let all = c.locks().await.unwrap();
            let info = all
                .iter()
                .find(|l| l.name == "listed")
                .expect("listed lock");
            assert_eq!(info.holders[0].member_id.as_deref(), Some("lister"));
            assert_eq!(info.fencing_token, Some(held.fencing_token));
            assert!(
                info.ttl.unwrap() <= Duration::from_secs(9)
                    && info.ttl.unwrap() >= Duration::from_secs(7)
            );
            assert_eq!(
                c.lease_for(Some(Duration::from_secs(9))),
                Some(Duration::from_secs(9))
            );
            let broken = c.break_lock("listed").await.unwrap();
            assert_eq!(broken[0].member_id.as_deref(), Some("lister"));
            tokio::time::timeout(
                Duration::from_secs(3),
                health.wait_for(|h| matches!(h, toozctl::coordination::Health::Lost(_))),
            )
            .await
            .unwrap()
            .unwrap();
            // Broken before the release: giving it back says so (a loss, exit 3).
            let r = held.release().await;
            assert!(
                matches!(r, Err(toozctl::coordination::Error::Lost(_))),
                "{r:?}"
            );
            c.close().await.unwrap();
        });
    }
}

/// `toozctl -o json ARGS` on `url`, parsed; asserts success.
fn json_of(url: &str, home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = tz(url, home, &[&["-o", "json"], args].concat())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
}

/// (The group commands on every backend: conformance/groups.rs.) Membership keys are
/// tooz's, with its msgpack capabilities, and the holder record goes with the member.
#[test]
fn group_membership_in_toozs_layout() {
    let e = shared();
    let h = home();
    let url = &e.url;
    let mut joiner = hold(
        url,
        h.path(),
        &[
            "-m",
            "web-1",
            "group",
            "join",
            "--create",
            "cli-g",
            "--capabilities",
            r#"{"role": "api", "n": 3}"#,
        ],
    );
    assert_eq!(
        e.ctl_ok(&["get", "--print-value-only", "tooz/groups/cli-g/"])
            .trim(),
        "tooz/groups/cli-g/"
    );
    assert_eq!(e.keys("tooz/groups/cli-g/web-1").len(), 1);
    signal(joiner.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut joiner, Duration::from_secs(5)), Some(0));
    assert!(e.keys("tooz/groups/cli-g/web-1").is_empty());
    assert!(e.keys("/toozctl/holders/tooz/groups/cli-g/").is_empty());
}

#[test]
fn release_hands_the_lock_to_the_first_waiter() {
    let e = Etcd::start();
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let versions = dir.path().join("versions");
    let go = dir.path().join("go");
    // The first holder stays until the test has seen the second one queue.
    let script = format!(
        "echo \"$TOOZCTL_MEMBER_ID $TOOZCTL_FENCING_TOKEN\" >> {}; ETCDCTL_API=3 etcdctl --endpoints {} get /tooz/locksrelay -w fields | grep '\"Version\"' >> {}; while [ ! -e {} ]; do sleep 0.02; done",
        log.display(),
        e.endpoint,
        versions.display(),
        go.display()
    );
    let mut a = Kid(tz(
        &e.url,
        h.path(),
        &["-m", "first", "lock", "relay", "--", "sh", "-c", &script],
    )
    .spawn()
    .unwrap());
    assert!(wait_until(Duration::from_secs(5), || log.exists()));
    let mut b = Kid(tz(
        &e.url,
        h.path(),
        &["-m", "second", "lock", "relay", "--", "sh", "-c", &script],
    )
    .spawn()
    .unwrap());
    assert!(
        wait_until(Duration::from_secs(5), || e
            .keys("/toozctl/waiters/relay/")
            .len()
            == 1),
        "the waiter never queued"
    );
    std::fs::write(&go, "").unwrap();
    assert_eq!(wait_exit(&mut a, Duration::from_secs(5)), Some(0));
    assert_eq!(wait_exit(&mut b, Duration::from_secs(5)), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(&str, u64)> = text
        .lines()
        .map(|l| {
            l.split_once(' ')
                .map(|(m, t)| (m, t.parse().unwrap()))
                .unwrap()
        })
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!((lines[0].0, lines[1].0), ("first", "second"));
    assert!(lines[1].1 > lines[0].1, "{text}");
    // Handed over (the key written again, version 2), not deleted and re-created.
    let v = std::fs::read_to_string(&versions).unwrap();
    assert_eq!(
        v.lines()
            .map(|l| l.split(':').nth(1).unwrap().trim())
            .collect::<Vec<_>>(),
        ["1", "2"],
        "{v}"
    );
    assert!(
        e.keys("/").is_empty() && e.keys("tooz").is_empty(),
        "keys left behind"
    );
    assert!(e.leases().is_empty(), "leases left: {:?}", e.leases());
}

/// Hand-offs between short COMMANDs read nothing on their path (issue 13): each new
/// holder learns the queue in the transaction that made it the holder, so neither its
/// follower of the queue nor its release reads it again. Before, every holder of the
/// chain read the queue once (its follower), and a COMMAND as short as this one's ended
/// before that read came back, so its release read the queue a second time, between
/// COMMAND's end and the offer. The order of the queue is kept.
#[test]
fn a_chain_of_short_holders_hands_over_without_reading_the_queue() {
    let e = Etcd::start();
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let go = dir.path().join("go");
    let first = format!(
        "echo first >> {}; while [ ! -e {} ]; do sleep 0.02; done",
        log.display(),
        go.display()
    );
    let mut kids = vec![Kid(tz(
        &e.url,
        h.path(),
        &["lock", "chain", "--", "sh", "-c", &first],
    )
    .spawn()
    .unwrap())];
    assert!(wait_until(Duration::from_secs(5), || log.exists()));
    const WAITERS: usize = 5;
    for i in 0..WAITERS {
        let line = format!("echo w{i} >> {}", log.display());
        kids.push(queue_one(&e, h.path(), "chain", &line, i + 1));
    }
    let reads = e.range_calls();
    std::fs::write(&go, "").unwrap();
    for k in kids.iter_mut() {
        assert_eq!(wait_exit(k, Duration::from_secs(10)), Some(0));
    }
    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["first", "w0", "w1", "w2", "w3", "w4"],
        "not handed over in queue order"
    );
    let read = e.range_calls() - reads;
    assert_eq!(read, 0, "{read} plain reads during {WAITERS} hand-offs");
    assert!(e.keys("/").is_empty() && e.keys("tooz").is_empty());
    assert!(e.leases().is_empty(), "leases left: {:?}", e.leases());
}

/// An offer wakes its recipient and nobody else in the queue (issue 13): a waiter
/// follows only the deletion of the key and of its own queue entry, which the offer
/// deletes, and the holder that made the offer sees it through. Before, every waiter
/// watched the key, and each offer's put went to every one of them: with ten waiters, ten
/// watch messages for the offer alone, and the queue's wake-ups grew with its length.
#[test]
fn an_offer_wakes_only_its_recipient() {
    let e = Etcd::start();
    let h = home();
    let dir = tempfile::tempdir().unwrap();
    let (go, started, done) = (
        dir.path().join("go"),
        dir.path().join("started"),
        dir.path().join("done"),
    );
    let wait_for =
        |f: &std::path::Path| format!("while [ ! -e {} ]; do sleep 0.02; done", f.display());
    let mut holder = Kid(tz(
        &e.url,
        h.path(),
        &["lock", "herd", "--", "sh", "-c", &wait_for(&go)],
    )
    .spawn()
    .unwrap());
    assert!(wait_until(Duration::from_secs(5), || !e
        .keys("/tooz/locksherd")
        .is_empty()));
    const WAITERS: usize = 10;
    let first = format!("touch {}; {}", started.display(), wait_for(&done));
    let mut kids = Vec::new();
    for i in 0..WAITERS {
        let command = if i == 0 { first.as_str() } else { "true" };
        kids.push(queue_one(&e, h.path(), "herd", command, i + 1));
    }
    // Every watch set up (the holder's loss and queue watches, two per waiter), so that
    // none of their creations is counted below.
    let watching = 2 + 2 * WAITERS as u64;
    assert!(
        wait_until(Duration::from_secs(5), || e.watchers() == watching),
        "{} watchers, not {watching}",
        e.watchers()
    );
    let before = e.watch_messages();
    std::fs::write(&go, "").unwrap();
    assert_eq!(wait_exit(&mut holder, Duration::from_secs(5)), Some(0));
    assert!(wait_until(Duration::from_secs(5), || started.exists()));
    // The new holder's own watches (loss, queue) are started by now or never.
    std::thread::sleep(Duration::from_millis(300));
    let sent = e.watch_messages() - before;
    std::fs::write(&done, "").unwrap();
    for k in kids.iter_mut() {
        assert_eq!(wait_exit(k, Duration::from_secs(10)), Some(0));
    }
    // The recipient's event, the old holder's watch of the confirmation (its creation
    // and the event), the new holder's two watches (their creations): 5.
    assert!(
        sent <= 6,
        "{sent} watch messages for one hand-off with {WAITERS} waiters queued"
    );
    assert!(e.keys("/").is_empty() && e.keys("tooz").is_empty());
}

#[test]
fn several_endpoints_fail_over_to_one_that_answers() {
    let e = shared();
    let h = home();
    let dead = support::free_port();
    let url = format!("etcd3+http://127.0.0.1:{dead},127.0.0.1:{}", e.port);
    let out = tz(&url, h.path(), &["lock", "failover", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn locks_lists_ours_and_toozs_and_unlock_breaks_them() {
    let e = Etcd::start();
    let h = home();
    let tooz_url = format!("etcd3+http://127.0.0.1:{}", e.port);
    let mut py = Command::new(support::tooz_python())
        .args(["-c", TOOZ_HOLDER, &tooz_url, "tooz-held"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let mut ours = Kid(tz(
        &e.url,
        h.path(),
        &[
            "-m",
            "lister",
            "lock",
            "--ttl",
            "20",
            "ours-held",
            "--",
            "sleep",
            "30",
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap());
    assert!(wait_until(Duration::from_secs(5), || e
        .keys("/tooz/locksours-held")
        .len()
        == 1));
    let rows = json_of(&e.url, h.path(), &["locks"]);
    let rows = rows.as_array().unwrap();
    let find = |n: &str| {
        rows.iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {rows:?}"))
    };
    let o = find("ours-held");
    assert_eq!(o["holder"]["member_id"], "lister", "{o}");
    assert!(
        o["ttl_ms"].as_u64().unwrap() <= 20_000 && o["fencing_token"].as_u64().is_some(),
        "{o}"
    );
    assert!(
        find("tooz-held")["holder"]
            .to_string()
            .contains("tooz client"),
        "{rows:?}"
    );
    // unlock breaks ours: our holder notices at once (exit 3) and the lock is free.
    let out = tz(&e.url, h.path(), &["unlock", "ours-held"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("lister"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(wait_exit(&mut ours, Duration::from_secs(15)), Some(3));
    // and tooz's: tooz's release then finds it gone (tooz reports that, we do not care).
    let out = tz(&e.url, h.path(), &["unlock", "tooz-held"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = tz(&e.url, h.path(), &["unlock", "tooz-held"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    drop(py.stdin.take());
    let _ = py.wait();
}

#[test]
fn kill_after_must_fit_in_the_lease() {
    let e = shared();
    let h = home();
    let out = tz(
        &e.url,
        h.path(),
        &[
            "lock",
            "--ttl",
            "5",
            "--kill-after",
            "10s",
            "fit",
            "--",
            "true",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--kill-after"),
        "{}",
        text(&out.stderr)
    );
    // Without --ttl the URL's lock_timeout (or membership_timeout, if shorter) is the lease.
    let url = format!("{}?lock_timeout=20&membership_timeout=4", e.url);
    let out = tz(
        &url,
        h.path(),
        &["lock", "--kill-after", "5s", "fit", "--", "true"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = tz(
        &url,
        h.path(),
        &["lock", "--kill-after", "2s", "fit", "--", "true"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(e.keys("/tooz/locksfit").is_empty());
}

#[test]
fn tooz_group_interop_through_the_cli() {
    let e = shared();
    let h = home();
    let tooz_url = format!("etcd3+http://127.0.0.1:{}", e.port);
    let mut py = Command::new(support::tooz_python())
        .args(["-c", api::TOOZ_GROUP, &tooz_url, "cli-ig", "join"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "joined");
    let mut joiner = hold(
        &e.url,
        h.path(),
        &[
            "-m",
            "cli-member",
            "group",
            "join",
            "cli-ig",
            "--capabilities",
            r#"{"role": "db"}"#,
        ],
    );
    assert_eq!(
        json_of(&e.url, h.path(), &["group", "members", "cli-ig"]),
        serde_json::json!([
            {"group": "cli-ig", "member_id": "cli-member", "capabilities": {"role": "db"}, "leader": false},
            {"group": "cli-ig", "member_id": "tooz-member", "capabilities": {"weight": 1}, "leader": false}
        ])
    );
    let (code, out, err) = python(api::TOOZ_GROUP, &[&tooz_url, "cli-ig", "read"]);
    assert_eq!(code, 0, "{err}");
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"cli-member": {"role": "db"}, "tooz-member": {"weight": 1}})
    );
    signal(joiner.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut joiner, Duration::from_secs(5)), Some(0));
    py.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(py.wait().unwrap().success());
    assert_eq!(
        json_of(&e.url, h.path(), &["group", "members", "cli-ig"]),
        serde_json::json!([])
    );
}
