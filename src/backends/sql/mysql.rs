//! The MySQL / MariaDB backend, in tooz's layout (wire format §8): lock NAME is the
//! user-level lock `GET_LOCK('NAME', …)` of a connection held for COMMAND's lifetime,
//! given back with `RELEASE_LOCK`. The server limits names to 64 characters; a longer
//! name is exit 2 naming the limit. User-level locks belong to the server, not to a
//! database: every database on one server shares them (as for tooz).
//!
//! Beside tooz's lock, toozctl keeps its fencing counter and holder record in the table
//! `toozctl_locks` of the URL's database (created on first use; see `sql`), and lists
//! locks from it, from `performance_schema.metadata_locks` where that is enabled (MySQL
//! 8's default), and from `IS_USED_LOCK`, which names the holding connection. `unlock`
//! breaks a lock by killing that connection (`KILL id`), which needs the `CONNECTION
//! ADMIN`/`SUPER` privilege or the same user.
//!
//! This module owns the URL options (tooz's `unix_socket`, `ssl_ca`, `ssl_cert`, `ssl_key`,
//! `ssl_check_hostname`, `ssl_verify_mode`), connecting and error mapping; waiting,
//! keeping and releasing are `sql`'s.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio::sync::{watch, Mutex};

use super::check as sql_check;
use super::once_per::{last_success, run_start, started_us, RUNS};
use super::{acquire, check_mode, new_socket, parse_holder, scrub, sockets, Session, Taken, TABLE};
use crate::coordination::check::{self, Finding};
use crate::coordination::once_per::local_ms;
use crate::coordination::{
    BackendUrl, Coordinator, Error, Held, Holder, Identity, LastSuccess, LockInfo, LockRequest,
    Result, RunStart, Scheme, SuccessRecord,
};

/// MySQL's limit on the length of a user-level lock name, in characters.
pub const MAX_NAME: usize = 64;
const DEFAULT_PORT: u16 = 3306;
/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// ER_NO_SUCH_TABLE.
const NO_SUCH_TABLE: u16 = 1146;

struct Inner {
    url: BackendUrl,
    identity: Identity,
    opts: Opts,
    secret: Option<String>,
    /// The connection for reads (made when first needed).
    conn: Mutex<Option<Conn>>,
    /// A dedicated connection whose try failed, kept for the next try, with its socket.
    spare: Mutex<Option<(Conn, Option<RawFd>)>>,
}

pub struct MysqlCoordinator {
    inner: Arc<Inner>,
}

/// Options from the URL, checked before connecting.
fn opts(url: &BackendUrl) -> Result<Opts> {
    let db = url.path.trim_start_matches('/');
    let mut b = OptsBuilder::default()
        .user(url.username.clone())
        .pass(url.password().map(|p| p.expose().to_string()))
        .db_name((!db.is_empty()).then(|| db.to_string()))
        .prefer_socket(false)
        .stmt_cache_size(16);
    match url.hosts.as_slice() {
        [] => b = b.ip_or_hostname("localhost").tcp_port(DEFAULT_PORT),
        [h] => {
            b = b
                .ip_or_hostname(h.host.clone())
                .tcp_port(h.port.unwrap_or(DEFAULT_PORT))
        }
        _ => {
            return Err(Error::InvalidUrl(format!(
                "backend URL '{url}' names several hosts; the mysql backend takes one"
            )))
        }
    }
    if let Some(s) = url.option("unix_socket") {
        b = b.socket(Some(s.to_string()));
    }
    if let Some(ssl) = ssl_opts(url)? {
        b = b.ssl_opts(ssl);
    }
    Ok(b.into())
}

/// tooz's `ssl_*` options (PyMySQL's meaning); any of them turns TLS on.
fn ssl_opts(url: &BackendUrl) -> Result<Option<mysql_async::SslOpts>> {
    let any = [
        "ssl_ca",
        "ssl_capath",
        "ssl_cert",
        "ssl_key",
        "ssl_cipher",
        "ssl_verify_mode",
    ]
    .iter()
    .any(|o| url.option(o).is_some());
    if !any {
        return Ok(None);
    }
    if url.option("ssl_capath").is_some() || url.option("ssl_cipher").is_some() {
        return Err(Error::InvalidUrl(format!(
            "options ssl_capath and ssl_cipher are not supported by toozctl's mysql backend (use ssl_ca) in backend URL '{url}'"
        )));
    }
    let mut ssl = mysql_async::SslOpts::default();
    if let Some(ca) = url.option_file("ssl_ca")? {
        ssl = ssl.with_root_certs(vec![ca.into()]);
    }
    match (url.option_file("ssl_cert")?, url.option_file("ssl_key")?) {
        (Some(c), Some(k)) => {
            ssl =
                ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(c.into(), k.into())))
        }
        (None, None) => {}
        _ => {
            return Err(Error::InvalidUrl(format!(
                "ssl_cert and ssl_key go together in backend URL '{url}'"
            )))
        }
    }
    // PyMySQL: verify_mode none/optional skips certificate checks.
    let verify = !matches!(
        url.option("ssl_verify_mode").map(|v| v.to_ascii_lowercase()),
        Some(ref v) if v == "none" || v == "cert_none" || v == "optional" || v == "cert_optional"
    );
    if !verify {
        ssl = ssl.with_danger_accept_invalid_certs(true);
    }
    if url.bool_option("ssl_check_hostname") == Some(false) || !verify {
        ssl = ssl.with_danger_skip_domain_validation(true);
    }
    Ok(Some(ssl))
}

impl MysqlCoordinator {
    pub async fn open(url: &BackendUrl, identity: Identity) -> Result<MysqlCoordinator> {
        let inner = Inner {
            url: url.clone(),
            identity,
            opts: opts(url)?,
            secret: url
                .password()
                .map(|p| p.expose().to_string())
                .filter(|p| !p.is_empty()),
            conn: Mutex::new(None),
            spare: Mutex::new(None),
        };
        // Not connected yet: every command's first request connects, and an unreachable
        // server or a wrong password fails there (exit 69) before anything is taken.
        Ok(MysqlCoordinator {
            inner: Arc::new(inner),
        })
    }
}

impl Inner {
    async fn connect(&self) -> Result<Conn> {
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts.clone())).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                let what = match &e {
                    mysql_async::Error::Server(s) if s.code == 1045 || s.code == 1044 => {
                        "authentication failed at"
                    }
                    _ => "cannot connect to",
                };
                Err(Error::Unavailable(format!(
                    "{what} {}: {}",
                    self.url,
                    scrub(&e.to_string(), self.secret.as_deref())
                )))
            }
            Err(_) => Err(Error::Unavailable(format!(
                "cannot connect to {}: no answer within {CONNECT_TIMEOUT:?}",
                self.url
            ))),
        }
    }

    fn error(&self, doing: &str, e: mysql_async::Error) -> Error {
        let msg = scrub(&e.to_string(), self.secret.as_deref());
        match e {
            mysql_async::Error::Server(_) => {
                Error::Internal(format!("{doing} on {}: {msg}", self.url))
            }
            _ => Error::Unavailable(format!("{doing} on {}: {msg}", self.url)),
        }
    }

    /// Run `f` on the read connection, (re)connecting when there is none; a connection
    /// that failed is dropped so the next call makes a new one. With no read connection
    /// yet, the session of a try that failed serves, and stays the spare: a waiter reads
    /// who holds the lock between its try and its wait, and a second connection for that
    /// was a second server thread kept until it exited (issue 13).
    async fn with_conn<T, F>(&self, doing: &str, f: F) -> Result<T>
    where
        F: for<'c> FnOnce(
            &'c mut Conn,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = mysql_async::Result<T>> + Send + 'c>,
        >,
    {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let mut spare = self.spare.lock().await;
            if let Some((c, _)) = spare.as_mut() {
                return match f(c).await {
                    Ok(v) => Ok(v),
                    Err(mysql_async::Error::Server(s)) => {
                        Err(self.error(doing, mysql_async::Error::Server(s)))
                    }
                    Err(e) => {
                        *spare = None;
                        Err(self.error(doing, e))
                    }
                };
            }
        }
        let mut c = match slot.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        match f(&mut c).await {
            Ok(v) => {
                *slot = Some(c);
                Ok(v)
            }
            Err(mysql_async::Error::Server(s)) => {
                *slot = Some(c);
                Err(self.error(doing, mysql_async::Error::Server(s)))
            }
            Err(e) => Err(self.error(doing, e)),
        }
    }

    /// Who holds `name`: the connection id from `IS_USED_LOCK`, with our holder record
    /// when that connection wrote one.
    async fn holders(&self, name: &str) -> Result<(Option<u64>, Vec<Holder>)> {
        let name = name.to_string();
        let n = name.clone();
        let id: Option<u64> = self
            .with_conn("reading a lock", move |c| {
                Box::pin(async move {
                    let r: Option<Option<u64>> =
                        c.exec_first("SELECT IS_USED_LOCK(?)", (n,)).await?;
                    Ok(r.flatten())
                })
            })
            .await?;
        let Some(id) = id else {
            return Ok((None, Vec::new()));
        };
        let q = format!("SELECT holder, fencing_token FROM {TABLE} WHERE name = ? AND session = ?");
        let rec: Option<(Option<String>, Option<u64>)> = self
            .with_conn("reading a holder record", move |c| {
                Box::pin(async move {
                    match c.exec_first(q, (name, id)).await {
                        Err(mysql_async::Error::Server(s)) if s.code == NO_SUCH_TABLE => Ok(None),
                        r => r,
                    }
                })
            })
            .await?;
        let holder = rec
            .and_then(|(h, t)| parse_holder(h.as_deref(), t))
            .unwrap_or_else(|| {
                Holder::unknown(format!(
                    "MySQL connection {id} (a tooz client or another session: tooz records nothing)"
                ))
            });
        Ok((Some(id), vec![holder]))
    }

    /// Every name worth looking at: our table's, and the server's list of user locks
    /// where it keeps one (MySQL's performance_schema; MariaDB's metadata_lock_info plugin).
    async fn names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for q in [
            format!("SELECT name FROM {TABLE}"),
            "SELECT OBJECT_NAME FROM performance_schema.metadata_locks WHERE OBJECT_TYPE = 'USER LEVEL LOCK'".to_string(),
            "SELECT TABLE_NAME FROM information_schema.METADATA_LOCK_INFO WHERE LOCK_TYPE = 'User lock'".to_string(),
        ] {
            let got: Vec<String> = self
                .with_conn("listing locks", move |c| {
                    Box::pin(async move {
                        match c.query::<Option<String>, _>(q).await {
                            Ok(v) => Ok(v.into_iter().flatten().collect()),
                            // Missing table, schema off or no privilege: not listed there.
                            Err(mysql_async::Error::Server(_)) => Ok(Vec::new()),
                            Err(e) => Err(e),
                        }
                    })
                })
                .await?;
            names.extend(got);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn token(&self, name: &str) -> Result<Option<u64>> {
        let q = format!("SELECT fencing_token FROM {TABLE} WHERE name = ?");
        let name = name.to_string();
        self.with_conn("reading a fencing token", move |c| {
            Box::pin(async move {
                match c.exec_first::<u64, _, _>(q, (name,)).await {
                    Err(mysql_async::Error::Server(_)) => Ok(None),
                    r => r,
                }
            })
        })
        .await
    }
}

/// The server's clock in µs since the Unix epoch (`NOW(6)`).
const NOW_US: &str = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED)";
/// Which clock `--once-per` records are on.
const CLOCK: &str = "mysql NOW(6)";

impl Inner {
    async fn server_us(&self) -> Result<u64> {
        let q = format!("SELECT {NOW_US}");
        let v: Option<u64> = self
            .with_conn("reading the server's clock", move |c| {
                Box::pin(async move { c.query_first(q).await })
            })
            .await?;
        v.ok_or_else(|| Error::Internal(format!("{} reported no clock", self.url)))
    }

    /// Rows of `toozctl_once_per` (all, or `name`'s): (name, started_us, record); a
    /// missing table has none.
    async fn runs(&self, name: Option<&str>) -> Result<Vec<(String, u64, String)>> {
        let name = name.map(str::to_string);
        self.with_conn("reading the last success", move |c| {
            Box::pin(async move {
                let r = match name {
                    Some(n) => {
                        c.exec(
                            format!("SELECT name, started_us, record FROM {RUNS} WHERE name = ?"),
                            (n,),
                        )
                        .await
                    }
                    None => {
                        c.query(format!("SELECT name, started_us, record FROM {RUNS}"))
                            .await
                    }
                };
                match r {
                    Err(mysql_async::Error::Server(s)) if s.code == NO_SUCH_TABLE => Ok(Vec::new()),
                    r => r,
                }
            })
        })
        .await
    }

    /// Write the last success of `name` (creating the table on first use).
    async fn record_run(
        &self,
        name: &str,
        started_us: u64,
        finished_us: u64,
        json: String,
    ) -> Result<()> {
        let name = name.to_string();
        self.with_conn("recording the success", move |c| {
            Box::pin(async move {
                let upsert = format!(
                    "INSERT INTO {RUNS} (name, started_us, finished_us, record) VALUES (?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE started_us = VALUES(started_us), \
                     finished_us = VALUES(finished_us), record = VALUES(record)"
                );
                let params = (name, started_us, finished_us, json);
                match c.exec_drop(&upsert, params.clone()).await {
                    Err(mysql_async::Error::Server(s)) if s.code == NO_SUCH_TABLE => {
                        c.query_drop(format!(
                            "CREATE TABLE IF NOT EXISTS {RUNS} (name VARCHAR({MAX_NAME}) NOT NULL PRIMARY KEY, \
                             started_us BIGINT UNSIGNED NOT NULL, finished_us BIGINT UNSIGNED NOT NULL, \
                             record TEXT NOT NULL) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                        ))
                        .await?;
                        c.exec_drop(&upsert, params).await
                    }
                    r => r,
                }
            })
        })
        .await
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        let (version, db, user): (String, Option<String>, String) = self
            .with_conn("reading the server version", |c| {
                Box::pin(async move {
                    let r: Option<(String, Option<String>, String)> = c
                        .query_first("SELECT VERSION(), DATABASE(), CURRENT_USER()")
                        .await?;
                    Ok(r.unwrap_or_default())
                })
            })
            .await?;
        out.push(server_version(&version));
        let mut samples = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            self.with_conn("measuring the round trip", |c| {
                Box::pin(async move { c.query_drop("SELECT 1").await })
            })
            .await?;
            samples.push(t.elapsed());
        }
        out.push(sql_check::round_trip(&samples));
        let t = std::time::Instant::now();
        let server = self.server_us().await?;
        let (after, took) = (local_ms(), t.elapsed());
        out.push(check::clock_skew(
            server / 1000,
            after,
            took,
            &sql_check::skew_meaning("NOW()"),
        ));
        let (exists, creatable) = match &db {
            None => (false, None),
            Some(_) => {
                let q = format!(
                    "SELECT \
                     (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{TABLE}'), \
                     (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = g.grantee) \
                     + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'CREATE' AND GRANTEE = g.grantee AND DATABASE() LIKE TABLE_SCHEMA) \
                     FROM (SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS grantee) g"
                );
                let r: Option<(u64, u64)> = self
                    .with_conn("reading the privileges", move |c| {
                        Box::pin(async move { c.query_first(q).await })
                    })
                    .await?;
                let (t, p) = r.unwrap_or_default();
                // No grant seen may still be a role's: then the server did not say.
                (t > 0, (p > 0).then_some(true))
            }
        };
        out.push(sql_check::fencing_tokens(db.as_deref(), exists, creatable));
        let cipher: Option<(String, String)> = self
            .with_conn("reading the TLS status", |c| {
                Box::pin(
                    async move { c.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await },
                )
            })
            .await?;
        out.push(sql_check::tls(
            cipher.as_ref().map(|(_, c)| c.as_str()),
            self.url.option("unix_socket").is_some(),
            " (?ssl_ca=FILE to encrypt)",
        ));
        out.push(sql_check::auth(self.secret.is_some(), &user));
        Ok(out)
    }
}

/// MySQL 5.7+ or MariaDB 10+: GET_LOCK as tooz uses it, one lock per session.
fn server_version(v: &str) -> Finding {
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mariadb = v.to_ascii_lowercase().contains("mariadb");
    let fine = if mariadb {
        major >= 10
    } else {
        (major, minor) >= (5, 7)
    };
    if fine {
        Finding::ok(
            "server version",
            v,
            if mariadb {
                "GET_LOCK with fractional waits and NOW(6): all toozctl uses"
            } else {
                "GET_LOCK (whole-second waits, retried until -w's deadline) and NOW(6): all toozctl uses"
            },
        )
    } else {
        Finding::warn(
            "server version",
            v,
            "older than MySQL 5.7 / MariaDB 10, which toozctl is not tested with",
        )
    }
}

/// Names MySQL cannot lock are refused before connecting (exit 2).
fn validate(name: &str) -> Result<()> {
    crate::coordination::validate_name("lock", name)?;
    let n = name.chars().count();
    if n > MAX_NAME {
        return Err(Error::InvalidName(format!(
            "lock name '{}' is {n} characters long; MySQL and MariaDB limit lock names (GET_LOCK) to {MAX_NAME} characters",
            crate::coordination::url::shorten(name, 80)
        )));
    }
    Ok(())
}

/// A dedicated connection holding (or trying to take) one lock.
struct MysqlSession {
    conn: Conn,
    name: String,
    url: String,
    secret: Option<String>,
    socket: Option<RawFd>,
    /// MySQL's client sees a dead connection only when it uses it: never fires.
    ended: (
        watch::Sender<Option<String>>,
        watch::Receiver<Option<String>>,
    ),
    /// Whether the statements of the grant and the release were prepared (see
    /// [`MysqlSession::prepare_ahead`]).
    prepared: bool,
}

/// Advance the fencing token and write our record (see [`MysqlSession::upsert`]).
fn upsert_sql() -> String {
    format!(
        "INSERT INTO {TABLE} (name, fencing_token, holder, session) \
         VALUES (?, LAST_INSERT_ID(CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED)), ?, CONNECTION_ID()) \
         ON DUPLICATE KEY UPDATE fencing_token = LAST_INSERT_ID(fencing_token + 1), \
         holder = VALUES(holder), session = VALUES(session)"
    )
}

/// Clear our own record (only a record our connection wrote).
fn clear_sql() -> String {
    format!(
        "UPDATE {TABLE} SET holder = NULL, session = NULL WHERE name = ? AND session = CONNECTION_ID()"
    )
}

const RELEASE_SQL: &str = "SELECT RELEASE_LOCK(?)";

impl MysqlSession {
    fn error(&self, doing: &str, e: mysql_async::Error) -> Error {
        let msg = scrub(&e.to_string(), self.secret.as_deref());
        match e {
            mysql_async::Error::Server(_) => {
                Error::Internal(format!("{doing} on {}: {msg}", self.url))
            }
            _ => Error::Unavailable(format!("{doing} on {}: {msg}", self.url)),
        }
    }

    /// Advance the fencing token and write our record. The new token comes back in the
    /// statement's own answer (`LAST_INSERT_ID(expr)` sets the insert id the server
    /// reports; the update's call is the last one evaluated), so no read follows: `None`
    /// only if a server does not report it.
    async fn upsert(
        &mut self,
        holder: &str,
    ) -> std::result::Result<Option<u64>, mysql_async::Error> {
        self.conn
            .exec_drop(upsert_sql(), (self.name.as_str(), holder))
            .await?;
        Ok(self.conn.last_insert_id().filter(|t| *t > 0))
    }
}

impl MysqlSession {
    /// Prepare, before the first wait, the statements the grant and the release will
    /// send (the client keeps them in its statement cache, looked up by their text): a
    /// statement run for the first time on a connection costs a round trip to prepare
    /// it, which would otherwise sit between the grant and COMMAND's start, and between
    /// COMMAND's end and `RELEASE_LOCK`. An uncontended lock sends these prepares anyway,
    /// only later. One that fails (the table does not exist yet) is simply prepared when
    /// first run.
    async fn prepare_ahead(&mut self) {
        self.prepared = true;
        for q in [upsert_sql(), RELEASE_SQL.to_string(), clear_sql()] {
            let _ = self.conn.prep(q).await;
        }
    }

    /// `GET_LOCK` within `wait`: whether it is ours.
    async fn try_lock(&mut self, wait: Duration) -> Result<bool> {
        if !wait.is_zero() && !self.prepared {
            self.prepare_ahead().await;
        }
        // GET_LOCK takes fractional seconds on MariaDB; MySQL truncates them (the
        // acquire loop then simply tries again until the deadline).
        let secs = (wait.as_millis() as f64) / 1000.0;
        let r: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, ?)", (self.name.as_str(), secs))
            .await
            .map_err(|e| self.error("taking a lock", e))?;
        Ok(r.flatten() == Some(1))
    }

    /// We hold the lock: write our holder record and take the next fencing token.
    async fn record(&mut self, holder: &Holder) -> Result<u64> {
        let json = serde_json::to_string(holder)
            .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
        let token = match self.upsert(&json).await {
            Ok(t) => t,
            Err(e) => match e {
                mysql_async::Error::Server(s) if s.code == NO_SUCH_TABLE => {
                    let create = format!(
                        "CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR({MAX_NAME}) NOT NULL PRIMARY KEY, \
                         fencing_token BIGINT UNSIGNED NOT NULL, holder TEXT NULL, session BIGINT UNSIGNED NULL) \
                         CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    );
                    self.conn.query_drop(create).await.map_err(|e| {
                        Error::Unavailable(format!(
                            "cannot create the table {TABLE} for fencing tokens on {}: {} (grant CREATE on the URL's database, or create it as docs/mysql-backend.md shows)",
                            self.url,
                            scrub(&e.to_string(), self.secret.as_deref())
                        ))
                    })?;
                    self.upsert(&json)
                        .await
                        .map_err(|e| self.error("advancing the fencing token", e))?
                }
                e => return Err(self.error("advancing the fencing token", e)),
            },
        };
        if let Some(t) = token {
            return Ok(t);
        }
        let q = format!("SELECT fencing_token FROM {TABLE} WHERE name = ?");
        let t: Option<u64> = self
            .conn
            .exec_first(q, (self.name.as_str(),))
            .await
            .map_err(|e| self.error("reading the fencing token", e))?;
        t.ok_or_else(|| Error::Internal(format!("no fencing token row for '{}'", self.name)))
    }
}

#[async_trait]
impl Session for MysqlSession {
    /// `GET_LOCK`, then the record, two round trips (PostgreSQL's takes one statement;
    /// MySQL's hand-off meets its target as it is, see docs/benchmarks.md).
    async fn take(&mut self, wait: Duration, holder: &Holder) -> Result<Option<u64>> {
        if !self.try_lock(wait).await? {
            return Ok(None);
        }
        self.record(holder).await.map(Some)
    }

    async fn ping(&mut self) -> Result<()> {
        self.conn
            .ping()
            .await
            .map_err(|e| Error::Lost(scrub(&e.to_string(), self.secret.as_deref())))
    }

    fn ended(&self) -> watch::Receiver<Option<String>> {
        self.ended.1.clone()
    }

    /// Give the lock back, then clear our record: the next holder, woken by the release,
    /// need not wait for our record's commit first (the clearing matches only our own
    /// session, so it never touches the next holder's record).
    async fn unlock(&mut self) -> Result<bool> {
        let r: Option<Option<i64>> = self
            .conn
            .exec_first(RELEASE_SQL, (self.name.as_str(),))
            .await
            .map_err(|e| self.error("releasing a lock", e))?;
        let _ = self
            .conn
            .exec_drop(clear_sql(), (self.name.as_str(),))
            .await;
        Ok(r.flatten() == Some(1))
    }

    async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.disconnect()).await;
    }

    fn socket(&self) -> Option<RawFd> {
        self.socket
    }
}

#[async_trait]
impl Coordinator for MysqlCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.inner.url
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        validate(&req.name)?;
        check_mode(req.mode, Scheme::Mysql)?;
        let inner = &self.inner;
        // A dedicated connection: the one a failed try left, or a new one, whose socket
        // is the one socket that appeared while connecting.
        let spare = inner.spare.lock().await.take();
        let (conn, socket) = match spare {
            Some(s) => s,
            None => {
                let before = sockets();
                let c = inner.connect().await?;
                (c, new_socket(&before))
            }
        };
        let session = MysqlSession {
            conn,
            name: req.name.clone(),
            url: inner.url.to_string(),
            secret: inner.secret.clone(),
            socket,
            ended: watch::channel(None),
            prepared: false,
        };
        let holder = inner.identity.holder(Some(req.mode), None);
        match acquire(session, req, holder, format!("lock '{}'", req.name)).await? {
            Taken::Held(h) => Ok(Some(h)),
            Taken::Not(s) => {
                // Keep the connection for the next try (the wait after a first `-n` try).
                *inner.spare.lock().await = Some((s.conn, s.socket));
                Ok(None)
            }
        }
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        validate(name)?;
        Ok(self.inner.holders(name).await?.1)
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        let mut out = Vec::new();
        for name in self.inner.names().await? {
            if validate(&name).is_err() {
                continue;
            }
            let (_, holders) = self.inner.holders(&name).await?;
            let fencing_token = self.inner.token(&name).await?;
            out.push(LockInfo {
                name,
                holders,
                ttl: None,
                fencing_token,
            });
        }
        Ok(out)
    }

    /// Kill the connection holding `name` (`KILL id`): the server ends its session and
    /// frees the lock. A toozctl holder sees its session end and stops its COMMAND.
    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        validate(name)?;
        let (id, mut holders) = self.inner.holders(name).await?;
        let Some(id) = id else {
            return Ok(Vec::new());
        };
        let inner = &self.inner;
        let killed = inner
            .with_conn("killing the holder's connection", move |c| {
                Box::pin(async move {
                    match c.query_drop(format!("KILL {id}")).await {
                        Ok(()) => Ok(Ok(())),
                        Err(mysql_async::Error::Server(s)) => Ok(Err(s)),
                        Err(e) => Err(e),
                    }
                })
            })
            .await?;
        if let Err(s) = killed {
            return Err(Error::Unsupported(format!(
                "lock '{name}' is held by MySQL connection {id}; breaking it means killing that connection, which {} refused: {} (it needs the CONNECTION ADMIN or SUPER privilege, or the holder's user)",
                inner.url, s.message
            )));
        }
        for h in &mut holders {
            let note = format!("(its MySQL connection {id} was killed)");
            h.note = Some(match h.note.take() {
                Some(n) => format!("{n} {note}"),
                None => note,
            });
        }
        Ok(holders)
    }

    async fn begin_run(&self, name: &str, _period: std::time::Duration) -> Result<RunStart> {
        validate(name)?;
        let now = self.inner.server_us().await?;
        let row = self.inner.runs(Some(name)).await?.into_iter().next();
        Ok(run_start(name, now, row.map(|(_, t, r)| (t, r))))
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        validate(name)?;
        if !succeeded {
            return Ok(());
        }
        let start = started_us(&run);
        let finished = self.inner.server_us().await?;
        let record = SuccessRecord::new(
            &self.inner.identity,
            name,
            start / 1000,
            finished / 1000,
            CLOCK,
        );
        let json = String::from_utf8_lossy(&record.to_json()).into_owned();
        self.inner.record_run(name, start, finished, json).await
    }

    async fn last_successes(&self) -> Result<Vec<LastSuccess>> {
        let rows = self.inner.runs(None).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.inner.server_us().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(n, t, r)| last_success(&n, now, t, &r))
            .collect())
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        self.inner.check().await
    }

    async fn close(&self) -> Result<()> {
        let spare = self.inner.spare.lock().await.take().map(|(c, _)| c);
        let conn = self.inner.conn.lock().await.take();
        for c in spare.into_iter().chain(conn) {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.disconnect()).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_over_64_characters_name_the_limit() {
        assert!(validate(&"x".repeat(64)).is_ok());
        assert!(validate(&"é".repeat(64)).is_ok());
        let e = validate(&"x".repeat(65)).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidName(m) if m.contains("64 characters")),
            "{e}"
        );
    }

    #[test]
    fn url_options() {
        let u = BackendUrl::parse("mysql://u:pw@db:3307/app?unix_socket=/run/m.sock").unwrap();
        let o = opts(&u).unwrap();
        assert_eq!((o.ip_or_hostname(), o.tcp_port()), ("db", 3307));
        assert_eq!(
            (o.user(), o.pass(), o.db_name()),
            (Some("u"), Some("pw"), Some("app"))
        );
        assert_eq!(o.socket(), Some("/run/m.sock"));
        let u = BackendUrl::parse("mysql://a:1,b:2/x").unwrap();
        assert!(opts(&u).is_err());
        let u = BackendUrl::parse("mysql://h/x?ssl_cert=/nonexistent").unwrap();
        assert!(matches!(opts(&u), Err(Error::InvalidUrl(_))));
    }
}
