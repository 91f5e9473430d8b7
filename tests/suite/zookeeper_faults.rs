//! ZooKeeper under the faults of issue 11: a cancellation while the queue node's create is
//! in flight, a loss found only at release, and fencing tokens (czxids) across a restart.

use std::time::Duration;

use crate::etcd_faults::{connect, request, rt, tz};
use crate::support::fixture::{Fx, Kind};
use crate::support::python;
use toozctl::coordination::{Error, LockMode, Wait};

/// The children of a znode (empty when it does not exist), read with kazoo.
fn children(port: u16, path: &str) -> Vec<String> {
    let code = "import sys\nfrom kazoo.client import KazooClient\n\
                k=KazooClient(sys.argv[1]);k.start()\n\
                print(' '.join(k.get_children(sys.argv[2]) if k.exists(sys.argv[2]) else []));k.stop()";
    let (rc, out, err) = python(code, &[&format!("127.0.0.1:{port}"), path]);
    assert_eq!(rc, 0, "{err}");
    out.split_whitespace().map(str::to_string).collect()
}

fn port_of(url: &str) -> u16 {
    let rest = url.split("127.0.0.1:").nth(1).unwrap();
    rest[..rest.find('?').unwrap()].parse().unwrap()
}

/// Hole 8: the create of our queue node was sent while the server was stopped and the
/// wait cancelled before the answer: once the server answers, the node is removed by our
/// own session (not left to the session's end), and nothing is left after close.
#[test]
fn an_acquire_cancelled_in_flight_leaves_nothing() {
    let fx = Fx::private(Kind::Zookeeper, "zk8");
    let url = fx.url();
    let port = port_of(&url);
    let name = fx.name("inflight");
    let dir = format!("/{}/locks/{name}", fx.ns);
    rt().block_on(async {
        let holder = connect(&url, "holder").await;
        let held = holder
            .acquire(&request(&name, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .expect("free");
        let c = connect(&url, "waiter").await;
        fx.pause();
        let req = request(&name, LockMode::Exclusive, Wait::Forever);
        let r = tokio::time::timeout(Duration::from_millis(300), c.acquire(&req)).await;
        assert!(r.is_err(), "answered while the server was stopped");
        tokio::time::sleep(Duration::from_millis(700)).await;
        fx.resume();
        // The session lives on: our node must go by our own delete, while we still run.
        // (Checked off the runtime's thread: the clients' sessions must go on meanwhile.)
        let mut left = Vec::new();
        for _ in 0..50 {
            let d = dir.clone();
            left = tokio::task::spawn_blocking(move || children(port, &d))
                .await
                .unwrap();
            if left.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left.len(), 1, "left behind: {left:?}");
        held.release().await.unwrap();
        holder.close().await.unwrap();
        c.close().await.unwrap();
    });
    assert!(
        children(port, &dir).is_empty(),
        "{:?}",
        children(port, &dir)
    );
}

/// Hole 7: our node deleted behind our back (and the lock taken by another), found only
/// when we give it back, is reported as a loss by `release()`.
#[test]
fn a_loss_found_at_release_is_a_loss() {
    let fx = Fx::shared(Kind::Zookeeper, "zk7");
    let url = fx.url();
    let excl = fx.name("excl");
    let readers = fx.name("readers");
    rt().block_on(async {
        let c = connect(&url, "owner").await;
        let other = connect(&url, "other").await;
        let held = c
            .acquire(&request(&excl, LockMode::Exclusive, Wait::NoWait))
            .await
            .unwrap()
            .unwrap();
        fx.delete_lock(&excl);
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
        fx.delete_lock(&readers);
        let r = held.release().await;
        assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");

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

/// Hole 4: fencing tokens are czxids; a restarted server (same data directory) starts a
/// new epoch, so they keep increasing.
#[test]
fn tokens_increase_across_a_restart() {
    let fx = Fx::private(Kind::Zookeeper, "zk4");
    let name = fx.name("t4");
    let token = || -> u64 {
        let out = tz(
            &fx.url(),
            fx.home.path(),
            &[
                "lock",
                &name,
                "--",
                "sh",
                "-c",
                "echo $TOOZCTL_FENCING_TOKEN",
            ],
        )
        .stdout(std::process::Stdio::piped())
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
    let before = token();
    fx.restart();
    let after = token();
    assert!(
        after > before,
        "token {after} after the restart, {before} before"
    );
}
