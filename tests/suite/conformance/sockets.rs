//! Requests toozctl pipelines leave at once: every TCP connection to the server has
//! `TCP_NODELAY`, on every backend with a server. With Nagle's algorithm a small request
//! written while an earlier one is unanswered waits for that answer, which servers send
//! with their acknowledgement: a ZooKeeper release (a read, the delete, the close) went
//! out one round trip late, and so did the next holder's turn. Two client libraries
//! (zookeeper-client, redis) leave the option off; the others set it.

use super::helpers::{sleeping_holder, tcp_sockets};
use crate::support::fixture::{Fx, Kind};
use std::time::Duration;

crate::on_every_backend!(every_connection_to_the_server_sends_at_once);

fn every_connection_to_the_server_sends_at_once(kind: Kind) {
    let fx = Fx::shared(kind, "nodelay");
    if !fx.url().contains("127.0.0.1") {
        return; // no server (file, ipc)
    }
    let name = fx.name("nodelay");
    let (mut holder, pid) = sleeping_holder(&fx, &fx.url(), &name, "nodelay");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    // A connection the holder opens after COMMAND started (Redis: the pub/sub one that
    // watches the key) gets the option once connected, not before: look again for a while
    // before calling one delayed. One without it from the start never gets it.
    let mut sockets = Ok(Vec::new());
    crate::support::wait_until(Duration::from_secs(3), || {
        sockets = tcp_sockets(pid);
        sockets
            .as_ref()
            .is_ok_and(|s| !s.is_empty() && s.iter().all(|s| s.nodelay))
    });
    crate::support::signal(pid, libc::SIGTERM);
    let _ = holder.wait();
    assert_eq!(comm.trim(), "toozctl", "COMMAND's parent is toozctl");
    let sockets = sockets.unwrap_or_else(|e| panic!("reading toozctl's sockets: {e}"));
    assert!(!sockets.is_empty(), "toozctl holds no TCP connection");
    let delayed: Vec<_> = sockets.iter().filter(|s| !s.nodelay).collect();
    assert!(
        delayed.is_empty(),
        "TCP connections of toozctl without TCP_NODELAY: {delayed:?} of {sockets:?}"
    );
}
