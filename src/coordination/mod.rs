//! The backend-agnostic coordination API: what every backend (file, Redis, ZooKeeper,
//! etcd) implements and what the commands use. It depends on nothing else in the crate and
//! knows nothing of clap, printing or exit codes.
//!
//! The central idea is the [`Held`] primitive: something taken on a backend (a lock, a
//! membership, a leadership) that can be released, and whose [`Health`] is published on a
//! watch channel. A backend never prints, exits or signals anybody when it loses a
//! primitive; it publishes `Health::Lost`, or keeps publishing `Health::Held { expires }`
//! with the deadline of its last successful renewal, and the supervisor decides what to do
//! in time (see `commands::hold`).
//!
//! A backend whose primitive is held by an open descriptor rather than by a lease (the file
//! backend's OFD locks belong to the open file description) names those descriptors with
//! [`Held::with_keep_alive_fds`]; the supervisor hands copies to COMMAND's guard process, so
//! the primitive is not freed by the kernel before COMMAND's tree is dead, even when
//! toozctl itself is killed. Lease backends name none: their lease outlives toozctl.
//!
//! Waiting is cancelled by dropping the future of [`Coordinator::acquire`] or
//! [`Coordinator::campaign`]; a backend must leave nothing behind when that happens (a queue
//! entry is withdrawn by a drop guard, or by [`Coordinator::close`], which commands always
//! call before exiting).

pub mod capabilities;
pub mod check;
pub mod hashring;
pub mod once_per;
pub mod url;

use std::fmt;
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use capabilities::Capabilities;
pub use check::Finding;
pub use once_per::{LastSuccess, RunStart, SuccessRecord};
pub use url::{BackendUrl, HostPort, Scheme, Secret};

/// What went wrong, by kind; `crate::error` maps each kind to the contract's exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A malformed URL or option (exit 2).
    InvalidUrl(String),
    /// A name a backend cannot store safely (exit 2).
    InvalidName(String),
    /// Other bad input, such as capabilities that are not JSON (exit 2).
    InvalidInput(String),
    /// The backend does not offer this (exit 2), e.g. shared locks on Redis.
    Unsupported(String),
    /// The same name used as two kinds of primitive, or with another `--limit` (exit 2).
    Conflict(String),
    /// A group or member that does not exist (exit 4).
    NotFound(String),
    /// Creating what exists already (exit 1: refused because of the backend's state).
    AlreadyExists(String),
    /// Deleting a group that still has members (exit 1).
    NotEmpty(String),
    /// Could not connect, or could not keep a session (exit 69).
    Unavailable(String),
    /// A primitive was lost (exit 3).
    Lost(String),
    /// Anything else (exit 70).
    Internal(String),
}

impl Error {
    pub fn unsupported(what: &str, backend: Scheme) -> Error {
        Error::Unsupported(format!(
            "{what} are not supported by the {} backend",
            backend.name()
        ))
    }

    pub fn message(&self) -> &str {
        match self {
            Error::InvalidUrl(m)
            | Error::InvalidName(m)
            | Error::InvalidInput(m)
            | Error::Unsupported(m)
            | Error::Conflict(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::NotEmpty(m)
            | Error::Unavailable(m)
            | Error::Lost(m)
            | Error::Internal(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// How long an acquisition may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Try once (`-n`).
    NoWait,
    /// Wait until acquired or cancelled.
    Forever,
    /// Give up at this instant (`-w`).
    Until(Instant),
}

/// What kind of lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Exclusive,
    /// Readers share; a writer excludes them.
    Shared,
    /// A semaphore: up to N holders at once.
    Limit(u32),
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockMode::Exclusive => f.write_str("exclusive"),
            LockMode::Shared => f.write_str("shared"),
            LockMode::Limit(n) => write!(f, "limit {n}"),
        }
    }
}

/// Who we are: recorded beside every primitive we take, where tooz ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub member_id: String,
    pub host: String,
    pub pid: u32,
    /// What the holder record keeps of COMMAND (empty in hold mode): its program name, or
    /// its first words when the user asked for them (`--record-command`).
    pub command: String,
}

impl Identity {
    /// The holder record for a primitive taken now.
    pub fn holder(&self, mode: Option<LockMode>, fencing_token: Option<u64>) -> Holder {
        Holder {
            member_id: Some(self.member_id.clone()),
            host: Some(self.host.clone()),
            pid: Some(self.pid),
            command: (!self.command.is_empty()).then(|| self.command.clone()),
            since: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            mode: mode.map(|m| m.to_string()),
            fencing_token,
            note: None,
        }
    }
}

/// What is known of whoever holds a primitive. Everything is optional: a toozctl holder
/// records all of it, a tooz client only what tooz stores (a member id, or nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
    /// Free text for what is not a toozctl record ("held by a tooz client").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Holder {
    /// A holder we know nothing about except what the note says.
    pub fn unknown(note: impl Into<String>) -> Holder {
        Holder {
            note: Some(note.into()),
            ..Holder::default()
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = &self.member_id {
            parts.push(m.clone());
        }
        match (&self.pid, &self.host) {
            (Some(p), Some(h)) => parts.push(format!("(pid {p} on {h})")),
            (Some(p), None) => parts.push(format!("(pid {p})")),
            (None, Some(h)) => parts.push(format!("(on {h})")),
            (None, None) => {}
        }
        if let Some(c) = &self.command {
            parts.push(format!("running '{c}'"));
        }
        if let Some(s) = &self.since {
            parts.push(format!("since {s}"));
        }
        if let Some(n) = &self.note {
            parts.push(n.clone());
        }
        if parts.is_empty() {
            f.write_str("an unknown holder")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// A request to take a lock.
#[derive(Debug, Clone)]
pub struct LockRequest {
    pub name: String,
    pub mode: LockMode,
    pub wait: Wait,
    /// Lease length for TTL backends; `None` = the backend's (URL's) default.
    pub ttl: Option<Duration>,
}

/// The state of a held primitive, published by its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Held. `expires` is when the lease runs out unless renewed (measured from when the
    /// last successful renewal was *sent*); `None` for primitives that cannot expire.
    Held { expires: Option<Instant> },
    /// Lost outright: why, in one line.
    Lost(String),
}

impl Health {
    /// Whether a lease deadline is published and has passed: the server has dropped (or
    /// will drop) the primitive by itself, so there is nothing left to give back.
    pub fn ran_out(&self) -> bool {
        matches!(self, Health::Held { expires: Some(e) } if *e <= Instant::now())
    }

    /// How long giving the primitive back may take: until its lease would run out (the
    /// server drops it by itself then), but at least `floor` (one request must get its
    /// chance) and at most `cap` (an unreachable server must not hold up toozctl's exit);
    /// `floor` once lost. Every lease backend's release uses this.
    pub fn release_budget(&self, floor: Duration, cap: Duration) -> Duration {
        let left = match self {
            Health::Lost(_) => floor,
            Health::Held { expires: Some(e) } => e.saturating_duration_since(Instant::now()),
            Health::Held { expires: None } => cap,
        };
        left.max(floor).min(cap)
    }
}

/// Gives a held primitive back. Implemented by each backend.
#[async_trait]
pub trait Release: Send {
    async fn release(self: Box<Self>) -> Result<()>;

    /// [`Release::release`] of the last primitive given back: nothing more will be asked
    /// of the coordinator after it except `close`, so a backend may end its session right
    /// behind this release's requests instead of after their answers (a session's close
    /// sent with the last delete). The result means the same as `release`'s, a loss found
    /// at release included; the caller still calls `close`, which still waits for the
    /// session's end.
    async fn release_last(self: Box<Self>) -> Result<()> {
        self.release().await
    }
}

/// A primitive we hold: release it, or watch its health.
pub struct Held {
    /// What it is, for messages ("lock nightly", "leadership of workers").
    pub what: String,
    /// Strictly increases with every acquisition of the same primitive (0 where the
    /// backend hands out none: read it through [`Held::token`]).
    pub fencing_token: u64,
    /// The backend cannot promise a strictly increasing number (ipc): none is handed out.
    no_token: bool,
    /// The lease length, on backends that have one.
    pub lease: Option<Duration>,
    health: watch::Receiver<Health>,
    release: Box<dyn Release>,
    keep_alive: Vec<RawFd>,
}

impl Held {
    pub fn new(
        what: String,
        fencing_token: u64,
        lease: Option<Duration>,
        health: watch::Receiver<Health>,
        release: Box<dyn Release>,
    ) -> Held {
        Held {
            what,
            fencing_token,
            no_token: false,
            lease,
            health,
            release,
            keep_alive: Vec::new(),
        }
    }

    /// Hand out no fencing token: the backend has no number that strictly increases with
    /// every acquisition (and refuses to make one up that might not).
    pub fn without_fencing_token(mut self) -> Held {
        self.no_token = true;
        self
    }

    /// The fencing token to hand out, if the backend has one.
    pub fn token(&self) -> Option<u64> {
        (!self.no_token).then_some(self.fencing_token)
    }

    /// Name descriptors whose mere being open keeps the primitive held (the file backend's
    /// OFD locks belong to the open file description, not to a process). They stay open,
    /// owned by the releaser, until the release.
    pub fn with_keep_alive_fds(mut self, fds: Vec<RawFd>) -> Held {
        self.keep_alive = fds;
        self
    }

    /// Descriptors that keep the primitive held while open (empty for lease backends):
    /// whoever runs COMMAND may hand copies to a process that outlives it, so that the
    /// primitive is not freed before COMMAND's tree is dead.
    pub fn keep_alive_fds(&self) -> Vec<RawFd> {
        self.keep_alive.clone()
    }

    /// A receiver of health updates (clone it freely).
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Give it back now. After a loss this still cleans up whatever is ours.
    pub async fn release(self) -> Result<()> {
        self.release.release().await
    }

    /// [`Held::release`] when it is the last thing asked of the coordinator before its
    /// `close` (see [`Release::release_last`]).
    pub async fn release_last(self) -> Result<()> {
        self.release.release_last().await
    }
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("what", &self.what)
            .field("fencing_token", &self.fencing_token)
            .finish()
    }
}

/// A lock as `toozctl locks` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub name: String,
    /// Current holders (several for shared locks and semaphores); empty when free.
    pub holders: Vec<Holder>,
    /// Time left on the lease, where the backend has one.
    pub ttl: Option<Duration>,
    /// The last fencing token handed out.
    pub fencing_token: Option<u64>,
}

/// A group member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub member_id: String,
    pub capabilities: Capabilities,
    pub leader: bool,
}

/// A group as `group list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub members: usize,
    pub leader: Option<String>,
}

/// What a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchTarget {
    Group(String),
    Leader(String),
    Lock(String),
}

impl WatchTarget {
    pub fn name(&self) -> &str {
        match self {
            WatchTarget::Group(n) | WatchTarget::Leader(n) | WatchTarget::Lock(n) => n,
        }
    }
}

/// The contract's event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Join,
    Leave,
    Elected,
    Acquired,
    Released,
    /// The watch lost its connection and is re-reading.
    Lost,
    /// The watch re-read the state after a reconnect or a compaction.
    Resync,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            EventKind::Join => "join",
            EventKind::Leave => "leave",
            EventKind::Elected => "elected",
            EventKind::Acquired => "acquired",
            EventKind::Released => "released",
            EventKind::Lost => "lost",
            EventKind::Resync => "resync",
        };
        f.write_str(s)
    }
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub target: WatchTarget,
    /// The member the event is about, where there is one.
    pub member: Option<String>,
    pub holder: Option<Holder>,
    pub fencing_token: Option<u64>,
    pub at: SystemTime,
}

impl Event {
    /// An event seen now; its fencing token is the holder record's, where there is one.
    pub fn now(
        kind: EventKind,
        target: &WatchTarget,
        member: Option<String>,
        holder: Option<Holder>,
    ) -> Event {
        let fencing_token = holder.as_ref().and_then(|h| h.fencing_token);
        Event {
            kind,
            target: target.clone(),
            member,
            holder,
            fencing_token,
            at: SystemTime::now(),
        }
    }

    /// The same event with the fencing token read beside it (a revision, a counter).
    pub fn with_token(mut self, token: Option<u64>) -> Event {
        self.fencing_token = token;
        self
    }
}

/// A stream of events; the watch ends when the receiver is dropped.
pub type Events = mpsc::Receiver<Result<Event>>;

/// A connection to one backend. Commands hold it as `Box<dyn Coordinator>`.
///
/// Methods a backend cannot offer keep their default, which answers
/// [`Error::Unsupported`] naming the backend.
#[async_trait]
pub trait Coordinator: Send + Sync {
    /// The URL this coordinator talks to (its `Display` is redacted).
    fn url(&self) -> &BackendUrl;

    /// The lease a lock taken with `ttl` would get, for checking `--kill-after` before
    /// acquiring; `None` on backends whose primitives do not expire.
    fn lease_for(&self, _ttl: Option<Duration>) -> Option<Duration> {
        None
    }

    /// Take a lock. `Ok(None)`: not acquired within `req.wait`.
    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>>;

    /// Who holds lock `name` now (empty when free). No default: "nobody" from a backend
    /// that forgot it would make `watch lock X --until released` end at once.
    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>>;

    /// Every lock the backend knows of.
    async fn locks(&self) -> Result<Vec<LockInfo>> {
        Err(Error::unsupported("lock listings", self.url().scheme))
    }

    /// What the last [`Coordinator::locks`] found that the operator should be warned of
    /// (PostgreSQL: names that share one advisory key); taken, so each is said once.
    fn listing_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Break lock `name` (tooz's `break_`); returns who held it.
    async fn break_lock(&self, _name: &str) -> Result<Vec<Holder>> {
        Err(Error::unsupported("breaking locks", self.url().scheme))
    }

    async fn create_group(&self, _group: &str) -> Result<()> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    /// Delete an empty group ([`Error::NotEmpty`] otherwise).
    async fn delete_group(&self, _group: &str) -> Result<()> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    /// Live members ([`Error::NotFound`] for a missing group).
    async fn members(&self, _group: &str) -> Result<Vec<Member>> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    /// Join `group` as our member id, held until released.
    async fn join(
        &self,
        _group: &str,
        _capabilities: &Capabilities,
        _create: bool,
    ) -> Result<Held> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    /// Remove `member` from `group` (ours or, by hand, a dead one).
    async fn leave(&self, _group: &str, _member: &str) -> Result<()> {
        Err(Error::unsupported("groups", self.url().scheme))
    }

    /// Campaign for the leadership of `group` (already joined). `Ok(None)`: not elected
    /// within `wait`.
    async fn campaign(&self, _group: &str, _wait: Wait) -> Result<Option<Held>> {
        Err(Error::unsupported("leader elections", self.url().scheme))
    }

    /// The current leader of `group`, if any.
    async fn leader(&self, _group: &str) -> Result<Option<Holder>> {
        Err(Error::unsupported("leader elections", self.url().scheme))
    }

    /// Follow changes of `target`.
    async fn watch(&self, _target: &WatchTarget) -> Result<Events> {
        Err(Error::unsupported("watches", self.url().scheme))
    }

    /// `lock --once-per`, called while holding lock `name` exclusively: read the record of
    /// the last success of `name` with its age on the backend's clock, and stamp the start
    /// of a run on that clock. `period` is the `--once-per` duration (a backend may skip
    /// taking anything for a run that will not happen: the last success is within it).
    /// See [`once_per`] for the layout and for what each method must do.
    async fn begin_run(&self, _name: &str, _period: Duration) -> Result<RunStart> {
        Err(Error::unsupported(
            "once-per records (lock --once-per)",
            self.url().scheme,
        ))
    }

    /// `lock --once-per`, still holding lock `name`: `succeeded` = COMMAND exited 0 with the
    /// lock held: record the run begun by [`Coordinator::begin_run`]; otherwise (a failure,
    /// a loss, a skip) leave the previous record and give back what `begin_run` took.
    async fn end_run(&self, _name: &str, _run: RunStart, _succeeded: bool) -> Result<()> {
        Err(Error::unsupported(
            "once-per records (lock --once-per)",
            self.url().scheme,
        ))
    }

    /// Every recorded success (for `toozctl locks`); reads only.
    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        Err(Error::unsupported(
            "once-per records (lock --once-per)",
            self.url().scheme,
        ))
    }

    /// `toozctl check`: one finding per topic (version and features used, persistence,
    /// round trip, clock skew, TLS/auth...). Reads only. See [`check`].
    async fn check(&self) -> Result<Vec<Finding>> {
        Err(Error::unsupported(
            "checks (toozctl check)",
            self.url().scheme,
        ))
    }

    /// Withdraw anything left (queue entries of cancelled waits) and close the session.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Where backends send notes for `-v` (backends never print): set once by the command
/// layer; without a sink, notes are dropped.
static NOTES: std::sync::OnceLock<NoteSink> = std::sync::OnceLock::new();

/// Receives the notes of [`note`].
pub type NoteSink = Box<dyn Fn(&str) + Send + Sync>;

/// Install the sink for [`note`] (the first call wins).
pub fn set_note_sink(sink: NoteSink) {
    let _ = NOTES.set(sink);
}

/// A note for the operator at `-v`, such as a fallback taken.
pub fn note(msg: &str) {
    if let Some(sink) = NOTES.get() {
        sink(msg);
    }
}

/// Checks every backend shares: a name is non-empty text without NUL. Other control
/// characters are allowed, as tooz allows them: a tooz client may have created such a name,
/// and toozctl must be able to inspect and repair it (output escapes them). A backend whose
/// server refuses them (ZooKeeper) checks that itself.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidName(format!("{kind} name is empty")));
    }
    if name.contains('\0') {
        return Err(Error::InvalidName(format!(
            "{kind} name '{}' contains a NUL character",
            name.replace('\0', "\\u{0}")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_budget_follows_the_lease_within_floor_and_cap() {
        let (floor, cap) = (Duration::from_secs(1), Duration::from_secs(5));
        let held = |secs: u64| Health::Held {
            expires: Some(Instant::now() + Duration::from_secs(secs)),
        };
        let b = held(3).release_budget(floor, cap);
        assert!(
            b > Duration::from_millis(2900) && b <= Duration::from_secs(3),
            "{b:?}"
        );
        assert_eq!(held(60).release_budget(floor, cap), cap);
        assert_eq!(held(0).release_budget(floor, cap), floor);
        assert_eq!(Health::Lost("x".into()).release_budget(floor, cap), floor);
        assert_eq!(
            Health::Held { expires: None }.release_budget(floor, cap),
            cap
        );
        assert!(held(0).ran_out() && !held(60).ran_out());
        assert!(!Health::Held { expires: None }.ran_out());
    }
}
