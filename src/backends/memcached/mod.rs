//! The memcached backend, in tooz's memcached layout (wire format §6, vector V5), so tooz
//! clients and toozctl exclude each other and see each other's groups and leaders.
//!
//! Keys (item flags: 1 = raw bytes, 2 = msgpack, as tooz's readers require):
//!
//! | key | who | flags | expiry | what |
//! |---|---|---|---|---|
//! | `__TOOZ_LOCK_<name>` | tooz and us | 1 | lease | the holder's member id (`toozctl-semaphore:<N>` while `--limit N` slots are held) |
//! | `__TOOZ_LOCK__TOOZ_GROUP_LEADER_<g>` | tooz and us | 1 | leader_timeout | the leader's member id |
//! | `_TOOZ_GROUP_LIST` | tooz and us | 2 | none | msgpack array of group ids (bin) |
//! | `_TOOZ_GROUP_<g>` | tooz and us | 2 | none | msgpack map member (bin) → {`capabilities` (bin) → caps} |
//! | `_TOOZ_MEMBER_<m>` | tooz and us | 1 | membership_timeout | `It's alive!`, kept alive while a membership is held |
//! | `_TOOZCTL_FENCE_<name>` | us | 0 | none | fencing counter (decimal), seeded from the clocks when missing |
//! | `_TOOZCTL_HOLDER_<name>` | us | 0 | lease | our `Holder` JSON beside the lock (the leader lock's names the leader) |
//! | `_TOOZCTL_SEM_<i>_<name>` | us | 0 | lease | `--limit N` slot `i` (0..N): the slot holder's `Holder` JSON |
//! | `_TOOZCTL_LAST_<name>` | us | 0 | none | `lock --once-per`: the last success (`SuccessRecord` JSON, times from `stats time`, whole seconds), see `once_per` |
//!
//! Our keys start with `_TOOZCTL_`, which no tooz key does (tooz's start with `__TOOZ_LOCK_`
//! or `_TOOZ_`), so no lock or group name can make one of ours collide with one of tooz's.
//!
//! Memcached counts expiry in whole seconds on a clock that ticks once a second, so an item
//! stored with expiry T may vanish after only T - 1 seconds: a lease of T seconds is
//! published (and supervised) as T - 1 s, and T must be at least 2.
//!
//! This module owns the URL options, connecting (TCP, TLS, `-Y` authentication), the
//! connection pool, key names and error mapping; `lock` owns locks and semaphores, `group`
//! groups and leaders, `watch` the event streams; `client` speaks the text protocol.
//! Nothing here prints; a lost primitive is published as `Health`.

mod check;
mod client;
mod group;
mod lock;
mod once_per;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use client::{Conn, Fault, Meta, Req, Tls};

use crate::coordination::{
    BackendUrl, Capabilities, Coordinator, Error, Events, Finding, GroupInfo, Held, Holder,
    Identity, LastSuccess, LockInfo, LockRequest, Member, Result, RunStart, Wait, WatchTarget,
};

/// tooz's default for `timeout` and the three timeouts it defaults.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting (TCP, TLS, authentication, `version`) may take at most: tooz waits
/// `timeout` (30 s), but a server that does not answer a new client within seconds is
/// unavailable, and a refused port is known at once.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a queued waiter retries by default (each try one round trip: an `add` and
/// two reads sent together, about 200 bytes out and 60 back): memcached pushes nothing,
/// so a release is seen only at the next try, and this bounds the hand-off. Jittered (see
/// [`lock::jittered`]) so waiters do not try in step: about 500 round trips a second per
/// waiter (measured with 8 waiters queued in docs/memcached-backend.md). tooz's waiters
/// poll every second.
pub(crate) const DEFAULT_WAIT_POLL: Duration = Duration::from_millis(2);
/// How often a watch re-reads by default (a whole group or lock state per read).
pub(crate) const DEFAULT_WATCH_POLL: Duration = Duration::from_millis(100);
/// `poll_interval` (both at once) may be set from 1 ms to 5 s.
const POLL_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(5));
/// How often a holder checks, between renewals, that its key is still its own.
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(500);
const CHECK_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(1));
/// Memcached reads an expiry above 30 days as an absolute Unix time.
const MAX_EXPIRY_SECS: u64 = 30 * 86400;
/// Memcached's key limit.
pub(crate) const MAX_KEY: usize = 250;
/// How long `close` waits for the clean-ups of cancelled or failed acquisitions.
const CLEANUP_WAIT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse (tooz's `max_pool_size` bounds it further).
const POOL_KEEP: usize = 8;

pub(crate) const LOCK_PREFIX: &str = "__TOOZ_LOCK_";
pub(crate) const LEADER_PREFIX: &str = "_TOOZ_GROUP_LEADER_";
pub(crate) const GROUP_PREFIX: &str = "_TOOZ_GROUP_";
pub(crate) const GROUP_LIST: &str = "_TOOZ_GROUP_LIST";
pub(crate) const MEMBER_PREFIX: &str = "_TOOZ_MEMBER_";
pub(crate) const FENCE_PREFIX: &str = "_TOOZCTL_FENCE_";
pub(crate) const HOLDER_PREFIX: &str = "_TOOZCTL_HOLDER_";
pub(crate) const SEM_PREFIX: &str = "_TOOZCTL_SEM_";
pub(crate) const LAST_PREFIX: &str = "_TOOZCTL_LAST_";

/// What every part of the backend shares (keeper tasks keep an `Arc` of it).
pub(crate) struct Inner {
    url: BackendUrl,
    identity: Identity,
    host: String,
    port: u16,
    tls: Option<Tls>,
    /// `-Y` ASCII authentication: user and password from the URL.
    auth: Option<(String, String)>,
    pool: Mutex<Vec<Conn>>,
    pool_keep: usize,
    /// Expiries in whole seconds (tooz's options).
    lock_timeout: u64,
    membership_timeout: u64,
    leader_timeout: u64,
    op_timeout: Duration,
    connect_timeout: Duration,
    /// Between a waiter's tries (before jitter).
    wait_poll: Duration,
    /// Between a watch's reads.
    watch_poll: Duration,
    check_interval: Duration,
    /// How many memberships of ours keep our member key alive (deleted with the last one).
    beats: Mutex<usize>,
    /// Clean-ups of cancelled or failed acquisitions still running; `close` awaits them.
    cleanups: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Every key any `lru_crawler metadump` of this process has listed (see
    /// `lock::all_keys`): a listing uses them all, not only its own dump's.
    dumped: Mutex<std::collections::BTreeSet<String>>,
}

pub struct MemcachedCoordinator {
    inner: Arc<Inner>,
}

/// A timeout option as tooz reads it (whole seconds; we round a fraction up), at least 2 s
/// (see the module doc) and at most 30 days.
fn expiry_option(url: &BackendUrl, name: &str, default: u64) -> Result<u64> {
    match url.seconds_option(name)? {
        None => Ok(default),
        Some(d) => expiry_secs(d).map_err(|why| {
            Error::InvalidUrl(format!("option {name}: {why} in backend URL '{url}'"))
        }),
    }
}

/// The memcached expiry for a lease of `d`: whole seconds, 2 ..= 30 days.
pub(crate) fn expiry_secs(d: Duration) -> std::result::Result<u64, String> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs < 2 {
        return Err(format!(
            "a lease of {}s is too short for memcached, whose expiry counts whole seconds on a clock that ticks once a second: use at least 2s",
            d.as_secs_f64()
        ));
    }
    if secs > MAX_EXPIRY_SECS {
        return Err(format!(
            "a lease of {secs}s is longer than memcached's 30-day limit for relative expiries"
        ));
    }
    Ok(secs)
}

/// What an item stored with expiry `secs` is sure to live: one second less (module doc).
pub(crate) fn lease_of(secs: u64) -> Duration {
    Duration::from_secs(secs.saturating_sub(1).max(1))
}

fn interval_option(
    url: &BackendUrl,
    name: &str,
    default: Duration,
    (lo, hi): (Duration, Duration),
) -> Result<Duration> {
    match url.option(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(s) if s >= lo.as_secs_f64() && s <= hi.as_secs_f64() => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(Error::InvalidUrl(format!(
                "option {name}={} is not a number of seconds from {} to {} in backend URL '{url}'",
                crate::coordination::url::shorten(v, 40),
                lo.as_secs_f64(),
                hi.as_secs_f64()
            ))),
        },
    }
}

impl MemcachedCoordinator {
    pub async fn open(url: &BackendUrl, identity: Identity) -> Result<MemcachedCoordinator> {
        let timeout = url.seconds_option("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        let base = expiry_secs(timeout).map_err(|why| {
            Error::InvalidUrl(format!("option timeout: {why} in backend URL '{url}'"))
        })?;
        let lock_timeout = expiry_option(url, "lock_timeout", base)?;
        let membership_timeout = expiry_option(url, "membership_timeout", base)?;
        let leader_timeout = expiry_option(url, "leader_timeout", base)?;
        // `poll_interval` overrides both defaults.
        let poll = match url.option("poll_interval") {
            None => None,
            Some(_) => Some(interval_option(
                url,
                "poll_interval",
                DEFAULT_WATCH_POLL,
                POLL_RANGE,
            )?),
        };
        let check_interval = interval_option(
            url,
            "ownership_check_interval",
            DEFAULT_CHECK_INTERVAL,
            CHECK_INTERVAL_RANGE,
        )?;
        let pool_keep = match url.option("max_pool_size") {
            None => POOL_KEEP,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    Error::InvalidUrl(format!(
                        "option max_pool_size={} is not a positive number in backend URL '{url}'",
                        crate::coordination::url::shorten(v, 40)
                    ))
                })?,
        };
        let (host, port) = match url.hosts.as_slice() {
            [] => ("localhost".to_string(), 11211),
            [h] => (h.host.clone(), h.port.unwrap_or(11211)),
            _ => {
                return Err(Error::InvalidUrl(format!(
                    "memcached URL '{url}' names several servers; tooz's memcached driver uses one"
                )))
            }
        };
        let tls = tls_settings(url, &host)?;
        let auth = match (&url.username, url.password()) {
            (None, None) => None,
            (u, p) => Some((
                u.clone().unwrap_or_default(),
                p.map(|p| p.expose().to_string()).unwrap_or_default(),
            )),
        };
        if url.option("ssl_ciphers").is_some() {
            crate::coordination::note(
                "option ssl_ciphers is ignored: toozctl's TLS (rustls) offers only its own safe cipher suites",
            );
        }
        let inner = Inner {
            url: url.clone(),
            identity,
            host,
            port,
            tls,
            auth,
            pool: Mutex::new(Vec::new()),
            pool_keep,
            lock_timeout,
            membership_timeout,
            leader_timeout,
            op_timeout: timeout.max(Duration::from_millis(100)),
            connect_timeout: timeout.min(MAX_CONNECT_TIMEOUT),
            wait_poll: poll.unwrap_or(DEFAULT_WAIT_POLL),
            watch_poll: poll.unwrap_or(DEFAULT_WATCH_POLL),
            check_interval,
            beats: Mutex::new(0),
            cleanups: Mutex::new(Vec::new()),
            dumped: Mutex::new(Default::default()),
        };
        // Connect (and authenticate) now, so an unreachable server or a wrong password
        // fails before anything is taken.
        let conn = inner.connect().await?;
        inner.put_back(conn);
        Ok(MemcachedCoordinator {
            inner: Arc::new(inner),
        })
    }
}

/// The TLS configuration tooz's options ask for, or `None` without `use_ssl`.
fn tls_settings(url: &BackendUrl, host: &str) -> Result<Option<Tls>> {
    if !url.bool_option("use_ssl").unwrap_or(false) {
        return Ok(None);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad = |what: String| Error::InvalidUrl(format!("{what} in backend URL '{url}'"));
    let mut roots = rustls::RootCertStore::empty();
    match url.option_file("ca_cert")? {
        Some(pem) => {
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c =
                    c.map_err(|e| bad(format!("option ca_cert: not a PEM certificate: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| bad(format!("option ca_cert: unusable certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad(
                    "option ca_cert: the file holds no PEM certificate".into()
                ));
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    if url.option("ssl_key_password").is_some() {
        return Err(bad(
            "option ssl_key_password: encrypted private keys are not supported by toozctl (decrypt it with `openssl pkey`)".into(),
        ));
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| bad(format!("TLS settings: {e}")))?;
    let check_hostname = url.bool_option("ssl_check_hostname").unwrap_or(false);
    let builder = if check_hostname {
        rustls::ClientConfig::builder().with_webpki_verifier(verifier)
    } else {
        rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(client::ChainOnly(verifier)))
    };
    let config = match (url.option_file("ssl_cert")?, url.option_file("ssl_key")?) {
        (Some(cert), Some(key)) => {
            let chain = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("option ssl_cert: not a PEM certificate: {e}")))?;
            let key = rustls_pemfile::private_key(&mut key.as_slice())
                .ok()
                .flatten()
                .ok_or_else(|| bad("option ssl_key: no PEM private key in the file".into()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("options ssl_cert/ssl_key: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(bad("options ssl_cert and ssl_key go together".into())),
    };
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| bad(format!("'{host}' is not a host name TLS can use")))?;
    Ok(Some(Tls {
        config: Arc::new(config),
        server_name,
    }))
}

impl Inner {
    /// A new connection, authenticated when the URL has credentials.
    async fn connect(&self) -> Result<Conn> {
        let open = client::open(&self.host, self.port, self.tls.as_ref());
        let stream = match tokio::time::timeout(self.connect_timeout, open).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to {}: {e}",
                    self.url
                )))
            }
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to {}: no answer within {:?}",
                    self.url, self.connect_timeout
                )))
            }
        };
        let mut conn = Conn::new(stream);
        let hello = async {
            if let Some((user, pass)) = &self.auth {
                let token = format!("{user} {pass}");
                let r = conn
                    .one_line(Req::with_data(
                        format!("set _toozctl_auth 0 0 {}", token.len()),
                        token.as_bytes(),
                    ))
                    .await?;
                if r != "STORED" {
                    return Err(Fault::Server(r));
                }
            }
            conn.one_line(Req::new("version")).await
        };
        match tokio::time::timeout(self.connect_timeout, hello).await {
            Ok(Ok(v)) if v.starts_with("VERSION ") => Ok(conn),
            Ok(Ok(v)) => Err(Error::Unavailable(format!(
                "{} does not answer like a memcached server ('{}')",
                self.url,
                crate::coordination::url::shorten(&v, 60)
            ))),
            Ok(Err(f)) => Err(self.fault("connecting", f)),
            Err(_) => Err(Error::Unavailable(format!(
                "cannot connect to {}: no answer within {:?}",
                self.url, self.connect_timeout
            ))),
        }
    }

    fn take(&self) -> Option<Conn> {
        self.pool.lock().unwrap().pop()
    }

    fn put_back(&self, c: Conn) {
        let mut p = self.pool.lock().unwrap();
        if p.len() < self.pool_keep {
            p.push(c);
        }
    }

    /// Map a connection fault; the connection itself is dropped by the caller.
    fn fault(&self, doing: &str, f: Fault) -> Error {
        match f {
            Fault::Server(m) if m.contains("authentication") || m.contains("unauthenticated") => {
                let hint = if self.auth.is_some() {
                    "wrong user or password"
                } else {
                    "the server requires a user and password (memcached -Y); give them in the URL"
                };
                Error::Unavailable(format!(
                    "authentication failed at {}: {m} ({hint})",
                    self.url
                ))
            }
            Fault::Server(m) => {
                Error::Internal(format!("{doing} on {}: the server said '{m}'", self.url))
            }
            Fault::Io(m) => Error::Unavailable(format!("{doing} on {}: {m}", self.url)),
        }
    }

    /// Run `f` on a pooled (or new) connection within the command timeout; the connection
    /// goes back to the pool only after a complete answer.
    async fn on_conn<T>(
        &self,
        doing: &str,
        f: impl AsyncFnOnce(&mut Conn) -> std::result::Result<T, Fault>,
    ) -> Result<T> {
        let mut conn = match self.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        match tokio::time::timeout(self.op_timeout, f(&mut conn)).await {
            Ok(Ok(v)) => {
                self.put_back(conn);
                Ok(v)
            }
            // The connection is dropped: after a refused request in a pipeline the answers
            // still unread would be taken for the next request's.
            Ok(Err(fault)) => Err(self.fault(doing, fault)),
            Err(_) => Err(Error::Unavailable(format!(
                "{doing} on {}: no answer within {:?}",
                self.url, self.op_timeout
            ))),
        }
    }

    /// Meta requests sent together, one answer each.
    async fn metas(&self, doing: &str, reqs: Vec<Req>) -> Result<Vec<Meta>> {
        self.on_conn(doing, async |c: &mut Conn| c.metas(&reqs).await)
            .await
    }

    async fn meta(&self, doing: &str, req: Req) -> Result<Meta> {
        self.on_conn(doing, async |c: &mut Conn| c.meta(req).await)
            .await
    }

    async fn until_end(&self, doing: &str, req: Req) -> Result<Vec<String>> {
        self.on_conn(doing, async |c: &mut Conn| c.until_end(req).await)
            .await
    }

    /// The server's clock (`stats` time), Unix seconds.
    async fn server_time(&self) -> Result<u64> {
        let lines = self
            .until_end("reading the server clock", Req::new("stats"))
            .await?;
        lines
            .iter()
            .find_map(|l| l.strip_prefix("STAT time "))
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| Error::Internal(format!("{} reported no clock in 'stats'", self.url)))
    }
}

/// Names go into keys as they are, as in tooz; memcached keys hold no whitespace or
/// control characters and at most 250 bytes, which leaves `MAX_KEY - longest` bytes for
/// a name whose longest key adds `longest` bytes to it.
pub(crate) fn validate(kind: &str, name: &str, longest: &str) -> Result<()> {
    crate::coordination::validate_name(kind, name)?;
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidName(format!(
            "{kind} name '{}' contains U+{:04X}: memcached keys cannot hold whitespace or control characters",
            name.escape_debug(),
            c as u32
        )));
    }
    let room = MAX_KEY - longest.len();
    if name.len() > room {
        return Err(Error::InvalidName(format!(
            "{kind} name '{}…' is {} bytes: memcached keys are at most {MAX_KEY} bytes, which leaves {room} for a {kind} name (its longest key is {longest}<name>)",
            name.chars().take(20).collect::<String>(),
            name.len()
        )));
    }
    Ok(())
}

/// The member id as it goes into `_TOOZ_MEMBER_<id>` (groups and elections only; a lock
/// stores it as a value, which may hold anything).
fn validate_member(id: &str) -> Result<()> {
    validate("member id", id, MEMBER_PREFIX)
}

fn validate_lock(name: &str) -> Result<()> {
    validate("lock", name, HOLDER_PREFIX)
}

/// Group names: the longest key is the leader lock's holder record.
fn validate_group(g: &str) -> Result<()> {
    let longest = format!("{HOLDER_PREFIX}{LEADER_PREFIX}");
    validate("group", g, &longest)?;
    if g == "LIST" {
        return Err(Error::InvalidName(
            "group name 'LIST' is reserved on memcached: its key would be tooz's group list (_TOOZ_GROUP_LIST)".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl Coordinator for MemcachedCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.inner.url
    }

    /// Without `--ttl`, the shortest of the lock, membership and leader leases: `elect`
    /// and `group join` check `--kill-after` with `lease_for(None)`.
    fn lease_for(&self, ttl: Option<std::time::Duration>) -> Option<std::time::Duration> {
        let i = &self.inner;
        Some(match ttl {
            Some(t) => lease_of(expiry_secs(t).unwrap_or(2)),
            None => lease_of(
                i.lock_timeout
                    .min(i.membership_timeout)
                    .min(i.leader_timeout),
            ),
        })
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        validate_lock(&req.name)?;
        let secs = match req.ttl {
            Some(t) => {
                expiry_secs(t).map_err(|why| Error::InvalidInput(format!("--ttl: {why}")))?
            }
            None => self.inner.lock_timeout,
        };
        lock::acquire(&self.inner, req, secs, None).await
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        validate_lock(name)?;
        lock::holders(&self.inner, name).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        lock::list(&self.inner).await
    }

    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        validate_lock(name)?;
        lock::break_lock(&self.inner, name).await
    }

    async fn create_group(&self, g: &str) -> Result<()> {
        validate_group(g)?;
        group::create(&self.inner, g).await
    }

    async fn delete_group(&self, g: &str) -> Result<()> {
        validate_group(g)?;
        group::delete(&self.inner, g).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>> {
        group::list(&self.inner).await
    }

    async fn members(&self, g: &str) -> Result<Vec<Member>> {
        validate_group(g)?;
        group::members(&self.inner, g).await
    }

    async fn join(&self, g: &str, caps: &Capabilities, create: bool) -> Result<Held> {
        validate_group(g)?;
        validate_member(&self.inner.identity.member_id)?;
        group::join(&self.inner, g, caps, create).await
    }

    async fn leave(&self, g: &str, member: &str) -> Result<()> {
        validate_group(g)?;
        group::leave(&self.inner, g, member).await
    }

    async fn campaign(&self, g: &str, wait: Wait) -> Result<Option<Held>> {
        validate_group(g)?;
        group::campaign(&self.inner, g, wait).await
    }

    async fn leader(&self, g: &str) -> Result<Option<Holder>> {
        validate_group(g)?;
        group::leader(&self.inner, g).await
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        match target {
            WatchTarget::Lock(n) => validate_lock(n)?,
            WatchTarget::Group(g) | WatchTarget::Leader(g) => validate_group(g)?,
        }
        watch::watch(&self.inner, target).await
    }

    async fn begin_run(&self, name: &str, _period: Duration) -> Result<RunStart> {
        validate_lock(name)?;
        once_per::begin(&self.inner, name).await
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        validate_lock(name)?;
        once_per::end(&self.inner, name, run, succeeded).await
    }

    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        once_per::list(&self.inner).await
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        check::check(&self.inner).await
    }

    /// Wait (a few seconds at most) for the clean-ups of cancelled or failed acquisitions,
    /// so what an unanswered acquire may have taken is removed before the process exits.
    async fn close(&self) -> Result<()> {
        let tasks: Vec<_> = std::mem::take(&mut *self.inner.cleanups.lock().unwrap());
        if tasks.is_empty() {
            return Ok(());
        }
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        tokio::time::timeout(CLEANUP_WAIT, all).await.map_err(|_| {
            Error::Unavailable(format!(
                "{} did not answer within {CLEANUP_WAIT:?}: a cancelled acquisition may hold a lock until its lease ends",
                self.inner.url
            ))
        })
    }
}

/// Shown where the backend's limits matter (`-v`): what memcached cannot promise.
pub(crate) fn caveat() -> &'static str {
    "memcached keeps locks in memory only: a server restart frees every lock, and without -M an item can be evicted under memory pressure (see docs/memcached-backend.md)"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_whole_seconds_of_at_least_two() {
        assert_eq!(expiry_secs(Duration::from_secs(30)), Ok(30));
        assert_eq!(expiry_secs(Duration::from_millis(2500)), Ok(3));
        assert!(expiry_secs(Duration::from_secs(1)).is_err());
        assert!(expiry_secs(Duration::from_secs(MAX_EXPIRY_SECS + 1)).is_err());
        assert_eq!(lease_of(30), Duration::from_secs(29));
        assert_eq!(lease_of(2), Duration::from_secs(1));
    }

    #[test]
    fn names_must_fit_a_key() {
        assert!(validate_lock("ok-name_1").is_ok());
        let long = "x".repeat(MAX_KEY - HOLDER_PREFIX.len() + 1);
        let e = validate_lock(&long).unwrap_err();
        assert!(matches!(e, Error::InvalidName(_)));
        assert!(e.message().contains("250"), "{e}");
        assert!(validate_lock(&long[1..]).is_ok());
        for bad in ["a b", "a\tb", "a\u{1}b", "a\u{85}b"] {
            let e = validate_lock(bad).unwrap_err();
            assert!(e.message().contains("whitespace or control"), "{e}");
        }
        assert!(validate_group("LIST").is_err());
        assert!(validate_group(&"g".repeat(215)).is_ok());
        assert!(validate_group(&"g".repeat(216)).is_err());
    }

    #[test]
    fn options_are_checked() {
        let at = |q: &str| BackendUrl::parse(&format!("memcached://h?{q}")).unwrap();
        assert!(expiry_option(&at("lock_timeout=1"), "lock_timeout", 30).is_err());
        assert_eq!(
            expiry_option(&at("lock_timeout=5"), "lock_timeout", 30),
            Ok(5)
        );
        assert!(interval_option(
            &at("poll_interval=0"),
            "poll_interval",
            DEFAULT_WATCH_POLL,
            POLL_RANGE
        )
        .is_err());
        assert_eq!(
            interval_option(
                &at("poll_interval=0.05"),
                "poll_interval",
                DEFAULT_WATCH_POLL,
                POLL_RANGE
            ),
            Ok(Duration::from_millis(50))
        );
        assert_eq!(
            interval_option(
                &at("poll_interval=0.002"),
                "poll_interval",
                DEFAULT_WATCH_POLL,
                POLL_RANGE
            ),
            Ok(Duration::from_millis(2))
        );
    }
}
