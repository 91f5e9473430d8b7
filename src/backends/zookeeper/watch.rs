//! Watches on ZooKeeper with a persistent recursive watch (ZooKeeper 3.6+) on the
//! directory: the server pushes every child created and deleted, in order, so a lock
//! taken and given back within a millisecond, or a member that joins and leaves at once,
//! is still reported (a re-listing on each one-shot watch would miss them). No polling.
//!
//! - group: children of `/NS/<group>` (minus `leader`) → `join`/`leave`;
//! - leader: children of `/NS/<group>/leader` → `elected` whenever the lowest contender changes;
//! - lock: children of `/NS/locks/<name>` → `released` for each holder node gone,
//!   `acquired` for each new holder (a hand-off is `released` then `acquired`).
//!
//! The member of an `acquired` event is read from the node: a holder that came and went
//! before that read is reported without one.
//!
//! A disconnection is reported as `lost`; after reconnecting within the session the
//! directory is listed again (`resync`) and the differences reported, since events that
//! happen while disconnected are not replayed. An expired session ends the watch with an
//! error.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::lock::{contender, holder_nodes};
use super::{again, holder_of, ZkCoordinator};
use crate::coordination::{Error, Event, EventKind, Events, Holder, Result, WatchTarget};

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    Group,
    Leader,
    Lock,
}

/// A child of the watched directory, with its holder record when it matters.
type Nodes = BTreeMap<String, Option<Holder>>;

struct Task {
    client: zk::Client,
    root: String,
    dir: String,
    what: What,
    target: WatchTarget,
    tx: mpsc::Sender<Result<Event>>,
    nodes: Nodes,
    /// A semaphore's limit (the lock node's data), for holder modes.
    limit: Option<u32>,
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
    let client = c.client()?;
    // The watch first, then the listing: nothing can happen in between unseen.
    let watcher = loop {
        match client
            .watch(&dir, zk::AddWatchMode::PersistentRecursive)
            .await
        {
            Ok(w) => break w,
            Err(zk::Error::Unimplemented) => {
                return Err(Error::Unsupported(
                    "watches need ZooKeeper 3.6 or later (persistent watches)".into(),
                ))
            }
            Err(e) => again(&client, e, &format!("watching {dir}")).await?,
        }
    };
    let (tx, rx) = mpsc::channel(1024);
    let mut task = Task {
        client,
        root: c.root.clone(),
        dir,
        what,
        target: target.clone(),
        tx,
        nodes: Nodes::new(),
        limit: None,
    };
    task.nodes = task.read_all().await?;
    // Not tracked by `close`: a watch lives until its receiver is dropped.
    tokio::spawn(task.run(watcher));
    Ok(rx)
}

impl Task {
    async fn send(&self, events: Vec<Result<Event>>) -> bool {
        for e in events {
            if self.tx.send(e).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn run(mut self, mut watcher: zk::PersistentWatcher) {
        let mut disconnected = false;
        loop {
            let event = tokio::select! {
                ev = watcher.changed() => ev,
                _ = self.tx.closed() => return,
            };
            let out = match event.event_type {
                zk::EventType::Session => match event.session_state {
                    zk::SessionState::Disconnected if !disconnected => {
                        disconnected = true;
                        vec![Ok(Event::now(EventKind::Lost, &self.target, None, None))]
                    }
                    zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
                        if disconnected =>
                    {
                        disconnected = false;
                        match self.read_all().await {
                            Ok(now) => {
                                let before = std::mem::replace(&mut self.nodes, now);
                                let mut out = vec![Ok(Event::now(
                                    EventKind::Resync,
                                    &self.target,
                                    None,
                                    None,
                                ))];
                                out.extend(self.diff(&before).into_iter().map(Ok));
                                out
                            }
                            Err(e) => vec![Err(e)],
                        }
                    }
                    s if s.is_terminated() => {
                        let msg = format!("watch ended: the ZooKeeper session is {s}");
                        let _ = self.send(vec![Err(Error::Unavailable(msg))]).await;
                        return;
                    }
                    _ => Vec::new(),
                },
                zk::EventType::NodeCreated => match self.child(&event.path) {
                    Some(name) if !self.nodes.contains_key(&name) && self.what == What::Group => {
                        // One member, one event: no copy and re-diff of the whole
                        // directory per change (quadratic in a large group under churn).
                        let join = (name != "leader").then(|| {
                            Ok(Event::now(
                                EventKind::Join,
                                &self.target,
                                Some(name.clone()),
                                None,
                            ))
                        });
                        self.nodes.insert(name, None);
                        join.into_iter().collect()
                    }
                    Some(name) if !self.nodes.contains_key(&name) => {
                        let holder = self.holder(&name).await;
                        let before = self.nodes.clone();
                        self.nodes.insert(name, holder);
                        self.diff(&before).into_iter().map(Ok).collect()
                    }
                    _ => Vec::new(),
                },
                zk::EventType::NodeDeleted
                    if self.what == What::Group && event.path != self.dir =>
                {
                    match self.child(&event.path) {
                        Some(name) if self.nodes.remove(&name).is_some() && name != "leader" => {
                            vec![Ok(Event::now(
                                EventKind::Leave,
                                &self.target,
                                Some(name),
                                None,
                            ))]
                        }
                        _ => Vec::new(),
                    }
                }
                zk::EventType::NodeDeleted => {
                    let before = self.nodes.clone();
                    if event.path == self.dir {
                        self.nodes.clear();
                    } else if let Some(name) = self.child(&event.path) {
                        self.nodes.remove(&name);
                    }
                    self.diff(&before).into_iter().map(Ok).collect()
                }
                zk::EventType::NodeDataChanged if event.path == self.dir => {
                    self.limit = self.read_limit().await;
                    Vec::new()
                }
                _ => Vec::new(),
            };
            if !self.send(out).await {
                return;
            }
        }
    }

    /// The name of a direct child of the watched directory.
    fn child(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(&self.dir)?.strip_prefix('/')?;
        (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
    }

    /// Every child now (a missing directory is empty), with holder records where needed.
    async fn read_all(&mut self) -> Result<Nodes> {
        if self.what == What::Lock {
            self.limit = self.read_limit().await;
        }
        let children = loop {
            match self.client.list_children(&self.dir).await {
                Ok(ch) => break ch,
                Err(zk::Error::NoNode) => break Vec::new(),
                Err(e) => again(&self.client, e, &format!("listing {}", self.dir)).await?,
            }
        };
        let mut nodes = Nodes::new();
        for ch in children {
            let holder = self.holder(&ch).await;
            nodes.insert(ch, holder);
        }
        Ok(nodes)
    }

    async fn read_limit(&self) -> Option<u32> {
        let (data, _) = self.client.get_data(&self.dir).await.ok()?;
        String::from_utf8_lossy(&data).trim().parse().ok()
    }

    /// Who owns child `name` (contender and lease nodes only; members need no lookup).
    async fn holder(&self, name: &str) -> Option<Holder> {
        if self.what == What::Group {
            return None;
        }
        if contender(name).is_none() && (self.what == What::Leader || name.len() != 32) {
            return None;
        }
        let path = format!("{}/{name}", self.dir);
        match self.client.get_data(&path).await {
            Ok((data, stat)) => Some(holder_of(&self.client, &self.root, &data, &stat).await),
            // Gone already (its deletion event follows), or unreadable: no record to show.
            Err(_) => None,
        }
    }

    /// What the nodes mean: key → (member the event is about, holder).
    fn view(&self, nodes: &Nodes) -> BTreeMap<String, (Option<String>, Option<Holder>)> {
        let mut v = BTreeMap::new();
        match self.what {
            What::Group => {
                for m in nodes.keys().filter(|m| *m != "leader") {
                    v.insert(m.clone(), (Some(m.clone()), None));
                }
            }
            What::Leader => {
                let head = nodes
                    .keys()
                    .filter_map(|n| contender(n).map(|(_, s)| (s, n)))
                    .min()
                    .map(|(_, n)| n.clone());
                if let Some(n) = head {
                    let h = nodes.get(&n).cloned().flatten();
                    v.insert(n, (h.as_ref().and_then(|h| h.member_id.clone()), h));
                }
            }
            What::Lock => {
                let names: Vec<String> = nodes.keys().cloned().collect();
                for (n, mode) in holder_nodes(&names, self.limit) {
                    let mut h = nodes.get(&n).cloned().flatten();
                    if let Some(h) = h.as_mut() {
                        h.mode = Some(mode.to_string());
                    }
                    v.insert(n, (h.as_ref().and_then(|h| h.member_id.clone()), h));
                }
            }
        }
        v
    }

    fn diff(&self, before: &Nodes) -> Vec<Event> {
        let (old, new) = (self.view(before), self.view(&self.nodes));
        let (gone, came) = match self.what {
            What::Group => (Some(EventKind::Leave), EventKind::Join),
            What::Leader => (None, EventKind::Elected),
            What::Lock => (Some(EventKind::Released), EventKind::Acquired),
        };
        let old_keys: BTreeSet<&String> = old.keys().collect();
        let mut out = Vec::new();
        if let Some(gone) = gone {
            for (k, (m, h)) in &old {
                if !new.contains_key(k) {
                    out.push(Event::now(gone, &self.target, m.clone(), h.clone()));
                }
            }
        }
        for (k, (m, h)) in &new {
            if !old_keys.contains(k) {
                out.push(Event::now(came, &self.target, m.clone(), h.clone()));
            }
        }
        out
    }
}
