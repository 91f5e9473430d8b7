//! Leader election on the file backend. tooz has none there (§4.4: `get_leader` and election
//! are not implemented by its file driver), so this is our own layout, under
//! `DIR/.toozctl/groups/<sha1(group)>/leader/`:
//!
//! | file | what |
//! |---|---|
//! | `lock` | the leader keeps an OFD write lock on it for its whole term; campaigners wait for it in the kernel (`F_OFD_SETLKW` on a blocking thread), and the kernel hands it on the moment the leader stands down or dies |
//! | `token` | the fencing counter (decimal), incremented by each new leader while it holds `lock`: every term gets a larger number |
//! | `holder.json` | who leads (member id, host, pid, command, since, fencing token); replaced by each new leader, removed when it stands down, and only believed while `lock` is locked |
//!
//! A leader whose `lock` file is deleted or replaced (by hand, or a group deleted under it)
//! no longer excludes anybody, so its leadership is reported lost at once (inotify).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::groups::{blocking, Store};
use super::io_error;
use super::ofd::{self, Kind};
use crate::coordination::{Error, Health, Held, Holder, Release, Result, Wait};

pub(super) fn leader_dir(store: &Store, group: &str) -> PathBuf {
    store.our_dir(group).join("leader")
}

fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io_error("cannot open", path, e))
}

/// Wait in the kernel for the OFD write lock on `file`. `Ok(None)`: `wait` ran out.
async fn wait_for(file: File, wait: Wait, path: &Path) -> Result<Option<File>> {
    ofd::wait_blocking(
        file,
        wait,
        |f| ofd::lock_wait(f, Kind::Write),
        |f| {
            let _ = ofd::unlock(f);
        },
    )
    .await
    .map_err(|e| io_error("cannot lock", path, e))
}

pub(super) async fn campaign(store: &Store, group: &str, wait: Wait) -> Result<Option<Held>> {
    let (s, g) = (store.clone(), group.to_string());
    let dir = leader_dir(store, group);
    let path = dir.join("lock");
    let file = {
        let (dir, path) = (dir.clone(), path.clone());
        blocking(move || {
            s.require(&g)?;
            fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
            open_rw(&path)
        })
        .await?
    };
    let file =
        if ofd::try_lock(&file, Kind::Write).map_err(|e| io_error("cannot lock", &path, e))? {
            file
        } else {
            match wait_for(file, wait, &path).await? {
                Some(f) => f,
                None => return Ok(None),
            }
        };
    if !same_file(&path, file.metadata().map(|m| m.ino()).unwrap_or(0)) {
        // Deleted or replaced while we waited (the group was deleted): nobody is elected on
        // a file that is gone.
        let _ = ofd::unlock(&file);
        return Err(Error::NotFound(format!(
            "group '{group}' was deleted while campaigning"
        )));
    }
    let (s, d) = (store.clone(), dir.clone());
    let term = blocking(move || begin_term(&s, &d)).await;
    let token = match term {
        Ok(t) => t,
        Err(e) => {
            let _ = ofd::unlock(&file);
            return Err(e);
        }
    };
    let (tx, rx) = watch::channel(Health::Held { expires: None });
    let ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
    let task = tokio::spawn(guard_lock_file(path, ino, tx));
    let guard = Leadership {
        dir,
        lock: file,
        task,
    };
    Ok(Some(Held::new(
        format!("leadership of group '{group}'"),
        token,
        None,
        rx,
        Box::new(guard),
    )))
}

/// Whether `path` is still the file we locked (not deleted, not replaced).
fn same_file(path: &Path, ino: u64) -> bool {
    fs::metadata(path).map(|m| m.ino() == ino).unwrap_or(false)
}

/// Our lock on a leader file that was deleted or replaced no longer excludes anybody:
/// another candidate could be elected on the new file. Report the leadership lost then.
async fn guard_lock_file(path: PathBuf, ino: u64, tx: watch::Sender<Health>) {
    let Some(dir) = path.parent() else { return };
    let Ok(inotify) = inotify::Inotify::init() else {
        return;
    };
    let mask = inotify::WatchMask::DELETE
        | inotify::WatchMask::MOVED_FROM
        | inotify::WatchMask::MOVED_TO
        | inotify::WatchMask::DELETE_SELF
        | inotify::WatchMask::MOVE_SELF;
    if inotify.watches().add(dir, mask).is_err() {
        return;
    }
    let Ok(mut events) = inotify.into_event_stream([0u8; 1024]) else {
        return;
    };
    // Checked once after the watch is in place, so no change in between is missed.
    loop {
        if !same_file(&path, ino) {
            let _ = tx.send(Health::Lost(format!(
                "the leader lock file {} was deleted or replaced",
                path.display()
            )));
            return;
        }
        match events.next().await {
            Some(Ok(_)) => {}
            _ => return,
        }
    }
}

/// With the leader lock held: bump the fencing counter and publish who leads.
fn begin_term(store: &Store, dir: &Path) -> Result<u64> {
    let token_path = dir.join("token");
    let token_file = open_rw(&token_path)?;
    let mut text = String::new();
    (&token_file)
        .read_to_string(&mut text)
        .map_err(|e| io_error("cannot read", &token_path, e))?;
    let token = text.trim().parse::<u64>().unwrap_or(0) + 1;
    let new = format!("{token}\n");
    token_file
        .set_len(0)
        .and_then(|_| token_file.write_all_at(new.as_bytes(), 0))
        .and_then(|_| token_file.sync_data())
        .map_err(|e| io_error("cannot write", &token_path, e))?;
    let holder = store.identity.holder(None, Some(token));
    let json =
        serde_json::to_vec(&holder).map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let tmp = dir.join(format!(".holder-{}.tmp", std::process::id()));
    fs::write(&tmp, json)
        .and_then(|_| fs::rename(&tmp, dir.join("holder.json")))
        .map_err(|e| io_error("cannot write", &dir.join("holder.json"), e))?;
    Ok(token)
}

/// The current leader of `group`: `None` when nobody holds the leader lock.
pub(super) fn current(store: &Store, group: &str) -> Result<Option<Holder>> {
    let dir = leader_dir(store, group);
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(dir.join("lock"))
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot open", &dir.join("lock"), e)),
    };
    match ofd::blocker(&f, Kind::Write)
        .map_err(|e| io_error("cannot inspect", &dir.join("lock"), e))?
    {
        None => Ok(None),
        Some(_) => {
            let rec = fs::read(dir.join("holder.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
            Ok(Some(rec.unwrap_or_else(|| {
                Holder::unknown("a leader is being elected")
            })))
        }
    }
}

/// A held leadership.
struct Leadership {
    dir: PathBuf,
    lock: File,
    /// Watches the lock file and owns the health sender.
    task: tokio::task::JoinHandle<()>,
}

#[async_trait]
impl Release for Leadership {
    async fn release(self: Box<Self>) -> Result<()> {
        let Leadership { dir, lock, task } = *self;
        task.abort();
        // The record goes before the lock, so nobody reads us as leader after we stood down.
        let _ = fs::remove_file(dir.join("holder.json"));
        ofd::unlock(&lock).map_err(|e| Error::Internal(format!("standing down: {e}")))?;
        Ok(())
    }
}
