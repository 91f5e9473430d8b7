//! ZooKeeper: the session's close goes right behind the last release (issue 13).
//!
//! `lock`, `elect` and `group join` ask nothing of the backend after giving everything back
//! but its close, so the last release lets the session go as soon as its read and delete
//! are sent: the client library writes closeSession behind them without waiting for any
//! answer. The tests see it on the wire: toozctl talks to the server through a proxy that
//! logs the requests toozctl sends and, from a chosen read on (the release's, or the
//! holder's watch on its node), holds back every answer until closeSession has come (or a
//! few seconds passed). Before the change the close came only after the release's answer
//! and the supervisor's clean-up, so it never came while the answers were held. The proxy
//! holds answers, not time: no bound here is tight.
//!
//! Also: a loss found by the last release is still reported, and the session's ephemeral
//! record is gone as soon as toozctl has exited (closed, not left to expire).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::etcd_faults::{connect, request, rt};
use crate::support::fixture::{Fx, Kind};
use crate::support::zookeeper::Zk;
use toozctl::coordination::{Error, LockMode, Wait};

const DELETE: i32 = 2;
const EXISTS: i32 = 3;
const CLOSE_SESSION: i32 = -11;

/// One request toozctl sent: its opcode, its path (when it has one), whether answers
/// were being held back when it came.
#[derive(Debug, Clone)]
struct Sent {
    op: i32,
    path: String,
    while_held: bool,
}

#[derive(Default)]
struct State {
    sent: Vec<Sent>,
    /// Reads under the trigger prefix seen so far (see [`Trigger`]).
    reads: usize,
    held: bool,
    /// Answers flow again (closeSession seen, or the proxy gave up waiting for it).
    freed: bool,
}

/// From which request on the proxy holds back answers: the `nth` `exists` of a path under
/// `prefix/`, counting only reads without a watch (a release's check) unless `watches` is
/// set (then also the holder's own watch on its node, set right after the acquire).
#[derive(Clone)]
struct Trigger {
    prefix: String,
    nth: usize,
    watches: bool,
}

/// A TCP proxy in front of ZooKeeper that logs the client's requests and, from the
/// [`Trigger`]'s request on, holds back every answer to the client until closeSession
/// arrives or `patience` passes.
struct Proxy {
    port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Proxy {
    fn start(server: u16, trigger: Trigger, patience: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", server)) else {
                    return;
                };
                let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (st1, st2, trigger) = (st.clone(), st.clone(), trigger.clone());
                std::thread::spawn(move || requests(client, upstream, &st1, &trigger));
                std::thread::spawn(move || answers(u2, c2, &st2, patience));
            }
        });
        Proxy { port, state }
    }

    fn url(&self, ns: &str, timeout: u32) -> String {
        format!(
            "zookeeper://127.0.0.1:{}?namespace={ns}&timeout={timeout}",
            self.port
        )
    }

    fn sent(&self) -> Vec<Sent> {
        self.state.0.lock().unwrap().sent.clone()
    }
}

/// A ZooKeeper string: length, then bytes.
fn zk_string(body: &[u8]) -> Option<(String, &[u8])> {
    let n = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let n = usize::try_from(n).ok()?;
    let s = body.get(4..4 + n)?;
    Some((String::from_utf8_lossy(s).into_owned(), &body[4 + n..]))
}

/// Client to server: forwards frame by frame, deciding before each one is forwarded
/// whether answers are held from then on (so that its own answer is held too).
fn requests(
    mut client: TcpStream,
    mut upstream: TcpStream,
    st: &(Mutex<State>, Condvar),
    trigger: &Trigger,
) {
    let mut first = true;
    loop {
        let mut len = [0u8; 4];
        if client.read_exact(&mut len).is_err() {
            let _ = upstream.shutdown(std::net::Shutdown::Write);
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if client.read_exact(&mut frame).is_err() {
            return;
        }
        if !std::mem::take(&mut first) && frame.len() >= 8 {
            let op = i32::from_be_bytes(frame[4..8].try_into().unwrap());
            let (path, rest) = zk_string(&frame[8..]).unwrap_or_default();
            let (lock, cv) = st;
            let mut s = lock.lock().unwrap();
            let under = path.starts_with(&format!("{}/", trigger.prefix));
            if op == EXISTS && under && (trigger.watches || rest.first() == Some(&0)) {
                s.reads += 1;
                if s.reads == trigger.nth {
                    s.held = true;
                }
            }
            let while_held = s.held && !s.freed;
            s.sent.push(Sent {
                op,
                path,
                while_held,
            });
            if op == CLOSE_SESSION {
                s.freed = true;
                cv.notify_all();
            }
        }
        if upstream.write_all(&len).is_err() || upstream.write_all(&frame).is_err() {
            return;
        }
    }
}

/// Server to client, held back while the state says so (at most `patience` each time).
fn answers(
    mut upstream: TcpStream,
    mut client: TcpStream,
    st: &(Mutex<State>, Condvar),
    patience: Duration,
) {
    let mut buf = [0u8; 65536];
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = client.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => n,
        };
        {
            let (lock, cv) = st;
            let mut s = lock.lock().unwrap();
            let until = Instant::now() + patience;
            while s.held && !s.freed {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    s.freed = true;
                    break;
                }
                s = cv.wait_timeout(s, left).unwrap().0;
            }
        }
        if client.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// The run's requests up to and including closeSession, and whether the close came while
/// the answers to the release were still held back. Before the change no close came in
/// that window: toozctl waited for an answer the proxy held until it gave up waiting, and
/// by then the client library had given the connection up (no close sent at all).
fn close_of(sent: &[Sent]) -> (&[Sent], bool) {
    match sent.iter().position(|s| s.op == CLOSE_SESSION) {
        Some(at) => (&sent[..=at], sent[at].while_held),
        None => (sent, false),
    }
}

fn run(fx: &Fx, url: &str, args: &[&str]) -> (i32, String) {
    let out = fx
        .cmd_on(url, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run toozctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The session records (`/NS/locks/.toozctl/<session>`) of this test's namespace: one per
/// live toozctl session that took something, ephemeral.
fn records(fx: &Fx) -> Vec<String> {
    fx.zk_children("locks/.toozctl")
        .into_iter()
        .filter(|c| c != "clock" && c != "last-success")
        .collect()
}

/// `lock NAME -- true`: closeSession goes out right behind the release's delete, before
/// any answer to the release, and the exit is still clean (0, nothing left behind).
/// Answers are held from the holder's first read of its node on, usually the watch it sets
/// right after the acquire, still unanswered when a COMMAND as short as `true` is done:
/// the task setting it must not hold the close back either.
#[test]
fn the_close_follows_the_lock_release_without_waiting_for_its_answers() {
    let fx = Fx::shared(Kind::Zookeeper, "zkclose").zk_timeout(10);
    let name = fx.name("x");
    let dir = format!("/{}/locks/{name}", fx.ns);
    // Once without the proxy: the lock's directory (and the session records') exist
    // from then on, so the acquire below is the one-round-trip path, which reads no
    // node of the lock before the release but the holder's watch.
    let (rc, err) = run(&fx, &fx.url(), &["lock", &name, "--", "true"]);
    assert_eq!(rc, 0, "{err}");
    let trigger = Trigger {
        prefix: dir.clone(),
        nth: 1,
        watches: true,
    };
    let proxy = Proxy::start(Zk::shared().port, trigger, Duration::from_secs(5));
    let (rc, err) = run(&fx, &proxy.url(&fx.ns, 10), &["lock", &name, "--", "true"]);
    assert_eq!(rc, 0, "{err}");
    let sent = proxy.sent();
    let (upto, while_held) = close_of(&sent);
    assert!(
        while_held,
        "no closeSession sent before the release's answers: {upto:#?}"
    );
    // The delete of our node went before the close.
    let del = upto.iter().filter(|s| s.op == DELETE).collect::<Vec<_>>();
    assert_eq!(del.len(), 1, "{upto:#?}");
    assert!(del[0].path.starts_with(&format!("{dir}/")), "{upto:#?}");
    assert!(!fx.lock_exists(&name));
    assert!(records(&fx).is_empty(), "{:?}", records(&fx));
}

/// `elect` holds two nodes (membership, then leadership) and gives them back last taken
/// first: the close goes behind the second delete only, and both nodes are gone.
#[test]
fn the_close_follows_the_last_of_elects_two_releases() {
    let fx = Fx::shared(Kind::Zookeeper, "zkclose").zk_timeout(10);
    let group = fx.name("g");
    let gdir = format!("/{}/{group}", fx.ns);
    // The second release's read: the first release waits for its own answer.
    let trigger = Trigger {
        prefix: gdir.clone(),
        nth: 2,
        watches: false,
    };
    let proxy = Proxy::start(Zk::shared().port, trigger, Duration::from_secs(5));
    let url = proxy.url(&fx.ns, 10);
    let (rc, err) = run(&fx, &url, &["-m", "m1", "elect", &group, "--", "true"]);
    assert_eq!(rc, 0, "{err}");
    let sent = proxy.sent();
    let (upto, while_held) = close_of(&sent);
    assert!(
        while_held,
        "no closeSession sent before the last release's answers: {upto:#?}"
    );
    let deleted: Vec<&str> = upto
        .iter()
        .filter(|s| s.op == DELETE)
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(deleted.len(), 2, "{upto:#?}");
    assert!(
        deleted[0].starts_with(&format!("{gdir}/leader/")),
        "{deleted:?}"
    );
    assert_eq!(deleted[1], format!("{gdir}/m1"), "{deleted:?}");
    // The first release's answer was awaited (not held): only the last one's are.
    let first = upto.iter().position(|s| s.op == DELETE).unwrap();
    assert!(!upto[first].while_held, "{upto:#?}");
    let members = fx.zk_children(&group);
    assert!(
        members.iter().all(|m| m == "leader"),
        "member left behind: {members:?}"
    );
    assert!(fx.zk_children(&format!("{group}/leader")).is_empty());
    assert!(records(&fx).is_empty(), "{:?}", records(&fx));
}

/// `lock --once-per`: the success is recorded before the release (still under the lock),
/// then the close follows the release as for any lock; the next run within the period
/// does not run COMMAND.
#[test]
fn once_per_records_its_run_and_the_close_still_follows_the_release() {
    let fx = Fx::shared(Kind::Zookeeper, "zkclose").zk_timeout(10);
    let name = fx.name("op");
    let dir = format!("/{}/locks/{name}", fx.ns);
    // The release's read: the success is recorded (and answered) before it.
    let trigger = Trigger {
        prefix: dir,
        nth: 1,
        watches: false,
    };
    let proxy = Proxy::start(Zk::shared().port, trigger, Duration::from_secs(5));
    let url = proxy.url(&fx.ns, 10);
    let (rc, err) = run(
        &fx,
        &url,
        &["lock", "--once-per", "1h", &name, "--", "true"],
    );
    assert_eq!(rc, 0, "{err}");
    let sent = proxy.sent();
    let (upto, while_held) = close_of(&sent);
    assert!(
        while_held,
        "no closeSession sent before the release's answers: {upto:#?}"
    );
    let ran = fx.home.path().join("ran");
    let (rc, err) = run(
        &fx,
        &fx.url(),
        &[
            "lock",
            "--once-per",
            "1h",
            &name,
            "--",
            "touch",
            ran.to_str().unwrap(),
        ],
    );
    assert_ne!(rc, 0, "ran again within the period: {err}");
    assert!(!ran.exists(), "COMMAND ran again within the period");
    assert!(!fx.lock_exists(&name));
}

/// The last release still reports a loss found at release (the node deleted behind our
/// back and the lock taken by another), and `close` still ends the session: its record
/// is gone at once, not at the session's expiry.
#[test]
fn the_last_release_still_reports_a_loss_and_close_ends_the_session() {
    let fx = Fx::shared(Kind::Zookeeper, "zkclose").zk_timeout(10);
    let url = fx.url();
    let name = fx.name("lost");
    rt().block_on(async {
        let c = connect(&url, "owner").await;
        let other = connect(&url, "other").await;
        let held = c
            .acquire(&request(&name, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        fx.delete_lock(&name);
        let theirs = other
            .acquire(&request(&name, LockMode::Exclusive, Wait::Forever))
            .await
            .unwrap()
            .unwrap();
        let r = held.release_last().await;
        assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");
        c.close().await.unwrap();
        // Only the other session's record is left, and the other holds the lock still.
        assert_eq!(records(&fx).len(), 1, "{:?}", records(&fx));
        assert!(fx.lock_exists(&name));
        theirs.release_last().await.unwrap();
        other.close().await.unwrap();
        assert!(records(&fx).is_empty(), "{:?}", records(&fx));
        assert!(!fx.lock_exists(&name));
    });
}
