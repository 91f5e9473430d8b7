//! Failover on a 3-node etcd cluster and a 3-server ZooKeeper ensemble: the node toozctl
//! talks to is killed with -9, or a follower it talks to is stopped, while COMMAND runs.
//! Whatever happens to our hold, a second contender must never run while our COMMAND
//! does: either the lease or session survives the failover (COMMAND runs on, exit 0), or
//! toozctl stops COMMAND and exits 3 before anyone else can acquire.

use std::path::Path;
use std::time::Duration;

use crate::etcd_faults::{spawn, stamp, Kid};
use crate::support::cluster::{EtcdCluster, ZkEnsemble};
use crate::support::{python, wait_until};

/// COMMAND for our holder: stamps START, runs `secs`, stamps END when it ends, also on
/// SIGTERM (at most 0.1 s later).
fn ours(dir: &Path, secs: u32) -> String {
    format!(
        "trap 'date +%s%N > {end}; exit 0' TERM; date +%s%N > {start}; i=0; \
         while [ $i -lt {n} ]; do sleep 0.1; i=$((i+1)); done; date +%s%N > {end}",
        start = dir.join("start").display(),
        end = dir.join("end").display(),
        n = secs * 10
    )
}

/// COMMAND for the second contender: stamps when it starts.
fn theirs(dir: &Path) -> String {
    format!("date +%s%N > {}", dir.join("theirs").display())
}

/// `toozctl lock OPTS NAME` whose COMMAND holds until the file `go` appears: the test
/// decides to the moment when COMMAND ends.
fn hold_until(url: &str, home: &Path, opts: &[&str], name: &str, go: &Path) -> Kid {
    let script = format!("while [ ! -e {} ]; do sleep 0.01; done", go.display());
    let mut args = vec!["lock"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[name, "--", "sh", "-c", &script]);
    spawn(url, home, &args)
}

/// Our holder's exit status, then: the contender got the lock only after our COMMAND
/// ended.
fn no_overlap(dir: &Path, mine: &mut Kid, contender: &mut Kid) -> Option<i32> {
    let code = mine.exit_within(Duration::from_secs(30));
    assert!(
        matches!(code, Some(0) | Some(3)),
        "ours: {code:?} {}",
        mine.stderr()
    );
    assert_eq!(
        contender.exit_within(Duration::from_secs(40)),
        Some(0),
        "the contender: {}",
        contender.stderr()
    );
    let end = stamp(&dir.join("end"), Duration::ZERO);
    let started = stamp(&dir.join("theirs"), Duration::ZERO);
    assert!(
        started > end,
        "the contender started {} ms before our COMMAND ended",
        (end - started) / 1_000_000
    );
    code
}

#[test]
fn etcd_kill9_of_the_leader_fails_over_without_a_loss() {
    let c = EtcdCluster::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leader = c.leader().expect("a leader");
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    // toozctl balances over every endpoint that answers: the leader, listed first, is
    // one it talks to, and the one every lease keep-alive ends up at.
    let url = c.url(&[leader, others[0], others[1]]);
    let mut mine = spawn(
        &url,
        home.path(),
        &[
            "lock",
            "--ttl",
            "10",
            "--kill-after",
            "2",
            "failover",
            "--",
            "sh",
            "-c",
            &ours(dir.path(), 8),
        ],
    );
    stamp(&dir.path().join("start"), Duration::from_secs(10));
    c.kill(leader);
    // A contender started during the election would only be told "unavailable" (69).
    assert!(
        wait_until(Duration::from_secs(15), || c.leader().is_some()),
        "no new leader"
    );
    let mut contender = spawn(
        &c.url(&others),
        home.path(),
        &[
            "lock",
            "-w",
            "40",
            "failover",
            "--",
            "sh",
            "-c",
            &theirs(dir.path()),
        ],
    );
    let code = no_overlap(dir.path(), &mut mine, &mut contender);
    // The lease lives in the cluster, and a new leader extends every lease: no loss.
    assert_eq!(code, Some(0), "{}", mine.stderr());
    assert!(c.keys(&others, "/tooz/locksfailover").is_empty());
}

/// The cluster fixture's own faults, as the torture run uses them: a member killed with -9
/// and started again (same data directory, same ports) rejoins and catches up with what
/// was written while it was down; then the leader is restarted (SIGTERM, start) while a
/// lock is held through the members, and the hold rides it out.
#[test]
fn etcd_a_member_cut_and_started_again_catches_up() {
    let c = EtcdCluster::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leader = c.leader().expect("a leader");
    let cut = (leader + 1) % 3;
    let old_pid = c.node(cut).pid();
    c.kill(cut);
    assert!(!c.node(cut).alive());
    let others: Vec<usize> = (0..3).filter(|i| *i != cut).collect();
    let mut mine = spawn(
        &c.url(&others),
        home.path(),
        &[
            "lock",
            "--ttl",
            "10",
            "--kill-after",
            "2",
            "catchup",
            "--",
            "sh",
            "-c",
            &ours(dir.path(), 8),
        ],
    );
    stamp(&dir.path().join("start"), Duration::from_secs(10));
    assert!(
        c.start_node(cut, Duration::from_secs(30)),
        "member {cut} did not serve again"
    );
    assert_ne!(c.node(cut).pid(), old_pid);
    assert!(
        wait_until(Duration::from_secs(10), || c
            .local_keys(cut, "/tooz/lockscatchup")
            .contains(&"/tooz/lockscatchup".to_string())),
        "member {cut} never got the lock written while it was down"
    );
    let leader = c.leader().expect("a leader after the rejoin");
    assert!(
        c.restart(leader, Duration::from_secs(30)),
        "the leader did not serve again after its restart"
    );
    assert_eq!(
        mine.exit_within(Duration::from_secs(30)),
        Some(0),
        "{}",
        mine.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || (0..3)
            .all(|i| c.local_keys(i, "/tooz/lockscatchup").is_empty())),
        "a member still has the lock after its release"
    );
}

/// COMMAND ends just as the leader toozctl talks to is killed with -9, round after round:
/// the member the release goes to waits for a leader that is gone (etcd holds such a
/// request 7 s, then answers "request timed out"), or the connection it went on is cut.
/// The release must go again to a member that answers once a new leader is elected and
/// give everything back before toozctl exits 0 — not warn, exit, and leave the key to
/// its lease's expiry — and a queued waiter takes the lock after it and gives it back.
#[test]
fn etcd_a_release_racing_a_leader_kill_gives_everything_back() {
    let c = EtcdCluster::start();
    let home = tempfile::tempdir().unwrap();
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let leader = c.leader().expect("a leader");
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let go = dir.path().join("go");
        let mut mine = hold_until(
            &c.url(&[leader, others[0], others[1]]),
            home.path(),
            &["--ttl", "20", "--kill-after", "2"],
            "leaderdown",
            &go,
        );
        assert!(
            wait_until(Duration::from_secs(10), || !c
                .keys(&others, "/tooz/locksleaderdown")
                .is_empty()),
            "round {round}: the lock was never taken: {}",
            mine.stderr()
        );
        // A waiter queued through the same members takes the lock after us, whichever
        // member its requests meet.
        let mut next = spawn(
            &c.url(&[leader, others[0], others[1]]),
            home.path(),
            &["lock", "-w", "30", "leaderdown", "--", "true"],
        );
        assert!(
            wait_until(Duration::from_secs(10), || !c
                .keys(&others, "/toozctl/waiters/leaderdown/")
                .is_empty()),
            "round {round}: the waiter never queued: {}",
            next.stderr()
        );
        c.kill(leader);
        std::fs::write(&go, "").unwrap();
        let code = mine.exit_within(Duration::from_secs(30));
        let err = mine.stderr();
        assert_eq!(code, Some(0), "round {round}: the release: {err}");
        assert!(err.is_empty(), "round {round}: the release: {err}");
        let code = next.exit_within(Duration::from_secs(30));
        let err = next.stderr();
        // Read at once: a lease of 20 s would hide a failed release for that long.
        let mut left = c.keys(&others, "/tooz/locksleaderdown");
        left.extend(c.keys(&others, "/toozctl/waiters/leaderdown/"));
        assert_eq!(code, Some(0), "round {round}: the waiter: {err}");
        assert!(
            left.is_empty() && err.is_empty(),
            "round {round}: {left:?} still there after the waiter's release; stderr: {err}"
        );
        assert!(
            c.start_node(leader, Duration::from_secs(30)),
            "round {round}: member {leader} did not serve again"
        );
    }
    // A reader of a shared lock, the last one out, deletes the marker as it leaves.
    for round in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let leader = c.leader().expect("a leader");
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let go = dir.path().join("go");
        let mut mine = hold_until(
            &c.url(&[leader, others[0], others[1]]),
            home.path(),
            &["--shared", "--ttl", "20", "--kill-after", "2"],
            "readersdown",
            &go,
        );
        assert!(
            wait_until(Duration::from_secs(10), || !c
                .keys(&others, "/tooz/locksreadersdown")
                .is_empty()),
            "shared round {round}: the lock was never taken: {}",
            mine.stderr()
        );
        c.kill(leader);
        std::fs::write(&go, "").unwrap();
        let code = mine.exit_within(Duration::from_secs(30));
        let err = mine.stderr();
        let mut left = c.keys(&others, "/tooz/locksreadersdown");
        left.extend(c.keys(&others, "/toozctl/readers/readersdown/"));
        assert_eq!(code, Some(0), "shared round {round}: the release: {err}");
        assert!(
            left.is_empty() && err.is_empty(),
            "shared round {round}: {left:?} still there after the release; stderr: {err}"
        );
        assert!(
            c.start_node(leader, Duration::from_secs(30)),
            "shared round {round}: member {leader} did not serve again"
        );
    }
}

/// A follower toozctl talks to stopped for `stop_secs` while we hold with `ttl`.
fn etcd_stopped_follower(ttl: &str, kill_after: &str, stop_secs: u64) -> Option<i32> {
    let c = EtcdCluster::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leader = c.leader().expect("a leader");
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let stopped = followers[0];
    let mut mine = spawn(
        &c.url(&[stopped, leader, followers[1]]),
        home.path(),
        &[
            "lock",
            "--ttl",
            ttl,
            "--kill-after",
            kill_after,
            "stalled",
            "--",
            "sh",
            "-c",
            &ours(dir.path(), 8),
        ],
    );
    stamp(&dir.path().join("start"), Duration::from_secs(10));
    c.pause(stopped);
    let mut contender = spawn(
        &c.url(&[leader, followers[1]]),
        home.path(),
        &[
            "lock",
            "-w",
            "40",
            "stalled",
            "--",
            "sh",
            "-c",
            &theirs(dir.path()),
        ],
    );
    wait_until(Duration::from_secs(stop_secs), || {
        matches!(mine.0.try_wait(), Ok(Some(_)))
    });
    c.resume(stopped);
    no_overlap(dir.path(), &mut mine, &mut contender)
}

/// Stopped for longer than a short lease: whether or not toozctl gets its keep-alives
/// through the others in time, no contender runs beside our COMMAND (both outcomes seen:
/// exit 0, or exit 3 with COMMAND stopped early).
#[test]
fn etcd_a_stopped_follower_never_makes_the_deadline_late() {
    etcd_stopped_follower("4", "1", 6);
}

/// With a lease of 10 s the stalled member is left behind (HTTP/2 keep-alive, about 4 s)
/// well before the deadline: no loss.
#[test]
fn etcd_a_stopped_follower_is_ridden_out_with_a_longer_lease() {
    let code = etcd_stopped_follower("10", "2", 6);
    assert_eq!(code, Some(0), "a 6 s stall of one member cost a 10 s lease");
}

/// The session id (hex) of the only toozctl session that recorded itself under `ns`.
fn session_of(z: &ZkEnsemble, ns: &str) -> String {
    let code = "import sys\nfrom kazoo.client import KazooClient\n\
                k=KazooClient(sys.argv[1]);k.start()\n\
                print(' '.join(k.get_children(sys.argv[2])));k.stop()";
    let hosts = (0..3)
        .map(|i| format!("127.0.0.1:{}", z.node(i).port))
        .collect::<Vec<_>>()
        .join(",");
    let (rc, out, err) = python(code, &[&hosts, &format!("/{ns}/locks/.toozctl")]);
    assert_eq!(rc, 0, "{err}");
    let ids: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(ids.len(), 1, "{out}");
    ids[0].to_string()
}

#[test]
fn zookeeper_kill9_of_our_server_fails_over_without_a_loss() {
    let z = ZkEnsemble::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut mine = spawn(
        &z.url(&[0, 1, 2], "kill9", 6),
        home.path(),
        &[
            "lock",
            "--kill-after",
            "1",
            "failover",
            "--",
            "sh",
            "-c",
            &ours(dir.path(), 10),
        ],
    );
    stamp(&dir.path().join("start"), Duration::from_secs(20));
    let sid = session_of(&z, "kill9");
    let ours_at = z
        .server_of(&sid)
        .expect("our session on one of the servers");
    z.kill(ours_at);
    let others: Vec<usize> = (0..3).filter(|i| *i != ours_at).collect();
    // A contender started during an election would only be told "unavailable" (69).
    assert!(
        wait_until(Duration::from_secs(20), || {
            let modes: Vec<Option<String>> = others.iter().map(|i| z.mode(*i)).collect();
            modes.iter().all(Option::is_some) && modes.contains(&Some("leader".to_string()))
        }),
        "the other two never served again under a leader"
    );
    let mut contender = spawn(
        &z.url(&others, "kill9", 6),
        home.path(),
        &[
            "lock",
            "-w",
            "40",
            "failover",
            "--",
            "sh",
            "-c",
            &theirs(dir.path()),
        ],
    );
    let code = no_overlap(dir.path(), &mut mine, &mut contender);
    // The session moves to another server within its timeout: no loss.
    assert_eq!(code, Some(0), "{}", mine.stderr());
}

/// The ZooKeeper side of the etcd test above: COMMAND ends just as the server our
/// session is on is killed with -9. The session moves to another server; the release
/// must follow it there and delete our node before toozctl exits 0.
#[test]
fn zookeeper_a_release_racing_a_kill_of_our_server_gives_everything_back() {
    let z = ZkEnsemble::start();
    let home = tempfile::tempdir().unwrap();
    let hosts = (0..3)
        .map(|i| format!("127.0.0.1:{}", z.node(i).port))
        .collect::<Vec<_>>()
        .join(",");
    let nodes = |name: &str| {
        let code = "import sys\nfrom kazoo.client import KazooClient\n\
                    k=KazooClient(sys.argv[1]);k.start(timeout=15)\n\
                    p=sys.argv[2]\n\
                    print(' '.join(k.get_children(p)) if k.exists(p) else '');k.stop()";
        let (rc, out, err) = python(code, &[&hosts, &format!("/zkrel/locks/{name}")]);
        assert_eq!(rc, 0, "{err}");
        out.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for round in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let name = format!("gone{round}");
        let mut mine = hold_until(
            &z.url(&[0, 1, 2], "zkrel", 10),
            home.path(),
            &["--kill-after", "1"],
            &name,
            &go,
        );
        assert!(
            wait_until(Duration::from_secs(20), || !nodes(&name).is_empty()),
            "round {round}: the lock was never taken: {}",
            mine.stderr()
        );
        let sid = session_of(&z, "zkrel");
        let ours_at = z.server_of(&sid).expect("our session on a server");
        z.kill(ours_at);
        std::fs::write(&go, "").unwrap();
        let code = mine.exit_within(Duration::from_secs(30));
        let err = mine.stderr();
        let left = nodes(&name);
        assert_eq!(code, Some(0), "round {round}: the release: {err}");
        assert!(
            left.is_empty() && err.is_empty(),
            "round {round}: {left:?} still there after the release; stderr: {err}"
        );
        assert!(
            z.start_node(ours_at, Duration::from_secs(30)),
            "round {round}: server {ours_at} did not serve again"
        );
    }
}

/// The follower our session is on stopped for `stop_secs`, with sessions of `timeout` s.
fn zk_stopped_follower(timeout: u32, stop_secs: u64) -> Option<i32> {
    let z = ZkEnsemble::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leader = z.leader().expect("a leader");
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    // Only followers in our URL: the server we talk to is a follower.
    let mut mine = spawn(
        &z.url(&followers, "stop", timeout),
        home.path(),
        &[
            "lock",
            "--kill-after",
            "1",
            "stalled",
            "--",
            "sh",
            "-c",
            &ours(dir.path(), 10),
        ],
    );
    stamp(&dir.path().join("start"), Duration::from_secs(20));
    let sid = session_of(&z, "stop");
    let ours_at = z.server_of(&sid).expect("our session on a follower");
    assert_ne!(ours_at, leader);
    z.pause(ours_at);
    let others: Vec<usize> = (0..3).filter(|i| *i != ours_at).collect();
    let mut contender = spawn(
        &z.url(&others, "stop", timeout),
        home.path(),
        &[
            "lock",
            "-w",
            "40",
            "stalled",
            "--",
            "sh",
            "-c",
            &theirs(dir.path()),
        ],
    );
    wait_until(Duration::from_secs(stop_secs), || {
        matches!(mine.0.try_wait(), Ok(Some(_)))
    });
    z.resume(ours_at);
    no_overlap(dir.path(), &mut mine, &mut contender)
}

/// Stopped for longer than the session: no contender runs beside our COMMAND (both
/// outcomes seen: exit 0 after moving in time, or exit 3 with COMMAND stopped before the
/// session could expire).
#[test]
fn zookeeper_a_stopped_follower_never_makes_the_deadline_late() {
    zk_stopped_follower(4, 7);
}

/// With sessions of 10 s the client moves to the other follower in time: no loss.
#[test]
fn zookeeper_a_stopped_follower_is_ridden_out_with_a_longer_session() {
    let code = zk_stopped_follower(10, 7);
    assert_eq!(
        code,
        Some(0),
        "a 7 s stall of our server cost a 10 s session"
    );
}
