//! A held group membership on the file backend: its heartbeat touches the member record
//! every `timeout`/3 so tooz clients keep listing it, and reports the membership lost as
//! soon as the record is removed (inotify on the group and member-lock directories);
//! releasing removes what is still ours, record before lock.

use std::fs::File;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::notify::Wake;
use super::ofd;
use super::safefs::Dir;
use super::store::{blocking, DriverLock, Store};
use crate::coordination::{Health, Held, Release, Result};

impl Store {
    /// Whether our membership still stands: the record is there and the lock file is ours.
    fn still_member(&self, j: &JoinedPaths) -> bool {
        matches!(j.gdir.stat(&j.raw), Ok(Some(_)))
            && matches!(j.mdir.stat(&j.live_name), Ok(Some(s)) if s.ino == j.ino)
    }

    /// Refresh the record's mtime (tooz's heartbeat), under the driver lock. Records of
    /// toozctl members that died are removed on the way: readers never write, so living
    /// members clean up after dead ones (tooz would list them until they go stale).
    fn touch(&self, j: &JoinedPaths) -> Result<bool> {
        let _dl = DriverLock::take(&self.root.write()?)?;
        if !self.still_member(j) {
            return Ok(false);
        }
        let _ = self.records_in(&j.gdir, Some(&j.mdir), false, true);
        j.gdir.touch(&j.raw)
    }
}

/// Where a membership's files are, as handles on their directories.
#[derive(Clone)]
struct JoinedPaths {
    gdir: Dir,
    raw: String,
    mdir: Dir,
    live_name: String,
    ino: u64,
}

/// A fresh membership, before it becomes a [`Held`].
pub(super) struct Joined {
    pub group: String,
    pub member: String,
    pub gdir: Dir,
    pub raw: String,
    pub mdir: Dir,
    pub live_name: String,
    pub live: File,
    pub ino: u64,
}

/// Turn a membership into a [`Held`] whose heartbeat keeps the record fresh for tooz and
/// reports the membership lost as soon as the record is removed.
pub(super) fn held(store: Store, j: Joined) -> Result<Held> {
    let paths = JoinedPaths {
        gdir: j.gdir.clone(),
        raw: j.raw.clone(),
        mdir: j.mdir.clone(),
        live_name: j.live_name.clone(),
        ino: j.ino,
    };
    let (tx, rx) = watch::channel(Health::Held { expires: None });
    let events = removal_events(&paths);
    let what = format!("membership of group '{}'", j.group);
    let lost_msg = format!(
        "member '{}' was removed from group '{}' (group leave --member, or the group was deleted)",
        j.member, j.group
    );
    let task = tokio::spawn(heartbeat(
        store.clone(),
        paths.clone(),
        events,
        tx,
        lost_msg,
    ));
    // The member's liveness is the OFD lock on this file: a copy held by COMMAND's guard
    // keeps the member alive until COMMAND's tree is dead.
    let keep = vec![std::os::fd::AsRawFd::as_raw_fd(&j.live)];
    let guard = Membership {
        store,
        paths,
        live: j.live,
        task,
    };
    Ok(Held::new(what, 0, None, rx, Box::new(guard)).with_keep_alive_fds(keep))
}

/// Removals in the group directory and the member-lock directory (or a poll, when the
/// system gives no inotify instance).
fn removal_events(p: &JoinedPaths) -> Wake {
    let mask = inotify::WatchMask::DELETE
        | inotify::WatchMask::MOVED_FROM
        | inotify::WatchMask::DELETE_SELF;
    Wake::new(
        &[(p.gdir.proc_path(), mask), (p.mdir.proc_path(), mask)],
        "watching the group membership",
    )
}

async fn heartbeat(
    store: Store,
    paths: JoinedPaths,
    mut events: Wake,
    tx: watch::Sender<Health>,
    lost_msg: String,
) {
    let period = (store.timeout / 3).max(Duration::from_millis(100));
    let mut next = tokio::time::Instant::now() + period;
    // A first look, for a removal between joining and watching.
    let mut first = true;
    loop {
        let touch = if std::mem::take(&mut first) {
            false
        } else {
            tokio::select! {
            _ = tokio::time::sleep_until(next) => true,
            _ = events.next() => false,
            }
        };
        let (s, p) = (store.clone(), paths.clone());
        let ok = if touch {
            next = tokio::time::Instant::now() + period;
            blocking(move || s.touch(&p)).await
        } else {
            blocking(move || Ok(s.still_member(&p))).await
        };
        match ok {
            Ok(true) => {}
            Ok(false) => {
                let _ = tx.send(Health::Lost(lost_msg));
                return;
            }
            // A failed touch is retried at the next period; tooz would only stop listing us.
            Err(_) => {}
        }
    }
}

/// A held membership.
struct Membership {
    store: Store,
    paths: JoinedPaths,
    live: File,
    task: tokio::task::JoinHandle<()>,
}

#[async_trait]
impl Release for Membership {
    async fn release(self: Box<Self>) -> Result<()> {
        let Membership {
            store,
            paths,
            live,
            task,
        } = *self;
        task.abort();
        blocking(move || {
            let _dl = DriverLock::take(&store.root.write()?)?;
            // Only what is still ours: after a `leave --member` another process may have
            // joined with the same id.
            if matches!(paths.mdir.stat(&paths.live_name), Ok(Some(s)) if s.ino == paths.ino) {
                let _ = paths.gdir.remove(&paths.raw);
                let _ = paths.mdir.remove(&paths.live_name);
            }
            let _ = ofd::unlock(&live);
            Ok(())
        })
        .await
    }
}
