//! Memcached groups and leader elections in tooz's layout (wire format §6, vector V5).
//!
//! A group is `_TOOZ_GROUP_<g>` (flags 2): a msgpack map member id (bin) → {`capabilities`
//! (bin) → caps}, changed only by read-modify-write (`mg ... v c`, then `ms ... C<cas>`,
//! retried on a lost race), and listed in `_TOOZ_GROUP_LIST` (flags 2, an array of bin
//! group ids). A member is alive while `_TOOZ_MEMBER_<m>` (flags 1, `It's alive!`, expiry
//! `membership_timeout`) exists: ours is re-set at a third of that, and between beats we
//! check every `ownership_check_interval` that our entry is still in the group, publishing
//! `Health::Lost` as soon as it is gone.
//!
//! Listing members leaves out dead ones (no member key) without writing, since reading
//! never writes; `group delete` prunes them as tooz's readers do, so a group whose members
//! all died can be deleted.
//!
//! The leader is tooz's lock `__TOOZ_LOCK__TOOZ_GROUP_LEADER_<g>` (expiry `leader_timeout`),
//! whose value is the leader's member id, so tooz's `get_leader` reads ours and we read
//! theirs; our holder record beside it (`_TOOZCTL_HOLDER__TOOZ_GROUP_LEADER_<g>`) adds
//! host, pid and command.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmpv::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::client::Req;
use super::lock::{self, get, store};
use super::{lease_of, Inner, GROUP_LIST, GROUP_PREFIX, LEADER_PREFIX, MAX_KEY, MEMBER_PREFIX};
use crate::coordination::{
    Capabilities, Error, GroupInfo, Health, Held, Holder, LockMode, LockRequest, Member, Release,
    Result, Wait,
};

const ALIVE: &[u8] = b"It's alive!";
/// How often a read-modify-write is retried after losing a race before giving up.
const RACES: usize = 100;

fn missing(g: &str) -> Error {
    Error::NotFound(format!("group '{g}' does not exist"))
}

fn group_key(g: &str) -> String {
    format!("{GROUP_PREFIX}{g}")
}

fn member_key(m: &str) -> String {
    format!("{MEMBER_PREFIX}{m}")
}

pub(super) fn leader_lock(g: &str) -> String {
    format!("{LEADER_PREFIX}{g}")
}

/// A msgpack text or bin value as text (tooz writes bin; a str is read the same way).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::String(s) => s.as_str().map(str::to_string),
        _ => None,
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("writing to a Vec cannot fail");
    out
}

fn decode(bytes: &[u8], what: &str) -> Result<Value> {
    let mut rd = bytes;
    rmpv::decode::read_value_with_max_depth(&mut rd, 64)
        .map_err(|e| Error::Internal(format!("{what} is not msgpack: {e}")))
}

/// The entries of a group: (member id as stored, its entry map).
type Entries = Vec<(Value, Value)>;

/// Read group `g`: its entries and the CAS to write them back with.
async fn read_group(inner: &Inner, g: &str) -> Result<(Entries, u64)> {
    let key = group_key(g);
    let m = inner.meta("reading a group", get(&key, "v c f")).await?;
    let (Some(v), Some(cas)) = (m.value.as_deref().filter(|_| m.code == "VA"), m.cas()) else {
        return Err(missing(g));
    };
    if m.client_flags() != Some(2) {
        return Err(Error::Internal(format!(
            "the key {key} has item flags {:?}, not tooz's msgpack (2)",
            m.client_flags()
        )));
    }
    match decode(v, &format!("the key {key}"))? {
        Value::Map(entries) => Ok((entries, cas)),
        // tooz's delete_group sets the group to None before deleting it.
        Value::Nil => Err(missing(g)),
        other => Err(Error::Internal(format!(
            "the key {key} holds {other}, not a map of members"
        ))),
    }
}

/// Write the entries back if nobody changed the group since `cas`.
async fn write_group(inner: &Inner, g: &str, entries: Entries, cas: u64) -> Result<bool> {
    let data = encode(&Value::Map(entries));
    let m = inner
        .meta(
            "updating a group",
            store(&group_key(g), &data, 2, 0, 'S', Some(cas)),
        )
        .await?;
    Ok(m.code == "HD")
}

fn position(entries: &Entries, member: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(k, _)| text_of(k).as_deref() == Some(member))
}

fn capabilities_of(entry: &Value) -> Capabilities {
    let Value::Map(fields) = entry else {
        return Capabilities::default();
    };
    fields
        .iter()
        .find(|(k, _)| text_of(k).as_deref() == Some("capabilities"))
        .and_then(|(_, v)| Capabilities::from_msgpack(&encode(v)).ok())
        .unwrap_or_default()
}

/// A member id we can look a member key up for (others are taken to be alive).
fn checkable(m: &str) -> bool {
    member_key(m).len() <= MAX_KEY && !m.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Which of `entries` are dead: no member key (never our own id, as tooz).
async fn dead_members(inner: &Inner, entries: &Entries) -> Result<Vec<String>> {
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|(k, _)| text_of(k))
        .filter(|m| *m != inner.identity.member_id && checkable(m))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let reqs: Vec<Req> = ids.iter().map(|m| get(&member_key(m), "")).collect();
    let answers = inner.metas("reading member keys", reqs).await?;
    Ok(ids
        .into_iter()
        .zip(answers)
        .filter(|(_, a)| !a.hit())
        .map(|(m, _)| m)
        .collect())
}

/// Change the group list (`add` or remove `g`) by compare-and-set.
async fn update_list(inner: &Inner, g: &str, add: bool) -> Result<()> {
    for _ in 0..RACES {
        let m = inner
            .meta("reading the group list", get(GROUP_LIST, "v c"))
            .await?;
        let (mut ids, cas) = match (m.value.as_deref().filter(|_| m.code == "VA"), m.cas()) {
            (Some(v), Some(cas)) => match decode(v, GROUP_LIST)? {
                Value::Array(a) => (a, Some(cas)),
                _ => (Vec::new(), Some(cas)),
            },
            _ => (Vec::new(), None),
        };
        let at = ids.iter().position(|v| text_of(v).as_deref() == Some(g));
        match (add, at) {
            (true, Some(_)) | (false, None) => return Ok(()),
            (true, None) => ids.push(Value::Binary(g.as_bytes().to_vec())),
            (false, Some(i)) => {
                ids.remove(i);
            }
        }
        let data = encode(&Value::Array(ids));
        let mode = if cas.is_some() { 'S' } else { 'E' };
        let r = inner
            .meta(
                "updating the group list",
                store(GROUP_LIST, &data, 2, 0, mode, cas),
            )
            .await?;
        if r.code == "HD" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(race(GROUP_LIST))
}

fn race(key: &str) -> Error {
    Error::Unavailable(format!("the key {key} kept changing under us; try again"))
}

pub(super) async fn create(inner: &Inner, g: &str) -> Result<()> {
    let m = inner
        .meta(
            "creating a group",
            store(
                &group_key(g),
                &encode(&Value::Map(Vec::new())),
                2,
                0,
                'E',
                None,
            ),
        )
        .await?;
    if m.code != "HD" {
        return Err(Error::AlreadyExists(format!("group '{g}' already exists")));
    }
    update_list(inner, g, true).await
}

pub(super) async fn delete(inner: &Inner, g: &str) -> Result<()> {
    for _ in 0..RACES {
        let (mut entries, cas) = read_group(inner, g).await?;
        let dead = dead_members(inner, &entries).await?;
        entries.retain(|(k, _)| !text_of(k).is_some_and(|m| dead.contains(&m)));
        if !entries.is_empty() {
            return Err(Error::NotEmpty(format!("group '{g}' still has members")));
        }
        let m = inner
            .meta(
                "deleting a group",
                Req::new(format!("md {} C{cas}", group_key(g))),
            )
            .await?;
        if m.code == "HD" {
            return update_list(inner, g, false).await;
        }
    }
    Err(race(&group_key(g)))
}

/// Live members of `g` (those whose member key exists, and our own id).
pub(super) async fn members(inner: &Inner, g: &str) -> Result<Vec<Member>> {
    let (entries, _) = read_group(inner, g).await?;
    let dead = dead_members(inner, &entries).await?;
    let leader = leader(inner, g).await?.and_then(|h| h.member_id);
    let mut out: Vec<Member> = entries
        .iter()
        .filter_map(|(k, v)| Some((text_of(k)?, v)))
        .filter(|(m, _)| !dead.contains(m))
        .map(|(m, v)| Member {
            leader: leader.as_deref() == Some(m.as_str()),
            capabilities: capabilities_of(v),
            member_id: m,
        })
        .collect();
    out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    Ok(out)
}

pub(super) async fn list(inner: &Inner) -> Result<Vec<GroupInfo>> {
    let m = inner.meta("listing groups", get(GROUP_LIST, "v")).await?;
    let mut names: Vec<String> = match m.value.as_deref().filter(|_| m.code == "VA") {
        Some(v) => match decode(v, GROUP_LIST)? {
            Value::Array(a) => a.iter().filter_map(text_of).collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let count = match members(inner, &name).await {
            Ok(m) => m.len(),
            Err(Error::NotFound(_)) => 0,
            Err(e) => return Err(e),
        };
        let leader = leader(inner, &name).await?.and_then(|h| h.member_id);
        out.push(GroupInfo {
            name,
            members: count,
            leader,
        });
    }
    Ok(out)
}

fn entry(caps: &Capabilities) -> Value {
    Value::Map(vec![(
        Value::Binary(b"capabilities".to_vec()),
        caps.value().clone(),
    )])
}

pub(super) async fn join(
    inner: &Arc<Inner>,
    g: &str,
    caps: &Capabilities,
    create_missing: bool,
) -> Result<Held> {
    let me = inner.identity.member_id.clone();
    if create_missing {
        match create(inner, g).await {
            Ok(()) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let secs = inner.membership_timeout;
    let lease = lease_of(secs);
    let mut sent = Instant::now();
    let mut joined = false;
    for _ in 0..RACES {
        let (mut entries, cas) = read_group(inner, g).await?;
        if let Some(i) = position(&entries, &me) {
            let alive = inner
                .meta("reading a member key", get(&member_key(&me), ""))
                .await?
                .hit();
            if alive {
                return Err(Error::AlreadyExists(format!(
                    "member '{me}' is already in group '{g}' (and alive)"
                )));
            }
            entries.remove(i);
        }
        sent = Instant::now();
        inner
            .meta(
                "marking the member alive",
                store(&member_key(&me), ALIVE, 1, secs, 'S', None),
            )
            .await?;
        entries.push((Value::Binary(me.as_bytes().to_vec()), entry(caps)));
        if write_group(inner, g, entries, cas).await? {
            joined = true;
            break;
        }
    }
    if !joined {
        return Err(race(&group_key(g)));
    }
    *inner.beats.lock().unwrap() += 1;
    let (tx, rx) = watch::channel(Health::Held {
        expires: Some(sent + lease),
    });
    let keeper = tokio::spawn(beat_loop(inner.clone(), g.to_string(), tx));
    let guard = Membership {
        inner: inner.clone(),
        group: g.to_string(),
        keeper,
        health: rx.clone(),
    };
    Ok(Held::new(
        format!("membership of group '{g}'"),
        0,
        Some(lease),
        rx,
        Box::new(guard),
    ))
}

/// Whether our entry is still in the group (`Ok(false)`: removed, or the group is gone).
async fn still_member(inner: &Inner, g: &str) -> Result<bool> {
    match read_group(inner, g).await {
        Ok((entries, _)) => Ok(position(&entries, &inner.identity.member_id).is_some()),
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Beat at a third of the membership lease and publish each new deadline; between beats,
/// check every `ownership_check_interval` that our entry is still in the group.
async fn beat_loop(inner: Arc<Inner>, g: String, tx: watch::Sender<Health>) {
    let secs = inner.membership_timeout;
    let lease = lease_of(secs);
    let period = (lease / 3).max(Duration::from_millis(10));
    let every = inner.check_interval.min(period);
    let retry = (lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let me = inner.identity.member_id.clone();
    let mut beat_at = Instant::now() + period;
    let mut check_at = Instant::now() + every;
    loop {
        tokio::time::sleep_until(beat_at.min(check_at)).await;
        let sent = Instant::now();
        let beating = sent >= beat_at;
        let call = async {
            if !still_member(&inner, &g).await? {
                return Ok(false);
            }
            if beating {
                inner
                    .meta(
                        "renewing a membership",
                        store(&member_key(&me), ALIVE, 1, secs, 'S', None),
                    )
                    .await?;
            }
            Ok::<bool, Error>(true)
        };
        match tokio::time::timeout(period.max(Duration::from_millis(100)), call).await {
            Ok(Ok(true)) => {
                if beating {
                    let _ = tx.send(Health::Held {
                        expires: Some(sent + lease),
                    });
                    beat_at = sent + period;
                }
                check_at = Instant::now() + every;
            }
            Ok(Ok(false)) => {
                let _ = tx.send(Health::Lost(format!(
                    "member '{me}' was removed from group '{g}'"
                )));
                return;
            }
            _ => {
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
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(2));
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
            let _ = self
                .inner
                .meta(
                    "removing the member key",
                    Req::new(format!("md {}", member_key(&me))),
                )
                .await;
        }
        r
    }
}

pub(super) async fn leave(inner: &Inner, g: &str, member: &str) -> Result<()> {
    for _ in 0..RACES {
        let (mut entries, cas) = read_group(inner, g).await?;
        let Some(i) = position(&entries, member) else {
            return Err(Error::NotFound(format!(
                "member '{member}' is not in group '{g}'"
            )));
        };
        entries.remove(i);
        if write_group(inner, g, entries, cas).await? {
            return Ok(());
        }
    }
    Err(race(&group_key(g)))
}

pub(super) async fn campaign(inner: &Arc<Inner>, g: &str, wait: Wait) -> Result<Option<Held>> {
    let req = LockRequest {
        name: leader_lock(g),
        mode: LockMode::Exclusive,
        wait,
        ttl: None,
    };
    let what = format!("leadership of group '{g}'");
    lock::acquire(inner, &req, inner.leader_timeout, Some(what)).await
}

pub(super) async fn leader(inner: &Inner, g: &str) -> Result<Option<Holder>> {
    Ok(lock::holders(inner, &leader_lock(g))
        .await?
        .into_iter()
        .next())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vector V5: `{b"spec-m1": {b"capabilities": {"role": "api"}}}`.
    #[test]
    fn entries_are_tooz_bytes() {
        let caps = Capabilities::from_json_text(r#"{"role":"api"}"#).unwrap();
        let v = Value::Map(vec![(Value::Binary(b"spec-m1".to_vec()), entry(&caps))]);
        let hex: String = encode(&v).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "81c407737065632d6d3181c40c6361706162696c697469657381a4726f6c65a3617069"
        );
        let none = Value::Map(vec![(
            Value::Binary(b"spec-m1".to_vec()),
            entry(&Capabilities::default()),
        )]);
        let hex: String = encode(&none).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "81c407737065632d6d3181c40c6361706162696c6974696573c0");
        assert_eq!(capabilities_of(&entry(&caps)), caps);
        assert_eq!(encode(&Value::Array(vec![])), vec![0x90]);
    }
}
