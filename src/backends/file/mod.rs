//! The embedded file backend: no server, one machine, tooz's file-driver layout.
//!
//! Layout under the backend directory `DIR` (the `file://` URL's path):
//!
//! | path | who | what |
//! |---|---|---|
//! | `DIR/<lock name>` | tooz and us | the lock file; tooz takes a POSIX `fcntl` write lock on it, we take an OFD `fcntl` lock (write, or read for `--shared`/`--limit`) **and** a `flock(2)` lock |
//! | `DIR/groups/`, `DIR/tmp/`, `DIR/.driver_lock` | tooz and us | tooz makes them at start; we make them when we first write (reading commands create nothing); groups live here |
//! | `DIR/.toozctl/locks/<enc>/token` | us | the fencing counter (decimal), incremented under an OFD lock on itself |
//! | `DIR/.toozctl/locks/<enc>/holders/<token>.json` | us | one record per current holder; the holder keeps an OFD lock on it, so a record without a lock is stale (its process died) and is removed by the next reader |
//! | `DIR/.toozctl/locks/<enc>/last-success.json` | us | `lock --once-per`: the last success (JSON, this machine's clock), see `once_per` |
//! | `DIR/.toozctl/locks/<enc>/slots/<i>` | us | `--limit N` semaphores: holder *i* keeps an OFD write lock on slot *i* (and a read lock on the lock file, so exclusive holders and tooz are excluded) |
//!
//! | `DIR/groups/<sha1(group)>/…` | tooz and us | groups and members in tooz's layout; see `groups` |
//! | `DIR/.toozctl/groups/<sha1(group)>/members/` | us | member liveness: a lock file per toozctl member (see `groups`) |
//! | `DIR/.toozctl/groups/<sha1(group)>/leader/` | us | leader election, which tooz's file driver lacks (see `leader`) |
//!
//! `<enc>` is the lock name with every byte outside `[A-Za-z0-9._-]` written as `%XX`
//! (names over 200 bytes so encoded become `sha1-<hex>`). tooz ignores `.toozctl`.
//! Lock names are paths relative to `DIR`, as in tooz: `a/b` is `DIR/a/b`; a name that is
//! absolute, has an empty, `.` or `..` component, or starts with a reserved name is refused.
//!
//! Every access goes through `safefs` (one handle on `DIR`, `openat` and `O_NOFOLLOW`
//! everywhere, only our own kind of file written, root's creations given to the owner of a
//! user's directory); every wait on file events through `notify` (inotify, else polling).
//!
//! The modules, each importing only those listed before it (dependencies point one way):
//! `safefs`, `ofd`, `notify`, `tooz_format` (the file-system layer); `local` (what this
//! machine says about a process); `store` (the backend directory, group paths, tooz's
//! `.driver_lock`, off-thread work); `lock`; `inspect` (`locks`, `unlock`); `membership`;
//! `leader`; `groups`; `watch`.

mod check;
mod groups;
mod inspect;
mod leader;
mod local;
mod lock;
mod membership;
mod notify;
mod ofd;
mod once_per;
mod safefs;
mod store;
mod tooz_format;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::coordination::{
    validate_name, BackendUrl, Capabilities, Coordinator, Error, Events, Finding, GroupInfo, Held,
    Holder, Identity, LastSuccess, LockInfo, LockRequest, Member, Result, RunStart, Wait,
    WatchTarget,
};
use safefs::Root;
use store::{blocking, Store};

/// Names tooz and we keep for ourselves at the top of the directory.
const RESERVED: [&str; 4] = ["groups", "tmp", ".driver_lock", ".toozctl"];

pub struct FileCoordinator {
    url: BackendUrl,
    root: Arc<Root>,
    identity: Identity,
    /// tooz's `?timeout=`: member liveness window (groups).
    timeout: Duration,
    /// What the last lock listing could not inspect (see [`Coordinator::listing_warnings`]).
    warnings: std::sync::Mutex<Vec<String>>,
}

impl FileCoordinator {
    pub fn open(url: &BackendUrl, identity: Identity) -> Result<FileCoordinator> {
        if url.username.is_some() || url.password().is_some() {
            return Err(Error::InvalidUrl(format!(
                "file URL '{url}' has a user or password, which the file backend cannot use (write file:///absolute/dir)"
            )));
        }
        if let Some(h) = url.hosts.first() {
            return Err(Error::InvalidUrl(format!(
                "file URL '{url}' names host '{h}': the directory is the URL's path, so write three slashes (file:///{h}{})",
                url.path
            )));
        }
        if !url.path.starts_with('/') {
            return Err(Error::InvalidUrl(format!(
                "file URL '{url}' has no directory (expected file:///absolute/dir)"
            )));
        }
        let timeout = url
            .seconds_option("timeout")?
            .unwrap_or(Duration::from_secs(10));
        // Nothing is created here: reading commands must not write. The directory and its
        // parents are checked now (see `safefs`); writers create it on first use.
        let root = Arc::new(Root::new(PathBuf::from(&url.path))?);
        Ok(FileCoordinator {
            url: url.clone(),
            root,
            identity,
            timeout,
            warnings: Default::default(),
        })
    }

    /// What the (blocking) group operations need.
    fn store(&self) -> Store {
        Store {
            root: self.root.clone(),
            timeout: self.timeout,
            identity: self.identity.clone(),
        }
    }

    /// The lock file tooz uses for `name` (relative to `DIR`), after checking the name
    /// cannot escape `DIR`.
    fn lock_file(&self, name: &str) -> Result<String> {
        validate_lock_name(name)?;
        Ok(name.to_string())
    }

    /// Our companion directory for lock `name`, relative to `DIR`.
    fn lock_meta(&self, name: &str) -> String {
        meta_rel(name)
    }
}

pub fn validate_lock_name(name: &str) -> Result<()> {
    validate_name("lock", name)?;
    let bad = |why: &str| {
        Err(Error::InvalidName(format!(
            "lock name {:?} {why}",
            safefs::short(name)
        )))
    };
    if name.len() > 4096 {
        return bad(&format!(
            "is {} bytes long: a lock file's path cannot be longer than 4096 bytes",
            name.len()
        ));
    }
    // coordination::validate_name lets control characters through (names from tooz
    // clients on servers); lock files keep refusing them, as before.
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if name.starts_with('/') {
        return bad(
            "is an absolute path; file lock names are paths relative to the backend directory",
        );
    }
    for comp in name.split('/') {
        match comp {
            "" => return bad("has an empty path component"),
            "." | ".." => {
                return bad("has a '.' or '..' component, which could escape the backend directory")
            }
            c if c.len() > 255 => return bad("has a path component longer than 255 bytes"),
            _ => {}
        }
    }
    let first = name.split('/').next().unwrap_or("");
    if RESERVED.contains(&first) {
        return bad(&format!(
            "uses '{first}', which the file backend reserves for itself"
        ));
    }
    Ok(())
}

/// Our companion directory for lock `name`, relative to `DIR`.
fn meta_rel(name: &str) -> String {
    format!(".toozctl/locks/{}", encode_name(name))
}

/// A flat, reversible-enough file name for a lock name.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 200 || out.starts_with('.') {
        format!("sha1-{}", sha1_smol::Sha1::from(name.as_bytes()).digest())
    } else {
        out
    }
}

fn io_error(what: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    safefs::os_error(what, path, e)
}

#[async_trait]
impl Coordinator for FileCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.url
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        lock::acquire(self, req).await
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        self.lock_file(name)?;
        let root = self.root.clone();
        let name = name.to_string();
        Ok(blocking(move || inspect::info(&root, &name)).await?.holders)
    }

    async fn create_group(&self, group: &str) -> Result<()> {
        let (s, g) = (self.store(), group.to_string());
        blocking(move || s.create_group(&g)).await
    }

    async fn delete_group(&self, group: &str) -> Result<()> {
        let (s, g) = (self.store(), group.to_string());
        blocking(move || s.delete_group(&g)).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>> {
        let s = self.store();
        blocking(move || s.groups()).await
    }

    async fn members(&self, group: &str) -> Result<Vec<Member>> {
        let (s, g) = (self.store(), group.to_string());
        blocking(move || s.members(&g)).await
    }

    async fn join(&self, group: &str, capabilities: &Capabilities, create: bool) -> Result<Held> {
        let (s, g, c) = (self.store(), group.to_string(), capabilities.clone());
        let joined = blocking(move || s.join(&g, &c, create)).await?;
        membership::held(self.store(), joined)
    }

    async fn leave(&self, group: &str, member: &str) -> Result<()> {
        let (s, g, m) = (self.store(), group.to_string(), member.to_string());
        blocking(move || s.leave(&g, &m)).await
    }

    async fn campaign(&self, group: &str, wait: Wait) -> Result<Option<Held>> {
        leader::campaign(&self.store(), group, wait).await
    }

    async fn leader(&self, group: &str) -> Result<Option<Holder>> {
        let (s, g) = (self.store(), group.to_string());
        blocking(move || {
            s.require(&g)?;
            leader::current(&s, &g)
        })
        .await
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        watch::watch(self, target).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        let (locks, warnings) = inspect::locks(self)?;
        *self.warnings.lock().unwrap_or_else(|e| e.into_inner()) = warnings;
        Ok(locks)
    }

    fn listing_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        inspect::break_lock(self, name)
    }

    async fn begin_run(&self, name: &str, _period: Duration) -> Result<RunStart> {
        once_per::begin(self, name).await
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        once_per::end(self, name, run, succeeded).await
    }

    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        once_per::last_successes(self).await
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        check::check(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/",
            ".",
            "groups",
            "tmp/x",
            ".toozctl",
            "a\0b",
            "a\nb",
        ] {
            assert!(validate_lock_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "nightly",
            "a/b",
            "spec_lock",
            "with space",
            "ünïcode",
            ".hidden",
            "x..y",
        ] {
            assert!(validate_lock_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn encoded_names_are_flat() {
        assert_eq!(encode_name("a/b c"), "a%2Fb%20c");
        assert!(encode_name(".hidden").starts_with("sha1-"));
        assert!(encode_name(&"x".repeat(300)).starts_with("sha1-"));
    }
}
