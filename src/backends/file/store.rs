//! The file backend's shared ground for groups, memberships, leaders and watches: the
//! [`Store`] (the backend directory, the group timeout, who we are) with where each
//! group's directories are, tooz's `.driver_lock` ([`DriverLock`]), and [`blocking`] to
//! run file work off the runtime thread. It imports no module of the backend above the
//! file-system layer (`safefs`, `ofd`, `tooz_format`), so `groups`, `membership`,
//! `leader` and `watch` all build on it and none on each other's internals.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use super::ofd::{self, Kind};
use super::safefs::{Dir, Open, Root};
use super::tooz_format::sha1_hex;
use crate::coordination::{validate_name, Error, Identity, Result};

/// What the blocking group operations need, cheap to clone onto a blocking thread.
#[derive(Clone)]
pub(super) struct Store {
    pub root: Arc<Root>,
    pub timeout: Duration,
    pub identity: Identity,
}

/// Run a blocking file operation off the runtime thread (the driver lock may be held by a
/// stopped process; the runtime must keep handling signals meanwhile).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("file backend thread failed: {e}")))?
}

/// `DIR/.driver_lock`, held until dropped: an OFD write lock for writers (as tooz takes
/// it), a read lock for readers (which then exclude writers but create nothing: a missing
/// `.driver_lock` means no tooz client ever wrote here, and none is made).
pub(super) struct DriverLock(Option<File>);

impl DriverLock {
    pub fn take(dir: &Dir) -> Result<DriverLock> {
        let f = dir
            .open(".driver_lock", Open::LockFile(0o666))?
            .expect("opening with create always gives a file");
        ofd::lock_wait(&f, Kind::Write)
            .map_err(|e| super::io_error("cannot lock", &dir.shown(".driver_lock"), e))?;
        Ok(DriverLock(Some(f)))
    }

    pub fn read(dir: &Dir) -> Result<DriverLock> {
        let Some(f) = dir.open(".driver_lock", Open::Read)? else {
            return Ok(DriverLock(None));
        };
        ofd::lock_wait(&f, Kind::Read)
            .map_err(|e| super::io_error("cannot lock", &dir.shown(".driver_lock"), e))?;
        Ok(DriverLock(Some(f)))
    }
}

impl Drop for DriverLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = ofd::unlock(f);
        }
    }
}

/// A group's directories: tooz's (`DIR/groups/<sha1>`) and ours (`DIR/.toozctl/groups/<sha1>`).
pub(super) fn group_rel(group: &str) -> String {
    format!("groups/{}", sha1_hex(group))
}

pub(super) fn our_rel(group: &str) -> String {
    format!(".toozctl/groups/{}", sha1_hex(group))
}

impl Store {
    /// The backend directory for reading: `None` when it does not exist.
    pub fn read_root(&self) -> Result<Option<Dir>> {
        self.root.read()
    }

    /// A group's tooz directory, when the group exists.
    pub fn group_dir(&self, group: &str) -> Result<Option<Dir>> {
        let Some(root) = self.read_root()? else {
            return Ok(None);
        };
        let Some(g) = root.sub(&group_rel(group), false)? else {
            return Ok(None);
        };
        Ok(g.stat(".metadata")?.is_some_and(|s| s.is_file).then_some(g))
    }

    /// Our directory for a group, `create`d when asked.
    pub fn our_dir(&self, group: &str, create: bool) -> Result<Option<Dir>> {
        let root = if create {
            Some(self.root.write()?)
        } else {
            self.read_root()?
        };
        match root {
            Some(r) => r.sub(&our_rel(group), create),
            None => Ok(None),
        }
    }

    pub fn exists(&self, group: &str) -> Result<bool> {
        Ok(self.group_dir(group)?.is_some())
    }

    /// The group's tooz directory; `NotFound` when the group does not exist.
    pub fn require(&self, group: &str) -> Result<Dir> {
        validate_name("group", group)?;
        self.group_dir(group)?
            .ok_or_else(|| Error::NotFound(format!("group '{group}' does not exist")))
    }
}
