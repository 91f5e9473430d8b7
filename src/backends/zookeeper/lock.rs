//! Locks on ZooKeeper in kazoo's recipes, as tooz uses them (`/NS/locks/<name>`).
//!
//! - Exclusive: kazoo `Lock`/`WriteLock` — an ephemeral sequential `<uuid4hex>__lock__`
//!   node whose data is the member id. A contender waits on a data watch of its immediate
//!   predecessor only (no herd): the greatest sequence below its own among `__lock__` and
//!   `__rlock__` nodes. tooz's own `Lock` considers only `__lock__` nodes, so it does not
//!   see our readers (documented limitation; tooz itself has no shared locks).
//! - `--shared`: kazoo `ReadLock` — `<uuid4hex>__rlock__` nodes that wait only on earlier
//!   `__lock__` nodes.
//! - `--limit N`: kazoo `Semaphore` — the lock node's data is N, acquirers serialise on the
//!   side lock `<name>-__lock__`, and a holder owns the ephemeral child `<uuid4hex>`.
//!
//! A wait that times out or is cancelled deletes its queue node: by hand on timeout, by
//! the [`Entry`] drop guard (a background delete that `close` waits for) on cancellation.
//! A waiter whose own node was deleted behind its back is no longer queued and queues
//! again ([`queue`]); it never takes its turn from a predecessor's delete alone.
//!
//! Not done, on purpose: watching every node ahead and taking the turn when the last one's
//! delete arrives, to save the listing's round trip (0.4 ms of a 2.5 ms hand-off). Nodes
//! deleted together in one multi (an operator's transaction) fire their events in the
//! transaction's order, so our own node's delete may come after the last one ahead: the
//! waiter would start COMMAND with its node gone, beside a newcomer that found the
//! directory empty (`zookeeper_faults::waiters_whose_nodes_were_deleted_queue_again`).
//! ZooKeeper 3.8 does not put the zxid on watch events, which would tell them apart.

use async_trait::async_trait;
use zookeeper_client as zk;

use super::session::{Handle, HeldWatch, NodeWatch};
use super::{again, deadline, zk_error, Cleaner, ZkCoordinator, RECORDS};
use crate::coordination::{
    Error, Held, Holder, LockInfo, LockMode, LockRequest, Release, Result, Wait,
};

/// Suffix of a semaphore's side lock directory (kazoo: `path + "-__lock__"`).
pub(super) const SEMAPHORE_SIDE_LOCK: &str = "-__lock__";

/// Which queue node we make, and whom it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeKind {
    /// `__lock__`, waits for every earlier `__lock__` and `__rlock__`.
    Write,
    /// `__rlock__`, waits for earlier `__lock__` nodes only.
    Read,
}

impl NodeKind {
    fn marker(self) -> &'static str {
        match self {
            NodeKind::Write => "__lock__",
            NodeKind::Read => "__rlock__",
        }
    }
}

/// A queue node's kind and sequence text, as kazoo's contender regex reads a child name:
/// `(?:__lock__|__rlock__)(-?\d{10})$`.
pub(super) fn contender(child: &str) -> Option<(NodeKind, &str)> {
    let b = child.as_bytes();
    if b.len() < 10 || !b[b.len() - 10..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut start = b.len() - 10;
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    }
    let head = &child[..start];
    let kind = if head.ends_with("__rlock__") {
        NodeKind::Read
    } else if head.ends_with("__lock__") {
        NodeKind::Write
    } else {
        return None;
    };
    Some((kind, &child[start..]))
}

/// A kazoo semaphore lease node: exactly 32 lowercase hex characters.
fn is_lease(child: &str) -> bool {
    child.len() == 32
        && child
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Our queue node while we wait; deleted in the background if dropped armed.
pub(super) struct Entry {
    client: zk::Client,
    pub(super) path: String,
    cleaner: Cleaner,
    armed: bool,
}

impl Entry {
    fn disarm(mut self) -> String {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.armed {
            self.cleaner
                .delete(self.client.clone(), std::mem::take(&mut self.path));
        }
    }
}

/// A sequential create whose answer we may never see: dropped armed, it deletes whatever
/// child carries our prefix.
struct Unanswered {
    client: zk::Client,
    prefix: String,
    cleaner: Cleaner,
    armed: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.armed {
            self.cleaner
                .delete_prefixed(self.client.clone(), std::mem::take(&mut self.prefix));
        }
    }
}

/// [`again`] within the wait: `Ok(false)` when the deadline passes first.
async fn again_until(
    client: &zk::Client,
    e: zk::Error,
    what: &str,
    until: Option<tokio::time::Instant>,
) -> Result<bool> {
    match until {
        None => again(client, e, what).await.map(|()| true),
        Some(d) => match tokio::time::timeout_at(d, again(client, e, what)).await {
            Ok(r) => r.map(|()| true),
            Err(_) => Ok(false),
        },
    }
}

/// Delete a node we own, ignoring "already gone".
async fn delete(client: &zk::Client, path: &str) -> Result<()> {
    match client.delete(path, None).await {
        Ok(()) | Err(zk::Error::NoNode) => Ok(()),
        Err(e) => Err(zk_error(&format!("deleting {path}"), e)),
    }
}

/// Create an ephemeral node under `dir` (making `dir` first if missing), with a listing
/// of `dir` sent right behind the create (answered after it, so it includes our node):
/// `None` when that listing failed or the create had to be tried again.
async fn create_in(
    c: &ZkCoordinator,
    client: &zk::Client,
    dir: &str,
    path: &str,
    data: &[u8],
    options: &zk::CreateOptions<'_>,
) -> Result<(zk::Stat, zk::CreateSequence, Option<Vec<String>>)> {
    c.record_session();
    let created = client.create(path, data, options);
    let listing = client.list_children(dir);
    match created.await {
        Err(zk::Error::NoNode) => {
            drop(listing);
            c.ensure_path(dir).await?;
            let (stat, seq) = client
                .create(path, data, options)
                .await
                .map_err(|e| zk_error(&format!("creating {path}"), e))?;
            Ok((stat, seq, None))
        }
        Ok((stat, seq)) => Ok((stat, seq, listing.await.ok())),
        Err(e) => Err(zk_error(&format!("creating {path}"), e)),
    }
}

/// Our queue node whose turn it is, with the watch on it that was set before the listing
/// that said so: a delete after that listing arrives on this watch, which the holder's
/// monitor takes over (no moment between "our turn" and "watched").
pub(super) struct Turn {
    pub(super) entry: Entry,
    pub(super) stat: zk::Stat,
    /// `None` when the turn was read from the listing sent with the create: the holder's
    /// monitor then sets its own watch, and finds the node gone if it went meanwhile.
    pub(super) watch: Option<NodeWatch>,
}

/// How one place in the queue ended.
enum Place {
    Turn(Box<Turn>),
    /// Our node was deleted behind our back: we are no longer queued.
    Gone,
    /// Not within the wait (our node is deleted again).
    GaveUp,
}

/// Take a place in the kazoo lock queue of `dir` and wait for its turn. `Ok(None)`: not
/// within `wait` (our node is gone again). `check` sees every listing, to refuse a
/// directory used as another kind of lock.
///
/// Whose turn it is is decided only from a listing that contains our own node: the one
/// sent right behind the create (uncontested, the usual case: one round trip for create
/// and listing, and the holder's monitor watches the node from then on, reporting a loss
/// if it went in between), or, while waiting, one read after a watch on our node was set.
/// A node deleted behind our back (an operator deleting the lock's children, the
/// waiters' included) is therefore never mistaken for a turn: we are no longer queued,
/// and queue again with a new node (as kazoo does), at the end of the queue and with a
/// new, larger czxid as fencing token.
pub(super) async fn queue(
    c: &ZkCoordinator,
    dir: &str,
    kind: NodeKind,
    wait: Wait,
    check: &(dyn Fn(&[String]) -> Result<()> + Sync),
) -> Result<Option<Turn>> {
    let until = deadline(wait);
    loop {
        let (entry, stat, listing) = enter(c, dir, kind).await?;
        // Uncontested: the listing sent with the create already says it is our turn.
        if let Some(children) = listing {
            if check(&children).is_ok() && turn_in(&children, &entry.path, kind) == Some(true) {
                return Ok(Some(Turn {
                    entry,
                    stat,
                    watch: None,
                }));
            }
        }
        match wait_turn(c, dir, kind, wait, until, check, entry, stat).await? {
            Place::Turn(turn) => return Ok(Some(*turn)),
            Place::GaveUp => return Ok(None),
            Place::Gone => {
                if until.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Whether `children` (a listing that must contain our node `path`) make it our turn:
/// no earlier node we wait for. `None` when our node is not among them.
fn turn_in(children: &[String], path: &str, kind: NodeKind) -> Option<bool> {
    let own = path.rsplit('/').next().unwrap_or_default();
    if !children.iter().any(|ch| ch == own) {
        return None;
    }
    let (_, own_seq) = contender(own)?;
    Some(!children.iter().any(|ch| {
        contender(ch)
            .is_some_and(|(k, s)| s < own_seq && (kind == NodeKind::Write || k == NodeKind::Write))
    }))
}

/// Create our sequential queue node in `dir`, with the listing sent right behind it.
async fn enter(
    c: &ZkCoordinator,
    dir: &str,
    kind: NodeKind,
) -> Result<(Entry, zk::Stat, Option<Vec<String>>)> {
    let client = c.client()?;
    let prefix = format!("{dir}/{}{}", uuid::Uuid::new_v4().simple(), kind.marker());
    let data = c.identity.member_id.as_bytes();
    // Cancelled before the answer: the node may exist under a name we never learnt; it is
    // found again by its unique prefix (as kazoo does after a connection loss).
    let mut unknown = Unanswered {
        client: client.clone(),
        prefix: prefix.clone(),
        cleaner: c.cleaner(),
        armed: true,
    };
    let (stat, seq, listing) =
        create_in(c, &client, dir, &prefix, data, &c.ephemeral_sequential()).await?;
    unknown.armed = false;
    let entry = Entry {
        client,
        path: format!("{prefix}{seq}"),
        cleaner: c.cleaner(),
        armed: true,
    };
    Ok((entry, stat, listing))
}

/// The watch's event if it has fired already (it is then used up).
fn fired(watch: &mut Option<NodeWatch>) -> Option<zk::WatchedEvent> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::future::Future::poll(watch.as_mut()?.as_mut(), &mut cx) {
        std::task::Poll::Ready(event) => {
            *watch = None;
            Some(event)
        }
        std::task::Poll::Pending => None,
    }
}

/// Wait in the queue with our node `entry` until it is our turn.
#[allow(clippy::too_many_arguments)]
async fn wait_turn(
    c: &ZkCoordinator,
    dir: &str,
    kind: NodeKind,
    wait: Wait,
    until: Option<tokio::time::Instant>,
    check: &(dyn Fn(&[String]) -> Result<()> + Sync),
    entry: Entry,
    stat: zk::Stat,
) -> Result<Place> {
    let client = c.client()?;
    let own = entry
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let own_seq = contender(&own)
        .map(|(_, s)| s.to_string())
        .unwrap_or_default();
    let mut watch: Option<NodeWatch> = None;
    loop {
        // The watch on our own node is set before the listing (requests are answered in
        // order, and a watch event comes before any later answer): our node deleted after
        // the listing is an event on it; deleted before, the listing lacks it.
        let arm = watch
            .is_none()
            .then(|| client.check_and_watch_stat(&entry.path));
        let listing = client.list_children(dir);
        if let Some(arm) = arm {
            match arm.await {
                Ok((Some(_), w)) => watch = Some(Box::pin(w.changed())),
                Ok((None, _)) | Err(zk::Error::NoNode) => {
                    entry.disarm();
                    return Ok(Place::Gone);
                }
                Err(e) => {
                    drop(listing);
                    if !again_until(&client, e, &format!("watching {}", entry.path), until).await? {
                        entry.delete_now().await;
                        return Ok(Place::GaveUp);
                    }
                    continue;
                }
            }
        }
        let children = match listing.await {
            Ok(ch) => ch,
            Err(e) => {
                if !again_until(&client, e, &format!("listing {dir}"), until).await? {
                    entry.delete_now().await;
                    return Ok(Place::GaveUp);
                }
                continue;
            }
        };
        if let Err(e) = check(&children) {
            entry.delete_now().await;
            return Err(e);
        }
        if !children.contains(&own) {
            entry.disarm();
            return Ok(Place::Gone);
        }
        if let Some(event) = fired(&mut watch) {
            if event.event_type == zk::EventType::NodeDeleted {
                entry.disarm();
                return Ok(Place::Gone);
            }
            // Anything else (its data set by someone): watch again, list again.
            continue;
        }
        let mut earlier: Vec<(&str, &String)> = children
            .iter()
            .filter_map(|ch| contender(ch).map(|(k, s)| (k, s, ch)))
            .filter(|(k, s, _)| {
                *s < own_seq.as_str() && (kind == NodeKind::Write || *k == NodeKind::Write)
            })
            .map(|(_, s, ch)| (s, ch))
            .collect();
        earlier.sort();
        let Some((_, last)) = earlier.last() else {
            let watch = watch.take().expect("set before the listing");
            return Ok(Place::Turn(Box::new(Turn {
                entry,
                stat,
                watch: Some(watch),
            })));
        };
        let pred = format!("{dir}/{last}");
        if wait == Wait::NoWait {
            entry.delete_now().await;
            return Ok(Place::GaveUp);
        }
        let watcher = match client.get_and_watch_data(&pred).await {
            Err(zk::Error::NoNode) => continue,
            Err(e) => {
                if !again_until(&client, e, &format!("watching {pred}"), until).await? {
                    entry.delete_now().await;
                    return Ok(Place::GaveUp);
                }
                continue;
            }
            Ok((_, _, w)) => w,
        };
        let timer = async {
            match until {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let mine = watch.as_mut().expect("set before the listing");
        tokio::select! {
            // Our own node changed: deleted (no longer queued), or anything else.
            event = mine => {
                watch = None;
                if event.event_type == zk::EventType::NodeDeleted {
                    entry.disarm();
                    return Ok(Place::Gone);
                }
            }
            // The predecessor went (or changed): the next listing decides, and it also
            // says whether our own node is still there (deleted together with the
            // predecessor, its event may still be on the way).
            _ = watcher.changed() => {}
            () = timer => {
                entry.delete_now().await;
                return Ok(Place::GaveUp);
            }
        }
    }
}

impl Entry {
    /// Withdraw now (timeout, refusal); falls back to the background on failure.
    async fn delete_now(self) {
        let client = self.client.clone();
        let path = self.path.clone();
        if delete(&client, &path).await.is_ok() {
            self.disarm();
        }
    }
}

pub(super) async fn acquire(c: &ZkCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    let dir = c.lock_dir(&req.name)?;
    let what = format!("lock '{}'", req.name);
    match req.mode {
        LockMode::Exclusive | LockMode::Shared => {
            let kind = if req.mode == LockMode::Shared {
                NodeKind::Read
            } else {
                NodeKind::Write
            };
            let name = req.name.clone();
            let mode = req.mode;
            let check = move |children: &[String]| match children.iter().find(|ch| is_lease(ch)) {
                Some(_) => Err(conflict(&name, "a semaphore (--limit)", &[], mode)),
                None => Ok(()),
            };
            let turn = match queue(c, &dir, kind, req.wait, &check).await {
                // Named with its holders (read now: `check` sees only the listing).
                Err(Error::Conflict(_)) => {
                    let (holders, _, limit) = dir_holders(c, &dir).await?;
                    let theirs = match limit {
                        Some(m) => format!("a semaphore with --limit {m}"),
                        None => "a semaphore (--limit)".to_string(),
                    };
                    return Err(conflict(&req.name, &theirs, &holders, req.mode));
                }
                r => r?,
            };
            let Some(turn) = turn else {
                return Ok(None);
            };
            Ok(Some(held(
                c, what, turn.entry, turn.stat, turn.watch, "lock",
            )?))
        }
        LockMode::Limit(n) => semaphore(c, &req.name, &dir, n, req.wait).await,
    }
}

/// One name used as two kinds: the error names both, and who holds it the other way.
fn conflict(name: &str, theirs: &str, holders: &[(String, Holder)], ours: LockMode) -> Error {
    let by = match holders {
        [] => String::new(),
        [(_, one)] => format!(" held by {one}"),
        [(_, first), rest @ ..] => format!(" held by {first} and {} more", rest.len()),
    };
    Error::Conflict(format!(
        "lock '{name}' is in use as {theirs}{by}; it cannot also be used as {ours}: use one kind (and one --limit) per name"
    ))
}

/// Make the Held for our node `entry`, its session and its node watched (by `watch` when
/// one is set on it already).
pub(super) fn held(
    c: &ZkCoordinator,
    what: String,
    entry: Entry,
    stat: zk::Stat,
    watch: Option<NodeWatch>,
    kind: &'static str,
) -> Result<Held> {
    let client = c.client()?;
    let path = entry.disarm();
    let (health, watcher) = c.session.held(client.clone(), path.clone(), watch, kind);
    let guard = ZkHeld::new(c, client, path, watcher, health.clone());
    Ok(Held::new(
        what,
        stat.czxid as u64,
        Some(c.session_timeout),
        health,
        Box::new(guard),
    ))
}

/// A node we hold; releasing deletes it.
pub(super) struct ZkHeld {
    client: zk::Client,
    path: String,
    watcher: HeldWatch,
    cleaner: Cleaner,
    /// How long the release may wait for its answer (the session timeout).
    timeout: std::time::Duration,
    /// The coordinator's handle on the session, let go by the last release.
    handle: std::sync::Arc<Handle>,
    /// Until when the session lives for sure: how long a release may wait for the library
    /// to move it to another server.
    health: tokio::sync::watch::Receiver<crate::coordination::Health>,
}

impl ZkHeld {
    pub(super) fn new(
        c: &ZkCoordinator,
        client: zk::Client,
        path: String,
        watcher: HeldWatch,
        health: tokio::sync::watch::Receiver<crate::coordination::Health>,
    ) -> ZkHeld {
        ZkHeld {
            client,
            path,
            watcher,
            health,
            cleaner: c.cleaner(),
            timeout: c.session_timeout,
            handle: c.handle.clone(),
        }
    }
}

#[async_trait]
impl Release for ZkHeld {
    async fn release(self: Box<Self>) -> Result<()> {
        self.give_back(false).await
    }

    /// Also lets the session go right behind the delete (see [`ZkHeld::give_back`]).
    async fn release_last(self: Box<Self>) -> Result<()> {
        self.give_back(true).await
    }
}

impl ZkHeld {
    /// Sends the delete without waiting for it: the request is on the wire, ahead of
    /// anything we send later, and `close` collects the answer. A read sent just before it
    /// says whether the node was still ours: if not, the loss found at release is reported
    /// as [`Error::Lost`]. The node's watch stays until the delete is answered (the delete
    /// fires it: no request to remove it goes out ahead of the close), hushed so that our
    /// own delete is not reported as a loss.
    ///
    /// `last` (nothing but `close` follows): every handle on the session goes as soon as the
    /// read and the delete are sent, the coordinator's, ours and the node watch's, so the
    /// client library queues closeSession right behind them, and the server
    /// commits the delete and the close back to back instead of a round trip and the
    /// supervisor's clean-up apart. The read is still answered (the server answers
    /// everything before the close), and `close` still waits for the session's end.
    async fn give_back(self: Box<Self>, last: bool) -> Result<()> {
        // Disconnected: wait, within the session's known lifetime, for the library to move
        // the session (below). Still not connected after that, or expired: the node goes
        // with the session, which `close` ends or the server expires.
        let mut state = self.client.state();
        if state == zk::SessionState::Disconnected {
            // The server we talk to went away: the library moves the session to another
            // one, where the node is deleted as usual, if it can while the session lives
            // (not at all once the loss is known).
            let budget = self
                .health
                .borrow()
                .release_budget(std::time::Duration::ZERO, self.timeout);
            let mut w = self.client.state_watcher();
            let moved = async {
                while w.state() == zk::SessionState::Disconnected {
                    w.changed().await;
                }
            };
            let _ = tokio::time::timeout(budget, moved).await;
            state = self.client.state();
        }
        if state != zk::SessionState::SyncConnected {
            self.watcher.stop();
        }
        if state == zk::SessionState::Expired {
            return Err(Error::Lost(format!(
                "its session expired before the release of {}",
                self.path
            )));
        }
        if !matches!(state, zk::SessionState::SyncConnected) {
            return Err(Error::Unavailable(format!(
                "not connected to ZooKeeper: {} is left to the session",
                self.path
            )));
        }
        // A read sent ahead of the delete is answered in order without waiting for the
        // delete's log flush: it says whether the node was still ours up to the release.
        self.watcher.hush();
        let stat = self.client.check_stat(&self.path);
        let answer = self.client.delete(&self.path, None);
        let ZkHeld {
            client,
            path,
            watcher,
            cleaner,
            timeout,
            handle,
            health: _,
        } = *self;
        let ours = client.session_id().0;
        let mut closing = None;
        let client = if last {
            // Neither future holds a handle: with ours and the coordinator's gone, the
            // library's request channel closes and closeSession follows the delete. The
            // node's watch task goes now too: it holds a handle while it sets its watch
            // (a lock held for a few milliseconds is released while its first watch is
            // still on the way), which would hold the close back until that answer and
            // beyond; a watch it has set holds none, so dropping it sends no removal.
            watcher.stop();
            drop(client);
            closing = handle.let_go();
            None
        } else {
            Some(client)
        };
        cleaner.track(async move {
            let _ = answer.await;
            watcher.stop();
        });
        match tokio::time::timeout(timeout, stat).await {
            Ok(Ok(Some(s))) if s.ephemeral_owner == ours => Ok(()),
            Ok(Ok(_)) => Err(Error::Lost(format!(
                "its node {} was already gone at release (deleted, or its session expired)",
                path
            ))),
            // The server we talk to went away with the read and the delete unanswered; the
            // library moves the session to another server.
            Ok(Err(zk::Error::ConnectionLoss | zk::Error::Custom(_))) => match (client, closing) {
                // Sent again there ("already gone" is then our own delete).
                (Some(client), _) => {
                    let until = tokio::time::Instant::now() + timeout;
                    if again_until(&client, zk::Error::ConnectionLoss, "releasing", Some(until))
                        .await?
                    {
                        delete(&client, &path).await
                    } else {
                        Err(Error::Unavailable(format!(
                            "ZooKeeper did not answer the release of {path} within {timeout:?}: it goes when the session expires"
                        )))
                    }
                }
                // The last release: the close asked for is sent there, and ends the
                // session with our node; given back once the session is seen closed.
                (None, Some(mut state)) => {
                    let closed = async {
                        while !state.state().is_terminated() {
                            state.changed().await;
                        }
                        state.state()
                    };
                    match tokio::time::timeout(timeout, closed).await {
                        Ok(zk::SessionState::Closed) => Ok(()),
                        _ => Err(Error::Unavailable(format!(
                            "lost the connection to ZooKeeper at the release of {path}, and the session's close was not confirmed: the node goes when the session expires"
                        ))),
                    }
                }
                (None, None) => Err(zk_error(
                    &format!("releasing {path}"),
                    zk::Error::ConnectionLoss,
                )),
            },
            Ok(Err(e)) => Err(zk_error(&format!("releasing {}", path), e)),
            Err(_) => Err(Error::Unavailable(format!(
                "ZooKeeper did not answer the release of {} within {:?}",
                path, timeout
            ))),
        }
    }
}

/// kazoo's Semaphore: side lock, then a lease child if fewer than `n` exist.
async fn semaphore(
    c: &ZkCoordinator,
    name: &str,
    dir: &str,
    n: u32,
    wait: Wait,
) -> Result<Option<Held>> {
    let client = c.client()?;
    check_limit(c, &client, name, dir, n).await?;
    let side_dir = format!("{dir}{SEMAPHORE_SIDE_LOCK}");
    let Some(Turn { entry: side, .. }) =
        queue(c, &side_dir, NodeKind::Write, wait, &|_: &[String]| Ok(())).await?
    else {
        return Ok(None);
    };
    let until = deadline(wait);
    let lease = format!("{dir}/{}", uuid::Uuid::new_v4().simple());
    loop {
        let (children, watcher) = match client.list_and_watch_children(dir).await {
            Ok(x) => x,
            Err(e) => {
                if !again_until(&client, e, &format!("listing {dir}"), until).await? {
                    side.delete_now().await;
                    return Ok(None);
                }
                continue;
            }
        };
        if children.iter().any(|ch| contender(ch).is_some()) {
            side.delete_now().await;
            let (holders, _, _) = dir_holders(c, dir).await?;
            let theirs = match holders.first().and_then(|(_, h)| h.mode.as_deref()) {
                Some("shared") => "a shared lock",
                Some("exclusive") => "an exclusive lock",
                _ => "an exclusive or shared lock",
            };
            return Err(conflict(name, theirs, &holders, LockMode::Limit(n)));
        }
        if children.len() < n as usize {
            // Armed before the request: a cancellation deletes the lease whatever happened.
            let entry = Entry {
                client: client.clone(),
                path: lease.clone(),
                cleaner: c.cleaner(),
                armed: true,
            };
            // Watched in the same breath (answered in order): a delete right after the
            // create is an event on it, not a gap before the holder's monitor watches.
            let created = client.create(&lease, c.identity.member_id.as_bytes(), &c.ephemeral());
            let watched = client.check_and_watch_stat(&lease);
            let (stat, _) = created
                .await
                .map_err(|e| zk_error(&format!("creating {lease}"), e))?;
            let watch: Option<NodeWatch> = match watched.await {
                Ok((Some(now), w)) if now.czxid == stat.czxid => Some(Box::pin(w.changed())),
                // Deleted at once behind our back: not ours; count the leases again.
                Ok(_) => {
                    entry.disarm();
                    continue;
                }
                // The holder's monitor sets its own watch.
                Err(_) => None,
            };
            side.delete_now().await;
            return Ok(Some(held(
                c,
                format!("lock '{name}'"),
                entry,
                stat,
                watch,
                "semaphore lease",
            )?));
        }
        let woke = match (wait, until) {
            (Wait::NoWait, _) => false,
            (_, None) => {
                watcher.changed().await;
                true
            }
            (_, Some(d)) => tokio::time::timeout_at(d, watcher.changed()).await.is_ok(),
        };
        if !woke {
            side.delete_now().await;
            return Ok(None);
        }
    }
}

/// The semaphore node's data is its limit (kazoo checks it); a different live limit is a conflict.
async fn check_limit(
    c: &ZkCoordinator,
    client: &zk::Client,
    name: &str,
    dir: &str,
    n: u32,
) -> Result<()> {
    let text = n.to_string();
    let (data, stat) = match client.get_data(dir).await {
        Ok(d) => d,
        Err(zk::Error::NoNode) => {
            let parent = &dir[..dir.rfind('/').unwrap_or(0)];
            c.ensure_path(parent).await?;
            match client.create(dir, text.as_bytes(), &c.persistent()).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(zk_error(&format!("creating {dir}"), e)),
            }
            client
                .get_data(dir)
                .await
                .map_err(|e| zk_error(&format!("reading {dir}"), e))?
        }
        Err(e) => return Err(zk_error(&format!("reading {dir}"), e)),
    };
    let current = String::from_utf8_lossy(&data).trim().parse::<u32>().ok();
    if current == Some(n) {
        return Ok(());
    }
    let children = client
        .list_children(dir)
        .await
        .map_err(|e| zk_error(&format!("listing {dir}"), e))?;
    if let (Some(m), true) = (current, children.iter().any(|ch| is_lease(ch))) {
        let (holders, _, _) = dir_holders(c, dir).await?;
        return Err(conflict(
            name,
            &format!("a semaphore with --limit {m}"),
            &holders,
            LockMode::Limit(n),
        ));
    }
    match client
        .set_data(dir, text.as_bytes(), Some(stat.version))
        .await
    {
        Ok(_) => Ok(()),
        Err(zk::Error::BadVersion) => Err(Error::Conflict(format!(
            "lock '{name}': its limit changed meanwhile; try again"
        ))),
        Err(e) => Err(zk_error(&format!("writing {dir}"), e)),
    }
}

/// Current holder nodes of `dir` (names), and the mode they hold it in.
pub(super) fn holder_nodes(children: &[String], limit: Option<u32>) -> Vec<(String, LockMode)> {
    let leases: Vec<(String, LockMode)> = children
        .iter()
        .filter(|ch| is_lease(ch))
        .map(|ch| (ch.clone(), LockMode::Limit(limit.unwrap_or(0))))
        .collect();
    if !leases.is_empty() {
        return leases;
    }
    let mut queue: Vec<(NodeKind, &str, &String)> = children
        .iter()
        .filter_map(|ch| contender(ch).map(|(k, s)| (k, s, ch)))
        .collect();
    queue.sort_by(|a, b| a.1.cmp(b.1));
    match queue.first() {
        None => Vec::new(),
        Some((NodeKind::Write, _, ch)) => vec![((*ch).clone(), LockMode::Exclusive)],
        Some(_) => queue
            .iter()
            .take_while(|(k, _, _)| *k == NodeKind::Read)
            .map(|(_, _, ch)| ((*ch).clone(), LockMode::Shared))
            .collect(),
    }
}

/// Holders of the lock directory `dir`, with what we know of each; its children; its
/// semaphore limit, if its data is one.
async fn dir_holders(c: &ZkCoordinator, dir: &str) -> Result<DirHolders> {
    let client = c.client()?;
    let (data, _) = match client.get_data(dir).await {
        Ok(d) => d,
        Err(zk::Error::NoNode) => return Ok((Vec::new(), Vec::new(), None)),
        Err(e) => return Err(zk_error(&format!("reading {dir}"), e)),
    };
    let limit = String::from_utf8_lossy(&data).trim().parse::<u32>().ok();
    let children = match client.list_children(dir).await {
        Ok(ch) => ch,
        Err(zk::Error::NoNode) => return Ok((Vec::new(), Vec::new(), limit)),
        Err(e) => return Err(zk_error(&format!("listing {dir}"), e)),
    };
    let mut out = Vec::new();
    for (node, mode) in holder_nodes(&children, limit) {
        let path = format!("{dir}/{node}");
        let Ok((data, stat)) = client.get_data(&path).await else {
            continue;
        };
        let mut h = c.holder_of(&data, &stat).await;
        h.mode = Some(mode.to_string());
        out.push((path, h));
    }
    Ok((out, children, limit))
}

type DirHolders = (Vec<(String, Holder)>, Vec<String>, Option<u32>);

pub(super) async fn holders(c: &ZkCoordinator, name: &str) -> Result<Vec<Holder>> {
    let dir = c.lock_dir(name)?;
    Ok(dir_holders(c, &dir)
        .await?
        .0
        .into_iter()
        .map(|(_, h)| h)
        .collect())
}

pub(super) async fn break_lock(c: &ZkCoordinator, name: &str) -> Result<Vec<Holder>> {
    let dir = c.lock_dir(name)?;
    let client = c.client()?;
    let (holders, _, _) = dir_holders(c, &dir).await?;
    for (path, _) in &holders {
        delete(&client, path).await?;
    }
    Ok(holders.into_iter().map(|(_, h)| h).collect())
}

/// Every lock directory under `/NS/locks` (nested names included), free ones too: tooz
/// never deletes them.
pub(super) async fn list(c: &ZkCoordinator) -> Result<Vec<LockInfo>> {
    let client = c.client()?;
    let base = format!("{}/locks", c.root);
    let mut todo: Vec<String> = match client.list_children(&base).await {
        Ok(ch) => ch
            .into_iter()
            .filter(|n| n != RECORDS && !n.ends_with(SEMAPHORE_SIDE_LOCK))
            .collect(),
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(zk_error(&format!("listing {base}"), e)),
    };
    let mut out = Vec::new();
    while let Some(name) = todo.pop() {
        let dir = format!("{base}/{name}");
        let (holders, children, _) = dir_holders(c, &dir).await?;
        for ch in &children {
            if contender(ch).is_none() && !is_lease(ch) && name.split('/').count() < 16 {
                todo.push(format!("{name}/{ch}"));
            }
        }
        let token = holders.iter().filter_map(|(_, h)| h.fencing_token).max();
        out.push(LockInfo {
            name,
            holders: holders.into_iter().map(|(_, h)| h).collect(),
            ttl: None,
            fencing_token: token,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazoo_contender_names() {
        assert_eq!(
            contender("0f3c__lock__0000000007"),
            Some((NodeKind::Write, "0000000007"))
        );
        assert_eq!(
            contender("ab__rlock__0000000012"),
            Some((NodeKind::Read, "0000000012"))
        );
        assert_eq!(
            contender("ab__lock__-0000000001"),
            Some((NodeKind::Write, "-0000000001"))
        );
        assert_eq!(contender("ab__lock__000000001"), None);
        assert_eq!(contender("member-1"), None);
        assert!(is_lease("0123456789abcdef0123456789abcdef"));
        assert!(!is_lease("0123456789abcdef0123456789abcdeg"));
    }

    #[test]
    fn holders_in_queue_order() {
        let ch = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let h = holder_nodes(
            &ch(&[
                "b__lock__0000000003",
                "a__rlock__0000000001",
                "c__rlock__0000000002",
            ]),
            None,
        );
        assert_eq!(h.len(), 2);
        assert!(h.iter().all(|(_, m)| *m == LockMode::Shared));
        let h = holder_nodes(&ch(&["b__lock__0000000003", "a__lock__0000000004"]), None);
        assert_eq!(
            h,
            vec![("b__lock__0000000003".to_string(), LockMode::Exclusive)]
        );
    }
}
