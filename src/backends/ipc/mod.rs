//! The ipc backend (`ipc://`): tooz's `ipc` driver, locks as System V semaphores on one
//! host, so a tooz client and toozctl on the same host exclude each other.
//!
//! Layout (tooz's, `docs/ipc-backend.md` has the details):
//!
//! | object | who | what |
//! |---|---|---|
//! | a set of 1 semaphore, key = `key::lock_key(name)`, mode 0600 | tooz and us | an exclusive lock: created at 1, taken with -1 and `SEM_UNDO`, removed on release |
//! | a set of 2 semaphores, same key | us | `--limit N`: free slots, and N itself |
//!
//! There is no server, no session and no lease: a held lock cannot expire, and a holder
//! that dies gives its unit back through the kernel's `SEM_UNDO`. The unit is held by a
//! holder process of ours (`holder.rs`) that lives until toozctl and COMMAND's guard are
//! both gone. No fencing tokens (nothing on the host strictly increases across reboots),
//! no groups, elections or shared locks (tooz's driver has no usable ones): those are
//! refused with the backend's name. `watch lock` polls.
//!
//! This module owns the URL and the `Coordinator` impl; `key` derives tooz's keys, `sem`
//! wraps the system calls, `holder` is the holder process, `lock` takes, inspects and
//! breaks locks, `watch` follows one.

mod check;
pub mod holder;
mod key;
mod lock;
mod sem;
mod watch;

use async_trait::async_trait;

use crate::coordination::{
    note, BackendUrl, Coordinator, Error, Events, Held, Holder, Identity, LockInfo, LockRequest,
    Result, WatchTarget,
};

pub struct IpcCoordinator {
    url: BackendUrl,
    identity: Identity,
}

impl IpcCoordinator {
    /// tooz's `ipc://` takes no host, path or option; anything there is ignored, as tooz
    /// ignores it (said at `-v`).
    pub fn open(url: &BackendUrl, identity: Identity) -> Result<IpcCoordinator> {
        if url.username.is_some() || url.password().is_some() {
            return Err(Error::InvalidUrl(format!(
                "ipc URL '{url}' has a user or password, which the ipc backend cannot use \
                 (no server checks it: write ipc://)"
            )));
        }
        if !url.hosts.is_empty() || !url.path.trim_matches('/').is_empty() || !url.query.is_empty()
        {
            note(&format!(
                "the ipc backend ignores the host, path and options of '{url}' (System V \
                 semaphores of this host, as tooz's ipc driver)"
            ));
        }
        Ok(IpcCoordinator {
            url: url.clone(),
            identity,
        })
    }
}

#[async_trait]
impl Coordinator for IpcCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.url
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        lock::acquire(&self.identity, req).await
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        lock::holders(&self.identity, name)
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        Ok(lock::locks(&self.identity))
    }

    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        lock::break_lock(&self.identity, name)
    }

    async fn check(&self) -> Result<Vec<crate::coordination::check::Finding>> {
        Ok(check::check())
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        match target {
            WatchTarget::Lock(name) => watch::lock(self.identity.clone(), name).await,
            _ => Err(Error::unsupported("groups and leaders", self.url.scheme)),
        }
    }
}
