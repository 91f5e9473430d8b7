//! A held group membership on the file backend: its heartbeat touches the member record
//! every `timeout`/3 so tooz clients keep listing it, and reports the membership lost as
//! soon as the record is removed (inotify on the group and member-lock directories);
//! releasing removes what is still ours, record before lock.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::groups::{blocking, DriverLock, Store};
use super::io_error;
use super::ofd;
use crate::coordination::{Error, Health, Held, Release, Result};

impl Store {
    /// Whether our membership still stands: the record is there and the lock file is ours.
    fn still_member(&self, j: &JoinedPaths) -> bool {
        j.raw.exists()
            && fs::metadata(&j.live_path)
                .map(|m| m.ino() == j.ino)
                .unwrap_or(false)
    }

    /// Refresh the record's mtime (tooz's heartbeat), under the driver lock.
    fn touch(&self, j: &JoinedPaths) -> Result<bool> {
        let _dl = DriverLock::take(&self.dir)?;
        if !self.still_member(j) {
            return Ok(false);
        }
        let c = std::ffi::CString::new(j.raw.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Internal("path with NUL".into()))?;
        // SAFETY: a valid C string; a null times pointer sets both times to now.
        let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::NotFound {
                return Ok(false);
            }
            return Err(io_error("cannot touch", &j.raw, e));
        }
        Ok(true)
    }
}

/// The paths a membership keeps watching.
#[derive(Clone)]
struct JoinedPaths {
    raw: PathBuf,
    live_path: PathBuf,
    ino: u64,
}

/// A fresh membership, before it becomes a [`Held`].
pub(super) struct Joined {
    pub group: String,
    pub member: String,
    pub raw: PathBuf,
    pub live_path: PathBuf,
    pub live: File,
    pub ino: u64,
}

/// Turn a membership into a [`Held`] whose heartbeat keeps the record fresh for tooz and
/// reports the membership lost as soon as the record is removed.
pub(super) fn held(store: Store, j: Joined) -> Result<Held> {
    let paths = JoinedPaths {
        raw: j.raw.clone(),
        live_path: j.live_path.clone(),
        ino: j.ino,
    };
    let (tx, rx) = watch::channel(Health::Held { expires: None });
    let gdir = j
        .raw
        .parent()
        .expect("records live in a group directory")
        .to_path_buf();
    let events = match removal_events(&gdir, j.live_path.parent()) {
        Ok(e) => e,
        Err(e) => {
            // Not held after all: leave nothing behind.
            let _ = fs::remove_file(&j.raw);
            let _ = fs::remove_file(&j.live_path);
            return Err(e);
        }
    };
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
    let guard = Membership {
        store,
        paths,
        live: j.live,
        task,
    };
    Ok(Held::new(what, 0, None, rx, Box::new(guard)))
}

/// Events for removals in the group directory and the member-lock directory.
fn removal_events(gdir: &Path, mdir: Option<&Path>) -> Result<inotify::EventStream<[u8; 1024]>> {
    let inotify = inotify::Inotify::init().map_err(|e| Error::Internal(format!("inotify: {e}")))?;
    let mask = inotify::WatchMask::DELETE
        | inotify::WatchMask::MOVED_FROM
        | inotify::WatchMask::DELETE_SELF;
    for dir in std::iter::once(gdir).chain(mdir) {
        inotify
            .watches()
            .add(dir, mask)
            .map_err(|e| io_error("cannot watch", dir, e))?;
    }
    inotify
        .into_event_stream([0u8; 1024])
        .map_err(|e| Error::Internal(format!("inotify: {e}")))
}

async fn heartbeat(
    store: Store,
    paths: JoinedPaths,
    mut events: inotify::EventStream<[u8; 1024]>,
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
            ev = events.next() => {
                if ev.is_none() {
                    return;
                }
                false
            }
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
            let _dl = DriverLock::take(&store.dir)?;
            // Only what is still ours: after a `leave --member` another process may have
            // joined with the same id.
            if fs::metadata(&paths.live_path)
                .map(|m| m.ino() == paths.ino)
                .unwrap_or(false)
            {
                let _ = fs::remove_file(&paths.raw);
                let _ = fs::remove_file(&paths.live_path);
            }
            let _ = ofd::unlock(&live);
            Ok(())
        })
        .await
    }
}
