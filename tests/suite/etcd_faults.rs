//! etcd under the faults of issue 11: readers of different `--ttl`, waiters killed or
//! stalled while queued, a cancellation while an acquire is in flight, a loss found only at release, and
//! fencing tokens across a restart. Timelines wait for events (files written by COMMAND,
//! keys on the server), never for a guessed sleep.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::etcd::{shared, Etcd};
use crate::support::{self, signal, wait_until};
use toozctl::coordination::{
    BackendUrl, Coordinator, Error, Identity, LockMode, LockRequest, Wait,
};

/// A child killed (and reaped) when dropped, so a failing test leaves none behind.
pub(crate) struct Kid(pub Child);

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Kid {
    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }

    /// Its exit status within `within`, or `None`.
    pub(crate) fn exit_within(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return Some(s.code().unwrap_or(-1));
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.0.stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    }
}

pub(crate) fn tz(url: &str, home: &Path, args: &[&str]) -> Command {
    let mut c = support::toozctl(home);
    c.arg("-b").arg(url).args(args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

pub(crate) fn spawn(url: &str, home: &Path, args: &[&str]) -> Kid {
    Kid(tz(url, home, args).spawn().expect("spawn toozctl"))
}

/// Wall-clock nanoseconds, as `date +%s%N` writes them.
pub(crate) fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The `date +%s%N` a COMMAND wrote to `path`, once it exists.
pub(crate) fn stamp(path: &Path, within: Duration) -> u128 {
    assert!(
        wait_until(within, || std::fs::read_to_string(path)
            .is_ok_and(|s| s.trim().parse::<u128>().is_ok())),
        "{} was never written",
        path.display()
    );
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn unique(base: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{base}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) async fn connect(url: &str, member: &str) -> Box<dyn Coordinator> {
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

pub(crate) fn request(name: &str, mode: LockMode, wait: Wait) -> LockRequest {
    LockRequest {
        name: name.into(),
        mode,
        wait,
        ttl: Some(Duration::from_secs(10)),
    }
}

/// Hole 6: the marker that keeps writers (and tooz) out while readers hold lived on the
/// first reader's 2 s lease; once that reader left, nobody kept it alive in time and a
/// writer got the lock while a reader with `--ttl 60` still ran.
#[test]
fn readers_with_different_ttls_keep_writers_out() {
    let e = shared();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |f: &str| dir.path().join(f);
    let name = unique("e6");
    let mut r1 = spawn(
        &e.url,
        home.path(),
        &[
            "-m",
            "short-reader",
            "lock",
            "-s",
            "--ttl",
            "2",
            &name,
            "--",
            "sh",
            "-c",
            &format!("date +%s%N > {}; sleep 3", at("r1").display()),
        ],
    );
    stamp(&at("r1"), Duration::from_secs(10));
    let mut r2 = spawn(
        &e.url,
        home.path(),
        &[
            "-m",
            "long-reader",
            "lock",
            "-s",
            "--ttl",
            "60",
            &name,
            "--",
            "sh",
            "-c",
            &format!(
                "date +%s%N > {}; sleep 6; date +%s%N > {}",
                at("r2").display(),
                at("r2.end").display()
            ),
        ],
    );
    stamp(&at("r2"), Duration::from_secs(10));
    let mut w = spawn(
        &e.url,
        home.path(),
        &[
            "-m",
            "writer",
            "lock",
            "-w",
            "20",
            &name,
            "--",
            "sh",
            "-c",
            &format!("date +%s%N > {}", at("w").display()),
        ],
    );
    assert_eq!(
        r1.exit_within(Duration::from_secs(10)),
        Some(0),
        "{}",
        r1.stderr()
    );
    let r2_code = r2.exit_within(Duration::from_secs(15));
    assert_eq!(r2_code, Some(0), "the long reader: {}", r2.stderr());
    assert_eq!(
        w.exit_within(Duration::from_secs(20)),
        Some(0),
        "{}",
        w.stderr()
    );
    let (r2_end, w_start) = (
        stamp(&at("r2.end"), Duration::ZERO),
        stamp(&at("w"), Duration::ZERO),
    );
    assert!(
        w_start > r2_end,
        "the writer started {} ms before the long reader ended",
        (r2_end - w_start) / 1_000_000
    );
    assert!(e.keys(&format!("/tooz/locks{name}")).is_empty());
    assert!(e.keys(&format!("/toozctl/readers/{name}/")).is_empty());
}

/// Hole 9: the holder handed the lock to the first queued waiter, which had been killed
/// with -9, and the next live waiter waited out the dead one's whole lease.
#[test]
fn a_waiter_killed_while_queued_is_passed_over_at_once() {
    passed_over(1);
}

/// The holder that made an offer sees it through: two dead waiters in a row are passed
/// over one after the other (about 300 ms each), nobody else watching the offers.
#[test]
fn two_waiters_killed_while_queued_are_passed_over_in_turn() {
    passed_over(2);
}

/// Whether `n` waiters are queued for lock `name` within 10 s.
fn queued(e: &Etcd, name: &str, n: usize) -> bool {
    let prefix = format!("/toozctl/waiters/{name}/");
    wait_until(Duration::from_secs(10), || e.keys(&prefix).len() == n)
}

/// `toozctl lock --ttl TTL NAME` whose COMMAND writes the time it started to `file`.
fn stamper(url: &str, home: &Path, ttl: &str, name: &str, file: &Path) -> Kid {
    let command = format!("date +%s%N > {}", file.display());
    spawn(
        url,
        home,
        &["lock", "--ttl", ttl, name, "--", "sh", "-c", &command],
    )
}

/// `dead` waiters killed with -9 while queued, then a live one: after the holder's
/// release the live one gets the lock within a second, and the key is gone after it.
fn passed_over(dead: usize) {
    let e = shared();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("e9");
    let mut a = Kid(support::toozctl(home.path())
        .args(["-b", &e.url, "lock", "--ttl", "10", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(a.0.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("acquired"), "{line:?}");
    for i in 0..dead {
        let mut w = spawn(
            &e.url,
            home.path(),
            &["lock", "--ttl", "10", &name, "--", "true"],
        );
        assert!(queued(e, &name, i + 1), "waiter {i} never queued");
        signal(w.id(), libc::SIGKILL);
        w.exit_within(Duration::from_secs(5));
    }
    let started = dir.path().join("c");
    let mut c = stamper(&e.url, home.path(), "10", &name, &started);
    assert!(queued(e, &name, dead + 1), "the live waiter never queued");
    let released = now_ns();
    signal(a.id(), libc::SIGTERM);
    assert_eq!(a.exit_within(Duration::from_secs(5)), Some(0));
    let got = stamp(&started, Duration::from_secs(15));
    let waited = Duration::from_nanos((got - released) as u64);
    assert!(
        waited < Duration::from_millis(500 * dead as u64 + 500),
        "the live waiter got the lock only {waited:?} after the release"
    );
    assert_eq!(
        c.exit_within(Duration::from_secs(5)),
        Some(0),
        "{}",
        c.stderr()
    );
    assert!(e.keys(&format!("/tooz/locks{name}")).is_empty());
}

/// A recipient stalled (SIGSTOP) past `TAKEOVER_AFTER` loses its turn, never the lock's
/// safety: the holder passes the offer on to the waiter behind it, and the stalled one,
/// continued, finds its confirmation refused, queues again and runs its COMMAND only
/// after the other's has ended.
#[test]
fn a_stalled_recipient_loses_its_turn_not_the_locks_safety() {
    let e = shared();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("stall");
    let go = dir.path().join("go");
    let holder = format!("while [ ! -e {} ]; do sleep 0.02; done", go.display());
    let mut a = spawn(
        &e.url,
        home.path(),
        &["lock", &name, "--", "sh", "-c", &holder],
    );
    assert!(wait_until(Duration::from_secs(10), || !e
        .keys(&format!("/tooz/locks{name}"))
        .is_empty()));
    // Each COMMAND logs its start and, a moment later, its end.
    let log = dir.path().join("log");
    let run = |who: &str| {
        format!(
            "echo {who} start >> {l}; sleep 0.5; echo {who} end >> {l}",
            l = log.display()
        )
    };
    let mut stalled = spawn(
        &e.url,
        home.path(),
        &["lock", &name, "--", "sh", "-c", &run("s")],
    );
    assert!(queued(e, &name, 1), "the first waiter never queued");
    let mut behind = spawn(
        &e.url,
        home.path(),
        &["lock", &name, "--", "sh", "-c", &run("b")],
    );
    assert!(queued(e, &name, 2), "the second waiter never queued");
    signal(stalled.id(), libc::SIGSTOP);
    let released = Instant::now();
    std::fs::write(&go, "").unwrap();
    assert_eq!(
        a.exit_within(Duration::from_secs(5)),
        Some(0),
        "{}",
        a.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("b start"))),
        "the waiter behind the stalled one never got the lock"
    );
    assert!(
        released.elapsed() < Duration::from_secs(2),
        "passed on only after {:?}",
        released.elapsed()
    );
    signal(stalled.id(), libc::SIGCONT);
    assert_eq!(
        behind.exit_within(Duration::from_secs(10)),
        Some(0),
        "{}",
        behind.stderr()
    );
    assert_eq!(
        stalled.exit_within(Duration::from_secs(10)),
        Some(0),
        "{}",
        stalled.stderr()
    );
    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["b start", "b end", "s start", "s end"],
        "two holders at once"
    );
    assert!(e.keys(&format!("/tooz/locks{name}")).is_empty());
    assert!(e.keys(&format!("/toozctl/waiters/{name}/")).is_empty());
}

/// The double fault the holder's guard does not cover: the holder killed right after its
/// offer to a waiter that was itself killed while queued. Nobody passes that offer on;
/// the key is on the dead waiter's lease, and its expiry (a deletion, which every waiter
/// follows) lets the live waiter in: within the dead waiter's `--ttl`, not the holder's.
#[test]
fn a_holder_killed_while_its_offer_to_a_dead_waiter_is_unconfirmed() {
    let e = shared();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("double");
    let prefix = format!("/toozctl/waiters/{name}/");
    let go = dir.path().join("go");
    let holder = format!("while [ ! -e {} ]; do sleep 0.01; done", go.display());
    let mut a = spawn(
        &e.url,
        home.path(),
        &["lock", "--ttl", "60", &name, "--", "sh", "-c", &holder],
    );
    assert!(wait_until(Duration::from_secs(10), || !e
        .keys(&format!("/tooz/locks{name}"))
        .is_empty()));
    let mut dead = spawn(
        &e.url,
        home.path(),
        &["lock", "--ttl", "3", &name, "--", "true"],
    );
    assert!(queued(e, &name, 1), "the first waiter never queued");
    signal(dead.id(), libc::SIGKILL);
    dead.exit_within(Duration::from_secs(5));
    let started = dir.path().join("live");
    let mut live = stamper(&e.url, home.path(), "60", &name, &started);
    assert!(queued(e, &name, 2), "the live waiter never queued");
    let released = now_ns();
    std::fs::write(&go, "").unwrap();
    // The offer deletes the dead waiter's entry; kill the holder as soon as it shows (if
    // it has passed the offer on by then, the live waiter simply has the lock sooner).
    assert!(wait_until(Duration::from_secs(10), || e
        .keys(&prefix)
        .len()
        < 2));
    signal(a.id(), libc::SIGKILL);
    a.exit_within(Duration::from_secs(5));
    let got = stamp(&started, Duration::from_secs(20));
    let waited = Duration::from_nanos((got - released) as u64);
    assert!(
        waited < Duration::from_secs(8),
        "the live waiter got the lock {waited:?} after the release (the dead waiter's --ttl is 3 s, the holder's 60 s)"
    );
    assert_eq!(
        live.exit_within(Duration::from_secs(5)),
        Some(0),
        "{}",
        live.stderr()
    );
    assert!(e.keys(&format!("/tooz/locks{name}")).is_empty());
}

/// Hole 8: a waiter cancelled while its acquiring transaction is in flight (server
/// stopped) leaves no lock key, no queue entry and no lease once the server answers again.
#[test]
fn an_acquire_cancelled_in_flight_leaves_nothing() {
    let e = Etcd::start();
    let name = unique("e8");
    rt().block_on(async {
        let holder = connect(&e.url, "holder").await;
        let held = holder
            .acquire(&request(&name, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .expect("free");
        let c = connect(&e.url, "waiter").await;
        // A failed try keeps its lease for the next one: the next acquire sends its
        // transaction at once, with nothing to grant first.
        assert!(c
            .acquire(&request(&name, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .is_none());
        held.release().await.unwrap();
        holder.close().await.unwrap();
        e.pause();
        let req = request(&name, LockMode::Exclusive, Wait::Forever);
        let r = tokio::time::timeout(Duration::from_millis(300), c.acquire(&req)).await;
        assert!(r.is_err(), "answered while the server was stopped");
        let pid = e.pid;
        let resumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            signal(pid, libc::SIGCONT);
        });
        c.close().await.unwrap();
        resumer.join().unwrap();
    });
    assert!(
        e.keys(&format!("/tooz/locks{name}")).is_empty(),
        "lock key left"
    );
    assert!(e.keys("/toozctl/").is_empty(), "{:?}", e.keys("/toozctl/"));
    assert!(e.leases().is_empty(), "leases left: {:?}", e.leases());
}

/// Hole 7: a key deleted (and taken by another) behind our back, found only when we give
/// it back, is reported as a loss by `release()`.
#[test]
fn a_loss_found_at_release_is_a_loss() {
    let e = shared();
    let excl = unique("e7");
    let readers = unique("e7s");
    let sem = unique("e7l");
    rt().block_on(async {
        let c = connect(&e.url, "owner").await;
        let other = connect(&e.url, "other").await;
        let held = c
            .acquire(&request(&excl, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        e.ctl_ok(&["del", &format!("/tooz/locks{excl}")]);
        let theirs = other
            .acquire(&request(&excl, LockMode::Exclusive, Wait::Forever))
            .await
            .unwrap()
            .unwrap();
        let r = held.release().await;
        assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");
        theirs.release().await.unwrap();

        let held = c
            .acquire(&request(&readers, LockMode::Shared, Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        e.ctl_ok(&["del", &format!("/tooz/locks{readers}")]);
        let r = held.release().await;
        assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");

        let held = c
            .acquire(&request(&sem, LockMode::Limit(2), Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        e.ctl_ok(&["del", "--prefix", &format!("/toozctl/semaphores/{sem}/")]);
        let r = held.release().await;
        assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");

        // And a clean release is still clean.
        let held = c
            .acquire(&request(&excl, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        held.release().await.unwrap();
        c.close().await.unwrap();
        other.close().await.unwrap();
    });
}

/// Hole 4: fencing tokens are etcd revisions, kept in the data directory, so they keep
/// increasing across a restart.
#[test]
fn tokens_increase_across_a_restart() {
    let mut e = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let token = |e: &Etcd| -> u64 {
        let out = tz(
            &e.url,
            home.path(),
            &[
                "lock",
                "t4",
                "--",
                "sh",
                "-c",
                "echo $TOOZCTL_FENCING_TOKEN",
            ],
        )
        .stdout(Stdio::piped())
        .output()
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let before = token(&e);
    e.restart();
    let after = token(&e);
    assert!(
        after > before,
        "token {after} after the restart, {before} before"
    );
}

/// Hole 8 through the command: the waiter's retry after a deletion is in flight (the
/// server stopped right after delivering the deletion) when SIGINT arrives: exit 130, and
/// once the server answers again no lock key, queue entry or lease of the waiter is left.
#[test]
fn sigint_with_the_acquire_in_flight_exits_130_and_leaves_nothing() {
    let e = Etcd::start();
    let home = tempfile::tempdir().unwrap();
    let name = unique("e8cli");
    let key = format!("/tooz/locks{name}");
    // A foreign holder without a lease, so only the waiter owns leases.
    e.ctl_ok(&["put", &key, "someone"]);
    let mut w = spawn(
        &e.url,
        home.path(),
        &["lock", "-w", "60", &name, "--", "true"],
    );
    assert!(
        wait_until(Duration::from_secs(10), || e
            .keys(&format!("/toozctl/waiters/{name}/"))
            .len()
            == 1),
        "the waiter never queued"
    );
    // The deletion reaches the stopped waiter's socket; the server stops; the waiter then
    // reads it and sends its acquiring transaction to a server that does not answer.
    signal(w.id(), libc::SIGSTOP);
    e.ctl_ok(&["del", &key]);
    std::thread::sleep(Duration::from_millis(300));
    e.pause();
    signal(w.id(), libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(300));
    signal(w.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(700));
    e.resume();
    assert_eq!(
        w.exit_within(Duration::from_secs(10)),
        Some(130),
        "{}",
        w.stderr()
    );
    assert!(e.keys(&key).is_empty(), "the lock key was left");
    assert!(e.keys("/toozctl/").is_empty(), "{:?}", e.keys("/toozctl/"));
    assert!(e.leases().is_empty(), "leases left: {:?}", e.leases());
}

/// A lock a tooz client holds (a bare key under /tooz/locks, no holder record of ours) is
/// named once: "held by a tooz client", never "held by held by".
#[test]
fn a_tooz_holder_is_named_once() {
    let etcd = shared();
    let home = tempfile::tempdir().unwrap();
    let name = format!("tooz-named-{}", std::process::id());
    etcd.ctl_ok(&["put", &format!("/tooz/locks{name}"), "tooz-token"]);
    let out = tz(&etcd.url, home.path(), &["lock", "-n", &name, "--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("held by a tooz client"), "{err}");
    assert!(!err.contains("held by held by"), "{err}");
    etcd.ctl_ok(&["del", &format!("/tooz/locks{name}")]);
}
