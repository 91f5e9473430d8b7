//! Redis locks: exclusive (tooz's `SET NX PX` lock) and `--limit N` semaphores.
//!
//! Exclusive: one script does `SET NS_<name>_lock <token> PX <lease>` if the key is free,
//! `INCR`s the fencing counter beside it and writes our holder record, so the three can
//! never disagree. A keeper task renews at a third of the lease with compare-then-PEXPIRE
//! and publishes `Health::Held { expires: send time + lease }` after each success, or
//! `Health::Lost` at once when the key is gone or holds another token. Release is
//! compare-then-DEL plus a `PUBLISH` on `NS_<name>_lock.released`.
//!
//! Waiting never sleep-polls at tooz's 100 ms: a waiter subscribes to the release channel
//! (and to the key's keyspace-notification channel, which fires when the server has
//! notifications enabled) and retries on each message; a fallback retry after the key's
//! remaining TTL, at most 1 s, notices locks that tooz clients release without publishing.
//!
//! Semaphores (`--limit N`): a ZSET `NS_<name>_lock.sem` of holder tokens scored by their
//! expiry (server time, ms) and a HASH `NS_<name>_lock.holders` of holder records. While it
//! has holders, the tooz lock key itself holds `toozctl-semaphore:<N>` with the longest
//! lease, so tooz clients and exclusive toozctl users of the same name are kept out, and a
//! different `N` is detected as a conflict.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_stream::StreamExt;

use super::{millis, random_token, Inner};
use crate::coordination::{
    Error, Health, Held, Holder, LockInfo, LockMode, LockRequest, Release, Result, Scheme, Wait,
};

/// The lock key's value while a semaphore holds it.
const SEM_MARKER: &str = "toozctl-semaphore:";
/// The longest pause before retrying when no release message comes.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

const LUA_NOW: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, d in ipairs(dead) do redis.call('HDEL', KEYS[3], d) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
end
";

/// KEYS: lock, fence, holder. ARGV: token, ms, holder JSON (an object), acquired channel.
/// → {fence|0|-2, pttl, limit}
const ACQUIRE: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local t = redis.call('INCR', KEYS[2])
  local rec = string.sub(ARGV[3], 1, -2) .. ',"fencing_token":' .. t .. ',"token":"' .. ARGV[1] .. '"}'
  redis.call('SET', KEYS[3], rec, 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[4], 'acquired')
  return {t, 0, 0}
end
local pt = redis.call('PTTL', KEYS[1])
if string.sub(v, 1, 18) == 'toozctl-semaphore:' then
  return {-2, pt, tonumber(string.sub(v, 19)) or 0}
end
return {0, pt, 0}
"#;

/// KEYS: lock, holder. ARGV: token, ms.
const REFRESH: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// KEYS: lock, holder. ARGV: token, channel.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
";

/// KEYS: lock, sem, holders, fence. ARGV: token, ms, N, holder JSON, acquired channel.
/// → {fence|0|-1|-2, wait ms, limit}
const SEM_ACQUIRE: &str = r#"
local marker = 'toozctl-semaphore:' .. ARGV[3]
local v = redis.call('GET', KEYS[1])
local pt = redis.call('PTTL', KEYS[1])
if v and v ~= marker then
  if string.sub(v, 1, 18) == 'toozctl-semaphore:' then return {-2, pt, tonumber(string.sub(v, 19)) or 0} end
  return {-1, pt, 0}
end
local now = now_ms()
prune(now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now, 0}
end
local t = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], string.sub(ARGV[4], 1, -2) .. ',"fencing_token":' .. t .. ',"token":"' .. ARGV[1] .. '"}')
if pt < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], marker, 'PX', ARGV[2]) end
pt = redis.call('PTTL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], pt)
redis.call('PEXPIRE', KEYS[3], pt)
redis.call('PUBLISH', ARGV[5], 'acquired')
return {t, 0, 0}
"#;

/// KEYS: lock, sem, holders. ARGV: token, ms, N.
const SEM_REFRESH: &str = r"
local marker = 'toozctl-semaphore:' .. ARGV[3]
local now = now_ms()
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[1]) ~= marker or not s or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local pt = redis.call('PTTL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], pt)
redis.call('PEXPIRE', KEYS[3], pt)
return 1
";

/// KEYS: lock, sem, holders. ARGV: token, N, channel.
const SEM_RELEASE: &str = r"
local marker = 'toozctl-semaphore:' .. ARGV[2]
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
prune(now_ms())
if redis.call('ZCARD', KEYS[2]) == 0 and redis.call('GET', KEYS[1]) == marker then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
end
redis.call('PUBLISH', ARGV[3], 'released')
return removed
";

fn with_helpers(body: &str) -> Script {
    Script::new(&format!("{LUA_NOW}\n{body}"))
}

/// The keys of one lock name.
#[derive(Clone)]
pub(super) struct Keys {
    pub lock: String,
    pub fence: String,
    pub holder: String,
    pub released: String,
    pub acquired: String,
    pub sem: String,
    pub holders: String,
}

impl Keys {
    pub fn new(inner: &Inner, name: &str) -> Keys {
        let lock = inner.lock_key(name);
        Keys {
            fence: format!("{lock}.fence"),
            holder: format!("{lock}.holder"),
            released: format!("{lock}.released"),
            acquired: format!("{lock}.acquired"),
            sem: format!("{lock}.sem"),
            holders: format!("{lock}.holders"),
            lock,
        }
    }
}

enum Attempt {
    Got(u64),
    /// Held; retry after at most this long.
    Busy(Duration),
    Conflict(String),
}

fn busy_for(ms: i64) -> Duration {
    if ms > 0 {
        Duration::from_millis(ms as u64 + 5).min(FALLBACK_POLL)
    } else {
        FALLBACK_POLL
    }
}

async fn attempt(
    inner: &Inner,
    name: &str,
    keys: &Keys,
    mode: LockMode,
    token: &str,
    lease: Duration,
) -> Result<Attempt> {
    let holder = serde_json::to_string(&inner.identity.holder(Some(mode), None))
        .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let ms = millis(lease);
    let (code, wait_ms, limit): (i64, i64, i64) = match mode {
        LockMode::Exclusive => {
            let s = Script::new(ACQUIRE);
            inner
                .script(
                    "taking a lock",
                    &s,
                    &[&keys.lock, &keys.fence, &keys.holder],
                    &[token, &ms, &holder, &keys.acquired],
                )
                .await?
        }
        LockMode::Limit(n) => {
            let s = with_helpers(SEM_ACQUIRE);
            let n = n.to_string();
            inner
                .script(
                    "taking a semaphore slot",
                    &s,
                    &[&keys.lock, &keys.sem, &keys.holders, &keys.fence],
                    &[token, &ms, &n, &holder, &keys.acquired],
                )
                .await?
        }
        LockMode::Shared => return Err(Error::unsupported("shared locks", Scheme::Redis)),
    };
    Ok(match code {
        t if t > 0 => Attempt::Got(t as u64),
        0 => Attempt::Busy(busy_for(wait_ms)),
        -1 => {
            let who = describe(&holders(inner, name).await.unwrap_or_default());
            Attempt::Conflict(format!(
                "lock '{name}' is held as an exclusive lock by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name"
            ))
        }
        _ => Attempt::Conflict(format!(
            "lock '{name}' is held as a semaphore with --limit {limit}; it cannot also be used as {mode}: use one kind (and one --limit) per name"
        )),
    })
}

fn describe(h: &[Holder]) -> String {
    h.first()
        .map(|h| h.to_string())
        .unwrap_or_else(|| "another holder".into())
}

/// Take lock `req.name` (or, with `what`, the leader lock it names).
pub(super) async fn acquire(
    inner: &Arc<Inner>,
    req: &LockRequest,
    what: Option<String>,
) -> Result<Option<Held>> {
    if req.mode == LockMode::Shared {
        return Err(Error::Unsupported(
            "shared locks are not supported by the redis backend yet; --limit N (up to N holders, \
             tooz and exclusive users kept out) is the nearest"
                .into(),
        ));
    }
    if req.mode == LockMode::Limit(0) {
        return Err(Error::InvalidInput("--limit must be at least 1".into()));
    }
    let lease = req.ttl.unwrap_or(inner.lock_timeout);
    let keys = Keys::new(inner, &req.name);
    let token = random_token();
    let deadline = match req.wait {
        Wait::Until(d) => Some(d),
        _ => None,
    };
    let mut sub: Option<redis::aio::PubSub> = None;
    loop {
        let sent = Instant::now();
        let pause = match attempt(inner, &req.name, &keys, req.mode, &token, lease).await? {
            Attempt::Got(fence) => {
                let what = what.unwrap_or_else(|| format!("lock '{}'", req.name));
                let g = Grant {
                    keys,
                    mode: req.mode,
                    token,
                    lease,
                    fence,
                    sent,
                };
                return Ok(Some(held(inner, what, g)));
            }
            Attempt::Conflict(m) => return Err(Error::Conflict(m)),
            Attempt::Busy(pause) => pause,
        };
        if req.wait == Wait::NoWait || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        // Subscribe, then try again at once: a release between the try and the
        // subscription would otherwise be missed until the fallback poll.
        let Some(ps) = sub.as_mut() else {
            sub = Some(
                inner
                    .subscribe(&[keys.released.clone(), inner.keyspace_channel(&keys.lock)])
                    .await?,
            );
            continue;
        };
        let wake = Instant::now() + pause;
        let until = deadline.map_or(wake, |d| d.min(wake));
        let mut stream = ps.on_message();
        tokio::select! {
            m = stream.next() => if m.is_none() {
                drop(stream);
                sub = None;
            },
            _ = tokio::time::sleep_until(until) => {}
        }
    }
}

/// One successful acquisition: what the keeper and the release need.
struct Grant {
    keys: Keys,
    mode: LockMode,
    token: String,
    lease: Duration,
    fence: u64,
    /// When the acquiring script was sent: the lease runs from here.
    sent: Instant,
}

fn held(inner: &Arc<Inner>, what: String, g: Grant) -> Held {
    let (tx, rx) = watch::channel(Health::Held {
        expires: Some(g.sent + g.lease),
    });
    let keeper = tokio::spawn(keep(
        inner.clone(),
        g.keys.clone(),
        g.mode,
        g.token.clone(),
        g.lease,
        tx,
    ));
    let guard = RedisLock {
        inner: inner.clone(),
        keys: g.keys,
        mode: g.mode,
        token: g.token,
        keeper,
        health: rx.clone(),
    };
    Held::new(what, g.fence, Some(g.lease), rx, Box::new(guard))
}

/// Renew at a third of the lease; publish each new deadline, or the loss.
async fn keep(
    inner: Arc<Inner>,
    keys: Keys,
    mode: LockMode,
    token: String,
    lease: Duration,
    tx: watch::Sender<Health>,
) {
    let period = (lease / 3).max(Duration::from_millis(10));
    let retry = (lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut next = Instant::now() + period;
    // A break (`unlock`) or, with keyspace notifications, any deletion: look at once.
    let nudge = Arc::new(Notify::new());
    let channels = vec![keys.released.clone(), inner.keyspace_channel(&keys.lock)];
    let _nudges = AbortOnDrop(tokio::spawn(nudges(
        inner.clone(),
        channels,
        nudge.clone(),
        |m| m != "expire" && m != "acquired",
    )));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = nudge.notified() => {}
        }
        let sent = Instant::now();
        match tokio::time::timeout(
            period.max(Duration::from_millis(100)),
            refresh(&inner, &keys, mode, &token, lease),
        )
        .await
        {
            Ok(Ok(true)) => {
                let _ = tx.send(Health::Held {
                    expires: Some(sent + lease),
                });
                next = sent + period;
            }
            Ok(Ok(false)) => {
                let _ = tx.send(Health::Lost(format!(
                    "the key {} was deleted, expired or taken by someone else",
                    keys.lock
                )));
                return;
            }
            Ok(Err(_)) | Err(_) => {
                inner.reset();
                next = Instant::now() + retry;
            }
        }
    }
}

/// Aborts a helper task when its owner goes away (the owner may itself be aborted).
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Notify `nudge` for every message on `channels` that `relevant` accepts; re-subscribes
/// after a lost connection. Best effort: the keeper's timer is what guarantees detection.
pub(super) async fn nudges(
    inner: Arc<Inner>,
    channels: Vec<String>,
    nudge: Arc<Notify>,
    relevant: fn(&str) -> bool,
) {
    loop {
        if let Ok(mut ps) = inner.subscribe(&channels).await {
            let mut stream = ps.on_message();
            while let Some(msg) = stream.next().await {
                let payload: String = msg.get_payload().unwrap_or_default();
                if relevant(&payload) {
                    nudge.notify_one();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn refresh(
    inner: &Inner,
    keys: &Keys,
    mode: LockMode,
    token: &str,
    lease: Duration,
) -> Result<bool> {
    let ms = millis(lease);
    let r: i64 = match mode {
        LockMode::Limit(n) => {
            let s = with_helpers(SEM_REFRESH);
            let n = n.to_string();
            inner
                .script(
                    "renewing a semaphore slot",
                    &s,
                    &[&keys.lock, &keys.sem, &keys.holders],
                    &[token, &ms, &n],
                )
                .await?
        }
        _ => {
            let s = Script::new(REFRESH);
            inner
                .script(
                    "renewing a lock",
                    &s,
                    &[&keys.lock, &keys.holder],
                    &[token, &ms],
                )
                .await?
        }
    };
    Ok(r == 1)
}

struct RedisLock {
    inner: Arc<Inner>,
    keys: Keys,
    mode: LockMode,
    token: String,
    keeper: tokio::task::JoinHandle<()>,
    health: watch::Receiver<Health>,
}

/// How long giving something back may take: never past the lease (the key is gone by
/// then anyway), and at most a few seconds, so an unreachable server cannot hold up exit.
pub(super) fn release_deadline(health: &watch::Receiver<Health>) -> Option<Instant> {
    let cap = Instant::now() + Duration::from_secs(5);
    match &*health.borrow() {
        Health::Held { expires: Some(e) } => (*e > Instant::now()).then(|| (*e).min(cap)),
        Health::Held { expires: None } => Some(cap),
        Health::Lost(_) => Some(cap),
    }
}

#[async_trait]
impl Release for RedisLock {
    async fn release(self: Box<Self>) -> Result<()> {
        self.keeper.abort();
        let Some(deadline) = release_deadline(&self.health) else {
            return Err(Error::Lost(format!(
                "the lease of {} had run out before it was released",
                self.keys.lock
            )));
        };
        match tokio::time::timeout_at(deadline, self.release_now()).await {
            Ok(r) => r,
            Err(_) => {
                self.inner.reset();
                Err(Error::Unavailable(format!(
                    "could not release {} on {}: no answer in time; it expires with its lease",
                    self.keys.lock, self.inner.url
                )))
            }
        }
    }
}

impl RedisLock {
    async fn release_now(&self) -> Result<()> {
        let k = &self.keys;
        // A few tries: a connection that just broke is re-made by the next call.
        let mut last = None;
        for _ in 0..3 {
            let r: Result<i64> = match self.mode {
                LockMode::Limit(n) => {
                    let s = with_helpers(SEM_RELEASE);
                    let n = n.to_string();
                    self.inner
                        .script(
                            "releasing a semaphore slot",
                            &s,
                            &[&k.lock, &k.sem, &k.holders],
                            &[&self.token, &n, &k.released],
                        )
                        .await
                }
                _ => {
                    let s = Script::new(RELEASE);
                    self.inner
                        .script(
                            "releasing a lock",
                            &s,
                            &[&k.lock, &k.holder],
                            &[&self.token, &k.released],
                        )
                        .await
                }
            };
            match r {
                Ok(1) => return Ok(()),
                Ok(_) => {
                    return Err(Error::Lost(format!(
                        "the key {} was no longer ours when releasing it",
                        k.lock
                    )))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Internal("release failed".into())))
    }
}

/// A holder record as stored; `None` when it is not ours or belongs to another token.
fn parse_record(json: &str, token: Option<&str>) -> Option<Holder> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    if let Some(t) = token {
        if v.get("token").and_then(|x| x.as_str()) != Some(t) {
            return None;
        }
    }
    serde_json::from_value(v).ok()
}

fn tooz_holder() -> Holder {
    Holder::unknown("held by a tooz client (tooz stores only a random token on Redis)")
}

pub(super) async fn holders(inner: &Inner, name: &str) -> Result<Vec<Holder>> {
    let keys = Keys::new(inner, name);
    let (value, record): (Option<String>, Option<String>) = inner
        .cmd(
            "reading a lock",
            redis::cmd("MGET").arg(&keys.lock).arg(&keys.holder),
        )
        .await?;
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.starts_with(SEM_MARKER) {
        let recs: Vec<String> = inner
            .cmd(
                "reading a semaphore",
                redis::cmd("HVALS").arg(&keys.holders),
            )
            .await?;
        let mut hs: Vec<Holder> = recs.iter().filter_map(|r| parse_record(r, None)).collect();
        hs.sort_by(|a, b| a.since.cmp(&b.since));
        return Ok(hs);
    }
    Ok(vec![record
        .and_then(|r| parse_record(&r, Some(&value)))
        .unwrap_or_else(tooz_holder)])
}

/// Escape glob characters for `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "*?[]\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn scan(inner: &Inner, pattern: &str) -> Result<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = inner
            .cmd(
                "listing locks",
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .arg("TYPE")
                    .arg("string"),
            )
            .await?;
        out.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(out)
}

pub(super) async fn list(inner: &Inner) -> Result<Vec<LockInfo>> {
    let p = glob_escape(&inner.prefix);
    let mut names: Vec<String> = Vec::new();
    for (pattern, suffix) in [
        (format!("{p}*_lock"), "_lock"),
        (format!("{p}*_lock.fence"), "_lock.fence"),
    ] {
        for k in scan(inner, &pattern).await? {
            if let Some(n) = k
                .strip_prefix(&inner.prefix)
                .and_then(|r| r.strip_suffix(suffix))
            {
                // `NS_beats:<member>` of a member whose id ends in `_lock` matches too.
                if !n.starts_with("beats:") {
                    names.push(n.to_string());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let keys = Keys::new(inner, &name);
        let holders = holders(inner, &name).await?;
        let pttl: i64 = inner
            .cmd("reading a lock", redis::cmd("PTTL").arg(&keys.lock))
            .await?;
        let fence: Option<u64> = inner
            .cmd("reading a lock", redis::cmd("GET").arg(&keys.fence))
            .await?;
        out.push(LockInfo {
            name,
            ttl: (pttl >= 0 && !holders.is_empty()).then(|| Duration::from_millis(pttl as u64)),
            holders,
            fencing_token: fence,
        });
    }
    Ok(out)
}

pub(super) async fn break_lock(inner: &Inner, name: &str) -> Result<Vec<Holder>> {
    let keys = Keys::new(inner, name);
    let hs = holders(inner, name).await?;
    let mut p = redis::pipe();
    p.atomic()
        .cmd("DEL")
        .arg(&keys.lock)
        .arg(&keys.holder)
        .arg(&keys.sem)
        .arg(&keys.holders)
        .ignore()
        .cmd("PUBLISH")
        .arg(&keys.released)
        .arg("broken")
        .ignore();
    let mut conn = inner.conn().await?;
    p.query_async::<()>(&mut conn)
        .await
        .map_err(|e| inner.error("breaking a lock", e))?;
    Ok(hs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_must_match_the_token() {
        let r = r#"{"member_id":"m","pid":1,"fencing_token":3,"token":"abc"}"#;
        assert_eq!(parse_record(r, Some("abc")).unwrap().fencing_token, Some(3));
        assert!(parse_record(r, Some("other")).is_none());
        assert!(parse_record("junk", None).is_none());
    }

    #[test]
    fn glob() {
        assert_eq!(glob_escape("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }

    #[test]
    fn fallback_is_bounded() {
        assert_eq!(busy_for(-1), FALLBACK_POLL);
        assert_eq!(busy_for(50_000), FALLBACK_POLL);
        assert_eq!(busy_for(20), Duration::from_millis(25));
    }
}
