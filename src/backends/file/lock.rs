//! File locks: exclusive, shared and `--limit N`, compatible with tooz's file driver.
//!
//! Taking a lock: (1) the OS locks on the lock file (OFD, then `flock(2)`); a wait blocks in
//! the kernel (`F_OFD_SETLKW` on a blocking thread), never in a sleep loop. (2) For a
//! semaphore, a free slot; waiting for one is driven by inotify close events on the slot
//! directory. (3) Under an OFD lock on the token file: check that live holders use the lock
//! the same way, increment the fencing token, and write our holder record.
//! Giving it back undoes these in reverse and unlocks before closing, so a waiter woken by
//! the close always finds the lock free.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::ofd::{self, Kind};
use super::{io_error, FileCoordinator};
use crate::coordination::{
    Error, Health, Held, Holder, LockMode, LockRequest, Release, Result, Wait,
};

/// Open (creating) a lock file as fasteners does (append, 0666 less the umask), and also
/// for reading: a read (shared) lock needs a descriptor open for reading.
fn open_lock_file(path: &Path) -> Result<File> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
    };
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io_error("cannot create", parent, e))?;
            }
            open().map_err(|e| io_error("cannot open lock file", path, e))
        }
        Err(e) => Err(io_error("cannot open lock file", path, e)),
    }
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
async fn wait_for_file(file: File, kind: Kind, wait: Wait, path: &Path) -> Result<Option<File>> {
    ofd::wait_blocking(file, wait, move |f| wait_both(f, kind), unlock_both)
        .await
        .map_err(|e| io_error("cannot lock", path, e))
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
    let path = c.lock_file(&req.name)?;
    let meta = c.lock_meta(&req.name);
    let kind = match req.mode {
        LockMode::Exclusive => Kind::Write,
        LockMode::Shared | LockMode::Limit(_) => Kind::Read,
    };
    let file = open_lock_file(&path)?;
    let main = if try_both(&file, kind).map_err(|e| io_error("cannot lock", &path, e))? {
        file
    } else {
        // Someone holds it: a use of another kind is an error, not a wait.
        for h in live_holders(&meta)? {
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
    let watchdog = watch_lock_file(path, &main, tx);
    let guard = FileLock {
        main,
        slot,
        record,
        watchdog,
    };
    Ok(Some(Held::new(
        format!("lock '{}'", req.name),
        token,
        None,
        rx,
        Box::new(guard),
    )))
}

/// Find and take a free semaphore slot, waiting on inotify close events.
async fn take_slot(meta: &Path, n: u32, wait: Wait) -> Result<Option<File>> {
    let dir = meta.join("slots");
    std::fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
    // Keep every slot open for the whole wait: our own tries then cause no close events.
    let mut slots = Vec::with_capacity(n as usize);
    for i in 0..n {
        slots.push(Some(open_lock_file(&dir.join(i.to_string()))?));
    }
    if let Some(i) = free_slot(&slots, &dir)? {
        return Ok(slots[i].take());
    }
    if wait == Wait::NoWait {
        return Ok(None);
    }
    // Only now watch (closing an inotify instance costs the kernel a grace period, so the
    // uncontended path has none), then look again so no release before the watch is missed.
    let inotify = inotify::Inotify::init().map_err(|e| Error::Internal(format!("inotify: {e}")))?;
    inotify
        .watches()
        .add(
            &dir,
            inotify::WatchMask::CLOSE_WRITE | inotify::WatchMask::CLOSE_NOWRITE,
        )
        .map_err(|e| io_error("cannot watch", &dir, e))?;
    let mut events = inotify
        .into_event_stream([0u8; 1024])
        .map_err(|e| Error::Internal(format!("inotify: {e}")))?;
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
        let next = async {
            match wait {
                Wait::Until(d) => tokio::time::timeout_at(d, events.next()).await.ok(),
                _ => Some(events.next().await),
            }
        };
        match next.await {
            None => return Ok(None),
            Some(Some(Ok(_))) => {}
            Some(Some(Err(e))) => return Err(Error::Internal(format!("inotify: {e}"))),
            Some(None) => return Err(Error::Internal("inotify stream ended".into())),
        }
    }
}

/// The index of a slot we just locked, if any is free.
fn free_slot(slots: &[Option<File>], dir: &Path) -> Result<Option<usize>> {
    for (i, slot) in slots.iter().enumerate() {
        let f = slot.as_ref().expect("slots stay open while waiting");
        if ofd::try_lock(f, Kind::Write).map_err(|e| io_error("cannot lock", dir, e))? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Under the token file's lock: check live holders, bump the fencing token, write our record.
fn record_holder(
    c: &FileCoordinator,
    name: &str,
    meta: &Path,
    mode: LockMode,
) -> Result<(u64, Record)> {
    let holders_dir = meta.join("holders");
    std::fs::create_dir_all(&holders_dir)
        .map_err(|e| io_error("cannot create", &holders_dir, e))?;
    let token_path = meta.join("token");
    let token_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(&token_path)
        .map_err(|e| io_error("cannot open", &token_path, e))?;
    ofd::lock_wait(&token_file, Kind::Write)
        .map_err(|e| io_error("cannot lock", &token_path, e))?;
    for h in live_holders(meta)? {
        if !compatible(h.mode.as_deref(), mode) {
            return Err(conflict(name, &h, mode));
        }
    }
    let mut text = String::new();
    (&token_file)
        .read_to_string(&mut text)
        .map_err(|e| io_error("cannot read", &token_path, e))?;
    let token = text.trim().parse::<u64>().unwrap_or(0) + 1;
    let new = format!("{token}\n");
    token_file
        .set_len(0)
        .and_then(|_| token_file.write_all_at(new.as_bytes(), 0))
        .map_err(|e| io_error("cannot write", &token_path, e))?;
    let record = Record::write(
        &holders_dir,
        token,
        &c.identity.holder(Some(mode), Some(token)),
    )?;
    let _ = ofd::unlock(&token_file);
    Ok((token, record))
}

/// Our holder record: a JSON file we keep an OFD lock on while we hold the lock.
struct Record {
    path: PathBuf,
    file: File,
}

impl Record {
    fn write(dir: &Path, token: u64, holder: &Holder) -> Result<Record> {
        let tmp = dir.join(format!(".tmp-{}-{token}", std::process::id()));
        let path = dir.join(format!("{token}.json"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| io_error("cannot create", &tmp, e))?;
        // Locked before it has its real name, so no reader ever sees it unlocked.
        ofd::try_lock(&file, Kind::Write).map_err(|e| io_error("cannot lock", &tmp, e))?;
        let json = serde_json::to_vec(holder)
            .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
        file.write_all_at(&json, 0)
            .map_err(|e| io_error("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_error("cannot rename", &tmp, e))?;
        Ok(Record { path, file })
    }

    fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = ofd::unlock(&self.file);
    }
}

/// Current toozctl holders of the lock whose companion directory is `meta`; stale
/// records (no lock on them: their process died) are removed on the way.
pub(super) fn live_holders(meta: &Path) -> Result<Vec<Holder>> {
    let dir = meta.join("holders");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("cannot read", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&p)
        else {
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
            Ok(None) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
    out.sort_by_key(|h| h.fencing_token);
    Ok(out)
}

/// A lock on the lock file with no toozctl record: tooz, or another fcntl user. A POSIX
/// lock names its process, which runs on this machine: show its command line too.
pub(super) fn foreign_holder(pid: i32) -> Holder {
    if pid > 0 {
        Holder {
            pid: Some(pid as u32),
            host: super::inspect::hostname(),
            command: super::inspect::command_line(pid as u32),
            ..Holder::unknown("holds a POSIX fcntl lock (a tooz client?)")
        }
    } else {
        Holder::unknown("held by another process (OFD lock, no toozctl record)")
    }
}

/// How often a held lock's file is checked for deletion or replacement.
const FILE_CHECK: Duration = Duration::from_secs(1);

/// The kernel never takes a file lock away, but someone can delete or replace the lock
/// file: a tooz client would then lock the new file while we hold the old one. Check that
/// the path still names our inode; publish the loss when it does not.
fn watch_lock_file(
    path: PathBuf,
    main: &File,
    tx: watch::Sender<Health>,
) -> tokio::task::JoinHandle<()> {
    use std::os::unix::fs::MetadataExt;
    let ours = main.metadata().map(|m| (m.dev(), m.ino())).ok();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FILE_CHECK).await;
            let why = match std::fs::metadata(&path) {
                Ok(m) if Some((m.dev(), m.ino())) == ours => continue,
                Ok(_) => "the lock file was replaced",
                Err(e) if e.kind() == io::ErrorKind::NotFound => "the lock file was deleted",
                Err(_) => continue,
            };
            let _ = tx.send(Health::Lost(format!(
                "{why} ({}): others can now take the lock",
                path.display()
            )));
            // Keep the sender until released, so the loss is not mistaken for a closed channel.
            std::future::pending::<()>().await;
        }
    })
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
