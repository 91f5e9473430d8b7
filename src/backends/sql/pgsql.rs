//! The PostgreSQL backend, in tooz's layout (wire format §7): lock NAME is the two-key
//! session advisory lock `pg_advisory_lock(k1, k2)` where k1, k2 are the first two bytes
//! of MD5(NAME), held by a session of its own for COMMAND's lifetime. tooz's mapping
//! keeps only 65 536 distinct locks: two names with the same first two MD5 bytes are one
//! lock (`spec_lock` and `spec_x23472` are); `locks` warns when it sees such names.
//! Advisory locks belong to one database: tooz and toozctl must name the same one.
//!
//! Waiting is the server's own queue: `pg_advisory_lock` under `lock_timeout`, in slices
//! (`sql`), in one statement with the write of the fencing token and holder record, which
//! runs the moment the lock is granted (`take_sql`). The client library reads the socket
//! all the time, so the end of the session (a server restart, `pg_terminate_backend`) is
//! seen at once.
//!
//! Beside tooz's lock, the fencing counter and holder record live in `toozctl_locks` in
//! the URL's database (created on first use; see `sql`); `locks` reads `pg_locks` joined
//! with `pg_stat_activity` and names keys from that table; `unlock` ends the holding
//! session with `pg_terminate_backend`, which needs the holder's role or
//! `pg_signal_backend`.
//!
//! URL: `postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DBNAME`, tooz's options `host`, `port`,
//! `dbname` override the URL's parts; a HOST that starts with `/` is the directory of the
//! server's Unix socket (libpq's rule). Without a user, the operating-system user (libpq's
//! default). TLS (`sslmode=require` and stronger) is not built in: refused, exit 2.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use md5::{Digest, Md5};
use tokio::sync::{watch, Mutex};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use super::check as sql_check;
use super::once_per::{last_success, run_start, started_us, RUNS};
use super::{acquire, check_mode, parse_holder, scrub, Session, Taken, TABLE};
use crate::coordination::check::{self, Finding};
use crate::coordination::once_per::local_ms;
use crate::coordination::{
    BackendUrl, Coordinator, Error, Held, Holder, Identity, LastSuccess, LockInfo, LockRequest,
    Result, RunStart, Scheme, SuccessRecord,
};

const DEFAULT_PORT: u16 = 5432;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// tooz's key of lock `name`: the first two bytes of its MD5, as the two int4 keys.
pub fn key(name: &str) -> (i32, i32) {
    let d = Md5::digest(name.as_bytes());
    (i32::from(d[0]), i32::from(d[1]))
}

/// Where and as whom to connect, from the URL and tooz's overriding options.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    user: String,
    dbname: String,
}

fn target(url: &BackendUrl) -> Result<Target> {
    let bad = |what: String| Error::InvalidUrl(format!("{what} in backend URL '{url}'"));
    if url.hosts.len() > 1 {
        return Err(bad(
            "several hosts (the postgresql backend takes one)".into()
        ));
    }
    if let Some(m) = url.option("sslmode") {
        if !matches!(m, "disable" | "allow" | "prefer") {
            return Err(bad(format!(
                "sslmode={m}: TLS to PostgreSQL is not built into toozctl yet"
            )));
        }
    }
    let host = url
        .option("host")
        .map(str::to_string)
        .or_else(|| url.hosts.first().map(|h| h.host.clone()))
        .unwrap_or_else(|| "/var/run/postgresql".into());
    let port = match url.option("port") {
        Some(p) => p
            .parse()
            .map_err(|_| bad(format!("option port={p} is not a port number")))?,
        None => url
            .hosts
            .first()
            .and_then(|h| h.port)
            .unwrap_or(DEFAULT_PORT),
    };
    let dbname = url
        .option("dbname")
        .map(str::to_string)
        .unwrap_or_else(|| url.path.trim_start_matches('/').to_string());
    let user = match &url.username {
        Some(u) => u.clone(),
        None => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "postgres".into()),
    };
    let dbname = if dbname.is_empty() {
        user.clone()
    } else {
        dbname
    };
    Ok(Target {
        host,
        port,
        user,
        dbname,
    })
}

struct Inner {
    url: BackendUrl,
    identity: Identity,
    target: Target,
    secret: Option<String>,
    /// The connection for reads (made when first needed).
    conn: Mutex<Option<Conn>>,
    /// A session whose try failed, kept for the next try.
    spare: Mutex<Option<Conn>>,
    /// What the last listing found worth a warning (names sharing one advisory key).
    warnings: StdMutex<Vec<String>>,
}

/// One connection: the client, its end (set by the task that drives it), its socket.
struct Conn {
    client: Client,
    ended: watch::Receiver<Option<String>>,
    socket: RawFd,
}

pub struct PgCoordinator {
    inner: Arc<Inner>,
}

impl PgCoordinator {
    pub async fn open(url: &BackendUrl, identity: Identity) -> Result<Box<dyn Coordinator>> {
        let inner = Inner {
            url: url.clone(),
            identity,
            target: target(url)?,
            secret: url
                .password()
                .map(|p| p.expose().to_string())
                .filter(|p| !p.is_empty()),
            conn: Mutex::new(None),
            spare: Mutex::new(None),
            warnings: StdMutex::new(Vec::new()),
        };
        // Not connected yet: every command's first request connects, and an unreachable
        // server or a wrong password fails there (exit 69) before anything is taken.
        Ok(Box::new(PgCoordinator {
            inner: Arc::new(inner),
        }))
    }
}

impl Inner {
    fn unavailable(&self, doing: &str, e: impl std::error::Error) -> Error {
        Error::Unavailable(format!(
            "{doing} {}: {}",
            self.url,
            scrub(&message(&e), self.secret.as_deref())
        ))
    }

    async fn connect(&self) -> Result<Conn> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect_now()).await {
            Ok(r) => r,
            Err(_) => Err(Error::Unavailable(format!(
                "cannot connect to {}: no answer within {CONNECT_TIMEOUT:?}",
                self.url
            ))),
        }
    }

    async fn connect_now(&self) -> Result<Conn> {
        let t = &self.target;
        let mut cfg = tokio_postgres::Config::new();
        cfg.user(&t.user)
            .dbname(&t.dbname)
            .application_name("toozctl");
        if let Some(p) = &self.secret {
            cfg.password(p.as_str());
        }
        let io = |e: std::io::Error| self.unavailable("cannot connect to", e);
        if t.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", t.host, t.port);
            let s = tokio::net::UnixStream::connect(&path).await.map_err(io)?;
            let fd = s.as_raw_fd();
            self.start(cfg.connect_raw(s, NoTls).await, fd)
        } else {
            let s = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
                .await
                .map_err(io)?;
            let _ = s.set_nodelay(true);
            let fd = s.as_raw_fd();
            self.start(cfg.connect_raw(s, NoTls).await, fd)
        }
    }

    /// Spawn the task that drives a new connection; its end is published on `ended`.
    fn start<S, T>(
        &self,
        r: std::result::Result<(Client, tokio_postgres::Connection<S, T>), tokio_postgres::Error>,
        socket: RawFd,
    ) -> Result<Conn>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (client, connection) = r.map_err(|e| {
            let auth = matches!(e.code(), Some(c) if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
                || message(&e).contains("password");
            let what = if auth {
                "authentication failed at"
            } else {
                "cannot connect to"
            };
            self.unavailable(what, e)
        })?;
        let (tx, ended) = watch::channel(None);
        let secret = self.secret.clone();
        tokio::spawn(async move {
            let why = match connection.await {
                Ok(()) => "the connection was closed".to_string(),
                Err(e) => scrub(&message(&e), secret.as_deref()),
            };
            let _ = tx.send(Some(why));
        });
        Ok(Conn {
            client,
            ended,
            socket,
        })
    }

    fn error(&self, doing: &str, e: tokio_postgres::Error) -> Error {
        classify(doing, &self.url, self.secret.as_deref(), &e)
    }

    /// The read connection, (re)connecting when there is none or it ended. The session of
    /// a try that failed serves as one (a waiter reads who holds the lock between its try
    /// and its wait): each connection is a server process, and a waiter that made two left
    /// two to end when it exits, right when the next hand-off runs (issue 13).
    async fn reader(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>> {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            let spare = self.spare.lock().await.take();
            *slot = Some(match spare {
                Some(c) if !c.client.is_closed() => c,
                _ => self.connect().await?,
            });
        }
        Ok(tokio::sync::MutexGuard::map(slot, |c| {
            &mut c.as_mut().expect("connected").client
        }))
    }

    /// Rows of `q` on the read connection; a missing `toozctl_locks` reads as empty.
    async fn rows(
        &self,
        doing: &str,
        q: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.reader().await?;
        match c.query(q, params).await {
            Ok(r) => Ok(r),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(Vec::new()),
            Err(e) => Err(self.error(doing, e)),
        }
    }

    /// Holders of every advisory key in this database: (key, pid, who), and our records:
    /// name → (key, session pid, holder record, token).
    async fn held_keys(&self) -> Result<Vec<((i32, i32), i32, String)>> {
        let q = "SELECT l.classid::int8, l.objid::int8, l.pid, \
                 coalesce(a.usename::text, ''), coalesce(host(a.client_addr), 'local'), \
                 coalesce(a.application_name, ''), coalesce(a.backend_start::text, '') \
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted \
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        let rows = self.rows("listing advisory locks", q, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let (a, b): (i64, i64) = (r.get(0), r.get(1));
                let pid: i32 = r.get(2);
                let (user, from, app, since): (String, String, String, String) =
                    (r.get(3), r.get(4), r.get(5), r.get(6));
                let app = if app.is_empty() {
                    String::new()
                } else {
                    format!(", application '{app}'")
                };
                let who = format!(
                    "PostgreSQL session pid {pid} of user '{user}' from {from}{app}, since {since}"
                );
                ((a as i32, b as i32), pid, who)
            })
            .collect())
    }

    async fn records(&self) -> Result<Vec<(String, Option<i32>, Option<String>, i64)>> {
        let q = format!("SELECT name, session, holder, fencing_token FROM {TABLE}");
        let rows = self.rows("reading holder records", &q, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    /// The holders of `name`'s key: our record when its session holds the key under this
    /// name, else what the server says of the session.
    async fn holders(&self, name: &str) -> Result<(Option<i32>, Vec<Holder>)> {
        let k = key(name);
        let held = self.held_keys().await?;
        let Some((_, pid, who)) = held.into_iter().find(|(hk, _, _)| *hk == k) else {
            return Ok((None, Vec::new()));
        };
        let recs = self.records().await?;
        let mine = recs
            .iter()
            .find(|(n, s, _, _)| *s == Some(pid) && key(n) == k);
        let holder = match mine {
            Some((n, _, h, t)) => {
                let mut h = parse_holder(h.as_deref(), Some(*t as u64))
                    .unwrap_or_else(|| Holder::unknown(who.clone()));
                if n != name {
                    h.note = Some(format!(
                        "holds '{n}', which shares advisory key {k:?} with '{name}' (tooz's MD5 mapping)"
                    ));
                }
                h
            }
            None => Holder::unknown(format!("{who} (a tooz client or another session)")),
        };
        Ok((Some(pid), vec![holder]))
    }
}

/// The server's clock in µs since the Unix epoch.
const NOW_US: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::int8";
/// Which clock `--once-per` records are on.
const CLOCK: &str = "postgresql clock_timestamp()";

impl Inner {
    async fn server_us(&self) -> Result<u64> {
        let rows = self
            .rows(
                "reading the server's clock",
                &format!("SELECT {NOW_US}"),
                &[],
            )
            .await?;
        rows.first()
            .and_then(|r| u64::try_from(r.get::<_, i64>(0)).ok())
            .ok_or_else(|| Error::Internal(format!("{} reported no clock", self.url)))
    }

    /// Rows of `toozctl_once_per` (all, or `name`'s): (name, started_us, record); a
    /// missing table has none.
    async fn runs(&self, name: Option<&str>) -> Result<Vec<(String, u64, String)>> {
        let rows = match name {
            Some(n) => {
                let q = format!("SELECT name, started_us, record FROM {RUNS} WHERE name = $1");
                self.rows("reading the last success", &q, &[&n]).await?
            }
            None => {
                let q = format!("SELECT name, started_us, record FROM {RUNS}");
                self.rows("reading the last successes", &q, &[]).await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| {
                let t: i64 = r.get(1);
                (r.get(0), t.max(0) as u64, r.get(2))
            })
            .collect())
    }

    /// Write the last success of `name` (creating the table on first use).
    async fn record_run(
        &self,
        name: &str,
        started_us: u64,
        finished_us: u64,
        json: &str,
    ) -> Result<()> {
        let upsert = format!(
            "INSERT INTO {RUNS} (name, started_us, finished_us, record) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET started_us = EXCLUDED.started_us, \
             finished_us = EXCLUDED.finished_us, record = EXCLUDED.record"
        );
        let (s, f) = (started_us as i64, finished_us as i64);
        let c = self.reader().await?;
        match c.execute(&upsert, &[&name, &s, &f, &json]).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                let create = format!(
                    "CREATE TABLE IF NOT EXISTS {RUNS} (name text PRIMARY KEY, \
                     started_us int8 NOT NULL, finished_us int8 NOT NULL, record text NOT NULL)"
                );
                // Two first users may race on creating it: the loser's error is harmless.
                if let Err(e) = c.batch_execute(&create).await {
                    if e.code() != Some(&SqlState::UNIQUE_VIOLATION) {
                        return Err(self.error("creating the table of once-per records", e));
                    }
                }
                c.execute(&upsert, &[&name, &s, &f, &json])
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error("recording the success", e))
            }
            Err(e) => Err(self.error("recording the success", e)),
        }
    }

    async fn check(&self) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        let q = format!(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int4, \
             current_database()::text, current_user::text, to_regclass('{TABLE}') IS NOT NULL, \
             CASE WHEN current_schema() IS NULL THEN false \
             ELSE has_schema_privilege(current_schema(), 'CREATE') END"
        );
        let rows = self.rows("reading the server version", &q, &[]).await?;
        let r = rows
            .first()
            .ok_or_else(|| Error::Internal(format!("{} answered no row", self.url)))?;
        let (version, num, db, user, exists, creatable): (String, i32, String, String, bool, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        out.push(server_version(&version, num));
        let mut samples = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            self.rows("measuring the round trip", "SELECT 1", &[])
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
            &sql_check::skew_meaning("clock_timestamp()"),
        ));
        out.push(sql_check::fencing_tokens(
            Some(&db),
            exists,
            Some(creatable),
        ));
        let ssl = self
            .rows(
                "reading the TLS status",
                "SELECT CASE WHEN ssl THEN coalesce(cipher, 'on') ELSE '' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        let cipher: Option<String> = ssl.first().map(|r| r.get(0));
        out.push(sql_check::tls(
            cipher.as_deref(),
            self.target.host.starts_with('/'),
            " (TLS to PostgreSQL is not built into toozctl yet: use a Unix socket or a trusted network)",
        ));
        out.push(sql_check::auth(self.secret.is_some(), &user));
        Ok(out)
    }
}

/// PostgreSQL 9.5+: advisory locks, `lock_timeout` and `ON CONFLICT`, all toozctl uses.
fn server_version(v: &str, num: i32) -> Finding {
    if num >= 90500 {
        Finding::ok(
            "server version",
            v,
            "advisory locks, lock_timeout and INSERT ... ON CONFLICT: all toozctl uses",
        )
    } else {
        Finding::warn(
            "server version",
            v,
            "older than 9.5: no INSERT ... ON CONFLICT, which fencing tokens need",
        )
    }
}

/// A dedicated session holding (or trying to take) one lock.
struct PgSession {
    conn: Conn,
    name: String,
    key: (i32, i32),
    url: String,
    secret: Option<String>,
    /// Statements prepared while the session waits in the server's queue (see
    /// [`PgSession::prepare_ahead`]); `None` when not prepared (yet, or the table is
    /// missing): the plain statement is sent then.
    clear_stmt: Option<Statement>,
    unlock_stmt: Option<Statement>,
    /// Whether the statements above were asked for (once per session).
    prepared: bool,
}

/// Take the lock and, in the same statement once it is granted, advance the fencing token
/// and write our record. `lock` is `pg_advisory_lock($3, $4)` (waits, under
/// `lock_timeout`; returns void) or `pg_try_advisory_lock($3, $4)` (returns whether it
/// took it: no row is written, and none returned, when it did not). The lock function is
/// volatile, so its CTE is evaluated once, before the insert reads its row.
fn take_sql(wait: bool) -> String {
    let (lock, only_if) = if wait {
        ("pg_advisory_lock($3, $4)", "")
    } else {
        ("pg_try_advisory_lock($3, $4)", " WHERE l.got")
    };
    format!(
        "WITH l AS (SELECT {lock} AS got) \
         INSERT INTO {TABLE} AS t (name, fencing_token, holder, session) \
         SELECT $1, (extract(epoch FROM clock_timestamp()) * 1000000)::int8, $2, pg_backend_pid() \
         FROM l{only_if} \
         ON CONFLICT (name) DO UPDATE SET fencing_token = t.fencing_token + 1, \
         holder = EXCLUDED.holder, session = EXCLUDED.session RETURNING fencing_token"
    )
}

/// Clear our own record (only a record our session wrote).
fn clear_sql() -> String {
    format!(
        "UPDATE {TABLE} SET holder = NULL, session = NULL WHERE name = $1 AND session = pg_backend_pid()"
    )
}

const UNLOCK_SQL: &str = "SELECT pg_advisory_unlock($1, $2)";

/// Unlock only if this session holds the lock: an unlock of a lock not held makes the
/// server log a WARNING, which a long wait would repeat at every slice.
const UNLOCK_IF_HELD_SQL: &str = "SELECT pg_advisory_unlock($1, $2) FROM pg_locks \
     WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 2 \
     AND classid = $1::oid AND objid = $2::oid";

impl PgSession {
    fn error(&self, doing: &str, e: tokio_postgres::Error) -> Error {
        classify(doing, &self.url, self.secret.as_deref(), &e)
    }

    /// Prepare, while the session waits in the server's queue, the statements the release
    /// will send: a new session parses and plans them with cold catalog caches (measured:
    /// 0.4 ms for the clearing on PostgreSQL 15), which would otherwise sit between
    /// COMMAND's end and the unlock. Sent in the same round trip as the wait, ahead of it,
    /// so an uncontended lock costs no extra round trip. A statement that cannot be
    /// prepared (the table does not exist yet) is simply sent unprepared later.
    fn prepare_ahead(
        &self,
    ) -> impl std::future::Future<
        Output = (
            std::result::Result<Statement, tokio_postgres::Error>,
            std::result::Result<Statement, tokio_postgres::Error>,
        ),
    > + '_ {
        let c = &self.conn.client;
        let clear = clear_sql();
        async move {
            tokio::join!(
                c.prepare_typed(&clear, &[Type::TEXT]),
                c.prepare_typed(UNLOCK_SQL, &[Type::INT4, Type::INT4]),
            )
        }
    }

    /// One statement that takes the lock and, once granted, writes our record and
    /// returns the new fencing token (`take_sql`): the grant and the record need no round
    /// trip between them, so the next holder's COMMAND starts one round trip sooner after
    /// a release, and an uncontended lock costs one statement. Its insert is planned
    /// before the wait, off the hand-off's path. A wait is bounded by `lock_timeout`, set
    /// ahead of it and reset behind it in the same round trip (the release must not be
    /// cut short by it). `Ok(None)`: not taken.
    ///
    /// The statement commits synchronously (the session's default): the token must
    /// survive a crash of the server, or the next holder after it could be handed the
    /// same token while our COMMAND acted with it. While it waits, it holds the table's
    /// ROW EXCLUSIVE lock, which only DDL on `toozctl_locks` waits for.
    async fn lock_and_record(
        &mut self,
        wait: Duration,
        holder: &str,
    ) -> std::result::Result<Option<i64>, tokio_postgres::Error> {
        let (a, b) = self.key;
        let client = &self.conn.client;
        let params = [
            (&self.name as &(dyn ToSql + Sync), Type::TEXT),
            (&holder, Type::TEXT),
            (&a, Type::INT4),
            (&b, Type::INT4),
        ];
        if wait.is_zero() {
            let rows = client.query_typed(&take_sql(false), &params).await?;
            return Ok(rows.first().map(|row| row.get(0)));
        }
        let prepare = !self.prepared;
        self.prepared = true;
        let ahead = async {
            if prepare {
                Some(self.prepare_ahead().await)
            } else {
                None
            }
        };
        let set = format!("SET lock_timeout = {}", wait.as_millis().max(1));
        let q = take_sql(true);
        // Polled in this order, the four go out back to back: the prepares, the timeout,
        // the wait, the reset (which runs after the wait whatever its outcome).
        let (ahead, set, taken, reset) = tokio::join!(
            ahead,
            client.batch_execute(&set),
            client.query_typed(&q, &params),
            client.batch_execute("SET lock_timeout = 0"),
        );
        if let Some((c, u)) = ahead {
            (self.clear_stmt, self.unlock_stmt) = (c.ok(), u.ok());
        }
        set?;
        let rows = taken?;
        reset?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    /// Create the table of fencing tokens (first use on this database).
    async fn create_table(&self) -> Result<()> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (name text PRIMARY KEY, \
             fencing_token int8 NOT NULL, holder text, session int4)"
        );
        // Two first users may race on creating it: the loser's error is harmless.
        match self.conn.client.batch_execute(&create).await {
            Err(e) if e.code() != Some(&SqlState::UNIQUE_VIOLATION) => Err(Error::Unavailable(format!(
                "cannot create the table {TABLE} for fencing tokens on {}: {} (grant CREATE on the database's schema, or create it as docs/postgresql-backend.md shows)",
                self.url,
                scrub(&message(&e), self.secret.as_deref())
            ))),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Session for PgSession {
    async fn take(&mut self, wait: Duration, holder: &Holder) -> Result<Option<u64>> {
        let json = serde_json::to_string(holder)
            .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
        let mut created = false;
        let t = loop {
            match self.lock_and_record(wait, &json).await {
                Ok(Some(t)) => break t,
                Ok(None) if wait.is_zero() => return Ok(None),
                // The waiting statement returns its row whenever it succeeds.
                Ok(None) => {
                    return Err(Error::Internal(format!(
                        "no fencing token row for '{}'",
                        self.name
                    )))
                }
                // Refused while parsing, before anything was taken.
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) && !created => {
                    self.create_table().await?;
                    created = true;
                }
                // The wait ran out — or, should the row have stayed locked past it, the
                // lock was granted and the write timed out: give back what the statement
                // may have taken.
                Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                    let (a, b) = self.key;
                    let key = [(&a as &(dyn ToSql + Sync), Type::INT4), (&b, Type::INT4)];
                    self.conn
                        .client
                        .query_typed(UNLOCK_IF_HELD_SQL, &key)
                        .await
                        .map_err(|e| self.error("giving back a lock", e))?;
                    return Ok(None);
                }
                Err(e) => return Err(self.error("taking a lock", e)),
            }
        };
        u64::try_from(t).map(Some).map_err(|_| {
            Error::Unavailable(format!(
                "the fencing counter of '{}' in {TABLE} holds {t}, not a positive number: refusing to hand out a token",
                self.name
            ))
        })
    }

    async fn ping(&mut self) -> Result<()> {
        self.conn
            .client
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| Error::Lost(scrub(&message(&e), self.secret.as_deref())))
    }

    fn ended(&self) -> watch::Receiver<Option<String>> {
        self.conn.ended.clone()
    }

    /// Give the lock back, then clear our record, in one round trip: the unlock goes out
    /// first, so nothing stands between COMMAND's end and the server waking the next
    /// holder. The clearing matches only a record our own session wrote (`session =
    /// pg_backend_pid()`), so it never touches the next holder's record, whichever of the
    /// two statements the server runs first (under READ COMMITTED an UPDATE re-checks
    /// its condition on a row another transaction changed meanwhile). It is committed
    /// without waiting for the log flush (`synchronous_commit = off`; the session ends
    /// right after): a crash of the server can lose only the clearing, and a record
    /// naming a session that holds nothing is shown as free.
    async fn unlock(&mut self) -> Result<bool> {
        let q = clear_sql();
        let (a, b) = self.key;
        let client = &self.conn.client;
        let name = [(&self.name as &(dyn ToSql + Sync), Type::TEXT)];
        let key = [(&a as &(dyn ToSql + Sync), Type::INT4), (&b, Type::INT4)];
        let unlock = async {
            match &self.unlock_stmt {
                Some(st) => client.query(st, &[&a, &b]).await,
                None => client.query_typed(UNLOCK_SQL, &key).await,
            }
        };
        let clear = async {
            match &self.clear_stmt {
                Some(st) => client.execute(st, &[&self.name]).await,
                None => client.execute_typed(&q, &name).await,
            }
        };
        let (unlocked, _, _) = tokio::join!(
            unlock,
            client.batch_execute("SET synchronous_commit = off"),
            clear,
        );
        let rows = unlocked.map_err(|e| self.error("releasing a lock", e))?;
        Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
    }

    async fn close(self) {
        // Dropping the client ends the connection task, which says goodbye to the server.
        drop(self.conn.client);
    }

    fn socket(&self) -> Option<RawFd> {
        Some(self.conn.socket)
    }
}

#[async_trait]
impl Coordinator for PgCoordinator {
    fn url(&self) -> &BackendUrl {
        &self.inner.url
    }

    async fn acquire(&self, req: &LockRequest) -> Result<Option<Held>> {
        crate::coordination::validate_name("lock", &req.name)?;
        check_mode(req.mode, Scheme::Postgresql)?;
        let inner = &self.inner;
        // A connection already made, for a failed try or for reads, is the session: see
        // `Inner::reader`.
        let spare = inner.spare.lock().await.take();
        let spare = match spare {
            Some(c) => Some(c),
            None => inner.conn.lock().await.take(),
        };
        let conn = match spare {
            Some(c) if !c.client.is_closed() => c,
            _ => inner.connect().await?,
        };
        let session = PgSession {
            conn,
            name: req.name.clone(),
            key: key(&req.name),
            url: inner.url.to_string(),
            secret: inner.secret.clone(),
            clear_stmt: None,
            unlock_stmt: None,
            prepared: false,
        };
        let holder = inner.identity.holder(Some(req.mode), None);
        match acquire(session, req, holder, format!("lock '{}'", req.name)).await? {
            Taken::Held(h) => Ok(Some(h)),
            Taken::Not(s) => {
                *inner.spare.lock().await = Some(s.conn);
                Ok(None)
            }
        }
    }

    async fn lock_holders(&self, name: &str) -> Result<Vec<Holder>> {
        crate::coordination::validate_name("lock", name)?;
        Ok(self.inner.holders(name).await?.1)
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        let held = self.inner.held_keys().await?;
        let recs = self.inner.records().await?;
        let mut out = Vec::new();
        let mut named = std::collections::HashSet::new();
        for (name, session, rec, token) in &recs {
            let k = key(name);
            let holder = held.iter().find(|(hk, _, _)| *hk == k);
            let holders = match holder {
                // Held under this name by the session that wrote the record.
                Some((_, pid, _)) if *session == Some(*pid) => {
                    named.insert(k);
                    vec![parse_holder(rec.as_deref(), Some(*token as u64))
                        .unwrap_or_else(|| Holder::unknown("a toozctl holder"))]
                }
                // Held, but under another name or by someone else.
                Some(_) => self.inner.holders(name).await?.1,
                None => Vec::new(),
            };
            out.push(LockInfo {
                name: name.clone(),
                holders,
                ttl: None,
                fencing_token: Some(*token as u64),
            });
        }
        // Keys no name of ours maps to: a tooz client's (tooz records no name).
        for (k, _, who) in &held {
            if !recs.iter().any(|(n, _, _, _)| key(n) == *k) {
                out.push(LockInfo {
                    name: format!("(advisory key {},{})", k.0, k.1),
                    holders: vec![Holder::unknown(format!(
                        "{who} (a tooz client or another session; tooz records no lock name)"
                    ))],
                    ttl: None,
                    fencing_token: None,
                });
            }
        }
        let _ = named;
        *self.inner.warnings.lock().unwrap() = collisions(recs.iter().map(|r| r.0.as_str()));
        Ok(out)
    }

    fn listing_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.inner.warnings.lock().unwrap())
    }

    /// End the session holding `name`'s key (`pg_terminate_backend`): the server frees
    /// its locks. A toozctl holder sees its session end and stops its COMMAND.
    async fn break_lock(&self, name: &str) -> Result<Vec<Holder>> {
        crate::coordination::validate_name("lock", name)?;
        let (pid, mut holders) = self.inner.holders(name).await?;
        let Some(pid) = pid else {
            return Ok(Vec::new());
        };
        let c = self.inner.reader().await?;
        let r = c
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await;
        drop(c);
        match r {
            Ok(row) if row.get::<_, bool>(0) => {}
            Ok(_) => {
                return Err(Error::Unavailable(format!(
                    "lock '{name}' is held by PostgreSQL session pid {pid}, which had already gone when toozctl tried to end it"
                )))
            }
            Err(e) => {
                return Err(Error::Unsupported(format!(
                    "lock '{name}' is held by PostgreSQL session pid {pid}; breaking it means ending that session, which {} refused: {} (it needs the holder's role or pg_signal_backend)",
                    self.inner.url,
                    scrub(&message(&e), self.inner.secret.as_deref())
                )))
            }
        }
        for h in &mut holders {
            let note = format!("(its PostgreSQL session pid {pid} was terminated)");
            h.note = Some(match h.note.take() {
                Some(n) => format!("{n} {note}"),
                None => note,
            });
        }
        Ok(holders)
    }

    async fn begin_run(&self, name: &str, _period: Duration) -> Result<RunStart> {
        crate::coordination::validate_name("lock", name)?;
        let now = self.inner.server_us().await?;
        let row = self.inner.runs(Some(name)).await?.into_iter().next();
        Ok(run_start(name, now, row.map(|(_, t, r)| (t, r))))
    }

    async fn end_run(&self, name: &str, run: RunStart, succeeded: bool) -> Result<()> {
        crate::coordination::validate_name("lock", name)?;
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
        self.inner.record_run(name, start, finished, &json).await
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
        self.inner.spare.lock().await.take();
        self.inner.conn.lock().await.take();
        Ok(())
    }
}

/// An error with its causes, joined with `: ` (tokio-postgres keeps the why in the source:
/// "invalid configuration: password missing"; a server error is only "db error" without
/// it), on one line (a server error's DETAIL and HINT come on lines of their own).
fn message(e: &dyn std::error::Error) -> String {
    let mut m = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !m.contains(&s) {
            m.push_str(": ");
            m.push_str(&s);
        }
        cause = c.source();
    }
    m.replace('\n', "; ")
}

/// A failed request as an error of ours. The server ending or refusing the session is
/// "unavailable" (69) like a dropped connection — SQLSTATE classes 08 (connection), 53
/// (insufficient resources: too many connections), 57 (operator intervention: shutdown,
/// `pg_terminate_backend`, starting up) and 58 (system error) — while any other error
/// the server reports is one toozctl did not expect (70).
fn classify(
    doing: &str,
    url: &dyn std::fmt::Display,
    secret: Option<&str>,
    e: &tokio_postgres::Error,
) -> Error {
    let msg = scrub(&message(e), secret);
    let transient = e.is_closed()
        || e.as_db_error()
            .is_none_or(|db| matches!(db.code().code().get(..2), Some("08" | "53" | "57" | "58")));
    if transient {
        Error::Unavailable(format!("{doing} on {url}: {msg}"))
    } else {
        Error::Internal(format!("{doing} on {url}: {msg}"))
    }
}

/// One warning per group of names that share an advisory key.
fn collisions<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut by_key: std::collections::BTreeMap<(i32, i32), Vec<&str>> = Default::default();
    for n in names {
        by_key.entry(key(n)).or_default().push(n);
    }
    by_key
        .into_iter()
        .filter(|(_, ns)| ns.len() > 1)
        .map(|(k, ns)| {
            let list: Vec<String> = ns.iter().map(|n| format!("'{n}'")).collect();
            format!(
                "lock names {} share PostgreSQL advisory key ({}, {}): tooz maps names onto only 65 536 keys (the first two bytes of MD5), so they exclude each other",
                list.join(", "),
                k.0,
                k.1
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tooz_key_mapping() {
        // Wire format §7 / V6: spec_lock → (231, 49), and spec_x23472 collides with it.
        assert_eq!(key("spec_lock"), (231, 49));
        assert_eq!(key("spec_x23472"), (231, 49));
        let w = collisions(["spec_lock", "other", "spec_x23472"].into_iter());
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("'spec_lock', 'spec_x23472'") && w[0].contains("65 536"),
            "{w:?}"
        );
    }

    #[test]
    fn url_parts_and_overrides() {
        let u = BackendUrl::parse("postgresql://u:pw@db:5433/app").unwrap();
        let t = target(&u).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str(), t.dbname.as_str()),
            ("db", 5433, "u", "app")
        );
        let u = BackendUrl::parse("postgresql://u@db/app?host=/tmp/s&port=6000&dbname=x").unwrap();
        let t = target(&u).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.dbname.as_str()),
            ("/tmp/s", 6000, "x")
        );
        let u = BackendUrl::parse("postgresql://u@db/app?sslmode=require").unwrap();
        assert!(matches!(target(&u), Err(Error::InvalidUrl(m)) if m.contains("TLS")));
    }
}
