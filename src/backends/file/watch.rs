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

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use inotify::{EventMask, Inotify, WatchMask};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::StreamExt;

use super::groups::{blocking, DriverLock, Store};
use super::io_error;
use super::ofd::{self, Kind};
use super::tooz_format::{decode_member, stamp};
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

/// What a reader task captured from each event, in event order.
type Captured<C> = mpsc::UnboundedReceiver<Option<C>>;

/// Read inotify events on their own task as they come and apply `capture` to each at once,
/// so a record that exists only for a moment is read before the watch's slower re-reads
/// could miss it. Every event sends one message (`None` when nothing was captured).
fn reader<C: Send + 'static>(
    mut events: Stream,
    capture: impl Fn(&inotify::EventOwned) -> Option<C> + Send + 'static,
) -> Captured<C> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(e)) = events.next().await {
            if tx.send(capture(&e)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Wait for the next event (or `deadline`), then take those already queued too; returns
/// what was captured. `None` when the watch should end (receiver gone or stream broken).
async fn next_wake<C, T>(
    rx: &mut Captured<C>,
    deadline: Option<Instant>,
    tx: &mpsc::Sender<T>,
) -> Option<Vec<C>> {
    let far = Instant::now() + Duration::from_secs(86400);
    let mut out = Vec::new();
    tokio::select! {
        m = rx.recv() => out.extend(m?),
        _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => {}
        _ = tx.closed() => return None,
    }
    while let Ok(m) = rx.try_recv() {
        out.extend(m);
    }
    Some(out)
}

/// The name of the file an event with any of `mask` is about, if it ends with `suffix`.
fn named<'a>(e: &'a inotify::EventOwned, mask: EventMask, suffix: &str) -> Option<&'a str> {
    let n = e.name.as_ref()?.to_str()?;
    (e.mask.intersects(mask) && n.ends_with(suffix) && !n.starts_with('.')).then_some(n)
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
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
    // Each task says when it has read the initial state: a change after we return is
    // then always reported.
    let (ready_tx, ready_rx) = oneshot::channel();
    let store = c.store();
    match target {
        WatchTarget::Group(g) => {
            let (s, g2) = (store.clone(), g.clone());
            blocking(move || s.require(&g2)).await?;
            let events = group_stream(&store, g)?;
            tokio::spawn(group_task(ready_tx, store, target.clone(), events, tx));
        }
        WatchTarget::Leader(g) => {
            let (s, g2) = (store.clone(), g.clone());
            blocking(move || s.require(&g2)).await?;
            let dir = leader::leader_dir(&store, g);
            fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
            let mask = WatchMask::CREATE
                | WatchMask::MOVED_TO
                | WatchMask::DELETE
                | WatchMask::CLOSE_WRITE;
            let events = stream(&[(&dir, mask)])?;
            tokio::spawn(leader_task(ready_tx, store, target.clone(), events, tx));
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
                holders: holders.clone(),
                url: c.url.clone(),
                identity: c.identity.clone(),
                name: name.clone(),
                file,
            };
            tokio::spawn(lock_task(ready_tx, c2, target.clone(), events, tx));
        }
    }
    let _ = ready_rx.await;
    Ok(rx)
}

/// A group directory: records created, removed, renamed or touched (tooz's heartbeat).
const GROUP_DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVE)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ONLYDIR);

/// Our member lock files. CLOSE_WRITE only: a member holds its lock file open for writing
/// (the kernel closes it when the member dies), while our own reads close it unwritten.
const MEMBERS_DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVE)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ONLYDIR);

fn group_stream(store: &Store, group: &str) -> Result<Stream> {
    let root = store.dir.join("groups");
    let members = store.our_dir(group).join("members");
    fs::create_dir_all(&members).map_err(|e| io_error("cannot create", &members, e))?;
    let root_mask = WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVE | WatchMask::ONLYDIR;
    stream(&[
        (&root, root_mask),
        (&store.group_dir(group), GROUP_DIR_MASK),
        (&members, MEMBERS_DIR_MASK),
    ])
}

/// Live members by id: our holder record (toozctl members) and the membership's stamp.
type Members = BTreeMap<String, (Option<Holder>, String)>;

/// Live members, and when the freshest tooz record expires.
type Snapshot = (Members, Option<SystemTime>);

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
        recs.into_iter()
            .map(|r| (r.member_id, (r.holder, r.stamp)))
            .collect(),
        expiry,
    ))
}

/// What a group watch has reported, and how to report the next state.
struct GroupState {
    /// Members reported as joined (and not yet as left), with their membership stamps.
    known: Members,
    /// Stamps of every membership reported as joined, so a late capture is not reported twice.
    reported: HashSet<String>,
}

impl GroupState {
    fn new(known: Members) -> GroupState {
        let reported = known.values().map(|(_, s)| s.clone()).collect();
        GroupState { known, reported }
    }

    /// The events that lead from what was reported to `now`, given the memberships
    /// captured (as they appeared) before `now` was read, in order.
    fn update(
        &mut self,
        target: &WatchTarget,
        now: Members,
        fleeting: &mut Vec<(String, String)>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        // Leaves first: in a sequence of short memberships, the earlier ones are over.
        let gone: Vec<String> = self
            .known
            .iter()
            .filter(|(m, (_, st))| now.get(*m).map(|(_, s)| s) != Some(st))
            .map(|(m, _)| m.clone())
            .collect();
        for m in gone {
            let h = self.known.remove(&m).and_then(|(h, _)| h);
            out.push(event(EventKind::Leave, target, Some(m), h));
        }
        // Captured memberships: a join, and at once a leave if already over.
        for (m, st) in fleeting.drain(..) {
            if !self.reported.insert(st.clone()) {
                continue;
            }
            match now.get(&m) {
                Some((h, s)) if *s == st => {
                    out.push(event(EventKind::Join, target, Some(m), h.clone()));
                }
                _ => {
                    out.push(event(EventKind::Join, target, Some(m.clone()), None));
                    out.push(event(EventKind::Leave, target, Some(m), None));
                }
            }
        }
        for (m, (h, st)) in &now {
            if self.reported.insert(st.clone()) {
                out.push(event(EventKind::Join, target, Some(m.clone()), h.clone()));
            }
        }
        if self.reported.len() > 4096 {
            // Only stamps of current members can still come back from a late capture.
            self.reported
                .retain(|s| now.values().any(|(_, st)| st == s));
        }
        self.known = now;
        out
    }
}

async fn group_task(
    ready: oneshot::Sender<()>,
    store: Store,
    target: WatchTarget,
    events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let group = target.name().to_string();
    let gdir = store.group_dir(&group);
    let mdir = store.our_dir(&group).join("members");
    let mut watches = events.watches();
    // Records that appear are read at once, so a member that joins and leaves between two
    // reads of the group is still reported (join, then leave).
    let dir = gdir.clone();
    let mut rx = reader(events, move |e| {
        let appeared = EventMask::CREATE | EventMask::MOVED_TO | EventMask::CLOSE_WRITE;
        let n = named(e, appeared, ".raw")?;
        let bytes = fs::read(dir.join(n)).ok()?;
        decode_member(&bytes).map(|(id, _)| (id, stamp(&bytes)))
    });
    let read = |s: &Store| {
        let (s, g) = (s.clone(), group.clone());
        blocking(move || snapshot(&s, &g))
    };
    let (known, mut expiry) = match read(&store).await {
        Ok(v) => v,
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    let mut state = GroupState::new(known);
    let _ = ready.send(());
    loop {
        let deadline = expiry.map(|t| {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            Instant::now() + left + Duration::from_millis(5)
        });
        let Some(mut fleeting) = next_wake(&mut rx, deadline, &tx).await else {
            return;
        };
        for pause in SETTLE {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            // Captures that came meanwhile go first: they are older than the read below.
            while let Ok(m) = rx.try_recv() {
                fleeting.extend(m);
            }
            // The group may have been deleted and created again: watching its directories
            // again is harmless (a directory keeps its one watch).
            if gdir.is_dir() {
                let _ = watches.add(&gdir, GROUP_DIR_MASK);
            }
            if store.exists(&group) && fs::create_dir_all(&mdir).is_ok() {
                let _ = watches.add(&mdir, MEMBERS_DIR_MASK);
            }
            let (now, exp) = match read(&store).await {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            expiry = exp;
            let out = state.update(&target, now, &mut fleeting);
            for e in out {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Each new term writes `holder.json` with a larger fencing token: every record with a
/// token above the last one seen is reported, even if that term has already ended.
async fn leader_task(
    ready: oneshot::Sender<()>,
    store: Store,
    target: WatchTarget,
    events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let record = leader::leader_dir(&store, target.name()).join("holder.json");
    let mut last = read_holder(&record)
        .and_then(|h| h.fencing_token)
        .unwrap_or(0);
    let _ = ready.send(());
    let path = record.clone();
    let mut rx = reader(events, move |e| {
        named(e, EventMask::MOVED_TO, "holder.json")?;
        read_holder(&path)
    });
    while let Some(captured) = next_wake(&mut rx, None, &tx).await {
        // Records in the order they appeared (the rename is atomic: no re-read needed).
        for h in captured {
            let Some(token) = h.fencing_token.filter(|t| *t > last) else {
                continue;
            };
            last = token;
            let e = event(EventKind::Elected, &target, h.member_id.clone(), Some(h));
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
    }
}

/// What a lock watch needs to look at the lock.
struct LockProbe {
    holders: std::path::PathBuf,
    url: crate::coordination::BackendUrl,
    identity: crate::coordination::Identity,
    name: String,
    file: File,
}

impl LockProbe {
    /// `None` when free; else the pid of a classic POSIX holder (tooz), or -1 for an OFD
    /// holder (toozctl, whose record says who it is).
    fn blocker(&self) -> Option<i32> {
        ofd::blocker(&self.file, Kind::Write)
            .ok()?
            .map(|(pid, _)| pid)
    }

    fn holder(&self) -> Option<Holder> {
        let c = FileCoordinator::open(&self.url, self.identity.clone()).ok()?;
        super::inspect::info(&c, &self.name)
            .ok()?
            .holders
            .into_iter()
            .next()
    }
}

/// The term a lock watch believes in progress.
struct Term {
    holder: Option<Holder>,
    /// `acquired` was reported. Not yet for a toozctl holder seen locked before its
    /// record appeared: its record, due any moment, says who it is.
    reported: bool,
}

/// The lock's state, from two sources: the kernel (free or held, by tooz or by us) and
/// our holder records, read as they appear (one per toozctl term, with its fencing token).
/// A toozctl term too short to be seen held is still reported from its record.
struct LockState {
    term: Option<Term>,
    last_token: u64,
}

impl LockState {
    fn acquired(&mut self, target: &WatchTarget, h: Option<Holder>, out: &mut Vec<Event>) {
        out.push(event(EventKind::Acquired, target, who(&h), h.clone()));
        self.term = Some(Term {
            holder: h,
            reported: true,
        });
    }

    /// A new toozctl term, from its record.
    fn record(&mut self, target: &WatchTarget, r: Holder, out: &mut Vec<Event>) {
        let Some(t) = r.fencing_token.filter(|t| *t > self.last_token) else {
            return;
        };
        self.last_token = t;
        if let Some(old) = self.term.take() {
            if old.reported {
                // The previous term ended unseen: the lock went straight to this one.
                out.push(event(
                    EventKind::Released,
                    target,
                    who(&old.holder),
                    old.holder,
                ));
            }
        }
        self.acquired(target, Some(r), out);
    }

    /// What the kernel says now. Returns true when the lock was seen released.
    fn kernel(&mut self, target: &WatchTarget, probe: &LockProbe, out: &mut Vec<Event>) -> bool {
        match (self.term.is_some(), probe.blocker()) {
            (false, Some(pid)) if pid > 0 => {
                let h = probe.holder();
                self.acquired(target, h, out);
            }
            (false, Some(_)) => {
                self.term = Some(Term {
                    holder: None,
                    reported: false,
                })
            }
            (true, None) => {
                let old = self.term.take().expect("checked");
                if !old.reported {
                    out.push(event(EventKind::Acquired, target, None, None));
                }
                out.push(event(
                    EventKind::Released,
                    target,
                    who(&old.holder),
                    old.holder,
                ));
                return true;
            }
            _ => {}
        }
        false
    }

    /// At the end of a settle window: a holder still unnamed is reported as it is.
    fn settle(&mut self, target: &WatchTarget, probe: &LockProbe, out: &mut Vec<Event>) {
        if self.term.as_ref().is_some_and(|t| !t.reported) {
            let h = probe.holder();
            if let Some(t) = h.as_ref().and_then(|h| h.fencing_token) {
                self.last_token = self.last_token.max(t);
            }
            self.acquired(target, h, out);
        }
    }
}

async fn lock_task(
    ready: oneshot::Sender<()>,
    probe: LockProbe,
    target: WatchTarget,
    events: Stream,
    tx: mpsc::Sender<Result<Event>>,
) {
    let holders = probe.holders.clone();
    let mut rx = reader(events, move |e| {
        let n = named(e, EventMask::MOVED_TO, ".json")?;
        let token = n.strip_suffix(".json")?.parse::<u64>().ok()?;
        Some(read_holder(&holders.join(n)).unwrap_or(Holder {
            fencing_token: Some(token),
            ..Holder::default()
        }))
    });
    let mut st = LockState {
        term: None,
        last_token: 0,
    };
    if probe.blocker().is_some() {
        let h = probe.holder();
        st.last_token = h.as_ref().and_then(|h| h.fencing_token).unwrap_or(0);
        st.term = Some(Term {
            holder: h,
            reported: true,
        });
    }
    let _ = ready.send(());
    while let Some(mut records) = next_wake(&mut rx, None, &tx).await {
        let mut pauses: Vec<u64> = SETTLE.to_vec();
        let mut i = 0;
        while i < pauses.len() {
            tokio::time::sleep(Duration::from_millis(pauses[i])).await;
            i += 1;
            // Records that arrived meanwhile are taken in too, in order.
            while let Ok(m) = rx.try_recv() {
                records.extend(m);
            }
            let mut out = Vec::new();
            records.sort_by_key(|h| h.fencing_token);
            for r in records.drain(..) {
                st.record(&target, r, &mut out);
            }
            if st.kernel(&target, &probe, &mut out) && pauses.len() == SETTLE.len() {
                // A tooz waiter polls every <= 100 ms: look again a little longer.
                let mut t = 0;
                for p in AFTER_RELEASE {
                    pauses.push(p - t);
                    t = p;
                }
            }
            if i == pauses.len() {
                st.settle(&target, &probe, &mut out);
            }
            for e in out {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn who(h: &Option<Holder>) -> Option<String> {
    h.as_ref().and_then(|h| h.member_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &str)]) -> Members {
        list.iter()
            .map(|(m, s)| (m.to_string(), (None, s.to_string())))
            .collect()
    }

    fn names(evs: &[Event]) -> Vec<String> {
        evs.iter()
            .map(|e| format!("{} {}", e.kind, e.member.as_deref().unwrap_or("?")))
            .collect()
    }

    #[test]
    fn group_state_reports_joins_leaves_rejoins_and_short_memberships_once() {
        let t = WatchTarget::Group("g".into());
        let mut st = GroupState::new(members(&[("a", "a1")]));
        assert!(st
            .update(&t, members(&[("a", "a1")]), &mut vec![])
            .is_empty());
        // b joined; a left and came back (another stamp); c came and went unseen but captured.
        let mut captured = vec![
            ("c".to_string(), "c1".to_string()),
            ("b".to_string(), "b1".to_string()),
        ];
        let evs = st.update(&t, members(&[("a", "a2"), ("b", "b1")]), &mut captured);
        assert_eq!(
            names(&evs),
            ["leave a", "join c", "leave c", "join b", "join a"]
        );
        // A late capture of what was reported already changes nothing.
        let mut late = vec![
            ("b".to_string(), "b1".to_string()),
            ("c".to_string(), "c1".to_string()),
        ];
        assert!(st
            .update(&t, members(&[("a", "a2"), ("b", "b1")]), &mut late)
            .is_empty());
        assert_eq!(
            names(&st.update(&t, members(&[]), &mut vec![])),
            ["leave a", "leave b"]
        );
    }
}
