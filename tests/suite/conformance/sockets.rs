//! Requests toozctl pipelines leave at once: every TCP connection to the server has
//! `TCP_NODELAY`, on every backend with a server. With Nagle's algorithm a small request
//! written while an earlier one is unanswered waits for that answer, which servers send
//! with their acknowledgement: a ZooKeeper release (a read, the delete, the close) went
//! out one round trip late, and so did the next holder's turn. Two client libraries
//! (zookeeper-client, redis) leave the option off; the others set it.

use super::helpers::{sleeping_holder, tcp_sockets};
use crate::support::fixture::{Fx, Kind};

crate::on_every_backend!(every_connection_to_the_server_sends_at_once);

fn every_connection_to_the_server_sends_at_once(kind: Kind) {
    let fx = Fx::shared(kind, "nodelay");
    if !fx.url().contains("127.0.0.1") {
        return; // no server (file, ipc)
    }
    let name = fx.name("nodelay");
    let (mut holder, pid) = sleeping_holder(&fx, &name, "nodelay");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let sockets = tcp_sockets(pid);
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
