//! The ZooKeeper backend (`zookeeper://`, `kazoo://`): one ZooKeeper session per toozctl
//! process, in the znode layout tooz writes through kazoo, so tooz clients and toozctl
//! exclude, see and elect each other.
//!
//! Layout (`NS` = the `namespace` option, default `tooz`):
//!
//! | path | who | what |
//! |---|---|---|
//! | `/NS/locks/<name>/<uuid4hex>__lock__<seq10>` | tooz and us | exclusive lock contender, ephemeral sequential, data = member id (kazoo `Lock`) |
//! | `/NS/locks/<name>/<uuid4hex>__rlock__<seq10>` | us, kazoo `ReadLock` | `--shared` contender |
//! | `/NS/locks/<name>/<uuid4hex>` | us, kazoo `Semaphore` | `--limit N` lease, ephemeral; `/NS/locks/<name>` data = N; `/NS/locks/<name>-__lock__` serialises acquirers |
//! | `/NS/locks/.toozctl/<session id hex>` | us | who we are (JSON: host, pid, command), ephemeral, one per session; tooz never lists it |
//! | `/NS/locks/.toozctl/clock`, `/NS/locks/.toozctl/last-success/<enc name>` | us | `lock --once-per`: the server's time (a write's mtime) and the last success, see `once_per` |
//! | `/NS/<group>/<member>` | tooz and us | ephemeral member node, msgpack capabilities |
//! | `/NS/<group>/leader/<uuid4hex>__lock__<seq10>` | tooz and us | leader contender (kazoo `Lock`), data = member id |
//!
//! Liveness is the session: ephemeral nodes vanish when it closes (clean exit) or expires
//! (holder killed). [`session`] keeps our own round trips going and publishes, for every
//! held primitive, the instant the session could expire if nothing more got through.
//! Fencing tokens are the czxid of our node: a zxid, strictly increasing across the whole
//! ensemble, also when a lock directory is deleted and made again.
//!
//! `?use_ssl=true` speaks TLS to every host; the `tls` module maps tooz's TLS options.

mod check;
mod group;
mod lock;
mod nodelay;
mod once_per;
mod session;
mod tls;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use crate::coordination::{
    validate_name, BackendUrl, Capabilities, Coordinator, Error, Events, Finding, GroupInfo, Held,
    Holder, Identity, LastSuccess, LockInfo, LockRequest, Member, Result, RunStart, Wait,
    WatchTarget,
};

/// tooz's default session timeout (`?timeout=`), in seconds.
const DEFAULT_TIMEOUT: f64 = 10.0;

/// Our directory of session records, inside the lock directory where tooz never lists.
const RECORDS: &str = ".toozctl";

pub struct ZkCoordinator {
    url: BackendUrl,
    identity: Identity,
    /// Our handle on the session, let go by `close` or by the last release: every clone
    /// of the client must go for the session to close.
    handle: Arc<session::Handle>,
    /// `/NS`.
    root: String,
    /// ACL for every node we create (world-open, or the URL's digest user as tooz does).
    acl: Vec<zk::Acl>,
    /// The negotiated session timeout.
    session_timeout: Duration,
    session: session::Monitor,
    /// Deletions of abandoned queue entries and background watches, finished by `close`.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Whether our session record was sent already.
    recorded: std::sync::atomic::AtomicBool,
}

/// What the URL says, checked before any connection.
struct Options {
    connect: String,
    root: String,
    timeout: Duration,
    auth: Option<(String, String)>,
    /// `?use_ssl=true`: every host is spoken to over TLS.
    tls: Option<tls::Tls>,
    /// The servers, for explaining a failed TLS connection.
    servers: Vec<(String, u16)>,
}

fn options(url: &BackendUrl) -> Result<Options> {
    if !(url.path.is_empty() || url.path == "/") {
        return Err(Error::InvalidUrl(format!(
            "ZooKeeper URL '{url}' has the path '{}': tooz ignores it (no chroot); use ?namespace= to choose the root znode",
            url.path
        )));
    }
    let tls = tls::options(url)?;
    let mut hosts: Vec<String> = url
        .hosts
        .iter()
        .map(|h| format!("{}:{}", bracket(&h.host), h.port.unwrap_or(2181)))
        .collect();
    for extra in url.options("hosts") {
        for h in extra.split(',').filter(|h| !h.is_empty()) {
            hosts.push(if h.contains(':') && !h.ends_with(']') {
                h.to_string()
            } else {
                format!("{h}:2181")
            });
        }
    }
    if hosts.is_empty() {
        hosts.push("localhost:2181".into());
    }
    let namespace = url.option("namespace").unwrap_or("tooz").trim_matches('/');
    if namespace.is_empty()
        || namespace
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(Error::InvalidUrl(format!(
            "namespace '{namespace}' is not a usable znode path in backend URL '{url}'"
        )));
    }
    let timeout = url
        .seconds_option("timeout")?
        .unwrap_or(Duration::from_secs_f64(DEFAULT_TIMEOUT));
    if timeout < Duration::from_millis(100) {
        return Err(Error::InvalidUrl(format!(
            "timeout must be at least 0.1 s in backend URL '{url}'"
        )));
    }
    let auth = match (&url.username, url.password()) {
        (Some(u), Some(p)) => Some((u.clone(), p.expose().to_string())),
        (Some(u), None) => Some((u.clone(), String::new())),
        (None, Some(_)) => {
            return Err(Error::InvalidUrl(format!(
                "password without a user name in backend URL '{url}'"
            )))
        }
        (None, None) => None,
    };
    let servers = hosts
        .iter()
        .filter_map(|h| {
            let (host, port) = h.rsplit_once(':')?;
            Some((
                host.trim_matches(|c| c == '[' || c == ']').to_string(),
                port.parse().ok()?,
            ))
        })
        .collect();
    Ok(Options {
        connect: hosts.join(","),
        root: format!("/{namespace}"),
        timeout,
        auth,
        tls,
        servers,
    })
}

/// The first reason a TLS handshake fails with one of `servers`, if any.
async fn diagnose_tls(
    tls: tls::Tls,
    servers: Vec<(String, u16)>,
    timeout: Duration,
) -> Option<String> {
    let limit = (timeout / 2).min(Duration::from_secs(2));
    tokio::task::spawn_blocking(move || {
        servers
            .iter()
            .find_map(|(host, port)| tls.diagnose(host, *port, limit))
    })
    .await
    .ok()
    .flatten()
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// ZooKeeper's digest ACL id for `user:password`: `user:base64(sha1(user:password))`.
fn digest_id(user: &str, password: &str) -> String {
    let sha = sha1_smol::Sha1::from(format!("{user}:{password}").as_bytes())
        .digest()
        .bytes();
    format!("{user}:{}", base64(&sha))
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A client-library error as one of ours, naming what we were doing.
pub(crate) fn zk_error(what: &str, e: zk::Error) -> Error {
    use zk::Error as Z;
    match e {
        Z::ConnectionLoss
        | Z::Timeout
        | Z::NoHosts
        | Z::SessionExpired
        | Z::ClientClosed
        | Z::SessionMoved => Error::Unavailable(format!("{what}: ZooKeeper {e}")),
        Z::NoAuth | Z::AuthFailed => {
            Error::Unavailable(format!("{what}: ZooKeeper refused access ({e})"))
        }
        // The socket's own errors (a connection reset while the server restarts) come as
        // `Custom`; a throttling or read-only server is the server's state. None is a bug
        // of ours: the backend is unavailable (69), not an internal error (70).
        Z::Custom(_) | Z::Throttled | Z::NotReadOnly => {
            Error::Unavailable(format!("{what}: ZooKeeper: {e}"))
        }
        other => Error::Internal(format!("{what}: ZooKeeper: {other}")),
    }
}

/// Start the thread that drives the client library's sockets and timers (`async-io`'s
/// reactor, spawned on its first use) before the connection is set up, not when the
/// connection's socket is first registered with it: the handshake can only be sent once
/// that thread runs (it reports the connect's completion), so its start now overlaps
/// the URL's options, the connector and the library's session task instead of following
/// the TCP connect. Idempotent and cheap: a timer far in the future, polled once (which
/// starts the reactor) and dropped.
fn start_reactor() {
    let mut timer = async_io::Timer::after(Duration::from_secs(3600));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = std::future::Future::poll(std::pin::Pin::new(&mut timer), &mut cx);
}

impl ZkCoordinator {
    pub async fn connect(url: &BackendUrl, identity: Identity) -> Result<ZkCoordinator> {
        start_reactor();
        let opts = options(url)?;
        if opts.tls.is_some() {
            // Two rustls providers are linked (ring, ours; aws-lc-rs, the client's): pick one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut connector = zk::Client::connector()
            .with_session_timeout(opts.timeout)
            .with_fail_eagerly();
        let acl = match &opts.auth {
            Some((user, password)) => {
                connector = connector.with_auth("digest", format!("{user}:{password}").as_bytes());
                vec![zk::Acl::new(
                    zk::Permission::ALL,
                    zk::AuthId::new("digest", &digest_id(user, password)),
                )]
            }
            None => vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())],
        };
        let unavailable = |why: String| {
            Error::Unavailable(format!(
                "cannot connect to ZooKeeper at {}: {why}",
                opts.connect
            ))
        };
        let secure = opts.tls.is_some();
        if let Some(tls) = &opts.tls {
            connector = connector.with_tls(tls.options.clone());
        }
        let connecting = async {
            if secure {
                connector.secure_connect(&opts.connect).await
            } else {
                connector.connect(&opts.connect).await
            }
        };
        let began = tokio::time::Instant::now();
        let client = match tokio::time::timeout(opts.timeout, connecting).await {
            Err(_) => return Err(unavailable(format!("no session within {:?}", opts.timeout))),
            Ok(Err(e)) => {
                let why = match opts.tls {
                    Some(tls) => diagnose_tls(tls, opts.servers.clone(), opts.timeout)
                        .await
                        .unwrap_or_else(|| e.to_string()),
                    None => e.to_string(),
                };
                return Err(unavailable(why));
            }
            Ok(Ok(c)) => c,
        };
        nodelay::apply();
        let session_timeout = client.session_timeout();
        let state = client.state_watcher();
        let handle = Arc::new(session::Handle::new(client));
        let session = session::Monitor::start(
            handle.clone(),
            state,
            opts.root.clone(),
            session_timeout,
            began,
        );
        Ok(ZkCoordinator {
            url: url.clone(),
            identity,
            handle,
            root: opts.root,
            acl,
            session_timeout,
            session,
            tasks: Arc::new(Mutex::new(Vec::new())),
            recorded: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A handle on the session (cheap clone), or an error once closed.
    pub(crate) fn client(&self) -> Result<zk::Client> {
        self.handle
            .get()
            .ok_or_else(|| Error::Unavailable("the ZooKeeper session is closed".into()))
    }

    pub(crate) fn acls(&self) -> zk::Acls<'_> {
        zk::Acls::new(&self.acl)
    }

    pub(crate) fn persistent(&self) -> zk::CreateOptions<'_> {
        zk::CreateMode::Persistent.with_acls(self.acls())
    }

    pub(crate) fn ephemeral(&self) -> zk::CreateOptions<'_> {
        zk::CreateMode::Ephemeral.with_acls(self.acls())
    }

    pub(crate) fn ephemeral_sequential(&self) -> zk::CreateOptions<'_> {
        zk::CreateMode::EphemeralSequential.with_acls(self.acls())
    }

    /// `mkdir -p` of a persistent node with empty data, as kazoo's `ensure_path`.
    pub(crate) async fn ensure_path(&self, path: &str) -> Result<()> {
        let client = self.client()?;
        client
            .mkdir(path, &self.persistent())
            .await
            .map_err(|e| zk_error(&format!("creating {path}"), e))
    }

    /// A sender for cleanups from drop guards, which cannot borrow the coordinator.
    pub(crate) fn cleaner(&self) -> Cleaner {
        Cleaner {
            tasks: self.tasks.clone(),
        }
    }

    /// Write our session record once, beside the first thing we take. The create is sent
    /// now, ahead of whatever the caller sends next (a session's requests are applied in
    /// order, so whoever sees our node can read our record), and its answer is collected
    /// in the background: nobody waits for it. Best effort: a holder without a record is
    /// shown with its member id only.
    pub(crate) fn record_session(&self) {
        use std::sync::atomic::Ordering;
        if self.recorded.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(client) = self.client() else { return };
        let dir = format!("{}/locks/{RECORDS}", self.root);
        let path = format!("{dir}/{:x}", client.session_id().0);
        let body = serde_json::json!({
            "member_id": self.identity.member_id,
            "host": self.identity.host,
            "pid": self.identity.pid,
            "command": self.identity.command,
        })
        .to_string();
        // Sent at once (its answer is not needed: the look below is answered after it).
        drop(client.create(&path, body.as_bytes(), &self.ephemeral()));
        let acl = self.acl.clone();
        self.cleaner().track(async move {
            if !matches!(client.check_stat(&path).await, Ok(None)) {
                return;
            }
            // The first record in this namespace: make its directory, then try again.
            let acls = zk::Acls::new(&acl);
            let made = client
                .mkdir(&dir, &zk::CreateMode::Persistent.with_acls(acls))
                .await;
            if made.is_ok() {
                let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::new(&acl));
                let _ = client.create(&path, body.as_bytes(), &ephemeral).await;
            }
        });
    }

    /// What we know of the owner of a node from its data and stat.
    pub(crate) async fn holder_of(&self, data: &[u8], stat: &zk::Stat) -> Holder {
        match self.client() {
            Ok(client) => holder_of(&client, &self.root, data, stat).await,
            Err(_) => holder_of_node(data, stat),
        }
    }

    fn lock_dir(&self, name: &str) -> Result<String> {
        validate_znode_name("lock", name, true)?;
        if name == RECORDS
            || name.starts_with(&format!("{RECORDS}/"))
            || name.ends_with(lock::SEMAPHORE_SIDE_LOCK)
        {
            return Err(Error::InvalidName(format!(
                "lock name {name:?} is reserved by the ZooKeeper backend"
            )));
        }
        Ok(format!("{}/locks/{name}", self.root))
    }

    fn group_dir(&self, group: &str) -> Result<String> {
        validate_znode_name("group", group, false)?;
        if group == "locks" {
            return Err(Error::InvalidName(
                "group name \"locks\" collides with tooz's lock directory on ZooKeeper".into(),
            ));
        }
        Ok(format!("{}/{group}", self.root))
    }
}

/// The holder of a node: the member id from its data (as tooz stores it), the rest from
/// its stat and from the session record of its owner, if it has one.
pub(crate) async fn holder_of(
    client: &zk::Client,
    root: &str,
    data: &[u8],
    stat: &zk::Stat,
) -> Holder {
    let mut h = holder_of_node(data, stat);
    let path = format!("{root}/locks/{RECORDS}/{:x}", stat.ephemeral_owner);
    match client.get_data(&path).await {
        Ok((record, _)) => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&record) {
                h.host = v["host"].as_str().map(str::to_string);
                h.pid = v["pid"].as_u64().map(|p| p as u32);
                h.command = v["command"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
            }
        }
        Err(_) => h.note = Some("(no toozctl record: a tooz client?)".into()),
    }
    h
}

fn holder_of_node(data: &[u8], stat: &zk::Stat) -> Holder {
    Holder {
        member_id: Some(String::from_utf8_lossy(data).into_owned()),
        since: chrono::DateTime::from_timestamp_millis(stat.ctime)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        fencing_token: Some(stat.czxid as u64),
        ..Holder::default()
    }
}

/// Names are znode path segments: no empty, `.` or `..` segment; `/` only where it nests.
fn validate_znode_name(kind: &str, name: &str, nested: bool) -> Result<()> {
    validate_name(kind, name)?;
    let bad = |why: &str| Err(Error::InvalidName(format!("{kind} name {name:?} {why}")));
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character, which ZooKeeper refuses in node names");
    }
    if !nested && name.contains('/') {
        return bad("contains '/', which ZooKeeper would read as a path");
    }
    for seg in name.split('/') {
        match seg {
            "" => return bad("has an empty path segment (leading, trailing or double '/')"),
            "." | ".." => return bad("has a '.' or '..' segment, which ZooKeeper refuses"),
            "zookeeper" if !nested => return bad("is reserved by ZooKeeper"),
            _ => {}
        }
    }
    Ok(())
}

/// Deletes nodes left by abandoned waits, in the background, tracked for `close`.
#[derive(Clone)]
pub(crate) struct Cleaner {
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Cleaner {
    /// Delete every child of `prefix`'s directory whose name starts with its last segment.
    pub(crate) fn delete_prefixed(&self, client: zk::Client, prefix: String) {
        self.track(async move {
            let Some((dir, name)) = prefix.rsplit_once('/') else {
                return;
            };
            let Ok(children) = client.list_children(dir).await else {
                return;
            };
            for ch in children.iter().filter(|ch| ch.starts_with(name)) {
                let _ = client.delete(&format!("{dir}/{ch}"), None).await;
            }
        });
    }

    /// Finish `task` (an answer we still want) before the session closes.
    pub(crate) fn track(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let mut tasks = self.tasks.lock().expect("tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    pub(crate) fn delete(&self, client: zk::Client, path: String) {
        let handle = tokio::spawn(async move {
            for _ in 0..3 {
                match client.delete(&path, None).await {
                    Err(zk::Error::ConnectionLoss) => continue,
                    _ => break,
                }
            }
        });
        self.tasks.lock().expect("tasks lock").push(handle);
    }
}

/// After a failed read while waiting: `Ok` to try again once the session is connected
/// again (a disconnection within the session keeps our queue node), else the error.
pub(crate) async fn again(client: &zk::Client, e: zk::Error, what: &str) -> Result<()> {
    if e != zk::Error::ConnectionLoss {
        return Err(zk_error(what, e));
    }
    let mut states = client.state_watcher();
    let mut s = client.state();
    loop {
        match s {
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => return Ok(()),
            s if s.is_terminated() => {
                return Err(Error::Unavailable(format!(
                    "{what}: the ZooKeeper session is {s}"
                )))
            }
            _ => s = states.changed().await,
        }
    }
}

/// How long a wait may last, as a deadline for `tokio::time`.
pub(crate) fn deadline(wait: Wait) -> Option<tokio::time::Instant> {
    match wait {
        Wait::Until(d) => Some(d),
        _ => None,
    }
}

#[async_trait]
impl Coordinator for ZkCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.url
    }

    fn lease_for(&self, _ttl: Option<Duration>) -> Option<Duration> {
        Some(self.session_timeout)
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        lock::acquire(self, req).await
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        lock::holders(self, name).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        lock::list(self).await
    }

    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        lock::break_lock(self, name).await
    }

    async fn create_group(&self, g: &str) -> Result<()> {
        group::create(self, g).await
    }

    async fn delete_group(&self, g: &str) -> Result<()> {
        group::delete(self, g).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>> {
        group::list(self).await
    }

    async fn members(&self, g: &str) -> Result<Vec<Member>> {
        group::members(self, g).await
    }

    async fn join(&self, g: &str, capabilities: &Capabilities, create: bool) -> Result<Held> {
        group::join(self, g, capabilities, create).await
    }

    async fn leave(&self, g: &str, member: &str) -> Result<()> {
        group::leave(self, g, member).await
    }

    async fn campaign(&self, g: &str, wait: Wait) -> Result<Option<Held>> {
        group::campaign(self, g, wait).await
    }

    async fn leader(&self, g: &str) -> Result<Option<Holder>> {
        group::leader(self, g).await
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        watch::watch(self, target).await
    }

    async fn begin_run(&self, name: &str, _period: Duration) -> Result<RunStart> {
        self.lock_dir(name)?;
        once_per::begin(self, name).await
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        self.lock_dir(name)?;
        once_per::end(self, name, run, succeeded).await
    }

    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        once_per::list(self).await
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        check::check(self).await
    }

    /// Finish pending deletions, stop background watches, then close the session so every
    /// ephemeral node we still own goes at once instead of at session expiry.
    async fn close(&self) -> Result<()> {
        let limit = tokio::time::Instant::now() + self.session_timeout.min(Duration::from_secs(2));
        self.session.stop();
        // Our handle goes first (if the last release has not let it go already): the
        // session closes as soon as the last task holding one is done, right behind the
        // requests already sent (the deletes of released nodes). Only a connected session
        // can be closed; otherwise the server expires it, and there is nothing to wait for.
        let state = self.handle.let_go();
        let pending: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for t in pending {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(limit, t).await.is_err() {
                abort.abort();
            }
        }
        if let Some(mut state) = state {
            let closed = async {
                while !state.state().is_terminated() {
                    state.changed().await;
                }
            };
            let _ = tokio::time::timeout_at(limit + Duration::from_millis(500), closed).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_side_conditions_are_unavailable_not_internal() {
        use super::{zk, zk_error, Error};
        for e in [
            zk::Error::Throttled,
            zk::Error::NotReadOnly,
            zk::Error::ConnectionLoss,
        ] {
            assert!(
                matches!(zk_error("listing /x", e.clone()), Error::Unavailable(_)),
                "{e}"
            );
        }
        assert!(matches!(
            zk_error("x", zk::Error::BadArguments(&"bad")),
            Error::Internal(_)
        ));
    }

    use super::*;

    #[test]
    fn url_options() {
        let u = BackendUrl::parse("kazoo://a:1,b?timeout=3&hosts=c:4&namespace=ns").unwrap();
        let o = options(&u).unwrap();
        assert_eq!(o.connect, "a:1,b:2181,c:4");
        assert_eq!(o.root, "/ns");
        assert_eq!(o.timeout, Duration::from_secs(3));
        let o = options(&BackendUrl::parse("zookeeper://").unwrap()).unwrap();
        assert_eq!(
            (o.connect.as_str(), o.root.as_str()),
            ("localhost:2181", "/tooz")
        );
        assert!(options(&BackendUrl::parse("zookeeper://h/chroot").unwrap()).is_err());
        assert!(
            options(&BackendUrl::parse("zookeeper://h?use_ssl=no").unwrap())
                .unwrap()
                .tls
                .is_none()
        );
        for refused in [
            "zookeeper://h?use_ssl=yes&verify_certs=false",
            "zookeeper://h?use_ssl=yes&keyfile_password=hunter2",
            "zookeeper://h?use_ssl=yes&ca=/nonexistent.pem",
            "zookeeper://h?use_ssl=yes&keyfile=/k.pem",
        ] {
            let e = options(&BackendUrl::parse(refused).unwrap()).err().unwrap();
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        assert!(options(&BackendUrl::parse("zookeeper://h?namespace=a//b").unwrap()).is_err());
    }

    #[test]
    fn digest_matches_zookeeper() {
        // DigestAuthenticationProvider.generateDigest("super:test")
        assert_eq!(
            digest_id("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn names() {
        assert!(validate_znode_name("lock", "a/b", true).is_ok());
        assert!(validate_znode_name("group", "a/b", false).is_err());
        for bad in ["", "/a", "a/", "a//b", ".", "a/..", "x\n"] {
            assert!(validate_znode_name("lock", bad, true).is_err(), "{bad:?}");
        }
    }
}
