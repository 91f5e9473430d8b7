//! The SQL backends, tooz's `mysql://` and `postgresql://` drivers: a lock is a
//! session-level advisory lock (`GET_LOCK`, `pg_advisory_lock`) held by a database session
//! of its own for COMMAND's lifetime. [`mysql`] and [`pgsql`] say how each server spells
//! it; this module owns what both share, so it is written once:
//!
//! - **Waiting** ([`acquire`]) uses the server's own wait (`GET_LOCK(name, s)`,
//!   `pg_advisory_lock` under `lock_timeout`) in slices of at most [`SLICE`], so a `-w`
//!   deadline ends the wait on time; a signal drops the future, and with it the session,
//!   which the server ends (taking with it whatever the in-flight wait may have granted).
//! - **The session is the lease.** The lock lives exactly as long as the session. A keeper
//!   task pings it every [`PING_INTERVAL`] (which also keeps the server's `wait_timeout`
//!   from ending an idle session) and publishes `Health::Held { expires: None }`; the
//!   **loss rule**: any sign that the session ended — a failed ping, the client library
//!   seeing the connection close (a server restart, `KILL`, `pg_terminate_backend`) — or
//!   no answer for [`PING_TIMEOUT`] (the server may have dropped the session meanwhile) is
//!   `Health::Lost` at once. Nobody else can take the lock while our session lives, so a
//!   slow server is no reason to stop COMMAND before that.
//! - **The socket outlives toozctl until COMMAND's tree is dead**: the session's socket is
//!   named as a keep-alive descriptor ([`Held::with_keep_alive_fds`]), so when toozctl is
//!   killed the guard process keeps the connection (and the lock) open until it has
//!   killed COMMAND's tree.
//! - **Fencing tokens and holder records** live in one table, `toozctl_locks` (name,
//!   fencing_token, holder, session), created on first use in the URL's database: the
//!   holder of the lock advances the token of its name in the same session after taking
//!   the lock, so tokens of one name strictly increase; a missing row (a new name, a table
//!   dropped) is seeded from the server clock in microseconds, as on Redis. tooz ignores
//!   the table.
//! - **`lock --once-per` records** live beside it in `toozctl_once_per`, on the server's
//!   clock in microseconds (see [`once_per`]); **`check`** findings both servers report
//!   alike are in [`check`].

mod check;
pub mod mysql;
mod once_per;
pub mod pgsql;

use std::os::fd::RawFd;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::coordination::{
    Error, Health, Held, Holder, LockMode, LockRequest, Release, Result, Scheme, Wait,
};

/// The longest single server-side wait: a deadline or a dead connection is seen within it.
pub const SLICE: Duration = Duration::from_secs(2);
/// How often a held session is pinged.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);
/// A ping unanswered this long counts as the session's end.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long giving a lock back may take before toozctl gives up (closing the session
/// frees the lock anyway).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The table of fencing counters and holder records (see the module doc).
pub const TABLE: &str = "toozctl_locks";

/// One dedicated database session that takes, holds and gives back one lock.
#[async_trait]
pub trait Session: Send + 'static {
    /// One try: take the lock, letting the server wait at most `wait` (zero: not at all),
    /// and once it is ours write `holder` as our record and take the next fencing token.
    /// `Ok(None)`: not taken in time, nothing held. After an error the session may hold
    /// the lock: the caller ends it.
    async fn take(&mut self, wait: Duration, holder: &Holder) -> Result<Option<u64>>;
    /// One keep-alive round trip; an error means the session is gone or unusable.
    async fn ping(&mut self) -> Result<()>;
    /// Changes to `Some(why)` when the client library sees the connection end.
    fn ended(&self) -> watch::Receiver<Option<String>>;
    /// Give the lock back: `Ok(false)` when the session did not hold it any more.
    async fn unlock(&mut self) -> Result<bool>;
    /// End the session (the server frees anything it still holds).
    async fn close(self);
    /// The session's socket, for the guard process to keep open.
    fn socket(&self) -> Option<RawFd>;
}

/// The outcome of [`acquire`]: held, or not taken with the session handed back for reuse.
pub enum Taken<S> {
    Held(Held),
    Not(S),
}

/// Refuse what neither SQL backend offers, naming the backend.
pub fn check_mode(mode: LockMode, scheme: Scheme) -> Result<()> {
    match mode {
        LockMode::Exclusive => Ok(()),
        LockMode::Shared => Err(Error::unsupported("shared locks (--shared)", scheme)),
        LockMode::Limit(_) => Err(Error::unsupported("semaphores (--limit)", scheme)),
    }
}

/// Take the lock of `req` on session `s` within `req.wait`, waiting on the server in
/// slices; once taken, record the holder, start the keeper and return the held lock.
pub async fn acquire<S: Session>(
    mut s: S,
    req: &LockRequest,
    holder: Holder,
    what: String,
) -> Result<Taken<S>> {
    let token = loop {
        let wait = match req.wait {
            Wait::NoWait => Duration::ZERO,
            Wait::Forever => SLICE,
            Wait::Until(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        match s.take(wait, &holder).await {
            Ok(Some(token)) => break token,
            Ok(None) => {}
            Err(e) => {
                // Closing the session gives back whatever it may hold.
                s.close().await;
                return Err(e);
            }
        }
        let over = match req.wait {
            Wait::NoWait => true,
            Wait::Forever => false,
            Wait::Until(d) => Instant::now() >= d,
        };
        if over {
            return Ok(Taken::Not(s));
        }
    };
    let fd = s.socket();
    let (tx, rx) = watch::channel(Health::Held { expires: None });
    let (stop, stopped) = oneshot::channel();
    let keeper = tokio::spawn(keep(s, tx, stopped));
    let release = SqlLock {
        what: what.clone(),
        stop: Some(stop),
        keeper,
        health: rx.clone(),
    };
    let held = Held::new(what, token, None, rx, Box::new(release));
    Ok(Taken::Held(match fd {
        Some(fd) => held.with_keep_alive_fds(vec![fd]),
        None => held,
    }))
}

/// Ping every [`PING_INTERVAL`] until told to stop; publish `Lost` by the loss rule (module
/// doc). Hands the session back for the release.
async fn keep<S: Session>(
    mut s: S,
    tx: watch::Sender<Health>,
    mut stop: oneshot::Receiver<()>,
) -> S {
    let mut ended = s.ended();
    let watch = s.socket().and_then(SocketWatch::new);
    let lost = loop {
        if let Some(why) = ended.borrow_and_update().clone() {
            break why;
        }
        tokio::select! {
            _ = &mut stop => return s,
            Ok(()) = ended.changed() => continue,
            // Bytes or an end of stream nobody asked for: the server is closing the
            // session (restart, KILL). Ping now rather than at the next tick.
            _ = SocketWatch::stirs(watch.as_ref()) => {}
            _ = tokio::time::sleep(PING_INTERVAL) => {}
        }
        match tokio::time::timeout(PING_TIMEOUT, s.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => break format!("its database session ended: {e}"),
            Err(_) => {
                break format!(
                    "the database server did not answer for {PING_TIMEOUT:?}: its session may have ended"
                )
            }
        }
    };
    let _ = tx.send(Health::Lost(lost));
    let _ = stop.await;
    s
}

/// Watches an idle session's socket (through a duplicate descriptor) for anything the
/// server sends unasked, which on an idle session only its end does: a server shutting
/// down or killing the session closes the socket, and the keeper sees it at once instead
/// of at its next ping.
struct SocketWatch(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>);

impl SocketWatch {
    fn new(fd: RawFd) -> Option<SocketWatch> {
        use std::os::fd::FromRawFd;
        // SAFETY: dup of a descriptor the session owns; the copy is ours to close.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return None;
        }
        // SAFETY: `dup` is a fresh descriptor nobody else owns.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) };
        // SAFETY: the AsyncFd owns `owned`, which stays open as long as it does.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        }
        .ok()
        .map(SocketWatch)
    }

    /// Resolves when the socket has unread bytes or has ended; never without a watch.
    async fn stirs(w: Option<&SocketWatch>) {
        let Some(w) = w else {
            return std::future::pending().await;
        };
        loop {
            let Ok(mut g) = w.0.readable().await else {
                return std::future::pending().await;
            };
            use std::os::fd::AsRawFd;
            let mut b = [0u8; 1];
            // SAFETY: a one-byte peek into a local buffer; nothing is consumed.
            let n = unsafe {
                libc::recv(
                    w.0.as_raw_fd(),
                    b.as_mut_ptr().cast(),
                    1,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
                // The readiness was our own answer, already read by the client.
                g.clear_ready();
                continue;
            }
            return;
        }
    }
}

struct SqlLock<S: Session> {
    what: String,
    stop: Option<oneshot::Sender<()>>,
    keeper: tokio::task::JoinHandle<S>,
    health: watch::Receiver<Health>,
}

#[async_trait]
impl<S: Session> Release for SqlLock<S> {
    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let keeper = &mut self.keeper;
        let mut s = match tokio::time::timeout(PING_TIMEOUT + RELEASE_TIMEOUT, keeper).await {
            Ok(Ok(s)) => s,
            _ => {
                return Err(Error::Internal(format!(
                    "the keeper of {} did not stop",
                    self.what
                )))
            }
        };
        let lost = match &*self.health.borrow() {
            Health::Lost(why) => Some(why.clone()),
            Health::Held { .. } => None,
        };
        if let Some(why) = lost {
            s.close().await;
            return Err(Error::Lost(why));
        }
        let r = tokio::time::timeout(RELEASE_TIMEOUT, s.unlock()).await;
        s.close().await;
        match r {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Error::Lost(format!(
                "{} was no longer held by its database session when releasing it",
                self.what
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Unavailable(format!(
                "could not release {}: no answer within {RELEASE_TIMEOUT:?}; closing its session frees it",
                self.what
            ))),
        }
    }
}

/// Replace the password in a client library's message, in case one ever echoes it.
pub fn scrub(msg: &str, secret: Option<&str>) -> String {
    let one_line = msg.replace('\n', " ");
    match secret {
        Some(s) if !s.is_empty() => one_line.replace(s, "***"),
        _ => one_line,
    }
}

/// A holder record as stored in [`TABLE`], with the token of its row.
pub fn parse_holder(json: Option<&str>, token: Option<u64>) -> Option<Holder> {
    let mut h: Holder = serde_json::from_str(json?).ok()?;
    h.fencing_token = token.or(h.fencing_token);
    Some(h)
}

/// The socket descriptors this process has open now: (fd, inode).
pub fn sockets() -> Vec<(RawFd, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd: RawFd = e.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(e.path()).ok()?;
        let t = target.to_str()?;
        let inode = t
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some((fd, inode))
    })
    .collect()
}

/// The one socket opened between two [`sockets`] snapshots, if exactly one was.
pub fn new_socket(before: &[(RawFd, u64)]) -> Option<RawFd> {
    let new: Vec<RawFd> = sockets()
        .into_iter()
        .filter(|s| !before.contains(s))
        .map(|(fd, _)| fd)
        .collect();
    match new.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_beyond_exclusive_name_the_backend() {
        assert!(check_mode(LockMode::Exclusive, Scheme::Mysql).is_ok());
        let e = check_mode(LockMode::Shared, Scheme::Postgresql).unwrap_err();
        assert!(
            matches!(&e, Error::Unsupported(m) if m.contains("postgresql")),
            "{e}"
        );
        let e = check_mode(LockMode::Limit(2), Scheme::Mysql).unwrap_err();
        assert!(
            matches!(&e, Error::Unsupported(m) if m.contains("mysql")),
            "{e}"
        );
    }

    #[test]
    fn holder_records_take_the_row_token() {
        let h = parse_holder(Some(r#"{"member_id":"m","pid":3}"#), Some(7)).unwrap();
        assert_eq!(
            (h.member_id.as_deref(), h.fencing_token),
            (Some("m"), Some(7))
        );
        assert!(parse_holder(Some("junk"), None).is_none());
        assert!(parse_holder(None, Some(1)).is_none());
    }

    #[test]
    fn a_new_socket_is_found() {
        let before = sockets();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(new_socket(&before), Some(l.as_raw_fd()));
    }
}
