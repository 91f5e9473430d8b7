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
//! Reading never writes: a directory or lock file that does not exist yet is not created;
//! the watch looks for it at each wake (a timer ticks while something is missing) and
//! watches it once it appears. When the system gives no inotify instance (the per-user
//! limit), the watch polls instead (`notify`).
//!
//! A close event can come a moment before the kernel drops a dead process's lock, and a
//! blocked tooz waiter polls every ≤ 100 ms, so after each event the state is read again a
//! few times over the next ~40 ms (and, after a release, up to ~250 ms).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use inotify::{EventMask, WatchMask, Watches};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::StreamExt;

use super::notify::{self, Stream, POLL};
use super::ofd::{self, Kind};
use super::safefs::{self, Dir, Open, Root};
use super::store::{blocking, DriverLock, Store};
use super::tooz_format::{decode_member, stamp};
use super::{leader, FileCoordinator};
use crate::coordination::{Event, EventKind, Events, Holder, Result, WatchTarget};

/// Re-read pauses after an event (ms).
const SETTLE: [u64; 5] = [0, 1, 4, 10, 25];
/// Extra re-reads after a release, for tooz waiters that poll the lock (ms, cumulative).
const AFTER_RELEASE: [u64; 5] = [50, 100, 150, 200, 250];

/// What a reader task captured from each event, in event order.
type Captured<C> = mpsc::UnboundedReceiver<Option<C>>;

/// Read inotify events on their own task as they come and apply `capture` to each at once,
/// so a record that exists only for a moment is read before the watch's slower re-reads
/// could miss it. Every event sends one message (`None` when nothing was captured). With
/// `tick` (or without inotify), a timer wakes the watch too: `capture(None)`.
fn reader<C: Send + 'static>(
    events: Option<Stream>,
    tick: Option<Duration>,
    capture: impl Fn(Option<&inotify::EventOwned>) -> Option<C> + Send + 'static,
) -> Captured<C> {
    let (tx, rx) = mpsc::unbounded_channel();
    let tick = if events.is_none() { Some(POLL) } else { tick };
    tokio::spawn(async move {
        let mut events = events;
        let far = Duration::from_secs(86400);
        loop {
            let pause = if events.is_none() {
                POLL
            } else {
                tick.unwrap_or(far)
            };
            let got = tokio::select! {
                e = async {
                    match events.as_mut() {
                        Some(s) => s.next().await,
                        None => std::future::pending().await,
                    }
                } => match e {
                    Some(Ok(e)) => capture(Some(&e)),
                    // A broken stream: poll from now on.
                    _ => {
                        events = None;
                        capture(None)
                    }
                },
                _ = tokio::time::sleep(pause) => capture(None),
            };
            if tx.send(got).is_err() {
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

fn read_holder(dir: &Dir, name: &str) -> Option<Holder> {
    serde_json::from_slice(&dir.read(name).ok()??).ok()
}

/// A holder record just created: its writer creates it under its final name, locks it and
/// writes it at once (`lock.rs` `Record::write`), so a read right at the CREATE event can
/// find it empty or partial. Read again for a few milliseconds before settling for less.
fn read_new_holder(dir: &Dir, name: &str) -> Option<Holder> {
    for _ in 0..5 {
        match read_holder(dir, name) {
            Some(h) => return Some(h),
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    read_holder(dir, name)
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
            let events = blocking(move || {
                s.require(&g2)?;
                group_stream(&s, &g2)
            })
            .await?;
            tokio::spawn(group_task(ready_tx, store, target.clone(), events, tx));
        }
        WatchTarget::Leader(g) => {
            let (s, g2) = (store.clone(), g.clone());
            let dir = blocking(move || {
                s.require(&g2)?;
                leader::leader_dir(&s, &g2, false)
            })
            .await?;
            drop(dir);
            let events = notify::stream(&[], "watching the leader");
            let rel = format!("{}/leader", super::store::our_rel(g));
            let watching = match &events {
                Some(e) => watch_deepest(&mut e.watches(), &store.root, &rel, LEADER_MASK),
                None => false,
            };
            tokio::spawn(leader_task(
                ready_tx,
                store,
                target.clone(),
                events,
                watching,
                tx,
            ));
        }
        WatchTarget::Lock(name) => {
            c.lock_file(name)?;
            let probe = LockProbe {
                root: c.root.clone(),
                name: name.clone(),
                st: Mutex::new(ProbeState::default()),
            };
            // A backend directory that does not exist yet cannot be watched: look for it
            // with a timer until it does.
            let missing = c.root.read()?.is_none();
            let events = notify::stream(&[], "watching the lock");
            let complete = match &events {
                Some(e) => probe.refresh(&mut e.watches())?,
                None => probe.refresh_files()?,
            };
            tokio::spawn(lock_task(
                ready_tx,
                probe,
                target.clone(),
                events,
                complete,
                missing,
                tx,
            ));
        }
    }
    let _ = ready_rx.await;
    Ok(rx)
}

/// A leader directory: a new `holder.json`, the leader lock closed by a dying leader.
const LEADER_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE)
    .union(WatchMask::CLOSE_WRITE);

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

/// The directories of a group's watch that exist (`DIR/groups`, the group's, our member
/// lock files'), with what to watch in each.
fn group_dirs(store: &Store, group: &str) -> Result<Vec<(Dir, WatchMask)>> {
    let root_mask = WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVE | WatchMask::ONLYDIR;
    let mut out = Vec::new();
    if let Some(r) = store.read_root()? {
        if let Some(g) = r.sub("groups", false)? {
            out.push((g, root_mask));
        }
    }
    if let Some(g) = store.group_dir(group)? {
        out.push((g, GROUP_DIR_MASK));
    }
    if let Some(m) = members_dir(store, group)? {
        out.push((m, MEMBERS_DIR_MASK));
    }
    Ok(out)
}

fn members_dir(store: &Store, group: &str) -> Result<Option<Dir>> {
    match store.our_dir(group, false)? {
        Some(o) => o.sub("members", false),
        None => Ok(None),
    }
}

/// Watch the directory `rel` under the backend directory with `mask` when it exists (then
/// `true`); else watch its deepest existing ancestor for entries appearing, so the watch
/// wakes when the next part of the path is made and can look again.
fn watch_deepest(w: &mut Watches, root: &Root, rel: &str, mask: WatchMask) -> bool {
    let appear = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::MASK_ADD;
    // A part made between our look and the watch would send no event: after watching an
    // ancestor, look again, until what we watch is what we found.
    for _ in 0..64 {
        let Ok(Some(mut dir)) = root.read() else {
            return false;
        };
        let mut missing = None;
        for comp in rel.split('/').filter(|c| !c.is_empty()) {
            match dir.sub(comp, false) {
                Ok(Some(d)) => dir = d,
                _ => {
                    missing = Some(comp);
                    break;
                }
            }
        }
        let Some(comp) = missing else {
            return w.add(dir.proc_path(), mask).is_ok();
        };
        if w.add(dir.proc_path(), appear).is_err() {
            return false;
        }
        if !matches!(dir.stat(comp), Ok(Some(_))) {
            return false;
        }
    }
    false
}

/// Watch each directory (again: a directory keeps its one watch).
fn add_all(w: &mut Watches, dirs: &[(Dir, WatchMask)]) {
    for (p, m) in proc_paths(dirs) {
        let _ = w.add(p, m);
    }
}

/// `/proc/self/fd/N` of each handle, resolved by the kernel while the handles are open.
fn proc_paths(dirs: &[(Dir, WatchMask)]) -> Vec<(std::path::PathBuf, WatchMask)> {
    dirs.iter().map(|(d, m)| (d.proc_path(), *m)).collect()
}

fn group_stream(store: &Store, group: &str) -> Result<Option<Stream>> {
    let dirs = group_dirs(store, group)?;
    Ok(notify::stream(&proc_paths(&dirs), "watching the group"))
}

/// Live members by id: our holder record (toozctl members) and the membership's stamp.
type Members = BTreeMap<String, (Option<Holder>, String)>;

/// Live members, and when the freshest tooz record expires.
type Snapshot = (Members, Option<SystemTime>);

/// Live members of a group (an absent group counts as empty), and when the freshest tooz
/// record would expire.
fn snapshot(store: &Store, group: &str) -> Result<Snapshot> {
    let Some(root) = store.read_root()? else {
        return Ok((BTreeMap::new(), None));
    };
    if !store.exists(group)? {
        return Ok((BTreeMap::new(), None));
    }
    let _dl = DriverLock::read(&root)?;
    let Some(gdir) = store.group_dir(group)? else {
        return Ok((BTreeMap::new(), None));
    };
    let odir = store.our_dir(group, false)?;
    let recs = store.records(&gdir, odir.as_ref(), false, false)?;
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
            out.push(Event::now(EventKind::Leave, target, Some(m), h));
        }
        // Captured memberships: a join, and at once a leave if already over.
        for (m, st) in fleeting.drain(..) {
            if !self.reported.insert(st.clone()) {
                continue;
            }
            match now.get(&m) {
                Some((h, s)) if *s == st => {
                    out.push(Event::now(EventKind::Join, target, Some(m), h.clone()));
                }
                _ => {
                    out.push(Event::now(EventKind::Join, target, Some(m.clone()), None));
                    out.push(Event::now(EventKind::Leave, target, Some(m), None));
                }
            }
        }
        for (m, (h, st)) in &now {
            if self.reported.insert(st.clone()) {
                out.push(Event::now(
                    EventKind::Join,
                    target,
                    Some(m.clone()),
                    h.clone(),
                ));
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
    events: Option<Stream>,
    tx: mpsc::Sender<Result<Event>>,
) {
    let group = target.name().to_string();
    let mut watches = events.as_ref().map(|e| e.watches());
    // Records that appear are read at once, so a member that joins and leaves between two
    // reads of the group is still reported (join, then leave).
    let dir = store.group_dir(&group).ok().flatten();
    let mut rx = reader(events, None, move |e| {
        let appeared = EventMask::CREATE | EventMask::MOVED_TO | EventMask::CLOSE_WRITE;
        let n = named(e?, appeared, ".raw")?;
        let bytes = dir.as_ref()?.read(n).ok()??;
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
            // The group may have been deleted and created again, our member directory
            // made: watching its directories again is harmless (a directory keeps its one
            // watch).
            if let (Some(w), Ok(dirs)) = (watches.as_mut(), group_dirs(&store, &group)) {
                add_all(w, &dirs);
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
    events: Option<Stream>,
    watching: bool,
    tx: mpsc::Sender<Result<Event>>,
) {
    let group = target.name().to_string();
    let read = {
        let (store, group) = (store.clone(), group.clone());
        move || {
            let dir = leader::leader_dir(&store, &group, false).ok()??;
            read_holder(&dir, "holder.json")
        }
    };
    let mut last = read().and_then(|h| h.fencing_token).unwrap_or(0);
    let _ = ready.send(());
    let mut watches = events.as_ref().map(|e| e.watches());
    // Until the leader directory exists (nobody campaigned yet), its deepest existing
    // directory is watched; each wake looks again, and reads the record once it is found.
    let mut watching = watching;
    let rel = format!("{}/leader", super::store::our_rel(&group));
    let r = read.clone();
    let mut rx = reader(events, None, move |e| {
        if let Some(e) = e {
            named(e, EventMask::MOVED_TO, "holder.json")?;
        }
        r()
    });
    while let Some(mut captured) = next_wake(&mut rx, None, &tx).await {
        if !watching {
            if let Some(w) = watches.as_mut() {
                watching = watch_deepest(w, &store.root, &rel, LEADER_MASK);
                if watching {
                    captured.extend(read());
                }
            }
        }
        // Records in the order they appeared (the rename is atomic: no re-read needed).
        for h in captured {
            let Some(token) = h.fencing_token.filter(|t| *t > last) else {
                continue;
            };
            last = token;
            let e = Event::now(EventKind::Elected, &target, h.member_id.clone(), Some(h));
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
    }
}

/// What a lock watch has found of the lock so far: each appears when first used.
#[derive(Default)]
struct ProbeState {
    /// The lock file, opened for reading once and kept open: our own checks must not
    /// cause open/close events.
    file: Option<File>,
    file_watched: bool,
    holders_watched: bool,
}

/// What a lock watch needs to look at the lock.
struct LockProbe {
    root: Arc<Root>,
    name: String,
    st: Mutex<ProbeState>,
}

impl LockProbe {
    fn lock_dir(&self) -> Result<Option<Dir>> {
        match self.root.read()? {
            Some(r) => r.sub(safefs::split(&self.name).0, false),
            None => Ok(None),
        }
    }

    /// Open the lock file if it exists now (without watches).
    fn refresh_files(&self) -> Result<bool> {
        let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
        if st.file.is_none() {
            if let Some(d) = self.lock_dir()? {
                st.file = d.open(safefs::split(&self.name).1, Open::Read)?;
            }
        }
        Ok(st.file.is_some())
    }

    /// Open and watch what exists now and is not watched yet (else the deepest existing
    /// directory on its way). Returns whether everything is watched.
    fn holders_watched(&self) -> bool {
        self.st
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .holders_watched
    }

    fn refresh(&self, w: &mut Watches) -> Result<bool> {
        // Twice: a lock file made just before its directory was watched sends no event.
        for _ in 0..2 {
            self.refresh_files()?;
            let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
            if st.file_watched {
                break;
            }
            if let Some(f) = &st.file {
                let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f));
                st.file_watched = w.add(p, WatchMask::OPEN | WatchMask::CLOSE).is_ok();
                break;
            }
            drop(st);
            let parent = safefs::split(&self.name).0;
            let mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::MASK_ADD;
            watch_deepest(w, &self.root, parent, mask);
        }
        let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
        if !st.holders_watched {
            let holders = format!("{}/holders", super::meta_rel(&self.name));
            let mask = WatchMask::MOVED_TO | WatchMask::CREATE | WatchMask::DELETE;
            st.holders_watched = watch_deepest(w, &self.root, &holders, mask);
        }
        Ok(st.file_watched && st.holders_watched)
    }

    /// `None` when free; else the pid of a classic POSIX holder (tooz), or -1 for an OFD
    /// holder (toozctl, whose record says who it is).
    fn blocker(&self) -> Option<i32> {
        let _ = self.refresh_files();
        let st = self.st.lock().unwrap_or_else(|p| p.into_inner());
        ofd::blocker(st.file.as_ref()?, Kind::Write)
            .ok()?
            .map(|(pid, _)| pid)
    }

    fn holder(&self) -> Option<Holder> {
        super::inspect::info(&self.root, &self.name)
            .ok()?
            .holders
            .into_iter()
            .next()
    }

    /// A toozctl term newer than `last`: its record, else the fencing counter's number.
    fn newer(&self, last: u64) -> Option<Holder> {
        self.holder()
            .filter(|h| h.fencing_token.is_some_and(|t| t > last))
            .or_else(|| self.unnamed(last))
    }

    /// For a toozctl term whose record was gone before it could be read (the watch began
    /// before the record directory existed): the fencing counter, when it moved past
    /// `last`, names the term (toozctl bumps it before writing the record; tooz never does).
    fn unnamed(&self, last: u64) -> Option<Holder> {
        let token = super::inspect::info(&self.root, &self.name)
            .ok()?
            .fencing_token
            .filter(|t| *t > last)?;
        Some(Holder {
            fencing_token: Some(token),
            ..Holder::default()
        })
    }
}

/// The term a lock watch believes in progress.
struct Term {
    holder: Option<Holder>,
    /// `acquired` was reported. Not yet for a toozctl holder seen locked before its
    /// record appeared: its record, due any moment, says who it is.
    reported: bool,
    /// When the lock was first seen held in this term.
    since: Instant,
}

/// How long a holder seen locking the lock file (an OFD lock: toozctl's) may go without
/// its record before it is reported without one. Its record normally follows within a
/// millisecond, but a holder descheduled on a loaded machine, or waiting for the token
/// file's lock, can take far longer than the settle pauses; reported early, the same term
/// would show up twice (unnamed, then released and acquired again from its record).
const UNNAMED_WAIT: Duration = Duration::from_secs(1);

/// The lock's state, from two sources: the kernel (free or held, by tooz or by us) and
/// our holder records, read as they appear (one per toozctl term, with its fencing token).
/// A toozctl term too short to be seen held is still reported from its record.
struct LockState {
    term: Option<Term>,
    last_token: u64,
}

impl LockState {
    fn acquired(&mut self, target: &WatchTarget, h: Option<Holder>, out: &mut Vec<Event>) {
        out.push(Event::now(EventKind::Acquired, target, who(&h), h.clone()));
        self.term = Some(Term {
            holder: h,
            reported: true,
            since: Instant::now(),
        });
    }

    /// Until when the watch waits for the record of a holder seen without one.
    fn pending_until(&self) -> Option<Instant> {
        let t = self.term.as_ref().filter(|t| !t.reported)?;
        Some(t.since + UNNAMED_WAIT)
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
                out.push(Event::now(
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
                    since: Instant::now(),
                })
            }
            (true, None) => {
                let mut old = self.term.take().expect("checked");
                if !old.reported {
                    old.holder = probe.unnamed(self.last_token);
                    if let Some(t) = old.holder.as_ref().and_then(|h| h.fencing_token) {
                        self.last_token = t;
                    }
                    out.push(Event::now(
                        EventKind::Acquired,
                        target,
                        None,
                        old.holder.clone(),
                    ));
                }
                out.push(Event::now(
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

    /// At the end of a settle window: a holder still unnamed is reported as it is, once it
    /// had [`UNNAMED_WAIT`] to write its record.
    fn settle(&mut self, target: &WatchTarget, probe: &LockProbe, out: &mut Vec<Event>) {
        if let Some(t) = self.term.as_ref().filter(|t| !t.reported) {
            let h = probe.holder().or_else(|| probe.unnamed(self.last_token));
            let named = h.as_ref().is_some_and(|h| h.fencing_token.is_some());
            if !named && t.since.elapsed() < UNNAMED_WAIT {
                return;
            }
            if let Some(t) = h.as_ref().and_then(|h| h.fencing_token) {
                self.last_token = self.last_token.max(t);
            }
            self.acquired(target, h, out);
        } else if self.term.is_none() {
            // Free, yet the fencing counter moved on: a toozctl term began and ended between
            // two looks (its record came and went unseen, e.g. before its directory was
            // watched). Report it from the counter; several such terms show as one.
            if let Some(h) = probe.unnamed(self.last_token) {
                self.last_token = h.fencing_token.unwrap_or(self.last_token);
                self.acquired(target, Some(h), out);
                let old = self.term.take().expect("just set");
                out.push(Event::now(EventKind::Released, target, None, old.holder));
            }
        }
    }
}

async fn lock_task(
    ready: oneshot::Sender<()>,
    probe: LockProbe,
    target: WatchTarget,
    events: Option<Stream>,
    complete: bool,
    missing: bool,
    tx: mpsc::Sender<Result<Event>>,
) {
    let probe = Arc::new(probe);
    let (root, meta) = (probe.root.clone(), super::meta_rel(&probe.name));
    let mut watches = events.as_ref().map(|e| e.watches());
    // Polling sees no record appear: a term handed straight to the next holder shows as
    // the fencing counter moving on instead.
    let polling = events.is_none();
    let mut complete = complete;
    // Until the lock file and our holder records exist, their deepest existing directory is
    // watched, and each event looks again at once, on the reader task (a short term can
    // come and go while the watch task settles); records already there when their
    // directory is first watched are captured too.
    let (p2, w2) = (probe.clone(), Mutex::new(watches.clone()));
    let done = std::sync::atomic::AtomicBool::new(complete);
    let mut rx = reader(events, missing.then_some(POLL), move |e| {
        use std::sync::atomic::Ordering::SeqCst;
        let mut out = Vec::new();
        if !done.load(SeqCst) {
            let mut w = w2.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = w.as_mut() {
                let had = p2.holders_watched();
                done.store(p2.refresh(w).unwrap_or(false), SeqCst);
                if !had && p2.holders_watched() {
                    out.extend(p2.holder());
                }
            }
        }
        // A record appears under its final name (CREATE); older toozctl wrote it under a
        // temporary name and renamed it (MOVED_TO).
        let appeared = EventMask::CREATE | EventMask::MOVED_TO;
        if let Some(n) = e.and_then(|e| named(e, appeared, ".json")) {
            if let Some(token) = n.strip_suffix(".json").and_then(|t| t.parse::<u64>().ok()) {
                let holders = root
                    .read()
                    .ok()
                    .flatten()
                    .and_then(|r| r.sub(&format!("{meta}/holders"), false).ok().flatten());
                out.push(
                    holders
                        .and_then(|h| read_new_holder(&h, n))
                        .unwrap_or(Holder {
                            fencing_token: Some(token),
                            ..Holder::default()
                        }),
                );
            }
        }
        (!out.is_empty()).then_some(out)
    });
    // Terms before the watch are not reported: start from the counter as it stands.
    let counter = super::inspect::info(&probe.root, &probe.name)
        .ok()
        .and_then(|i| i.fencing_token)
        .unwrap_or(0);
    let mut st = LockState {
        term: None,
        last_token: counter,
    };
    if probe.blocker().is_some() {
        let h = probe.holder();
        st.last_token = h
            .as_ref()
            .and_then(|h| h.fencing_token)
            .unwrap_or(0)
            .max(counter);
        st.term = Some(Term {
            holder: h,
            reported: true,
            since: Instant::now(),
        });
    }
    let _ = ready.send(());
    while let Some(captured) = next_wake(&mut rx, st.pending_until(), &tx).await {
        let mut records: Vec<Holder> = captured.into_iter().flatten().collect();
        let mut pauses: Vec<u64> = SETTLE.to_vec();
        let mut i = 0;
        while i < pauses.len() {
            tokio::time::sleep(Duration::from_millis(pauses[i])).await;
            i += 1;
            // What appeared since (the lock file, our record directory) is watched from now.
            if !complete {
                if let Some(w) = watches.as_mut() {
                    complete = probe.refresh(w).unwrap_or(false);
                }
            }
            // Records that arrived meanwhile are taken in too, in order.
            while let Ok(m) = rx.try_recv() {
                records.extend(m.into_iter().flatten());
            }
            if polling && st.term.is_some() {
                records.extend(probe.newer(st.last_token));
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
