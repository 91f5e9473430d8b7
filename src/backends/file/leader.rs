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

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use async_trait::async_trait;
use tokio::sync::watch;

use super::notify::Wake;
use super::ofd::{self, Kind};
use super::safefs::{self, Dir, Open};
use super::store::{blocking, Store};
use crate::coordination::{Error, Health, Held, Holder, Release, Result, Wait};

/// The leader directory of `group`: `None` when missing and not `create`d.
pub(super) fn leader_dir(store: &Store, group: &str, create: bool) -> Result<Option<Dir>> {
    match store.our_dir(group, create)? {
        Some(o) => o.sub("leader", create),
        None => Ok(None),
    }
}

/// Wait in the kernel for the OFD write lock on `file`. `Ok(None)`: `wait` ran out.
async fn wait_for(file: File, wait: Wait, path: &std::path::Path) -> Result<Option<File>> {
    ofd::wait_blocking(
        file,
        wait,
        |f| ofd::lock_wait(f, Kind::Write),
        |f| {
            let _ = ofd::unlock(f);
        },
    )
    .await
    .map_err(|e| safefs::os_error("cannot lock", path, e))
}

pub(super) async fn campaign(store: &Store, group: &str, wait: Wait) -> Result<Option<Held>> {
    let (s, g) = (store.clone(), group.to_string());
    let (dir, file) = blocking(move || {
        s.require(&g)?;
        let dir = leader_dir(&s, &g, true)?.expect("created");
        let file = dir
            .open("lock", Open::Create(0o666))?
            .expect("opening with create always gives a file");
        Ok((dir, file))
    })
    .await?;
    let path = dir.shown("lock");
    let file = if ofd::try_lock(&file, Kind::Write)
        .map_err(|e| safefs::os_error("cannot lock", &path, e))?
    {
        file
    } else {
        match wait_for(file, wait, &path).await? {
            Some(f) => f,
            None => return Ok(None),
        }
    };
    if !dir.names("lock", &file) {
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
    let task = tokio::spawn(guard_lock_file(dir.clone(), file.try_clone().ok(), tx));
    // A copy of the open file description keeps the OFD lock held (COMMAND's guard).
    let keep = vec![std::os::fd::AsRawFd::as_raw_fd(&file)];
    let guard = Leadership {
        dir,
        lock: file,
        task,
    };
    Ok(Some(
        Held::new(
            format!("leadership of group '{group}'"),
            token,
            None,
            rx,
            Box::new(guard),
        )
        .with_keep_alive_fds(keep),
    ))
}

/// Our lock on a leader file that was deleted or replaced no longer excludes anybody:
/// another candidate could be elected on the new file. Report the leadership lost then.
async fn guard_lock_file(dir: Dir, ours: Option<File>, tx: watch::Sender<Health>) {
    let Some(ours) = ours else { return };
    let mask = inotify::WatchMask::DELETE
        | inotify::WatchMask::MOVED_FROM
        | inotify::WatchMask::MOVED_TO
        | inotify::WatchMask::DELETE_SELF
        | inotify::WatchMask::MOVE_SELF;
    let mut wake = Wake::new(&[(dir.proc_path(), mask)], "watching the leader lock file")
        .with_poll(std::time::Duration::from_secs(1));
    // Checked once after the watch is in place, so no change in between is missed.
    loop {
        if !dir.names("lock", &ours) {
            let _ = tx.send(Health::Lost(format!(
                "the leader lock file {} was deleted or replaced",
                dir.shown("lock").display()
            )));
            std::future::pending::<()>().await;
        }
        wake.next().await;
    }
}

/// With the leader lock held: bump the fencing counter and publish who leads.
fn begin_term(store: &Store, dir: &Dir) -> Result<u64> {
    let token_path = dir.shown("token");
    let token_file = dir
        .open("token", Open::Create(0o666))?
        .expect("opening with create always gives a file");
    let mut text = String::new();
    (&token_file)
        .read_to_string(&mut text)
        .map_err(|e| safefs::os_error("cannot read", &token_path, e))?;
    let token = super::lock::next_token(&text, &token_path)?;
    let new = format!("{token}\n");
    token_file
        .set_len(0)
        .and_then(|_| token_file.write_all_at(new.as_bytes(), 0))
        .and_then(|_| token_file.sync_data())
        .map_err(|e| safefs::os_error("cannot write", &token_path, e))?;
    let holder = store.identity.holder(None, Some(token));
    let json =
        serde_json::to_vec(&holder).map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let tmp = format!(".holder-{}.tmp", std::process::id());
    dir.remove(&tmp)?;
    let mut f = dir.create_new(&tmp, 0o644)?;
    let r = std::io::Write::write_all(&mut f, &json)
        .map_err(|e| safefs::os_error("cannot write", &dir.shown(&tmp), e))
        .and_then(|()| dir.rename(&tmp, dir, "holder.json"));
    if let Err(e) = r {
        let _ = dir.remove(&tmp);
        return Err(e);
    }
    Ok(token)
}

/// The current leader of `group`: `None` when nobody holds the leader lock.
pub(super) fn current(store: &Store, group: &str) -> Result<Option<Holder>> {
    let Some(dir) = leader_dir(store, group, false)? else {
        return Ok(None);
    };
    let Some(f) = dir.open("lock", Open::Read)? else {
        return Ok(None);
    };
    match ofd::blocker(&f, Kind::Write)
        .map_err(|e| safefs::os_error("cannot inspect", &dir.shown("lock"), e))?
    {
        None => Ok(None),
        Some(_) => {
            let rec = dir
                .read("holder.json")
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
            Ok(Some(rec.unwrap_or_else(|| {
                Holder::unknown("a leader is being elected")
            })))
        }
    }
}

/// A held leadership.
struct Leadership {
    dir: Dir,
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
        let _ = dir.remove("holder.json");
        ofd::unlock(&lock).map_err(|e| Error::Internal(format!("standing down: {e}")))?;
        Ok(())
    }
}
