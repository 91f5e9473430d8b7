//! Watches on the file backend, driven by inotify (no polling loop):
//!
//! - **group**: the group directory (records created, removed, renamed, touched), our
//!   member lock files (a killed member's descriptors are closed by the kernel, which
//!   inotify reports) and `DIR/groups` (the group deleted or created again). Each change
//!   re-reads the live members and reports the differences as `join`/`leave`. A tooz
//!   member that stops heartbeating produces no file event: the watch wakes when the
//!   freshest such record would expire, as tooz's own listing would drop it.
//! - **leader**: our leader directory (a new `holder.json`, the leader lock closed by a
//!   dying leader); reports `elected` for each new term.
//! - **lock**: the lock file (opened by an acquirer; closed, after unlocking, by every
//!   releaser, tooz included, and by the kernel for a killed holder) and our holder
//!   records; reports `acquired`/`released` when the lock goes from free to held and back.
//!
//! A close event can come a moment before the kernel drops a dead process's lock, and a
//! blocked tooz waiter polls every ≤ 100 ms, so after each event the state is read again a
//! few times over the next ~40 ms (and, after a release, up to ~250 ms).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use inotify::{Inotify, WatchMask};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::StreamExt;

use super::groups::{blocking, DriverLock, Store};
use super::io_error;
use super::ofd::{self, Kind};
use super::{leader, FileCoordinator};
use crate::coordination::{Error, Event, EventKind, Events, Holder, Result, WatchTarget};

type Stream = inotify::EventStream<[u8; 4096]>;

/// Re-read pauses after an event (ms).
const SETTLE: [u64; 5] = [0, 1, 4, 10, 25];
/// Extra re-reads after a release, for tooz waiters that poll the lock (ms, cumulative).
const AFTER_RELEASE: [u64; 5] = [50, 100, 150, 200, 250];

fn inotify_err(e: std::io::Error) -> Error {
    Error::Internal(format!("inotify: {e}"))
}

fn stream(paths: &[(&Path, WatchMask)]) -> Result<Stream> {
    let inotify = Inotify::init().map_err(inotify_err)?;
    for (p, mask) in paths {
        inotify
            .watches()
            .add(p, *mask)
            .map_err(|e| io_error("cannot watch", p, e))?;
    }
    inotify.into_event_stream([0u8; 4096]).map_err(inotify_err)
}

/// Wait for the next inotify event (or `deadline`), then swallow those already queued.
/// `false` when the watch should end (receiver gone or stream broken).
async fn next_wake<T>(
    events: &mut Stream,
    deadline: Option<Instant>,
    tx: &mpsc::Sender<T>,
) -> bool {
    let far = Instant::now() + Duration::from_secs(86400);
    tokio::select! {
        ev = events.next() => {
            if !matches!(ev, Some(Ok(_))) {
                return false;
            }
        }
        _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => {}
        _ = tx.closed() => return false,
    }
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::ZERO, events.next()).await {}
    true
}

fn event(
    kind: EventKind,
    target: &WatchTarget,
    member: Option<String>,
    holder: Option<Holder>,
) -> Event {
    let fencing_token = holder.as_ref().and_then(|h| h.fencing_token);
    Event {
        kind,
        target: target.clone(),
        member,
        holder,
        fencing_token,
        at: SystemTime::now(),
    }
}

pub(super) async fn watch(c: &FileCoordinator, target: &WatchTarget) -> Result<Events> {
    let (tx, rx) = mpsc::channel(1024);
    let store = c.store();
    match target {
        WatchTarget::Group(g) => {
            let (s, g2) = (store.clone(), g.clone());
            blocking(move || s.require(&g2)).await?;
            let events = group_stream(&store, g)?;
            tokio::spawn(group_task(store, target.clone(), events, tx));
        }
        WatchTarget::Leader(g) => {
            let (s, g2) = (store.clone(), g.clone());
            blocking(move || s.require(&g2)).await?;
            let dir = leader::leader_dir(&store, g);
            fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
            let mask =
                WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::DELETE | WatchMask::CLOSE;
            let events = stream(&[(&dir, mask)])?;
            tokio::spawn(leader_task(store, target.clone(), events, tx));
        }
        WatchTarget::Lock(name) => {
            let path = c.lock_file(name)?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| io_error("cannot create", parent, e))?;
            }
            // Opened (created, as tooz would) once and kept open: our own checks must not
            // cause open/close events.
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o666)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| io_error("cannot open lock file", &path, e))?;
            let holders = c.lock_meta(name).join("holders");
            fs::create_dir_all(&holders).map_err(|e| io_error("cannot create", &holders, e))?;
            let events = stream(&[
                (&path, WatchMask::OPEN | WatchMask::CLOSE),
                (
                    &holders,
                    WatchMask::MOVED_TO | WatchMask::CREATE | WatchMask::DELETE,
                ),
            ])?;
            let c2 = LockProbe {
                url: c.url.clone(),
                identity: c.identity.clone(),
                name: name.clone(),
                file,
            };
            tokio::spawn(lock_task(c2, target.clone(), events, tx));
        }
    }
    Ok(rx)
}

fn group_stream(store: &Store, group: &str) -> Result<Stream> {
    let root = store.dir.join("groups");
    let members = store.our_dir(group).join("members");
    fs::create_dir_all(&members).map_err(|e| io_error("cannot create", &members, e))?;
    let gdir = store.group_dir(group);
    let dir_mask = WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVE
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE;
    stream(&[
        (
            &root,
            WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVE | WatchMask::ONLYDIR,
        ),
        (&gdir, dir_mask | WatchMask::ONLYDIR),
        (
            &members,
            WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVE | WatchMask::CLOSE,
        ),
    ])
}

/// Live members by id (with our holder record), and when the freshest tooz record expires.
type Snapshot = (BTreeMap<String, Option<Holder>>, Option<SystemTime>);

/// Live members of a group (an absent group counts as empty), and when the freshest tooz
/// record would expire.
fn snapshot(store: &Store, group: &str) -> Result<Snapshot> {
    if !store.exists(group) {
        return Ok((BTreeMap::new(), None));
    }
    let _dl = DriverLock::take(&store.dir)?;
    let recs = store.records(&store.group_dir(group), &store.our_dir(group), false)?;
    let expiry = recs.iter().filter_map(|r| r.fresh_until).min();
    Ok((
        recs.into_iter().map(|r| (r.member_id, r.holder)).collect(),
        expiry,
    ))
}

async fn group_task(
    store: Store,
    target: WatchTarget,
    mut events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let group = target.name().to_string();
    let gdir = store.group_dir(&group);
    let read = |s: &Store| {
        let (s, g) = (s.clone(), group.clone());
        blocking(move || snapshot(&s, &g))
    };
    let (mut known, mut expiry) = match read(&store).await {
        Ok(v) => v,
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    loop {
        let deadline = expiry.map(|t| {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            Instant::now() + left + Duration::from_millis(5)
        });
        if !next_wake(&mut events, deadline, &tx).await {
            return;
        }
        // The group directory may have been (re)created: watching it again is harmless.
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVE
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE;
        let _ = events.watches().add(&gdir, mask | WatchMask::ONLYDIR);
        for pause in SETTLE {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let (now, exp) = match read(&store).await {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            expiry = exp;
            let mut out = Vec::new();
            for (m, h) in &known {
                if !now.contains_key(m) {
                    out.push(event(EventKind::Leave, &target, Some(m.clone()), h.clone()));
                }
            }
            for (m, h) in &now {
                if !known.contains_key(m) {
                    out.push(event(EventKind::Join, &target, Some(m.clone()), h.clone()));
                }
            }
            known = now;
            for e in out {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn leader_task(
    store: Store,
    target: WatchTarget,
    mut events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let group = target.name().to_string();
    let read = |s: &Store| {
        let (s, g) = (s.clone(), group.clone());
        blocking(move || leader::current(&s, &g))
    };
    let term = |h: &Option<Holder>| h.as_ref().map(|h| (h.member_id.clone(), h.fencing_token));
    let mut known = match read(&store).await {
        Ok(h) => term(&h),
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    while next_wake(&mut events, None, &tx).await {
        for pause in SETTLE {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let now = match read(&store).await {
                Ok(h) => h,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let t = term(&now);
            // A leader without a record yet ("being elected") is reported once it has one.
            let settled = now.as_ref().is_none_or(|h| h.fencing_token.is_some());
            if settled && t != known {
                known = t;
                if let Some(h) = now {
                    if tx
                        .send(Ok(event(
                            EventKind::Elected,
                            &target,
                            h.member_id.clone(),
                            Some(h),
                        )))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// What a lock watch needs to look at the lock.
struct LockProbe {
    url: crate::coordination::BackendUrl,
    identity: crate::coordination::Identity,
    name: String,
    file: File,
}

impl LockProbe {
    fn held(&self) -> bool {
        matches!(ofd::blocker(&self.file, Kind::Write), Ok(Some(_)))
    }

    fn holder(&self) -> Option<Holder> {
        let c = FileCoordinator::open(&self.url, self.identity.clone()).ok()?;
        super::lock::holders(&c, &self.name)
            .ok()?
            .into_iter()
            .next()
    }
}

async fn lock_task(
    probe: LockProbe,
    target: WatchTarget,
    mut events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let mut held = probe.held();
    let mut holder = if held { probe.holder() } else { None };
    while next_wake(&mut events, None, &tx).await {
        let mut pauses: Vec<u64> = SETTLE.to_vec();
        let mut i = 0;
        while i < pauses.len() {
            tokio::time::sleep(Duration::from_millis(pauses[i])).await;
            i += 1;
            let now = probe.held();
            if now == held {
                continue;
            }
            held = now;
            let e = if now {
                holder = probe.holder();
                event(
                    EventKind::Acquired,
                    &target,
                    holder.as_ref().and_then(|h| h.member_id.clone()),
                    holder.clone(),
                )
            } else {
                // A tooz waiter polls every ≤ 100 ms: look again a little longer.
                let mut t = 0;
                pauses.truncate(i);
                for p in AFTER_RELEASE {
                    pauses.push(p - t);
                    t = p;
                }
                let h = holder.take();
                event(
                    EventKind::Released,
                    &target,
                    h.as_ref().and_then(|h| h.member_id.clone()),
                    h,
                )
            };
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
    }
}
