//! File locks: exclusive, shared and `--limit N`, compatible with tooz's file driver.
//!
//! Taking a lock: (1) the OS locks on the lock file (OFD, then `flock(2)`); a wait blocks in
//! the kernel (`F_OFD_SETLKW` on a blocking thread), never in a sleep loop. (2) For a
//! semaphore, a free slot; waiting for one is driven by inotify close events on the slot
//! directory. (3) Under an OFD lock on the token file: check that live holders use the lock
//! the same way, increment the fencing token, and write our holder record.
//! Giving it back undoes these in reverse and unlocks before closing, so a waiter woken by
//! the close always finds the lock free.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::notify::Wake;
use super::ofd::{self, Kind};
use super::safefs::{self, Dir, Open, Root};
use super::FileCoordinator;
use crate::coordination::{
    Error, Health, Held, Holder, LockMode, LockRequest, Release, Result, Wait,
};

/// Open (creating) a lock file as fasteners does (0666 less the umask, parent directories
/// made), for reading and appending: a read (shared) lock needs a descriptor open for
/// reading. Returns the file's directory, its name there, and the file.
fn open_lock_file(root: &Dir, rel: &str) -> Result<(Dir, String, File)> {
    let (d, f) = safefs::split(rel);
    let dir = root
        .sub(d, true)?
        .expect("sub(create) always gives a directory");
    let file = dir
        .open(f, Open::LockFile(0o666))?
        .expect("opening with create always gives a file");
    Ok((dir, f.to_string(), file))
}

fn is_contended(e: &io::Error) -> bool {
    e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
        || e.kind() == io::ErrorKind::WouldBlock
}

/// OFD lock, then `flock(2)` of the same kind, without waiting.
fn try_both(f: &File, kind: Kind) -> io::Result<bool> {
    if !ofd::try_lock(f, kind)? {
        return Ok(false);
    }
    let r = match kind {
        Kind::Write => fs2::FileExt::try_lock_exclusive(f),
        Kind::Read => fs2::FileExt::try_lock_shared(f),
    };
    match r {
        Ok(()) => Ok(true),
        Err(e) => {
            let _ = ofd::unlock(f);
            if is_contended(&e) {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// OFD lock, then `flock(2)`, both blocking in the kernel.
fn wait_both(f: &File, kind: Kind) -> io::Result<()> {
    ofd::lock_wait(f, kind)?;
    match kind {
        Kind::Write => fs2::FileExt::lock_exclusive(f),
        Kind::Read => fs2::FileExt::lock_shared(f),
    }
}

fn unlock_both(f: &File) {
    let _ = fs2::FileExt::unlock(f);
    let _ = ofd::unlock(f);
}

/// Wait in the kernel for the OS locks on `file` until `wait` says stop. `Ok(None)` on timeout.
async fn wait_for_file(
    file: File,
    kind: Kind,
    wait: Wait,
    path: &std::path::Path,
) -> Result<Option<File>> {
    ofd::wait_blocking(file, wait, move |f| wait_both(f, kind), unlock_both)
        .await
        .map_err(|e| safefs::os_error("cannot lock", path, e))
}

/// Whether a holder of `theirs` may hold the lock while we hold it as `ours`, or wait for it.
fn compatible(theirs: Option<&str>, ours: LockMode) -> bool {
    match (theirs, ours) {
        (None, _) => true,
        (Some(t), LockMode::Limit(_)) => t == ours.to_string(),
        (Some(t), _) => t == "exclusive" || t == "shared",
    }
}

fn conflict(name: &str, holder: &Holder, ours: LockMode) -> Error {
    Error::Conflict(format!(
        "lock '{name}' is held as {} by {holder}; it cannot also be used as {ours}: use one kind (and one --limit) per name",
        holder.mode.as_deref().unwrap_or("a lock")
    ))
}

pub(super) async fn acquire(c: &FileCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    let rel = c.lock_file(&req.name)?;
    let root = c.root.write()?;
    let meta = root
        .sub(&c.lock_meta(&req.name), true)?
        .expect("sub(create) always gives a directory");
    let kind = match req.mode {
        LockMode::Exclusive => Kind::Write,
        LockMode::Shared | LockMode::Limit(_) => Kind::Read,
    };
    // The kernel may grant us a lock on a file that was deleted (or replaced) while we
    // waited: that lock excludes nobody. So after every grant, check that the path still
    // names the inode we locked, and start again if not.
    let (dir, fname, main) = loop {
        let (dir, fname, file) = open_lock_file(&root, &rel)?;
        let path = dir.shown(&fname);
        let got = if try_both(&file, kind).map_err(|e| safefs::os_error("cannot lock", &path, e))? {
            file
        } else {
            // Someone holds it: a use of another kind is an error, not a wait.
            for h in live_holders(Some(&meta), false)? {
                if !compatible(h.mode.as_deref(), req.mode) {
                    return Err(conflict(&req.name, &h, req.mode));
                }
            }
            if let (LockMode::Limit(_), Ok(Some((pid, Kind::Write)))) =
                (req.mode, ofd::blocker(&file, Kind::Read))
            {
                let holder = foreign_holder(pid);
                return Err(conflict(
                    &req.name,
                    &Holder {
                        mode: Some("exclusive".into()),
                        ..holder
                    },
                    req.mode,
                ));
            }
            match wait_for_file(file, kind, req.wait, &path).await? {
                Some(f) => f,
                None => return Ok(None),
            }
        };
        if dir.names(&fname, &got) {
            break (dir, fname, got);
        }
        unlock_both(&got);
    };
    let slot = match req.mode {
        LockMode::Limit(n) => match take_slot(&meta, n, req.wait).await? {
            Some(s) => Some(s),
            None => {
                unlock_both(&main);
                return Ok(None);
            }
        },
        _ => None,
    };
    let (token, record) = match record_holder(c, &req.name, &meta, req.mode) {
        Ok(r) => r,
        Err(e) => {
            if let Some(s) = &slot {
                let _ = ofd::unlock(s);
            }
            unlock_both(&main);
            return Err(e);
        }
    };
    let (tx, rx) = watch::channel(Health::Held { expires: None });
    let watchdog = tokio::spawn(watch_lock_file(dir, fname, main.try_clone().ok(), tx));
    // The OFD locks belong to these open file descriptions: a copy kept open elsewhere
    // (COMMAND's guard) keeps them held until that copy closes too.
    let keep = std::iter::once(&main)
        .chain(slot.as_ref())
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .collect();
    let guard = FileLock {
        main,
        slot,
        record,
        watchdog,
    };
    Ok(Some(
        Held::new(
            format!("lock '{}'", safefs::short(&req.name)),
            token,
            None,
            rx,
            Box::new(guard),
        )
        .with_keep_alive_fds(keep),
    ))
}

/// Find and take a free semaphore slot, waiting on inotify close events (or polling,
/// when inotify is not available).
async fn take_slot(meta: &Dir, n: u32, wait: Wait) -> Result<Option<File>> {
    let dir = meta
        .sub("slots", true)?
        .expect("sub(create) always gives a directory");
    // Keep every slot open for the whole wait: our own tries then cause no close events.
    let mut slots = Vec::with_capacity(n as usize);
    for i in 0..n {
        slots.push(dir.open(&i.to_string(), Open::LockFile(0o666))?);
    }
    if let Some(i) = free_slot(&slots, &dir)? {
        return Ok(slots[i].take());
    }
    if wait == Wait::NoWait {
        return Ok(None);
    }
    // Only now watch (closing an inotify instance costs the kernel a grace period, so the
    // uncontended path has none), then look again so no release before the watch is missed.
    let mut wake = Wake::new(
        &[(
            dir.proc_path(),
            inotify::WatchMask::CLOSE_WRITE | inotify::WatchMask::CLOSE_NOWRITE,
        )],
        "waiting for a semaphore slot",
    );
    loop {
        // A killed holder's close event can come a moment before the kernel drops its lock:
        // after each event, look a few more times over 40 ms before waiting again.
        for pause_ms in [0u64, 1, 4, 10, 25] {
            if pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
            if let Some(i) = free_slot(&slots, &dir)? {
                return Ok(slots[i].take());
            }
        }
        let woke = match wait {
            Wait::Until(d) => tokio::time::timeout_at(d, wake.next()).await.ok(),
            _ => {
                wake.next().await;
                Some(())
            }
        };
        if woke.is_none() {
            return Ok(None);
        }
    }
}

/// The index of a slot we just locked, if any is free.
fn free_slot(slots: &[Option<File>], dir: &Dir) -> Result<Option<usize>> {
    for (i, slot) in slots.iter().enumerate() {
        let f = slot.as_ref().expect("slots stay open while waiting");
        if ofd::try_lock(f, Kind::Write)
            .map_err(|e| safefs::os_error("cannot lock", dir.path(), e))?
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The fencing token after the one in the counter file `text`: 1 for a new (empty)
/// counter. Never a smaller number: a counter that is not a number, or at its maximum,
/// is refused with a message naming the file.
pub(super) fn next_token(text: &str, path: &std::path::Path) -> Result<u64> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(1);
    }
    let shown = safefs::short(&path.to_string_lossy());
    match t.parse::<u64>() {
        Ok(n) => n.checked_add(1).ok_or_else(|| {
            Error::Unavailable(format!(
                "the fencing counter {shown} is at its maximum ({n}): no larger token exists, so none is handed out"
            ))
        }),
        Err(_) => Err(Error::Unavailable(format!(
            "the fencing counter {shown} does not hold a number ({:?}): refusing to guess, as a smaller token could repeat one already handed out; write a number at least as large as the last token used into it",
            safefs::short(t)
        ))),
    }
}

/// Under the token file's lock: check live holders, bump the fencing token, write our record.
fn record_holder(
    c: &FileCoordinator,
    name: &str,
    meta: &Dir,
    mode: LockMode,
) -> Result<(u64, Record)> {
    let holders = meta
        .sub("holders", true)?
        .expect("sub(create) always gives a directory");
    let token_path = meta.shown("token");
    let token_file = meta
        .open("token", Open::Create(0o666))?
        .expect("opening with create always gives a file");
    ofd::lock_wait(&token_file, Kind::Write)
        .map_err(|e| safefs::os_error("cannot lock", &token_path, e))?;
    for h in live_holders(Some(meta), true)? {
        if !compatible(h.mode.as_deref(), mode) {
            return Err(conflict(name, &h, mode));
        }
    }
    let mut text = String::new();
    (&token_file)
        .read_to_string(&mut text)
        .map_err(|e| safefs::os_error("cannot read", &token_path, e))?;
    let token = next_token(&text, &token_path)?;
    // Written in place: the new number is never shorter than the old one, so the file is
    // cut only when it held more than the number and a newline (leading zeros, spaces).
    // Not fsynced (as before): the page cache keeps it through any process's death, which
    // is what two live holders need to get different tokens. A power loss can take back
    // the increments of the last seconds (see docs/file-backend.md); an fsync here would
    // cost a journal commit per acquisition.
    let new = format!("{token}\n");
    token_file
        .write_all_at(new.as_bytes(), 0)
        .and_then(|_| match text.len() > new.len() {
            true => token_file.set_len(new.len() as u64),
            false => Ok(()),
        })
        .map_err(|e| safefs::os_error("cannot write", &token_path, e))?;
    let record = Record::write(&holders, token, &c.identity.holder(Some(mode), Some(token)))?;
    let _ = ofd::unlock(&token_file);
    Ok((token, record))
}

/// Our holder record: a JSON file we keep an OFD lock on while we hold the lock.
struct Record {
    dir: Dir,
    name: String,
    file: File,
}

impl Record {
    /// Called under the token file's lock, which every writer that removes stale records
    /// holds too: so the record is created under its real name and locked at once, with no
    /// temporary name and rename. A reader that looks in between sees an unlocked empty file
    /// or a locked partial one, and skips both (readers never remove).
    fn write(dir: &Dir, token: u64, holder: &Holder) -> Result<Record> {
        let name = format!("{token}.json");
        let file = match dir.create_new(&name, 0o644) {
            Ok(f) => f,
            // A stale record with our (new) token: a counter set back by hand.
            Err(_) => {
                dir.remove(&name)?;
                dir.create_new(&name, 0o644)?
            }
        };
        let shown = || dir.shown(&name);
        if let Err(e) = ofd::try_lock(&file, Kind::Write) {
            let _ = dir.remove(&name);
            return Err(safefs::os_error("cannot lock", &shown(), e));
        }
        let json = serde_json::to_vec(holder)
            .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
        if let Err(e) = file.write_all_at(&json, 0) {
            let _ = dir.remove(&name);
            return Err(safefs::os_error("cannot write", &shown(), e));
        }
        Ok(Record {
            dir: dir.clone(),
            name,
            file,
        })
    }

    fn remove(self) {
        // Only our own record: the name could have been taken over since (by hand).
        if self.dir.names(&self.name, &self.file) {
            let _ = self.dir.remove(&self.name);
        }
        let _ = ofd::unlock(&self.file);
    }
}

/// Current toozctl holders of the lock whose companion directory is `meta`. Stale
/// records (no lock on them: their process died) are skipped, and removed when `clean`
/// (writers clean up; readers never write).
pub(super) fn live_holders(meta: Option<&Dir>, clean: bool) -> Result<Vec<Holder>> {
    let Some(dir) = meta.map(|m| m.sub("holders", false)).transpose()?.flatten() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in dir.files()? {
        if !name.ends_with(".json") {
            continue;
        }
        let Ok(Some(mut f)) = dir.open(&name, Open::Read) else {
            continue;
        };
        match ofd::blocker(&f, Kind::Write) {
            Ok(Some(_)) => {
                let mut text = String::new();
                if f.read_to_string(&mut text).is_ok() {
                    if let Ok(h) = serde_json::from_str::<Holder>(&text) {
                        out.push(h);
                    }
                }
            }
            Ok(None) if clean => {
                let _ = dir.remove(&name);
            }
            _ => {}
        }
    }
    out.sort_by_key(|h| h.fencing_token);
    Ok(out)
}

/// Live holders of lock `name`, for readers: nothing is created or cleaned.
pub(super) fn holders_of(root: &Root, name: &str) -> Result<Vec<Holder>> {
    let Some(r) = root.read()? else {
        return Ok(Vec::new());
    };
    let meta = r.sub(&super::meta_rel(name), false)?;
    live_holders(meta.as_ref(), false)
}

/// A lock on the lock file with no toozctl record: tooz, or another fcntl user. A POSIX
/// lock names its process, which runs on this machine: show its command line too.
pub(super) fn foreign_holder(pid: i32) -> Holder {
    if pid > 0 {
        Holder {
            pid: Some(pid as u32),
            host: super::local::hostname(),
            command: super::local::command_line(pid as u32),
            ..Holder::unknown("holds a POSIX fcntl lock (a tooz client?)")
        }
    } else {
        Holder::unknown("held by another process (OFD lock, no toozctl record)")
    }
}

/// How often a held lock's file is checked when inotify is not available.
const FILE_CHECK: Duration = Duration::from_secs(1);

/// For how long a new hold is watched by looking (every [`EARLY_CHECK`]) before an inotify
/// instance is made. Closing an inotify instance that had watches costs the kernel an SRCU
/// grace period — several milliseconds, more on a busy machine, paid by the closing process
/// even at exit — which would double the time of a short `lock NAME -- COMMAND`. A COMMAND
/// that runs longer than this gets the inotify watch; one that ends sooner never pays it.
const EARLY: Duration = Duration::from_millis(500);
const EARLY_CHECK: Duration = Duration::from_millis(5);

/// What became of the held lock file: `None` while the path still names our inode.
fn lock_file_fate(dir: &Dir, name: &str, ours: &File) -> Option<&'static str> {
    match dir.stat(name) {
        Ok(Some(s)) if Some((s.dev, s.ino)) == safefs::identity(ours).ok() => None,
        Ok(Some(_)) => Some("the lock file was replaced"),
        Ok(None) => Some("the lock file was deleted"),
        Err(_) => None,
    }
}

/// The kernel never takes a file lock away, but someone can delete or replace the lock
/// file: a tooz client would then lock the new file while we hold the old one. Watch the
/// file (its link count drops: IN_ATTRIB; IN_DELETE_SELF, IN_MOVE_SELF) and its directory
/// (entries removed, renamed or created), check at each event that the path still names
/// our inode, and publish the loss at once when it does not. For the first [`EARLY`] of
/// the hold the check runs every [`EARLY_CHECK`] instead (see there why).
async fn watch_lock_file(dir: Dir, name: String, ours: Option<File>, tx: watch::Sender<Health>) {
    use inotify::WatchMask as M;
    let Some(ours) = ours else { return };
    let lost = |why: &str| {
        let _ = tx.send(Health::Lost(format!(
            "{why} ({}): others can now take the lock",
            safefs::short(&dir.shown(&name).to_string_lossy())
        )));
    };
    let early_until = tokio::time::Instant::now() + EARLY;
    loop {
        if let Some(why) = lock_file_fate(&dir, &name, &ours) {
            lost(why);
            std::future::pending::<()>().await;
        }
        if tokio::time::Instant::now() >= early_until {
            break;
        }
        tokio::time::sleep(EARLY_CHECK).await;
    }
    let file_path = std::path::PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&ours)
    ));
    let mut wake = Wake::new(
        &[
            (file_path, M::ATTRIB | M::DELETE_SELF | M::MOVE_SELF),
            (
                dir.proc_path(),
                M::DELETE | M::MOVED_FROM | M::MOVED_TO | M::CREATE | M::DELETE_SELF | M::MOVE_SELF,
            ),
        ],
        "watching the held lock file",
    )
    .with_poll(FILE_CHECK);
    // Checked once after the watches are in place, so no change in between is missed.
    loop {
        if let Some(why) = lock_file_fate(&dir, &name, &ours) {
            lost(why);
            // Keep the sender until released, so the loss is not mistaken for a closed channel.
            std::future::pending::<()>().await;
        }
        wake.next().await;
    }
}

/// A held file lock.
struct FileLock {
    main: File,
    slot: Option<File>,
    record: Record,
    watchdog: tokio::task::JoinHandle<()>,
}

#[async_trait]
impl Release for FileLock {
    async fn release(self: Box<Self>) -> Result<()> {
        let FileLock {
            main,
            slot,
            record,
            watchdog,
        } = *self;
        watchdog.abort();
        record.remove();
        if let Some(s) = slot {
            ofd::unlock(&s)
                .map_err(|e| Error::Internal(format!("unlocking semaphore slot: {e}")))?;
        }
        unlock_both(&main);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fencing_counter_never_goes_back() {
        let p = std::path::Path::new("/d/.toozctl/locks/x/token");
        assert_eq!(next_token("", p).unwrap(), 1);
        assert_eq!(next_token("41\n", p).unwrap(), 42);
        for bad in ["18446744073709551615", "garbage", "-3", "1e3"] {
            let e = next_token(bad, p).unwrap_err();
            assert!(e.message().contains("/d/.toozctl/locks/x/token"), "{e}");
            assert!(matches!(e, Error::Unavailable(_)), "{bad}: {e}");
        }
    }
}
