//! A signal while waiting cancels cleanly (contract, "Supervision"): the waiter exits
//! 128+S and leaves nothing behind — no queue entry, and nothing an acquire still in
//! flight may have created — so the next contender gets the lock at once.

use std::time::Duration;

use super::faultkit::{read_pid, tree_command, Running};
use crate::support::fixture::{Fx, Kind};
use crate::support::wait_until;

crate::on_every_backend!(
    cancel_while_waiting_leaves_nothing,
    cancel_with_an_acquire_in_flight_leaves_nothing
);

/// Holder A holds; waiter B waits; the server is paused (backends with a server: B's
/// retries and its cancellation then meet a server that does not answer); SIGINT to B;
/// the server resumes; A lets go; a third `lock -n` must get the lock at once, and B
/// exited 130. On the file backend there is no server to pause: B is cancelled while
/// blocked in the wait, which must leave nothing either.
fn cancel_while_waiting_leaves_nothing(kind: Kind) {
    let fx = if kind.has_server() {
        Fx::private(kind, "cancel")
    } else {
        Fx::shared(kind, "cancel")
    };
    let name = fx.name("c");
    let pidfile = fx.home.path().join("a.pid");
    // A short grace keeps A's loss window (lease - grace - margin) well above the pause,
    // also on ZooKeeper's 4 s session.
    let mut a_args: Vec<String> = ["lock", "--kill-after", "0.5", &name, "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a_args.extend(tree_command(&pidfile, 60));
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut a = Running::spawn(fx.cmd(&a_args));
    read_pid(&pidfile, Duration::from_secs(15));
    let mut b = Running::spawn(fx.cmd(&["-v", "-m", "waiter-b", "lock", &name, "--", "true"]));
    assert!(
        b.wait_for("waiting for lock", Duration::from_secs(15)),
        "{}: B never waited: {}",
        kind.name(),
        b.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    if kind.has_server() {
        fx.pause();
        // Long enough for B's periodic retry (Redis: at most 1 s apart) to be sent into
        // the paused server.
        std::thread::sleep(Duration::from_millis(1200));
    }
    b.signal(libc::SIGINT);
    if kind.has_server() {
        std::thread::sleep(Duration::from_millis(300));
        fx.resume();
    }
    let (code, err) = b
        .exit_within(Duration::from_secs(20))
        .expect("B ends after SIGINT");
    assert_eq!(code, 130, "{}: B: {err}", kind.name());
    a.signal(libc::SIGTERM);
    let (code, err) = a.exit_within(Duration::from_secs(20)).expect("A ends");
    assert_eq!(code, 143, "{}: A: {err}", kind.name());
    let mut c = Running::spawn(fx.cmd(&["lock", "-n", &name, "--", "true"]));
    let (code, err) = c.exit_within(Duration::from_secs(20)).expect("C ends");
    assert_eq!(
        code,
        0,
        "{}: B's cancelled wait left something behind: {err}",
        kind.name()
    );
}

/// The lease backends: A holds with a short lease; B waits; the server is paused for
/// longer than A's lease, so B's next try reaches a server on which A's lock is about to
/// be free (A itself stops COMMAND and exits 3 before its lease could run out); SIGINT to B
/// while that try is unanswered; the server resumes and runs B's try, which takes the lock
/// for a B that is gone. B must remove it (a compare-and-delete queued behind its try)
/// before exiting 130: a third `lock -n` gets the lock at once.
fn cancel_with_an_acquire_in_flight_leaves_nothing(kind: Kind) {
    match kind {
        // No server, no lease: nothing can be in flight (the scenario above covers it).
        Kind::File | Kind::Ipc => return,
        // A's lease is its session, and so is B's: a pause long enough for A's session to
        // run out expires B's too, and the server deletes B's ephemeral nodes itself. (An
        // unanswered create cancelled inside a live session is the ZooKeeper backend's
        // own test.)
        Kind::Zookeeper => return,
        // No lease: a paused server ends no session, so A never loses its lock and B's
        // try is never granted; a cancelled B's session closes with B and the server
        // frees whatever its unanswered GET_LOCK would have taken (the MySQL file's test).
        Kind::Mysql | Kind::Postgres => return,
        Kind::Redis | Kind::Etcd | Kind::Memcached => {}
    }
    let fx = Fx::private(kind, "inflight");
    let name = fx.name("f");
    let (ttl, lease): (&[&str], Duration) = (&["--ttl", "2"], Duration::from_secs(2));
    let pidfile = fx.home.path().join("a.pid");
    let mut a_args: Vec<String> = vec!["lock".into()];
    a_args.extend(ttl.iter().map(|s| s.to_string()));
    a_args.extend([name.clone(), "--".into()]);
    a_args.extend(tree_command(&pidfile, 60));
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut a = Running::spawn(fx.cmd(&a_args));
    read_pid(&pidfile, Duration::from_secs(15));
    let mut b = Running::spawn(fx.cmd(&["-v", "-m", "waiter-b", "lock", &name, "--", "true"]));
    assert!(
        b.wait_for("waiting for lock", Duration::from_secs(15)),
        "{}: B never waited: {}",
        kind.name(),
        b.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    fx.pause();
    // A gives up before its lease ends (its renewals go unanswered).
    let (code, err) = a
        .exit_within(lease + Duration::from_secs(10))
        .expect("A stops COMMAND before its lease runs out");
    assert_eq!(code, 3, "{}: A: {err}", kind.name());
    // Past A's lease on the server's clock, with B's next try sent and unanswered.
    std::thread::sleep(lease + Duration::from_millis(1200));
    b.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    fx.resume();
    let (code, err) = b
        .exit_within(Duration::from_secs(20))
        .expect("B ends after SIGINT");
    assert_eq!(code, 130, "{}: B: {err}", kind.name());
    // Whatever A's lease left must be gone by now on the server's clock; give a
    // backend that frees on resume (etcd's lessor) a moment, but far less than B's 30 s lease.
    let mut last = String::new();
    let free = wait_until(Duration::from_secs(5), || {
        let mut c = Running::spawn(fx.cmd(&["lock", "-n", &name, "--", "true"]));
        match c.exit_within(Duration::from_secs(20)) {
            Some((0, _)) => true,
            Some((_, e)) => {
                last = e;
                false
            }
            None => false,
        }
    });
    assert!(
        free,
        "{}: the cancelled waiter's in-flight acquire left the lock taken: {last}",
        kind.name()
    );
}
