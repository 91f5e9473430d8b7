//! Watches on ZooKeeper with native child watches (no polling): each wake-up re-lists the
//! directory with a new watch and reports the differences.
//!
//! - group: children of `/NS/<group>` (minus `leader`) → `join`/`leave`;
//! - leader: children of `/NS/<group>/leader` → `elected` when the lowest contender changes;
//! - lock: children of `/NS/locks/<name>` → `released` for each holder node gone,
//!   `acquired` for each new one (a hand-off is `released` then `acquired`).
//!
//! A missing directory counts as empty and is watched for creation. A disconnection is
//! reported as `lost`; after reconnecting within the session the directory is re-read
//! (`resync`) and the differences reported, so nothing is missed silently. An expired
//! session ends the watch with an error.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::lock::holder_nodes;
use super::{again, holder_of, ZkCoordinator};
use crate::coordination::{Error, Event, EventKind, Events, Holder, Result, WatchTarget};

#[derive(Clone, Copy)]
enum What {
    Group,
    Leader,
    Lock,
}

struct Task {
    client: zk::Client,
    root: String,
    dir: String,
    what: What,
    target: WatchTarget,
    tx: mpsc::Sender<Result<Event>>,
}

pub(super) async fn watch(c: &ZkCoordinator, target: &WatchTarget) -> Result<Events> {
    let (dir, what) = match target {
        WatchTarget::Group(g) => {
            super::group::members(c, g).await?;
            (c.group_dir(g)?, What::Group)
        }
        WatchTarget::Leader(g) => {
            super::group::members(c, g).await?;
            (format!("{}/leader", c.group_dir(g)?), What::Leader)
        }
        WatchTarget::Lock(name) => (c.lock_dir(name)?, What::Lock),
    };
    let (tx, rx) = mpsc::channel(1024);
    let task = Task {
        client: c.client()?,
        root: c.root.clone(),
        dir,
        what,
        target: target.clone(),
        tx,
    };
    // Not in `c.spawn`: a watch lives until its receiver is dropped, and `close` must not wait for it.
    tokio::spawn(task.run());
    Ok(rx)
}

/// What a listing means: key → (member the event is about, holder).
type State = BTreeMap<String, (Option<String>, Option<Holder>)>;

impl Task {
    fn event(&self, kind: EventKind, member: Option<String>, holder: Option<Holder>) -> Event {
        let fencing_token = holder.as_ref().and_then(|h| h.fencing_token);
        Event {
            kind,
            target: self.target.clone(),
            member,
            holder,
            fencing_token,
            at: SystemTime::now(),
        }
    }

    async fn send(&self, e: Result<Event>) -> bool {
        self.tx.send(e).await.is_ok()
    }

    async fn run(self) {
        let mut state_watch = self.client.state_watcher();
        let mut known: Option<State> = None;
        let mut disconnected = false;
        loop {
            let (children, watcher) = match self.list().await {
                Ok(x) => x,
                Err(e) => {
                    let _ = self.send(Err(e)).await;
                    return;
                }
            };
            let now = self.interpret(children).await;
            if let Some(before) = &known {
                for e in self.diff(before, &now) {
                    if !self.send(Ok(e)).await {
                        return;
                    }
                }
            }
            known = Some(now);
            // Wait for the watch, a session change, or the receiver going away.
            let mut fired = Box::pin(async move {
                match watcher {
                    Some(w) => drop(w.changed().await),
                    None => std::future::pending::<()>().await,
                }
            });
            loop {
                tokio::select! {
                    _ = &mut fired => break,
                    _ = self.tx.closed() => return,
                    s = state_watch.changed() => match s {
                        zk::SessionState::Disconnected if !disconnected => {
                            disconnected = true;
                            if !self.send(Ok(self.event(EventKind::Lost, None, None))).await {
                                return;
                            }
                        }
                        zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly if disconnected => {
                            disconnected = false;
                            if !self.send(Ok(self.event(EventKind::Resync, None, None))).await {
                                return;
                            }
                            break;
                        }
                        s if s.is_terminated() => {
                            let _ = self.send(Err(Error::Unavailable(format!("watch ended: the ZooKeeper session is {s}")))).await;
                            return;
                        }
                        _ => {}
                    },
                }
            }
        }
    }

    /// List with a child watch; a missing directory is empty, watched for creation.
    async fn list(&self) -> Result<(Vec<String>, Option<zk::OneshotWatcher>)> {
        loop {
            match self.client.list_and_watch_children(&self.dir).await {
                Ok((ch, w)) => return Ok((ch, Some(w))),
                Err(zk::Error::NoNode) => match self.client.check_and_watch_stat(&self.dir).await {
                    Ok((None, w)) => return Ok((Vec::new(), Some(w))),
                    Ok((Some(_), _)) => continue,
                    Err(e) => again(&self.client, e, &format!("watching {}", self.dir)).await?,
                },
                Err(e) => again(&self.client, e, &format!("watching {}", self.dir)).await?,
            }
        }
    }

    async fn interpret(&self, children: Vec<String>) -> State {
        let mut state = State::new();
        match self.what {
            What::Group => {
                for m in children.into_iter().filter(|m| m != "leader") {
                    state.insert(m.clone(), (Some(m), None));
                }
            }
            What::Leader => {
                let mut sorted: Vec<String> = children
                    .into_iter()
                    .filter(|ch| super::lock::contender(ch).is_some())
                    .collect();
                sorted.sort_by(|a, b| {
                    super::lock::contender(a)
                        .map(|x| x.1)
                        .cmp(&super::lock::contender(b).map(|x| x.1))
                });
                for ch in sorted {
                    if let Some(h) = self.holder(&ch).await {
                        state.insert(ch, (h.member_id.clone(), Some(h)));
                        break;
                    }
                }
            }
            What::Lock => {
                let limit = match self.client.get_data(&self.dir).await {
                    Ok((d, _)) => String::from_utf8_lossy(&d).trim().parse::<u32>().ok(),
                    Err(_) => None,
                };
                for (node, mode) in holder_nodes(&children, limit) {
                    if let Some(mut h) = self.holder(&node).await {
                        h.mode = Some(mode.to_string());
                        state.insert(node, (h.member_id.clone(), Some(h)));
                    }
                }
            }
        }
        state
    }

    async fn holder(&self, node: &str) -> Option<Holder> {
        let (data, stat) = self
            .client
            .get_data(&format!("{}/{node}", self.dir))
            .await
            .ok()?;
        Some(holder_of(&self.client, &self.root, &data, &stat).await)
    }

    fn diff(&self, before: &State, now: &State) -> Vec<Event> {
        let (gone, came) = match self.what {
            What::Group => (EventKind::Leave, EventKind::Join),
            What::Leader => (EventKind::Leave, EventKind::Elected),
            What::Lock => (EventKind::Released, EventKind::Acquired),
        };
        let mut out = Vec::new();
        for (k, (m, h)) in before {
            if !now.contains_key(k) && !matches!(self.what, What::Leader) {
                out.push(self.event(gone, m.clone(), h.clone()));
            }
        }
        for (k, (m, h)) in now {
            if !before.contains_key(k) {
                out.push(self.event(came, m.clone(), h.clone()));
            }
        }
        out
    }
}
