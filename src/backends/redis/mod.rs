//! The Redis backend, in tooz's Redis layout (wire format §2), so tooz clients and toozctl
//! exclude each other and see each other's groups.
//!
//! Keys (`NS` = the `namespace` option, default `_tooz`):
//!
//! | key | who | what |
//! |---|---|---|
//! | `NS_<name>_lock` | tooz and us | the lock: a random token, `PX` = lease (`SET NX PX`) |
//! | `NS_<name>_lock.fence` | us | fencing counter, advanced in the same script as the `SET`; seeded from the server clock when missing |
//! | `NS_<name>_lock.holder` | us | our `Holder` JSON, same TTL as the lock, deleted on release |
//! | `NS_<name>_lock.released`, `.acquired` | us | pub/sub channels: published on every release (wakes waiters) and acquisition (wakes watchers) |
//! | `NS_<name>_lock.sem`, `.holders` | us | `--limit N` and `--shared`: ZSET token → expiry (server ms), HASH token → holder |
//! | `NS_<name>_lock.last-success` | us | `lock --once-per`: the last success (JSON, times from `TIME`), see `once_per` |
//! | `NS_groups`, `NS_group:<g>`, `NS_beats:<m>` | tooz and us | groups, members (msgpack), heartbeats |
//! | `NS_group:<g>.changed` | us | pub/sub channel: published on join/leave, wakes watchers |
//! | `NS_leader_of_<g>_lock` (+ `.holder`) | tooz and us | the leader lock; the holder record names the leader |
//!
//! Every key we add ends in something other than `_lock` and starts with neither `group:`
//! nor `beats:` after `NS_`, so no tooz key can ever be one of ours.
//!
//! This module owns connecting (TCP, TLS, Unix socket, Sentinel), the URL options, key names
//! and error mapping; `lock` owns locks and semaphores, `group` groups and leaders, `watch`
//! the event streams. Nothing here prints; a lost primitive is published as `Health`.

mod check;
mod group;
mod lock;
mod once_per;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, RedisError,
};

use crate::coordination::{
    BackendUrl, Capabilities, Coordinator, Error, Events, Finding, GroupInfo, Held, Holder,
    Identity, LastSuccess, LockInfo, LockRequest, Member, Result, RunStart, Wait, WatchTarget,
};

/// How long connecting may take before the server counts as unreachable.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a holder checks, between renewals, that its key is still its own.
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// The range `ownership_check_interval` accepts: often enough to matter, rarely enough
/// not to load the server (one `GET` per held lock per interval).
const CHECK_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(1));
/// The longest lease or timeout accepted (deadlines are computed on a monotonic clock
/// and must not overflow it).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86400);
/// How long `close` waits for the clean-up of cancelled or failed acquisitions.
const CLEANUP_WAIT: Duration = Duration::from_secs(5);

/// What every part of the backend shares (refresh tasks keep an `Arc` of it).
pub(crate) struct Inner {
    url: BackendUrl,
    identity: Identity,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Key prefix including the trailing `_`.
    prefix: String,
    lock_timeout: Duration,
    membership_timeout: Duration,
    /// tooz's `timeout`: the answer timeout of one command.
    op_timeout: Duration,
    connect_timeout: Duration,
    /// Text that must never appear in a message (the password).
    secret: Option<String>,
    /// How many memberships of ours use our beat key (deleted when the last one goes).
    beats: Mutex<usize>,
    /// `ownership_check_interval`: how often a holder checks its key between renewals.
    check_interval: Duration,
    /// Counts the connections made: a holder re-checks ownership after every reconnect.
    reconnects: tokio::sync::watch::Sender<u64>,
    /// Clean-ups of cancelled or failed acquisitions still running; `close` awaits them.
    cleanups: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

pub struct RedisCoordinator {
    inner: Arc<Inner>,
}

impl RedisCoordinator {
    pub async fn open(url: &BackendUrl, identity: Identity) -> Result<RedisCoordinator> {
        let timeout = url
            .seconds_option("timeout")?
            .unwrap_or(Duration::from_secs(30));
        let lock_timeout = url.seconds_option("lock_timeout")?.unwrap_or(timeout);
        let membership_timeout = url.seconds_option("membership_timeout")?.unwrap_or(timeout);
        if lock_timeout.is_zero() || membership_timeout.is_zero() {
            return Err(Error::InvalidUrl(format!(
                "lock_timeout/membership_timeout of 0 (never expire) is not supported by toozctl in backend URL '{url}'"
            )));
        }
        let connect_timeout = url
            .seconds_option("socket_connect_timeout")?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let op_timeout = url
            .seconds_option("socket_timeout")?
            .unwrap_or(timeout)
            .max(Duration::from_millis(100));
        for (name, d) in [
            ("timeout", timeout),
            ("lock_timeout", lock_timeout),
            ("membership_timeout", membership_timeout),
            ("socket_connect_timeout", connect_timeout),
            ("socket_timeout", op_timeout),
        ] {
            if d > MAX_TIMEOUT {
                return Err(Error::InvalidUrl(format!(
                    "option {name} of {}s is longer than toozctl supports ({} days) in backend URL '{url}'",
                    d.as_secs(),
                    MAX_TIMEOUT.as_secs() / 86400
                )));
            }
        }
        let check_interval = check_interval(url)?;
        let namespace = url.option("namespace").unwrap_or("_tooz").to_string();
        let secret = url
            .password()
            .map(|p| p.expose().to_string())
            .filter(|p| !p.is_empty());
        let client = connect_client(url, connect_timeout, secret.as_deref()).await?;
        let inner = Inner {
            url: url.clone(),
            identity,
            client,
            conn: Mutex::new(None),
            prefix: format!("{namespace}_"),
            lock_timeout,
            membership_timeout,
            op_timeout,
            connect_timeout,
            secret,
            beats: Mutex::new(0),
            check_interval,
            reconnects: tokio::sync::watch::Sender::new(0),
            cleanups: Mutex::new(Vec::new()),
        };
        // Connect and ask now, so an unreachable server or a missing or wrong password
        // fails before anything is taken.
        let _: String = inner
            .cmd("checking the connection", &redis::cmd("PING"))
            .await?;
        Ok(RedisCoordinator {
            inner: Arc::new(inner),
        })
    }
}

/// `ownership_check_interval` (seconds), within [`CHECK_INTERVAL_RANGE`].
fn check_interval(url: &BackendUrl) -> Result<Duration> {
    const NAME: &str = "ownership_check_interval";
    let (lo, hi) = CHECK_INTERVAL_RANGE;
    let bad = || {
        Error::InvalidUrl(format!(
            "option {NAME}={} is not a number of seconds from {} to {} in backend URL '{url}'",
            url.option(NAME).unwrap_or(""),
            lo.as_secs_f64(),
            hi.as_secs_f64()
        ))
    };
    match url.option(NAME) {
        None => Ok(DEFAULT_CHECK_INTERVAL),
        Some(v) => match v.parse::<f64>() {
            Ok(s) if s >= lo.as_secs_f64() && s <= hi.as_secs_f64() => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(bad()),
        },
    }
}

fn addr_of(url: &BackendUrl, tls: bool) -> Result<ConnectionAddr> {
    match url.hosts.as_slice() {
        [] if url.path.starts_with('/') => Ok(ConnectionAddr::Unix(url.path.clone().into())),
        [] => Ok(ConnectionAddr::Tcp("localhost".into(), 6379)),
        [h] if tls => Ok(ConnectionAddr::TcpTls {
            host: h.host.clone(),
            port: h.port.unwrap_or(6379),
            insecure: false,
            tls_params: None,
        }),
        [h] => Ok(ConnectionAddr::Tcp(h.host.clone(), h.port.unwrap_or(6379))),
        _ => Err(Error::InvalidUrl(format!(
            "redis URL '{url}' names several hosts; use ?sentinel=NAME&sentinel_fallback=host:port for Sentinel"
        ))),
    }
}

fn redis_settings(url: &BackendUrl) -> Result<RedisConnectionInfo> {
    let mut rc = RedisConnectionInfo::default();
    if let Some(db) = url.option("db") {
        let n: i64 = db.parse().map_err(|_| {
            Error::InvalidUrl(format!(
                "option db={db} is not a database number in backend URL '{url}'"
            ))
        })?;
        rc = rc.set_db(n);
    }
    if let Some(u) = &url.username {
        rc = rc.set_username(u);
    }
    if let Some(p) = url.password() {
        rc = rc.set_password(p.expose());
    }
    Ok(rc)
}

/// The TLS certificates named by `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, if any.
fn tls_certificates(url: &BackendUrl) -> Result<Option<redis::TlsCertificates>> {
    let read = |opt: &str| url.option_file(opt);
    let (ca, cert, key) = (
        read("ssl_ca_certs")?,
        read("ssl_certfile")?,
        read("ssl_keyfile")?,
    );
    if ca.is_none() && cert.is_none() {
        return Ok(None);
    }
    let client_tls = match (cert, key) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::InvalidUrl(format!(
                "ssl_certfile and ssl_keyfile go together in backend URL '{url}'"
            )))
        }
        (None, None) => None,
    };
    Ok(Some(redis::TlsCertificates {
        client_tls,
        root_cert: ca,
    }))
}

/// Build the client; with `?sentinel=NAME`, ask the sentinels for the current master first.
async fn connect_client(
    url: &BackendUrl,
    connect_timeout: Duration,
    secret: Option<&str>,
) -> Result<redis::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls =
        url.bool_option("ssl").unwrap_or(false) || url.scheme_text.eq_ignore_ascii_case("rediss");
    let settings = redis_settings(url)?;
    let certs = tls_certificates(url)?;
    let bad = |e: RedisError| {
        Error::InvalidUrl(format!(
            "backend URL '{url}': {}",
            scrub(&e.to_string(), secret)
        ))
    };
    if let Some(master) = url.option("sentinel") {
        let mut sentinels = vec![addr_of(
            url,
            url.bool_option("sentinel_ssl").unwrap_or(false),
        )?];
        for extra in url.options("sentinel_fallback") {
            let (h, p) = extra.rsplit_once(':').unwrap_or((extra, "26379"));
            let port = p.parse().map_err(|_| {
                Error::InvalidUrl(format!(
                    "sentinel_fallback={extra} is not host:port in backend URL '{url}'"
                ))
            })?;
            sentinels.push(ConnectionAddr::Tcp(h.to_string(), port));
        }
        let mut node = redis::sentinel::SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(settings)
            .set_tcp_settings(tcp_settings());
        if tls {
            node = node.set_tls_mode(redis::TlsMode::Secure);
        }
        // Sentinels may have their own credentials (tooz's sentinel_username/_password).
        let mut auth = RedisConnectionInfo::default();
        if let Some(u) = url.option("sentinel_username") {
            auth = auth.set_username(u);
        }
        if let Some(p) = url.option("sentinel_password") {
            auth = auth.set_password(p);
        }
        let infos: Vec<redis::ConnectionInfo> = sentinels
            .into_iter()
            .map(|a| {
                a.into_connection_info().map(|i| {
                    i.set_redis_settings(auth.clone())
                        .set_tcp_settings(tcp_settings())
                })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?;
        let mut sc = redis::sentinel::SentinelClient::build(
            infos,
            master,
            Some(node),
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(bad)?;
        return match tokio::time::timeout(connect_timeout * 2, sc.async_get_client()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(Error::Unavailable(format!(
                "cannot find the master '{master}' through the sentinels of {url}: {}",
                scrub(
                    &scrub(&e.to_string(), secret),
                    url.option("sentinel_password")
                )
            ))),
            Err(_) => Err(Error::Unavailable(format!(
                "no sentinel of {url} answered within {connect_timeout:?}"
            ))),
        };
    }
    let info = addr_of(url, tls)?
        .into_connection_info()
        .map_err(bad)?
        .set_redis_settings(settings)
        .set_tcp_settings(tcp_settings());
    match certs {
        Some(c) if tls => redis::Client::build_with_tls(info, c).map_err(bad),
        _ => redis::Client::open(info).map_err(bad),
    }
}

/// `TCP_NODELAY` on, which the redis crate leaves off by default: with Nagle's algorithm a
/// small command written while an earlier one is unanswered waits for that answer (Redis
/// acknowledges with it), so commands we pipeline would go one round trip apart.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Replace the password in a message from the redis crate, in case one ever echoes it.
fn scrub(msg: &str, secret: Option<&str>) -> String {
    let one_line = msg.replace('\n', " ");
    match secret {
        Some(s) if !s.is_empty() => one_line.replace(s, "***"),
        _ => one_line,
    }
}

impl Inner {
    /// The shared connection, (re)connecting when there is none.
    pub(crate) async fn conn(&self) -> Result<MultiplexedConnection> {
        if let Some(c) = self.conn.lock().unwrap().as_ref() {
            return Ok(c.clone());
        }
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.op_timeout));
        let c = match tokio::time::timeout(
            self.connect_timeout + Duration::from_millis(500),
            self.client
                .get_multiplexed_async_connection_with_config(&cfg),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(self.connect_error(e)),
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to {}: no answer within {:?}",
                    self.url, self.connect_timeout
                )))
            }
        };
        *self.conn.lock().unwrap() = Some(c.clone());
        self.reconnects.send_modify(|n| *n += 1);
        Ok(c)
    }

    /// Forget the connection (after a timeout), so the next call makes a new one.
    pub(crate) fn reset(&self) {
        *self.conn.lock().unwrap() = None;
    }

    fn connect_error(&self, e: RedisError) -> Error {
        let what = if e
            .code()
            .is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH" || c == "NOPERM")
            || e.kind() == redis::ErrorKind::AuthenticationFailed
        {
            "authentication failed at"
        } else {
            "cannot connect to"
        };
        Error::Unavailable(format!(
            "{what} {}: {}",
            self.url,
            scrub(&e.to_string(), self.secret.as_deref())
        ))
    }

    /// Map an error of a command; a broken connection is dropped so the next call reconnects.
    pub(crate) fn error(&self, doing: &str, e: RedisError) -> Error {
        if e.is_unrecoverable_error()
            || e.is_connection_dropped()
            || e.is_io_error()
            || e.is_timeout()
        {
            *self.conn.lock().unwrap() = None;
        }
        let msg = scrub(&e.to_string(), self.secret.as_deref());
        if e.code()
            .is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH" || c == "NOPERM")
        {
            return Error::Unavailable(format!("authentication failed at {}: {msg}", self.url));
        }
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            Error::Unavailable(format!("{doing} on {}: {msg}", self.url))
        } else {
            Error::Internal(format!("{doing} on {}: {msg}", self.url))
        }
    }

    /// Run a script with its keys and args, within the command timeout.
    pub(crate) async fn script<T: redis::FromRedisValue>(
        &self,
        doing: &str,
        script: &redis::Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T> {
        let conn = self.conn().await?;
        self.script_on(conn, doing, script, keys, args).await
    }

    /// [`Inner::script`] on a given connection: commands sent on one connection run in
    /// the order sent, which a clean-up queued behind an unanswered acquire relies on.
    pub(crate) async fn script_on<T: redis::FromRedisValue>(
        &self,
        mut conn: MultiplexedConnection,
        doing: &str,
        script: &redis::Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        match tokio::time::timeout(self.op_timeout, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(|e| self.error(doing, e)),
            Err(_) => {
                *self.conn.lock().unwrap() = None;
                Err(Error::Unavailable(format!(
                    "{doing} on {}: no answer within {:?}",
                    self.url, self.op_timeout
                )))
            }
        }
    }

    /// Run one command within the command timeout.
    pub(crate) async fn cmd<T: redis::FromRedisValue>(
        &self,
        doing: &str,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        let mut conn = self.conn().await?;
        match tokio::time::timeout(self.op_timeout, cmd.query_async(&mut conn)).await {
            Ok(r) => r.map_err(|e| self.error(doing, e)),
            Err(_) => {
                *self.conn.lock().unwrap() = None;
                Err(Error::Unavailable(format!(
                    "{doing} on {}: no answer within {:?}",
                    self.url, self.op_timeout
                )))
            }
        }
    }

    /// A dedicated pub/sub connection subscribed to `channels`.
    pub(crate) async fn subscribe(&self, channels: &[String]) -> Result<redis::aio::PubSub> {
        let fut = async {
            let mut ps = self.client.get_async_pubsub().await?;
            for c in channels {
                ps.subscribe(c).await?;
            }
            Ok::<_, RedisError>(ps)
        };
        match tokio::time::timeout(self.connect_timeout + self.op_timeout, fut).await {
            Ok(Ok(ps)) => Ok(ps),
            Ok(Err(e)) => Err(self.connect_error(e)),
            Err(_) => Err(Error::Unavailable(format!(
                "cannot subscribe on {}: no answer",
                self.url
            ))),
        }
    }

    pub(crate) fn lock_key(&self, name: &str) -> String {
        format!("{}{name}_lock", self.prefix)
    }

    /// The keyspace-notification channel of `key` (used when the server has them enabled).
    pub(crate) fn keyspace_channel(&self, key: &str) -> String {
        let db = self.url.option("db").unwrap_or("0");
        format!("__keyspace@{db}__:{key}")
    }
}

/// A random token: 32 lowercase hex characters, like tooz's.
pub(crate) fn random_token() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b[..16].copy_from_slice(&(t.as_nanos() ^ (std::process::id() as u128) << 64).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Names go into keys as they are, as in tooz; only control characters are refused.
fn validate(kind: &str, name: &str) -> Result<()> {
    crate::coordination::validate_name(kind, name)
}

/// Milliseconds of a duration for `PX`, at least 1.
pub(crate) fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.inner.url
    }

    /// Without `--ttl`, the shorter of the lock and membership leases: `elect` and
    /// `group join` check `--kill-after` with `lease_for(None)` and hold a membership too.
    fn lease_for(&self, ttl: Option<Duration>) -> Option<Duration> {
        Some(ttl.unwrap_or(self.inner.lock_timeout.min(self.inner.membership_timeout)))
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        validate("lock", &req.name)?;
        lock::acquire(&self.inner, req, None).await
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        validate("lock", name)?;
        lock::holders(&self.inner, name).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        lock::list(&self.inner).await
    }

    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        validate("lock", name)?;
        lock::break_lock(&self.inner, name).await
    }

    async fn create_group(&self, g: &str) -> Result<()> {
        validate("group", g)?;
        group::create(&self.inner, g).await
    }

    async fn delete_group(&self, g: &str) -> Result<()> {
        validate("group", g)?;
        group::delete(&self.inner, g).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>> {
        group::list(&self.inner).await
    }

    async fn members(&self, g: &str) -> Result<Vec<Member>> {
        validate("group", g)?;
        group::members(&self.inner, g).await
    }

    async fn join(&self, g: &str, caps: &Capabilities, create: bool) -> Result<Held> {
        validate("group", g)?;
        group::join(&self.inner, g, caps, create).await
    }

    async fn leave(&self, g: &str, member: &str) -> Result<()> {
        validate("group", g)?;
        group::leave(&self.inner, g, member).await
    }

    async fn campaign(&self, g: &str, wait: Wait) -> Result<Option<Held>> {
        validate("group", g)?;
        group::campaign(&self.inner, g, wait).await
    }

    async fn leader(&self, g: &str) -> Result<Option<Holder>> {
        validate("group", g)?;
        group::leader(&self.inner, g).await
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        validate("watch target", target.name())?;
        watch::watch(&self.inner, target).await
    }

    async fn begin_run(&self, name: &str, _period: Duration) -> Result<RunStart> {
        validate("lock", name)?;
        once_per::begin(&self.inner, name).await
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        validate("lock", name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_the_secret() {
        assert_eq!(
            scrub("auth s3cret failed\nx", Some("s3cret")),
            "auth *** failed x"
        );
        assert_eq!(scrub("plain", None), "plain");
    }

    #[test]
    fn tokens_are_hex() {
        let t = random_token();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(t, random_token());
    }

    #[test]
    fn check_interval_is_bounded() {
        let at = |q: &str| check_interval(&BackendUrl::parse(&format!("redis://h?{q}")).unwrap());
        assert_eq!(at("x=1").unwrap(), DEFAULT_CHECK_INTERVAL);
        assert_eq!(
            at("ownership_check_interval=0.2").unwrap(),
            Duration::from_millis(200)
        );
        assert_eq!(
            at("ownership_check_interval=1").unwrap(),
            Duration::from_secs(1)
        );
        for bad in ["0", "0.01", "1.5", "-1", "x", "nan", "inf", "1e300"] {
            let e = at(&format!("ownership_check_interval={bad}")).unwrap_err();
            assert!(matches!(e, Error::InvalidUrl(_)), "{bad}: {e:?}");
            assert!(e.message().contains("from 0.05 to 1"), "{e}");
        }
    }

    #[test]
    fn addresses() {
        let u = BackendUrl::parse("redis:///run/redis.sock").unwrap();
        assert!(matches!(
            addr_of(&u, false).unwrap(),
            ConnectionAddr::Unix(_)
        ));
        let u = BackendUrl::parse("redis://h:7000?ssl=true").unwrap();
        assert!(matches!(
            addr_of(&u, true).unwrap(),
            ConnectionAddr::TcpTls { port: 7000, .. }
        ));
        let u = BackendUrl::parse("redis://a:1,b:2").unwrap();
        assert!(addr_of(&u, false).is_err());
    }
}
