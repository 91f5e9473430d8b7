//! Redis groups and leader elections in tooz's layout (wire format §2.4, §2.5).
//!
//! A group is `NS_group:<g>` (a HASH with `__created__` = `1` and one field per member:
//! its msgpack capabilities) listed in the SET `NS_groups`; a member is alive while
//! `NS_beats:<member>` exists. Our member keeps its beat with `PSETEX` at a third of
//! `membership_timeout`, checks between beats (every `ownership_check_interval`, and at
//! once after a reconnect) that its field is still there, and publishes `Health::Lost` as
//! soon as it was removed.
//! Listing members prunes dead ones as tooz does (never our own id), but atomically: a
//! field is deleted only if its beat key is still missing when the script runs.
//!
//! The leader is tooz's lock `leader_of_<g>`; our holder record beside it names the
//! leader. A leader lock without our record was taken by a tooz client, which stores only
//! a random token there: it shows as an unknown tooz member.

use std::sync::Arc;

use async_trait::async_trait;
use redis::Script;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::{lock, millis, Inner};
use crate::coordination::{
    Capabilities, Error, GroupInfo, Health, Held, Holder, LockMode, LockRequest, Member, Release,
    Result, Wait,
};

const CREATED: &str = "__created__";

/// KEYS: group hash, groups set. ARGV: group.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], '__created__', '1')
return 1
";

/// KEYS: group hash, groups set. ARGV: group. As tooz's script.
const DELETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return -2 end
if redis.call('HLEN', KEYS[1]) > 1 then return -3 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return -4 end
redis.call('DEL', KEYS[1])
return 1
";

/// KEYS: group hash, beat. ARGV: member, capabilities, beat ms, changed channel.
const JOIN: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('PSETEX', KEYS[2], ARGV[3], 'Not dead!')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], 'join')
return 1
";

/// KEYS: group hash, beat. ARGV: member, beat ms.
const BEAT: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PSETEX', KEYS[2], ARGV[2], 'Not dead!')
return 1
";

/// KEYS: group hash. ARGV: member, changed channel.
const LEAVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[2], 'leave') end
return n
";

/// KEYS: group hash. ARGV: beats prefix, changed channel, members...
const PRUNE: &str = r"
local n = 0
for i = 3, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
if n > 0 then redis.call('PUBLISH', ARGV[2], 'leave') end
return n
";

impl Inner {
    pub(super) fn group_key(&self, g: &str) -> String {
        format!("{}group:{g}", self.prefix)
    }
    fn groups_key(&self) -> String {
        format!("{}groups", self.prefix)
    }
    fn beat_key(&self, member: &str) -> String {
        format!("{}beats:{member}", self.prefix)
    }
    pub(super) fn changed_channel(&self, g: &str) -> String {
        format!("{}.changed", self.group_key(g))
    }
}

fn missing(g: &str) -> Error {
    Error::NotFound(format!("group '{g}' does not exist"))
}

pub(super) async fn create(inner: &Inner, g: &str) -> Result<()> {
    let r: i64 = inner
        .script(
            "creating a group",
            &Script::new(CREATE),
            &[&inner.group_key(g), &inner.groups_key()],
            &[g],
        )
        .await?;
    match r {
        1 => Ok(()),
        _ => Err(Error::AlreadyExists(format!("group '{g}' already exists"))),
    }
}

pub(super) async fn delete(inner: &Inner, g: &str) -> Result<()> {
    // Prune dead members first, as a tooz client listing the group would.
    members(inner, g).await?;
    let r: i64 = inner
        .script(
            "deleting a group",
            &Script::new(DELETE),
            &[&inner.group_key(g), &inner.groups_key()],
            &[g],
        )
        .await?;
    match r {
        1 => Ok(()),
        -1 | -2 => Err(missing(g)),
        -3 => Err(Error::NotEmpty(format!("group '{g}' still has members"))),
        _ => Err(Error::Internal(format!(
            "group '{g}' vanished while being deleted"
        ))),
    }
}

/// The member ids and raw capabilities of `g`, without pruning.
async fn raw_members(inner: &Inner, g: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let key = inner.group_key(g);
    let exists: bool = inner
        .cmd("reading a group", redis::cmd("EXISTS").arg(&key))
        .await?;
    if !exists {
        return Err(missing(g));
    }
    let all: Vec<(Vec<u8>, Vec<u8>)> = inner
        .cmd("reading a group", redis::cmd("HGETALL").arg(&key))
        .await?;
    Ok(all
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
        .filter(|(k, _)| k != CREATED)
        .collect())
}

/// Live members of `g`; dead ones (no beat key) are removed, except our own id.
pub(super) async fn members(inner: &Inner, g: &str) -> Result<Vec<Member>> {
    let raw = raw_members(inner, g).await?;
    let mut alive = Vec::with_capacity(raw.len());
    if !raw.is_empty() {
        let beats: Vec<String> = raw.iter().map(|(m, _)| inner.beat_key(m)).collect();
        let values: Vec<Option<Vec<u8>>> = inner
            .cmd("reading heartbeats", redis::cmd("MGET").arg(&beats))
            .await?;
        let mut dead = Vec::new();
        for ((m, caps), beat) in raw.into_iter().zip(values) {
            if beat.is_some_and(|b| !b.is_empty()) || m == inner.identity.member_id {
                alive.push((m, caps));
            } else {
                dead.push(m);
            }
        }
        if !dead.is_empty() {
            let beat_prefix = inner.beat_key("");
            let chan = inner.changed_channel(g);
            let mut args: Vec<&str> = vec![&beat_prefix, &chan];
            args.extend(dead.iter().map(String::as_str));
            let _: i64 = inner
                .script(
                    "pruning dead members",
                    &Script::new(PRUNE),
                    &[&inner.group_key(g)],
                    &args,
                )
                .await?;
        }
    }
    let leader = leader(inner, g).await?.and_then(|h| h.member_id);
    let mut out: Vec<Member> = alive
        .into_iter()
        .map(|(m, caps)| Member {
            leader: leader.as_deref() == Some(m.as_str()),
            capabilities: Capabilities::from_msgpack(&caps).unwrap_or_default(),
            member_id: m,
        })
        .collect();
    out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    Ok(out)
}

pub(super) async fn list(inner: &Inner) -> Result<Vec<GroupInfo>> {
    let mut names: Vec<String> = inner
        .cmd(
            "listing groups",
            redis::cmd("SMEMBERS").arg(inner.groups_key()),
        )
        .await?;
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    // A window of groups at a time, their reads concurrent on the multiplexed connection
    // (so pipelined), not several round trips per group one after the other.
    for chunk in names.chunks(crate::backends::WINDOW) {
        let counts: Vec<Result<Vec<Member>>> = crate::backends::concurrently(
            chunk
                .iter()
                .map(|n| Box::pin(members(inner, n)) as crate::backends::Pending<'_, _>)
                .collect(),
        )
        .await;
        let leaders: Vec<Result<Option<Holder>>> = crate::backends::concurrently(
            chunk
                .iter()
                .map(|n| Box::pin(leader(inner, n)) as crate::backends::Pending<'_, _>)
                .collect(),
        )
        .await;
        for ((name, count), leader) in chunk.iter().zip(counts).zip(leaders) {
            let count = match count {
                Ok(m) => m.len(),
                Err(Error::NotFound(_)) => 0,
                Err(e) => return Err(e),
            };
            out.push(GroupInfo {
                name: name.clone(),
                members: count,
                leader: leader?.map(|h| h.member_id.unwrap_or_else(|| "(a tooz member)".into())),
            });
        }
    }
    Ok(out)
}

pub(super) async fn join(
    inner: &Arc<Inner>,
    g: &str,
    caps: &Capabilities,
    create_missing: bool,
) -> Result<Held> {
    let me = inner.identity.member_id.clone();
    if me == CREATED {
        return Err(Error::InvalidName(format!(
            "member id '{CREATED}' is reserved by tooz"
        )));
    }
    if create_missing {
        match create(inner, g).await {
            Ok(()) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let ttl = inner.membership_timeout;
    let (hash, beat) = (inner.group_key(g), inner.beat_key(&me));
    let caps = caps.to_msgpack();
    let sent = Instant::now();
    let mut conn = inner.conn().await?;
    let r: i64 = Script::new(JOIN)
        .key(&hash)
        .key(&beat)
        .arg(&me)
        .arg(caps)
        .arg(millis(ttl))
        .arg(inner.changed_channel(g))
        .invoke_async(&mut conn)
        .await
        .map_err(|e| inner.error("joining a group", e))?;
    match r {
        1 => {}
        0 => {
            return Err(Error::AlreadyExists(format!(
                "member '{me}' is already in group '{g}' (and alive)"
            )))
        }
        _ => return Err(missing(g)),
    }
    *inner.beats.lock().unwrap() += 1;
    let (tx, rx) = watch::channel(Health::Held {
        expires: Some(sent + ttl),
    });
    let keeper = tokio::spawn(beat_loop(
        inner.clone(),
        hash.clone(),
        beat.clone(),
        me.clone(),
        g.to_string(),
        tx,
    ));
    let guard = Membership {
        inner: inner.clone(),
        group: g.to_string(),
        keeper,
        health: rx.clone(),
    };
    Ok(Held::new(
        format!("membership of group '{g}'"),
        0,
        Some(ttl),
        rx,
        Box::new(guard),
    ))
}

/// Beat at a third of `membership_timeout` and publish each new deadline; between beats,
/// check every `ownership_check_interval` (and at once after a reconnect, a dropped pub/sub
/// connection or a leave message) that our field is still in the group.
async fn beat_loop(
    inner: Arc<Inner>,
    hash: String,
    beat: String,
    me: String,
    g: String,
    tx: watch::Sender<Health>,
) {
    let ttl = inner.membership_timeout;
    let period = (ttl / 3).max(std::time::Duration::from_millis(10));
    let check = inner.check_interval.min(period);
    let retry = (ttl / 10).clamp(
        std::time::Duration::from_millis(10),
        std::time::Duration::from_millis(250),
    );
    let mut beat_at = Instant::now() + period;
    let mut check_at = Instant::now() + check;
    let mut reconnects = inner.reconnects.subscribe();
    reconnects.borrow_and_update();
    // Someone leaving (`group leave --member`, pruning): check at once that it is not us.
    let nudge = Arc::new(Notify::new());
    let channels = vec![inner.changed_channel(&g), inner.keyspace_channel(&hash)];
    let _nudges = lock::AbortOnDrop(tokio::spawn(lock::nudges(
        inner.clone(),
        channels,
        nudge.clone(),
        |m| m == "leave" || m == "hdel" || m == "del",
    )));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(beat_at.min(check_at)) => {}
            // Every wake-up checks (or beats, when due).
            _ = nudge.notified() => {}
            Ok(()) = reconnects.changed() => {
                reconnects.borrow_and_update();
            }
        }
        let sent = Instant::now();
        let beating = sent >= beat_at;
        let call = async {
            if beating {
                let ms = millis(ttl);
                let (keys, args) = ([hash.as_str(), beat.as_str()], [me.as_str(), ms.as_str()]);
                inner
                    .script::<i64>("renewing a membership", &Script::new(BEAT), &keys, &args)
                    .await
            } else {
                inner
                    .cmd::<i64>(
                        "checking a membership",
                        redis::cmd("HEXISTS").arg(&hash).arg(&me),
                    )
                    .await
            }
        };
        match tokio::time::timeout(period.max(std::time::Duration::from_millis(100)), call).await {
            Ok(Ok(1)) => {
                if beating {
                    let _ = tx.send(Health::Held {
                        expires: Some(sent + ttl),
                    });
                    beat_at = sent + period;
                }
                check_at = Instant::now() + check;
            }
            Ok(Ok(_)) => {
                let _ = tx.send(Health::Lost(format!(
                    "member '{me}' was removed from group '{g}'"
                )));
                return;
            }
            _ => {
                inner.reset();
                let again = Instant::now() + retry;
                if beating {
                    beat_at = again;
                }
                check_at = again;
            }
        }
    }
}

struct Membership {
    inner: Arc<Inner>,
    group: String,
    keeper: tokio::task::JoinHandle<()>,
    health: watch::Receiver<Health>,
}

#[async_trait]
impl Release for Membership {
    async fn release(self: Box<Self>) -> Result<()> {
        self.keeper.abort();
        let me = self.inner.identity.member_id.clone();
        let deadline = lock::release_deadline(&self.health)
            .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(2));
        let r = match tokio::time::timeout_at(deadline, leave(&self.inner, &self.group, &me)).await
        {
            Ok(r) => r,
            Err(_) => Err(Error::Unavailable(format!(
                "could not leave group '{}': no answer in time",
                self.group
            ))),
        };
        let last = {
            let mut n = self.inner.beats.lock().unwrap();
            *n = n.saturating_sub(1);
            *n == 0
        };
        if last {
            let _: Result<i64> = self
                .inner
                .cmd(
                    "removing the heartbeat",
                    redis::cmd("DEL").arg(self.inner.beat_key(&me)),
                )
                .await;
        }
        r
    }
}

pub(super) async fn leave(inner: &Inner, g: &str, member: &str) -> Result<()> {
    let r: i64 = inner
        .script(
            "leaving a group",
            &Script::new(LEAVE),
            &[&inner.group_key(g)],
            &[member, &inner.changed_channel(g)],
        )
        .await?;
    match r {
        1 => Ok(()),
        0 => Err(Error::NotFound(format!(
            "member '{member}' is not in group '{g}'"
        ))),
        _ => Err(missing(g)),
    }
}

fn leader_lock(g: &str) -> String {
    format!("leader_of_{g}")
}

pub(super) async fn campaign(inner: &Arc<Inner>, g: &str, wait: Wait) -> Result<Option<Held>> {
    let req = LockRequest {
        name: leader_lock(g),
        mode: LockMode::Exclusive,
        wait,
        ttl: None,
    };
    lock::acquire(inner, &req, Some(format!("leadership of group '{g}'"))).await
}

pub(super) async fn leader(inner: &Inner, g: &str) -> Result<Option<Holder>> {
    let hs = lock::holders(inner, &leader_lock(g)).await?;
    Ok(hs.into_iter().next().map(|h| {
        if h.member_id.is_none() {
            Holder::unknown("an unknown tooz member (tooz records no leader id on Redis)")
        } else {
            h
        }
    }))
}
