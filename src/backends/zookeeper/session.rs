//! Session health: what "lost" means on ZooKeeper, as data for the supervisor.
//!
//! The server expires a session when it has heard nothing from the client for the
//! negotiated session timeout `T`. So every request that gets an answer proves the
//! session alive until at least *(when it was sent) + T*; the connection's handshake
//! proves it until *(when the connection attempt began) + T*. We send our own cheap
//! request (an `exists` on the namespace root) every `T/10`, the first one `T/10` after
//! the session began (not at once: a lock held for milliseconds needs none), and publish
//! `Health::Held { expires }`; `commands::hold` starts `--on-lost` early enough that the
//! grace period ends before it. A brief disconnection that the client library bridges by
//! reconnecting within the session changes nothing but delays the next answer; only if
//! no answer comes in time does the deadline pass. The session expiring (told by the
//! server on reconnect, or concluded by the library) or closing is `Health::Lost` at once.
//!
//! Each held primitive gets its own health channel ([`Monitor::held`]): the session's
//! health, plus `Lost` when its own node is deleted behind our back (a broken lock, a
//! member removed by hand).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::coordination::Health;

pub(crate) struct Monitor {
    health: watch::Receiver<Health>,
    task: JoinHandle<()>,
}

/// The coordinator's handle on the session, shared with the session monitor and with the
/// held primitives. The client library sends closeSession as soon as the last `zk::Client`
/// clone is dropped (right behind every request already sent on it), so nothing long-lived
/// keeps a clone: the monitor borrows this one for each of its round trips and the
/// requests' futures hold none. [`Handle::let_go`] drops it, so that the session closes
/// right behind what was sent last (a release's delete) once the few short-lived clones
/// are gone too.
pub(crate) struct Handle {
    client: Mutex<Option<zk::Client>>,
    /// Set when the handle went while the session was connected: the close was asked for,
    /// and `close` waits for the session to end.
    closing: Mutex<Option<zk::StateWatcher>>,
}

impl Handle {
    pub(crate) fn new(client: zk::Client) -> Handle {
        Handle {
            client: Mutex::new(Some(client)),
            closing: Mutex::new(None),
        }
    }

    /// A clone of the client, `None` once let go.
    pub(crate) fn get(&self) -> Option<zk::Client> {
        self.client.lock().expect("session handle").clone()
    }

    /// Drop our handle on the session (idempotent). Returns the session's state watcher
    /// if it was connected when the handle went: its close was asked for, and ends it.
    pub(crate) fn let_go(&self) -> Option<zk::StateWatcher> {
        let client = self.client.lock().expect("session handle").take();
        let mut closing = self.closing.lock().expect("session closing");
        if let Some(c) = client {
            if c.state() == zk::SessionState::SyncConnected {
                *closing = Some(c.state_watcher());
            }
        }
        closing.clone()
    }
}

impl Monitor {
    /// `began`: when the connection attempt started. The server has heard from us since
    /// (the handshake and the client library's own ping were answered), so the session
    /// lives at least until `began + timeout`: no round trip of ours is needed to say so
    /// at the start, and the first one goes out a tenth of the timeout later.
    pub(crate) fn start(
        handle: Arc<Handle>,
        state: zk::StateWatcher,
        root: String,
        timeout: Duration,
        began: Instant,
    ) -> Monitor {
        let (tx, rx) = watch::channel(Health::Held {
            expires: Some(began + timeout),
        });
        let task = tokio::spawn(run(handle, state, root, timeout, tx));
        Monitor { health: rx, task }
    }

    /// Stop our round trips.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }

    /// A health channel for a primitive whose node is `path`; the returned watch must be
    /// stopped when the primitive is released ([`HeldWatch`]).
    /// `node_watch`: a watch already set on the node (by the listing that made it ours), so a
    /// delete since then is not missed while the monitor's own watch is being set.
    pub(crate) fn held(
        &self,
        client: zk::Client,
        path: String,
        node_watch: Option<NodeWatch>,
        what: &'static str,
    ) -> (watch::Receiver<Health>, HeldWatch) {
        let mut session = self.health.clone();
        let first = session.borrow_and_update().clone();
        let (tx, rx) = watch::channel(first);
        let quiet = Arc::new(AtomicBool::new(false));
        let hush = quiet.clone();
        let handle = Arc::new(Mutex::new(Some(client)));
        let slot = handle.clone();
        let task = tokio::spawn(async move {
            let mut gone = Box::pin(node_gone(slot, path, node_watch, what));
            let why = loop {
                tokio::select! {
                    changed = session.changed() => {
                        if changed.is_err() {
                            break "the ZooKeeper session was closed".to_string();
                        }
                        let h = session.borrow_and_update().clone();
                        if let Health::Lost(why) = h {
                            break why;
                        }
                        let _ = tx.send(h);
                    }
                    reason = &mut gone => {
                        if !hush.load(Ordering::SeqCst) {
                            let _ = tx.send(Health::Lost(reason));
                        }
                        return;
                    }
                }
            };
            if hush.load(Ordering::SeqCst) {
                // Released: the session closing behind our delete is no loss, and the
                // node's watch is kept until the delete fires it (or the release's
                // clean-up stops us), so that no request to remove it goes out.
                gone.await;
                return;
            }
            let _ = tx.send(Health::Lost(why));
        });
        (
            rx,
            HeldWatch {
                task,
                quiet,
                client: handle,
            },
        )
    }
}

/// The watch on a held primitive's node and session. Stopping it drops the node's watch,
/// which makes the client library ask the server to remove it (a round trip ahead of the
/// session's close); a release instead [`HeldWatch::hush`]es it, deletes the node (which
/// fires the watch on the server, so there is nothing left to remove) and stops it once
/// the delete is answered.
///
/// The task holds a handle on the session only while it sets a watch: a set watch needs
/// none (the library's watchers hold no handle), and the session is closed as soon as the
/// last handle goes. So once a release has hushed it, the close can be sent right behind
/// the delete instead of waiting for the delete's answer to fire the watch.
pub(crate) struct HeldWatch {
    task: JoinHandle<()>,
    quiet: Arc<AtomicBool>,
    client: Arc<Mutex<Option<zk::Client>>>,
}

impl HeldWatch {
    /// Report nothing more: what follows is our own doing. Also gives up the task's handle
    /// on the session (it sets no new watch from now on).
    pub(crate) fn hush(&self) {
        self.quiet.store(true, Ordering::SeqCst);
        self.client.lock().expect("held watch client").take();
    }

    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

/// A oneshot watch on one of our nodes, waiting for its event.
pub(crate) type NodeWatch =
    std::pin::Pin<Box<dyn std::future::Future<Output = zk::WatchedEvent> + Send>>;

/// Resolves when our node `path` is deleted (with the reason); pends while it exists.
/// Starts from `first` when a watch is set on it already. The handle on the session is
/// taken from `client` for each watch it sets and dropped once it is set; an empty slot
/// (released) sets no more watches.
async fn node_gone(
    client: Arc<Mutex<Option<zk::Client>>>,
    path: String,
    mut first: Option<NodeWatch>,
    what: &'static str,
) -> String {
    loop {
        let event = match first.take() {
            Some(w) => w.await,
            None => match watch_node(&client, &path).await {
                Ok((None, _)) | Err(zk::Error::NoNode) => {
                    return format!("its {what} node {path} was deleted")
                }
                Ok((Some(_), watcher)) => watcher.changed().await,
                // Disconnected or expired: the session monitor decides; look again later.
                Err(zk::Error::SessionExpired | zk::Error::ClientClosed) => {
                    return std::future::pending().await
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match event.event_type {
            zk::EventType::NodeDeleted => return format!("its {what} node {path} was deleted"),
            // A session event: the session monitor reports it.
            zk::EventType::Session if event.session_state.is_terminated() => {
                return std::future::pending().await
            }
            _ => continue,
        }
    }
}

/// `check_and_watch_stat` of `path` with a handle taken from `slot` and dropped with the
/// answer; pends for ever once the slot is empty (released: nothing more to watch).
async fn watch_node(
    slot: &Mutex<Option<zk::Client>>,
    path: &str,
) -> Result<(Option<zk::Stat>, zk::OneshotWatcher), zk::Error> {
    let Some(client) = slot.lock().expect("held watch client").clone() else {
        return std::future::pending().await;
    };
    client.check_and_watch_stat(path).await
}

/// One round trip in flight: true when answered.
type Ping = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

/// The session monitor's loop. It holds no client between round trips (see [`Handle`]):
/// once the handle is let go, it sends none.
async fn run(
    handle: Arc<Handle>,
    mut state: zk::StateWatcher,
    root: String,
    timeout: Duration,
    tx: watch::Sender<Health>,
) {
    let every = (timeout / 10).max(Duration::from_millis(20));
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One round trip at a time: the answer to the latest one is what counts.
    let mut in_flight: Option<(Instant, Ping)> = None;
    loop {
        tokio::select! {
            s = state.changed() => {
                if let Some(reason) = terminal(s) {
                    let _ = tx.send(Health::Lost(reason));
                    return;
                }
                if s == zk::SessionState::SyncConnected {
                    // Reconnected, on a new socket.
                    super::nodelay::apply();
                }
            }
            _ = tick.tick(), if in_flight.is_none() => {
                // The request is sent now; its future holds no handle on the session.
                let Some(ping) = handle.get().map(|c| c.check_stat(&root)) else {
                    continue;
                };
                in_flight = Some((Instant::now(), Box::pin(async move {
                    matches!(ping.await, Ok(_) | Err(zk::Error::NoNode))
                })));
            }
            ok = async { in_flight.as_mut().expect("guarded").1.as_mut().await }, if in_flight.is_some() => {
                let (sent, _) = in_flight.take().expect("guarded");
                if ok {
                    let _ = tx.send(Health::Held { expires: Some(sent + timeout) });
                } else if let Some(reason) = terminal(state.peek_state()) {
                    let _ = tx.send(Health::Lost(reason));
                    return;
                }
            }
        }
    }
}

fn terminal(s: zk::SessionState) -> Option<String> {
    match s {
        zk::SessionState::Expired => Some("the ZooKeeper session expired".into()),
        zk::SessionState::Closed => Some("the ZooKeeper session was closed".into()),
        zk::SessionState::AuthFailed => Some("ZooKeeper authentication failed".into()),
        _ => None,
    }
}
