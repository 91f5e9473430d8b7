//! Redis locks: exclusive (tooz's `SET NX PX` lock), `--limit N` semaphores and
//! `--shared` readers.
//!
//! Exclusive: one script does `SET NS_<name>_lock <token> PX <lease>` if the key is free,
//! takes the next fencing token from the counter beside it and writes our holder record, so
//! the three can never disagree. A keeper task renews at a third of the lease with
//! compare-then-PEXPIRE and publishes `Health::Held { expires: send time + lease }` after
//! each success. Between renewals it checks (a read) that the key still holds our token
//! every `ownership_check_interval` (0.5 s), at once after any reconnect, when its pub/sub
//! connection drops (a restarted server), and on a release or keyspace message; it
//! publishes `Health::Lost` as soon as the key is gone or holds another token. Release is
//! compare-then-DEL plus a `PUBLISH` on `NS_<name>_lock.released`.
//!
//! Fencing tokens never go back. The counter is `INCR`ed as a string (never through a Lua
//! number); a missing counter — a new lock, or one lost to a restart without persistence,
//! `FLUSHALL` or eviction — is seeded with the server clock in microseconds, which is above
//! every token handed out before as long as the server clock did not go back by more than
//! the time since the previous seed (minus one microsecond per acquisition since). A counter
//! that is not a positive integer, or is at 2^63 - 1, is refused before anything is written.
//!
//! Waiting never sleep-polls at tooz's 100 ms: a waiter subscribes to the release channel
//! (and to the key's keyspace-notification channel, which fires when the server has
//! notifications enabled) and retries on each message; a fallback retry after the key's
//! remaining TTL, at most 1 s, notices locks that tooz clients release without publishing.
//! An acquire script whose answer never came (the wait was cancelled, or the connection
//! failed) is followed by a compare-and-delete of our token on the same connection, which
//! the server runs after the script; `close` waits for it.
//!
//! Semaphores (`--limit N`): a ZSET `NS_<name>_lock.sem` of holder tokens scored by their
//! expiry (server time, ms) and a HASH `NS_<name>_lock.holders` of holder records. While it
//! has holders, the tooz lock key itself holds `toozctl-semaphore:<N>` with the longest
//! lease, so tooz clients and exclusive toozctl users of the same name are kept out, and a
//! different `N` is detected as a conflict.
//!
//! Shared locks (`--shared`) are a semaphore without a limit under another marker: while
//! readers hold, tooz's key holds `toozctl-shared` (so tooz clients and exclusive toozctl
//! users, which `SET NX`, stay out and wait), and each reader has its entry in the same
//! ZSET and HASH, renewed, checked and released by the same scripts. A reader meeting an
//! exclusive holder waits for it; a writer meeting readers waits for the last one, whose
//! release deletes the key; a semaphore and readers of one name are a conflict.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_stream::StreamExt;

use redis::aio::MultiplexedConnection;

use super::{millis, random_token, Inner};
use crate::coordination::{
    Error, Health, Held, Holder, LockInfo, LockMode, LockRequest, Release, Result, Wait,
};

/// The lock key's value while a semaphore holds it (followed by its limit).
const SEM_MARKER: &str = "toozctl-semaphore:";
/// The lock key's value while `--shared` readers hold it.
const SHARED_MARKER: &str = "toozctl-shared";
/// The longest pause before retrying when no release message comes.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// The pause before subscribing again after a pub/sub connection dropped.
const RESUBSCRIBE: Duration = Duration::from_millis(250);

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

/// The next fencing token from counter `key`, as a decimal string (Lua numbers are
/// doubles: a token never passes through one). A missing counter (new lock, restart
/// without persistence, FLUSHALL, eviction) is seeded with the server clock in
/// microseconds, which is above every token handed out before unless the clock went back
/// (see the module doc). A counter that is not a positive integer, or that `INCR` refuses
/// (at 2^63 - 1), gives `nil, why`: the caller refuses to hand out anything, and writes
/// nothing, rather than restart the count.
const LUA_FENCE: &str = r#"
local function next_fence(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then return nil, 'cannot be read (' .. v.err .. ')' end
  if not v then
    local t = redis.call('TIME')
    local seed = t[1] .. string.format('%06d', tonumber(t[2]))
    redis.call('SET', key, seed)
    return seed
  end
  if not string.match(v, '^[1-9][0-9]*$') then
    return nil, 'holds "' .. string.sub(v, 1, 40) .. '", not a positive integer'
  end
  local n = redis.pcall('INCR', key)
  if type(n) == 'table' and n.err then
    return nil, 'holds ' .. v .. ', which cannot be incremented (' .. n.err .. ')'
  end
  return redis.call('GET', key)
end
"#;

/// KEYS: lock, fence, holder. ARGV: token, ms, holder JSON (an object), acquired channel.
/// → {1, 0, 0, fence} taken | {0, pttl, 0, ''} held | {-2, pttl, limit, ''} held by a
/// semaphore | {-3, 0, 0, why} the fencing counter is unusable (nothing written)
const ACQUIRE: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v then
  local t, why = next_fence(KEYS[2])
  if not t then return {-3, 0, 0, why} end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local rec = string.sub(ARGV[3], 1, -2) .. ',"fencing_token":' .. t .. ',"token":"' .. ARGV[1] .. '"}'
  redis.call('SET', KEYS[3], rec, 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[4], 'acquired')
  return {1, 0, 0, t}
end
local pt = redis.call('PTTL', KEYS[1])
if string.sub(v, 1, 18) == 'toozctl-semaphore:' then
  return {-2, pt, tonumber(string.sub(v, 19)) or 0, ''}
end
return {0, pt, 0, ''}
"#;

/// KEYS: lock. ARGV: token. Is the lock still ours? (a read, between renewals)
const OWNS: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// KEYS: lock, sem. ARGV: token, marker. Is our semaphore slot (or reader entry) still
/// there and unexpired?
const SEM_OWNS: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) <= now_ms() then return 0 end
return 1
";

/// KEYS: lock, holder. ARGV: token, ms.
const REFRESH: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// KEYS: lock, holder. ARGV: token, channel. → 1 released | 0 the lock was not ours.
/// The lock gone (deleted, expired, taken): our holder record goes all the same, if it is
/// still ours (its "token" is ours) — never another holder's.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
local rec = redis.call('GET', KEYS[2])
if rec then
  local ok, r = pcall(cjson.decode, rec)
  if ok and type(r) == 'table' and r['token'] == ARGV[1] then
    redis.call('DEL', KEYS[2])
  end
end
return 0
";

/// KEYS: lock, sem, holders, fence. ARGV: token, ms, marker, holder JSON, acquired
/// channel, limit (0: readers, no limit). → {1|0|-1|-2|-3|-4, wait ms, limit, fence or
/// why}, as ACQUIRE; -1: an exclusive holder (for a semaphore; a reader waits for it),
/// -4: readers (for a semaphore).
const SEM_ACQUIRE: &str = r#"
local marker = ARGV[3]
local limit = tonumber(ARGV[6])
local v = redis.call('GET', KEYS[1])
local pt = redis.call('PTTL', KEYS[1])
if v and v ~= marker then
  if string.sub(v, 1, 18) == 'toozctl-semaphore:' then return {-2, pt, tonumber(string.sub(v, 19)) or 0, ''} end
  if v == 'toozctl-shared' then return {-4, pt, 0, ''} end
  if limit == 0 then return {0, pt, 0, ''} end
  return {-1, pt, 0, ''}
end
local now = now_ms()
prune(now)
if limit > 0 and redis.call('ZCARD', KEYS[2]) >= limit then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now, 0, ''}
end
local t, why = next_fence(KEYS[4])
if not t then return {-3, 0, 0, why} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], string.sub(ARGV[4], 1, -2) .. ',"fencing_token":' .. t .. ',"token":"' .. ARGV[1] .. '"}')
if pt < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], marker, 'PX', ARGV[2]) end
pt = redis.call('PTTL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], pt)
redis.call('PEXPIRE', KEYS[3], pt)
redis.call('PUBLISH', ARGV[5], 'acquired')
return {1, 0, 0, t}
"#;

/// KEYS: lock, sem, holders. ARGV: token, ms, marker.
const SEM_REFRESH: &str = r"
local marker = ARGV[3]
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

/// KEYS: lock, sem, holders. ARGV: token, marker, channel.
const SEM_RELEASE: &str = r"
local marker = ARGV[2]
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
prune(now_ms())
if redis.call('ZCARD', KEYS[2]) == 0 and redis.call('GET', KEYS[1]) == marker then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
end
redis.call('PUBLISH', ARGV[3], 'released')
return removed
";

/// The lock key's value while holders of `mode` share it; `None` for an exclusive lock,
/// whose value is the holder's token.
fn marker(mode: LockMode) -> Option<String> {
    match mode {
        LockMode::Exclusive => None,
        LockMode::Shared => Some(SHARED_MARKER.to_string()),
        LockMode::Limit(n) => Some(format!("{SEM_MARKER}{n}")),
    }
}

fn with_helpers(body: &str) -> Script {
    Script::new(&format!("{LUA_NOW}\n{LUA_FENCE}\n{body}"))
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
    /// The script wrote nothing and refuses: the fencing counter is unusable.
    Refused(String),
}

fn busy_for(ms: i64) -> Duration {
    if ms > 0 {
        Duration::from_millis(ms as u64 + 5).min(FALLBACK_POLL)
    } else {
        FALLBACK_POLL
    }
}

/// One try, on `conn` (the connection the in-flight guard will clean up on).
#[allow(clippy::too_many_arguments)]
async fn attempt(
    inner: &Inner,
    conn: MultiplexedConnection,
    name: &str,
    keys: &Keys,
    mode: LockMode,
    token: &str,
    lease: Duration,
) -> Result<Attempt> {
    let holder = serde_json::to_string(&inner.identity.holder(Some(mode), None))
        .map_err(|e| Error::Internal(format!("holder record: {e}")))?;
    let ms = millis(lease);
    let (code, wait_ms, limit, text): (i64, i64, i64, String) = match (mode, marker(mode)) {
        (LockMode::Exclusive, _) | (_, None) => {
            let s = with_helpers(ACQUIRE);
            inner
                .script_on(
                    conn,
                    "taking a lock",
                    &s,
                    &[&keys.lock, &keys.fence, &keys.holder],
                    &[token, &ms, &holder, &keys.acquired],
                )
                .await?
        }
        (_, Some(marker)) => {
            let s = with_helpers(SEM_ACQUIRE);
            let limit = match mode {
                LockMode::Limit(n) => n.to_string(),
                _ => "0".to_string(),
            };
            inner
                .script_on(
                    conn,
                    "taking a semaphore slot or a shared lock",
                    &s,
                    &[&keys.lock, &keys.sem, &keys.holders, &keys.fence],
                    &[token, &ms, &marker, &holder, &keys.acquired, &limit],
                )
                .await?
        }
    };
    Ok(match code {
        1 => Attempt::Got(text.parse().map_err(|_| {
            Error::Internal(format!(
                "the fencing counter {} gave '{text}', not a token",
                keys.fence
            ))
        })?),
        0 => Attempt::Busy(busy_for(wait_ms)),
        -1 => {
            let who = describe(&holders(inner, name).await.unwrap_or_default());
            Attempt::Conflict(format!(
                "lock '{name}' is held as an exclusive lock by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name"
            ))
        }
        -4 => {
            let who = describe(&holders(inner, name).await.unwrap_or_default());
            Attempt::Conflict(format!(
                "lock '{name}' is held as a shared lock by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name"
            ))
        }
        -3 => Attempt::Refused(format!(
            "refusing to take lock '{name}': its fencing counter {} {}, so the next token might not exceed the last one; \
             repair or delete that key (a missing counter is re-seeded from the server clock)",
            keys.fence,
            shown(&text)
        )),
        _ => {
            let who = describe(&holders(inner, name).await.unwrap_or_default());
            Attempt::Conflict(format!(
                "lock '{name}' is held as a semaphore with --limit {limit} by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name"
            ))
        }
    })
}

/// What someone else wrote, made safe for a one-line message: control and bidi-override
/// characters are shown as escapes, never obeyed.
fn shown(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn describe(h: &[Holder]) -> String {
    match h {
        [] => "another holder".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}

/// An acquire script sent and not yet known to have taken nothing. Dropped armed — the
/// wait was cancelled while the script was unanswered, or the answer was lost — it queues
/// a compare-and-delete of our token on the same connection, so it runs after the script
/// on the server, whatever the script did; `close` waits for it.
struct InFlight {
    inner: Arc<Inner>,
    conn: MultiplexedConnection,
    keys: Keys,
    mode: LockMode,
    token: String,
    armed: bool,
}

impl InFlight {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (inner, conn) = (self.inner.clone(), self.conn.clone());
        let (keys, mode, token) = (self.keys.clone(), self.mode, self.token.clone());
        let task = rt.spawn(async move {
            // Same connection first (ordered after the script); if that one is broken,
            // a fresh one (the script then either ran before the break or never will).
            if give_back(&inner, Some(conn), &keys, mode, &token)
                .await
                .is_err()
            {
                let _ = give_back(&inner, None, &keys, mode, &token).await;
            }
        });
        self.inner.cleanups.lock().unwrap().push(task);
    }
}

/// One try under an [`InFlight`] guard: disarmed once the answer says what the script
/// did (whatever it took is then ours to hold or there is nothing); left armed when the
/// future is dropped unanswered or the answer is lost.
async fn guarded_attempt(
    inner: &Arc<Inner>,
    req: &LockRequest,
    keys: &Keys,
    token: &str,
    lease: Duration,
) -> Result<Attempt> {
    let conn = inner.conn().await?;
    let guard = InFlight {
        inner: inner.clone(),
        conn: conn.clone(),
        keys: keys.clone(),
        mode: req.mode,
        token: token.to_string(),
        armed: true,
    };
    let answer = attempt(inner, conn, &req.name, keys, req.mode, token, lease).await?;
    guard.disarm();
    Ok(answer)
}

/// Take lock `req.name` (or, with `what`, the leader lock it names).
pub(super) async fn acquire(
    inner: &Arc<Inner>,
    req: &LockRequest,
    what: Option<String>,
) -> Result<Option<Held>> {
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
        let pause = match guarded_attempt(inner, req, &keys, &token, lease).await? {
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
            Attempt::Refused(m) => return Err(Error::Unavailable(m)),
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

/// Renew at a third of the lease and publish each new deadline; between renewals, check
/// every `ownership_check_interval` that the key is still ours, and check at once after
/// any reconnect, when the pub/sub connection drops (a restarted server), and on a
/// release or keyspace message. Publish `Health::Lost` as soon as the key is gone or
/// holds another token. A failed check or renewal (no answer) is retried quickly and is
/// not a loss: the lease deadline published last is what `hold` acts on.
async fn keep(
    inner: Arc<Inner>,
    keys: Keys,
    mode: LockMode,
    token: String,
    lease: Duration,
    tx: watch::Sender<Health>,
) {
    let period = (lease / 3).max(Duration::from_millis(10));
    let check = inner.check_interval.min(period);
    let retry = (lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut renew_at = Instant::now() + period;
    let mut check_at = Instant::now() + check;
    let mut reconnects = inner.reconnects.subscribe();
    reconnects.borrow_and_update();
    // A break (`unlock`), with keyspace notifications any deletion, and a dropped pub/sub
    // connection: look at once.
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
            _ = tokio::time::sleep_until(renew_at.min(check_at)) => {}
            // Every wake-up checks (or renews, when due).
            _ = nudge.notified() => {}
            Ok(()) = reconnects.changed() => {
                reconnects.borrow_and_update();
            }
        }
        let sent = Instant::now();
        let renewing = sent >= renew_at;
        let call = async {
            if renewing {
                refresh(&inner, &keys, mode, &token, lease).await
            } else {
                owns(&inner, &keys, mode, &token).await
            }
        };
        match tokio::time::timeout(period.max(Duration::from_millis(100)), call).await {
            Ok(Ok(true)) => {
                if renewing {
                    let _ = tx.send(Health::Held {
                        expires: Some(sent + lease),
                    });
                    renew_at = sent + period;
                }
                check_at = Instant::now() + check;
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
                let again = Instant::now() + retry;
                if renewing {
                    renew_at = again;
                }
                check_at = again;
            }
        }
    }
}

/// Whether our lock (or semaphore slot) is still ours: a read, no renewal.
async fn owns(inner: &Inner, keys: &Keys, mode: LockMode, token: &str) -> Result<bool> {
    let r: i64 = match marker(mode) {
        Some(marker) => {
            inner
                .script(
                    "checking a semaphore slot or a shared lock",
                    &with_helpers(SEM_OWNS),
                    &[&keys.lock, &keys.sem],
                    &[token, &marker],
                )
                .await?
        }
        None => {
            inner
                .script(
                    "checking a lock",
                    &Script::new(OWNS),
                    &[&keys.lock],
                    &[token],
                )
                .await?
        }
    };
    Ok(r == 1)
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
    let mut dropped = false;
    loop {
        if let Ok(mut ps) = inner.subscribe(&channels).await {
            if dropped {
                // Back after a drop: whatever happened meanwhile was not published to us.
                nudge.notify_one();
            }
            let mut stream = ps.on_message();
            while let Some(msg) = stream.next().await {
                let payload: String = msg.get_payload().unwrap_or_default();
                if relevant(&payload) {
                    nudge.notify_one();
                }
            }
            // The connection dropped (a restarted or unreachable server): look now.
            nudge.notify_one();
            dropped = true;
        }
        tokio::time::sleep(RESUBSCRIBE).await;
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
    let r: i64 = match marker(mode) {
        Some(marker) => {
            let s = with_helpers(SEM_REFRESH);
            inner
                .script(
                    "renewing a semaphore slot or a shared lock",
                    &s,
                    &[&keys.lock, &keys.sem, &keys.holders],
                    &[token, &ms, &marker],
                )
                .await?
        }
        None => {
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

/// When giving something back must be done ([`Health::release_budget`]: never much past
/// the lease, at most 5 s); `None` when the lease has run out already.
pub(super) fn release_deadline(health: &watch::Receiver<Health>) -> Option<Instant> {
    let h = health.borrow();
    if h.ran_out() {
        return None;
    }
    Some(Instant::now() + h.release_budget(Duration::from_secs(1), Duration::from_secs(5)))
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
        // A few tries: a connection that just broke is re-made by the next call.
        let mut last = None;
        for _ in 0..3 {
            match give_back(&self.inner, None, &self.keys, self.mode, &self.token).await {
                Ok(1) => return Ok(()),
                Ok(_) => {
                    return Err(Error::Lost(format!(
                        "the key {} was no longer ours when releasing it",
                        self.keys.lock
                    )))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Internal("release failed".into())))
    }
}

/// Compare-and-delete what `token` holds (on `conn`, or the shared connection); 1 when
/// something of ours was removed, 0 when nothing was ours.
async fn give_back(
    inner: &Inner,
    conn: Option<MultiplexedConnection>,
    keys: &Keys,
    mode: LockMode,
    token: &str,
) -> Result<i64> {
    let conn = match conn {
        Some(c) => c,
        None => inner.conn().await?,
    };
    match marker(mode) {
        Some(marker) => {
            inner
                .script_on(
                    conn,
                    "releasing a semaphore slot or a shared lock",
                    &with_helpers(SEM_RELEASE),
                    &[&keys.lock, &keys.sem, &keys.holders],
                    &[token, &marker, &keys.released],
                )
                .await
        }
        None => {
            inner
                .script_on(
                    conn,
                    "releasing a lock",
                    &Script::new(RELEASE),
                    &[&keys.lock, &keys.holder],
                    &[token, &keys.released],
                )
                .await
        }
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

/// Shown after "held by" (spinner, `-n`), in `locks`' HOLDER column and by `unlock`, so a
/// noun phrase: "held by a tooz client (...)".
fn tooz_holder() -> Holder {
    Holder::unknown("a tooz client (tooz stores only a random token on Redis)")
}

/// KEYS: sem, holders. → {token, record, ...} of the entries whose lease has not run out
/// (a killed holder's entry stays until a script prunes it; it holds nothing meanwhile).
const LIVE_ENTRIES: &str = r"
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')
local out = {}
for _, tok in ipairs(live) do
  local r = redis.call('HGET', KEYS[2], tok)
  if r then table.insert(out, tok); table.insert(out, r) end
end
return out
";

pub(super) async fn holders(inner: &Inner, name: &str) -> Result<Vec<Holder>> {
    Ok(holders_by_token(inner, name)
        .await?
        .into_iter()
        .map(|(_, h)| h)
        .collect())
}

/// Every current holder with its token (the lock key's value for an exclusive holder, the
/// entry's for semaphore slots and readers), the longest-held first.
pub(super) async fn holders_by_token(inner: &Inner, name: &str) -> Result<Vec<(String, Holder)>> {
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
    if value.starts_with(SEM_MARKER) || value == SHARED_MARKER {
        let flat: Vec<String> = inner
            .script(
                "reading the holders of a lock",
                &Script::new(&format!("{LUA_NOW}\n{LIVE_ENTRIES}")),
                &[&keys.sem, &keys.holders],
                &[],
            )
            .await?;
        let mut hs: Vec<(String, Holder)> = flat
            .chunks(2)
            .filter_map(|p| match p {
                [tok, rec] => Some((tok.clone(), parse_record(rec, None)?)),
                _ => None,
            })
            .collect();
        hs.sort_by(|a, b| a.1.since.cmp(&b.1.since));
        return Ok(hs);
    }
    let holder = record
        .and_then(|r| parse_record(&r, Some(&value)))
        .unwrap_or_else(tooz_holder);
    Ok(vec![(value, holder)])
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
        // A garbage counter is shown as none (taking the lock refuses and says why).
        let fence: Option<u64> = inner
            .cmd::<Option<Vec<u8>>>("reading a lock", redis::cmd("GET").arg(&keys.fence))
            .await
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok());
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
    fn foreign_text_is_shown_on_one_line() {
        assert_eq!(shown("ab\ncd"), "ab\\u{a}cd");
        assert_eq!(shown("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(shown("plain 12"), "plain 12");
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
