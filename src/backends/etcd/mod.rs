//! The etcd v3 backend (`etcd3+http://`, `etcd3+https://`): tooz's etcd3gw key layout,
//! spoken over gRPC with the `etcd-client` crate, so waits and loss detection are watches,
//! not polling. This module owns the connection (URL options, TLS, authentication, the
//! per-request deadline and error mapping).
//!
//! The modules below it, each importing only those listed before it (dependencies point one
//! way): `keys` key names and range helpers; `follow` following a key from a revision
//! (every wait is built on it); `lease` keeps leases alive and publishes health; `held`
//! gives held keys back; `shared` `--shared` readers; `lock` locks and semaphores;
//! `group` groups and elections; `watch` the `watch` command.
//!
//! Key layout (tooz's keys first; ours live under `/toozctl/` and `toozctl/elections/`,
//! which tooz never reads):
//!
//! | key | value | lease | who |
//! |---|---|---|---|
//! | `/tooz/locks<name>` | 16 random bytes, fixed per acquisition | the lock's own lease | tooz and us |
//! | `tooz/groups/<g>/` | the key itself | none | tooz and us |
//! | `tooz/groups/<g>/<member>` | msgpack capabilities | the member's lease | tooz and us |
//! | `/toozctl/holders<tooz key>` | holder record (JSON) | same lease as the tooz key | us |
//! | `/toozctl/semaphores/<enc name>/<lease hex>` | holder record (JSON, mode `limit N`) | the holder's lease | us |
//! | `/toozctl/readers/<enc name>/<lease hex>` | a `--shared` holder's record (JSON) | the reader's lease | us (the tooz key then holds `toozctl:shared` on a lease all readers keep alive) |
//! | `/toozctl/waiters/<enc name>/<lease hex>` | a waiter's value (16 bytes) then its holder record | the waiter's lease | us: hand-over queue |
//! | `/toozctl/last-success/<enc name>` | `lock --once-per`: the last success (JSON) | a lease of DURATION granted at the run's start, never renewed: etcd's own clock (see `once_per`) | us |
//! | `toozctl/elections/<enc group>/<lease hex>` | the leader candidate's member id | the candidate's lease | us (etcd's own election layout) |
//!
//! `<enc …>` is the name with `%` and `/` written as `%25` and `%2F`, so that one name's
//! prefix never contains another's keys. See `docs/etcd-backend.md`.

mod check;
mod follow;
mod group;
mod held;
mod keys;
mod lease;
mod lock;
mod once_per;
mod shared;
mod watch;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Client, ConnectOptions};

use crate::coordination::{
    BackendUrl, Capabilities, Coordinator, Error, Events, Finding, GroupInfo, Held, Holder,
    Identity, LastSuccess, LockInfo, LockMode, LockRequest, Member, Result, RunStart, Scheme, Wait,
    WatchTarget,
};

/// tooz's default request timeout, and of `lock_timeout` / `membership_timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take at most, unless `?connect_timeout=` says otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub const LOCK_PREFIX: &str = "/tooz/locks";
pub const GROUP_PREFIX: &str = "tooz/groups/";
pub const HOLDER_PREFIX: &str = "/toozctl/holders";
pub const SEMAPHORE_PREFIX: &str = "/toozctl/semaphores/";
pub const ELECTION_PREFIX: &str = "toozctl/elections/";
pub const WAITER_PREFIX: &str = "/toozctl/waiters/";
pub const READER_PREFIX: &str = "/toozctl/readers/";

pub struct EtcdCoordinator {
    url: BackendUrl,
    client: Client,
    identity: Identity,
    /// Deadline of one request (`?timeout=`).
    timeout: Duration,
    lock_ttl: Duration,
    membership_ttl: Duration,
    /// Where we talk to, for messages.
    endpoints: String,
    /// Leases of abandoned waits, revoked by `close()`.
    orphans: Arc<Mutex<Vec<i64>>>,
    /// A lease granted for a failed non-blocking try, reused by the next acquire.
    spare: Mutex<Option<(Duration, lease::Lease)>>,
}

impl EtcdCoordinator {
    pub async fn open(url: &BackendUrl, identity: Identity) -> Result<EtcdCoordinator> {
        let https = url.scheme == Scheme::Etcd3Https;
        let timeout = url
            .seconds_option("timeout")?
            .unwrap_or(DEFAULT_TIMEOUT)
            .max(Duration::from_millis(100));
        let lock_ttl = url.seconds_option("lock_timeout")?.unwrap_or(timeout);
        let membership_ttl = url.seconds_option("membership_timeout")?.unwrap_or(timeout);
        let connect_timeout = url
            .seconds_option("connect_timeout")?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT.min(timeout));
        if let Some(v) = url.option("api_version") {
            if !matches!(v, "v3" | "v3beta" | "v3alpha") {
                return Err(Error::InvalidUrl(format!(
                    "option api_version={v} is not one of v3, v3beta, v3alpha in backend URL '{url}'"
                )));
            }
        }
        if !url.path.is_empty() && url.path != "/" {
            return Err(Error::InvalidUrl(format!(
                "etcd URL '{url}' has a path; etcd URLs take none"
            )));
        }
        let scheme = if https { "https" } else { "http" };
        let hosts: Vec<(String, u16)> = if url.hosts.is_empty() {
            vec![("localhost".to_string(), 2379)]
        } else {
            url.hosts
                .iter()
                .map(|h| (h.host.clone(), h.port.unwrap_or(2379)))
                .collect()
        };
        let endpoints: Vec<String> = hosts
            .iter()
            .map(|(h, p)| {
                if h.contains(':') {
                    format!("{scheme}://[{h}]:{p}")
                } else {
                    format!("{scheme}://{h}:{p}")
                }
            })
            .collect();
        let shown = hosts
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut options = ConnectOptions::new()
            .with_connect_timeout(connect_timeout)
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true);
        if https {
            options = options.with_tls(tls_options(url)?);
        } else if ["ca_cert", "cert_key", "cert_cert"]
            .iter()
            .any(|o| url.option(o).is_some())
        {
            return Err(Error::InvalidUrl(format!(
                "TLS options need the etcd3+https scheme in backend URL '{url}'"
            )));
        }
        if let Some(user) = &url.username {
            let password = url
                .password()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            options = options
                .with_user(user.clone(), password)
                .with_auto_token_refresh(true);
        }
        let unavailable =
            |why: String| Error::Unavailable(format!("cannot connect to etcd at {shown}: {why}"));
        // Only endpoints that accept a connection now go to the client: the balancer
        // would otherwise send requests to a dead one. None at all: exit 69 at once.
        let reachable = reachable(&hosts, &endpoints, connect_timeout)
            .await
            .map_err(unavailable)?;
        // Client::connect contacts the server only to authenticate, so a cheap request
        // proves the endpoint answers (a stopped server accepts but never answers).
        let probe = async {
            let mut client = Client::connect(&reachable, Some(options))
                .await
                .map_err(|e| unavailable(describe(&e)))?;
            client
                .status()
                .await
                .map_err(|e| unavailable(describe(&e)))?;
            Ok::<Client, Error>(client)
        };
        let client = match tokio::time::timeout(connect_timeout, probe).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(unavailable(format!(
                    "no answer within {}",
                    secs(connect_timeout)
                )))
            }
        };
        Ok(EtcdCoordinator {
            url: url.clone(),
            client,
            identity,
            timeout,
            lock_ttl,
            membership_ttl,
            endpoints: shown,
            orphans: Arc::new(Mutex::new(Vec::new())),
            spare: Mutex::new(None),
        })
    }

    /// A handle for a background task: same connection and settings, no lease caches.
    fn shallow(&self) -> EtcdCoordinator {
        EtcdCoordinator {
            url: self.url.clone(),
            client: self.client.clone(),
            identity: self.identity.clone(),
            timeout: self.timeout,
            lock_ttl: self.lock_ttl,
            membership_ttl: self.membership_ttl,
            endpoints: self.endpoints.clone(),
            orphans: self.orphans.clone(),
            spare: Mutex::new(None),
        }
    }

    /// A client handle (cheap clone) for one request.
    fn client(&self) -> Client {
        self.client.clone()
    }

    /// Run one request with the URL's deadline; errors become one line naming `what`.
    async fn rpc<T>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(what, &e)),
            Err(_) => Err(Error::Unavailable(format!(
                "etcd at {} did not answer ({what}) within {}",
                self.endpoints,
                secs(self.timeout)
            ))),
        }
    }

    /// [`Self::rpc`] for a request that may be sent again: an attempt that fails the way a
    /// member going away makes requests fail (its connection cut, no leader, the old
    /// leader's proposal timed out) or that stays unanswered for a while is made again,
    /// the balanced channel sending it to a member that answers, until one is answered
    /// or `within` has passed. A follower whose leader died holds a forwarded request
    /// for etcd's whole request timeout (7 s) and a new leader takes 1 to 2 s to elect,
    /// so an attempt gets 1 s, and each next one half a second more (a loaded but
    /// healthy cluster still gets the time its writes take). Also says whether an earlier attempt may have been
    /// applied all the same (it was cut off or timed out after being sent): the caller
    /// must then read "already done" as its own doing.
    pub(crate) async fn rpc_again<T, F, Fut>(
        &self,
        what: &str,
        within: Duration,
        mut attempt: F,
    ) -> Answer<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let end = tokio::time::Instant::now() + within;
        let mut patience = FIRST_ATTEMPT;
        let mut unsure = false;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let last = left <= patience;
            let result =
                match tokio::time::timeout(left.min(patience), attempt(self.client())).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) if !last && passing(&e) => {
                        tokio::time::sleep(AGAIN_AFTER.min(left)).await;
                        unsure = true;
                        patience += FIRST_ATTEMPT / 2;
                        continue;
                    }
                    Ok(Err(e)) => Err(self.error(what, &e)),
                    Err(_) if !last => {
                        unsure = true;
                        patience += FIRST_ATTEMPT / 2;
                        continue;
                    }
                    Err(_) => Err(Error::Unavailable(format!(
                        "etcd at {} did not answer ({what}) within {}",
                        self.endpoints,
                        secs(within)
                    ))),
                };
            return Answer { result, unsure };
        }
    }

    /// [`Self::rpc_again`] of one transaction (safe to apply twice: the caller says why).
    pub(crate) async fn txn_again(
        &self,
        what: &str,
        within: Duration,
        txn: &etcd_client::Txn,
    ) -> Answer<etcd_client::TxnResponse> {
        self.rpc_again(what, within, |mut client| {
            let txn = txn.clone();
            async move { client.txn(txn).await }
        })
        .await
    }

    fn error(&self, what: &str, e: &etcd_client::Error) -> Error {
        Error::Unavailable(format!(
            "etcd at {}: {what}: {}",
            self.endpoints,
            describe(e)
        ))
    }
}

/// What [`EtcdCoordinator::rpc_again`] got, and whether an earlier attempt may have been
/// applied.
pub(crate) struct Answer<T> {
    pub result: Result<T>,
    pub unsure: bool,
}

/// How long the first attempt of [`EtcdCoordinator::rpc_again`] may take.
const FIRST_ATTEMPT: Duration = Duration::from_secs(1);
/// The pause before sending again after an attempt failed at once (a refused
/// connection fails in microseconds).
const AGAIN_AFTER: Duration = Duration::from_millis(50);

/// An error a member going away or a leader election explains, after which the same
/// request may well succeed on another member or a moment later: the connection failed
/// or was cut (transport errors, gRPC `Unavailable`, `Unknown`, `Cancelled`), or the
/// server gave up on it (`DeadlineExceeded`; etcd's "no leader", "leader changed" and
/// "request timed out" are `Unavailable`). Anything the server decided on its merits
/// (a lease not found, a bad argument, no permission) is final.
fn passing(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        // gRPC codes: 1 Cancelled, 2 Unknown, 4 DeadlineExceeded, 14 Unavailable; and 13
        // Internal when it is the HTTP/2 connection that broke (seen as "http2 error"
        // after the client's keep-alive gave up on a connection while we were stopped).
        etcd_client::Error::GRpcStatus(s) => match i32::from(s.code()) {
            1 | 2 | 4 | 14 => true,
            13 => s.message().contains("http2") || s.message().contains("h2 protocol"),
            _ => false,
        },
        _ => false,
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// TLS from tooz's `ca_cert`, `cert_key`, `cert_cert` options.
fn tls_options(url: &BackendUrl) -> Result<etcd_client::TlsOptions> {
    let read = |opt: &str| url.option_file(opt);
    let mut tls = etcd_client::TlsOptions::new();
    match read("ca_cert")? {
        Some(ca) => tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca)),
        None => tls = tls.with_native_roots(),
    }
    match (read("cert_cert")?, read("cert_key")?) {
        (Some(cert), Some(key)) => tls = tls.identity(etcd_client::Identity::from_pem(cert, key)),
        (None, None) => {}
        _ => {
            return Err(Error::InvalidUrl(format!(
                "options cert_cert and cert_key go together in backend URL '{url}'"
            )))
        }
    }
    Ok(tls)
}

/// The endpoints that accept a TCP connection, all tried at once, or why none does. Once
/// one has answered, the slow ones get 50 ms more: a member that drops packets must not
/// hold up every start for the whole connect timeout.
async fn reachable(
    hosts: &[(String, u16)],
    endpoints: &[String],
    within: Duration,
) -> std::result::Result<Vec<String>, String> {
    let mut tries = tokio::task::JoinSet::new();
    for (i, (h, p)) in hosts.iter().cloned().enumerate() {
        tries.spawn(async move {
            (
                i,
                tokio::net::TcpStream::connect((h.as_str(), p))
                    .await
                    .map(|_| ()),
            )
        });
    }
    let mut deadline = tokio::time::Instant::now() + within;
    let mut ok = Vec::new();
    let mut reasons = Vec::new();
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tries.join_next()).await {
        let Ok((i, result)) = joined else { continue };
        let (h, p) = &hosts[i];
        match result {
            Ok(()) => {
                ok.push(endpoints[i].clone());
                deadline = deadline.min(tokio::time::Instant::now() + Duration::from_millis(50));
            }
            Err(e) => reasons.push(format!("{h}:{p}: {e}")),
        }
    }
    tries.abort_all();
    if !ok.is_empty() {
        Ok(ok)
    } else if reasons.is_empty() {
        Err(format!("no answer within {}", secs(within)))
    } else {
        Err(reasons.join("; "))
    }
}

/// One line for a client error: the gRPC message, or the transport error's causes.
fn describe(e: &etcd_client::Error) -> String {
    let text = match e {
        etcd_client::Error::GRpcStatus(s) => {
            let m = s.message().trim_start_matches("etcdserver: ");
            if m.is_empty() {
                format!("{:?}", s.code())
            } else {
                m.to_string()
            }
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(c) = src {
                let t = c.to_string();
                if !s.contains(&t) {
                    s.push_str(": ");
                    s.push_str(&t);
                }
                src = c.source();
            }
            s
        }
    };
    text.replace('\n', " ")
}

/// `%` and `/` escaped, so a name can sit inside a key prefix without nesting.
pub fn encode_component(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

pub fn decode_component(enc: &str) -> String {
    enc.replace("%2F", "/").replace("%25", "%")
}

/// Where our holder record for a tooz key lives.
pub fn holder_key(tooz_key: &[u8]) -> Vec<u8> {
    let mut k = HOLDER_PREFIX.as_bytes().to_vec();
    if !tooz_key.starts_with(b"/") {
        k.push(b'/');
    }
    k.extend_from_slice(tooz_key);
    k
}

/// Parse a holder record; anything else is a holder we know nothing about.
pub(super) fn conflict(name: &str, holder: &Holder, ours: LockMode) -> Error {
    Error::Conflict(format!(
        "lock '{name}' is held as {} by {holder}; it cannot also be used as {ours}: use one kind (and one --limit) per name",
        holder.mode.as_deref().unwrap_or("an exclusive lock")
    ))
}

fn parse_holder(bytes: Option<&[u8]>, note: &str) -> Holder {
    bytes
        .and_then(|b| serde_json::from_slice::<Holder>(b).ok())
        .unwrap_or_else(|| Holder::unknown(note))
}

fn holder_json(h: &Holder) -> Vec<u8> {
    serde_json::to_vec(h).unwrap_or_default()
}

#[async_trait]
impl Coordinator for EtcdCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.url
    }

    /// `--ttl`, or the shorter of `lock_timeout` and `membership_timeout`: `elect` and
    /// `group join` hold a membership lease too.
    fn lease_for(&self, ttl: Option<Duration>) -> Option<Duration> {
        Some(lease::granted_ttl(
            ttl.unwrap_or(self.lock_ttl.min(self.membership_ttl)),
        ))
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

    async fn begin_run(&self, name: &str, period: Duration) -> Result<RunStart> {
        crate::coordination::validate_name("lock", name)?;
        once_per::begin(self, name, period).await
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        once_per::end(self, name, run, succeeded).await
    }

    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        once_per::list(self).await
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        check::check(self).await
    }

    async fn watch(&self, target: &WatchTarget) -> Result<Events> {
        watch::watch(self, target).await
    }

    async fn close(&self) -> Result<()> {
        let mut ids: Vec<i64> =
            std::mem::take(&mut *self.orphans.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(spare) = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take() {
            ids.push(spare.1.forget());
        }
        let mut client = self.client();
        // A lease already gone (expired, revoked) is fine; a server that does not answer
        // drops them at their TTL, so exiting is not held up for long.
        let revoke_all = async {
            for id in ids {
                let _ = client.lease_revoke(id).await;
            }
        };
        let _ = tokio::time::timeout(self.timeout.min(Duration::from_secs(3)), revoke_all).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_do_not_nest() {
        assert_eq!(encode_component("a/b%c"), "a%2Fb%25c");
        assert_eq!(decode_component("a%2Fb%25c"), "a/b%c");
        assert_eq!(decode_component(&encode_component("%2F/")), "%2F/");
    }

    #[test]
    fn holder_keys_mirror_tooz_keys() {
        assert_eq!(
            holder_key(b"/tooz/locksx"),
            b"/toozctl/holders/tooz/locksx".to_vec()
        );
        assert_eq!(
            holder_key(b"tooz/groups/g/m"),
            b"/toozctl/holders/tooz/groups/g/m".to_vec()
        );
    }
}
