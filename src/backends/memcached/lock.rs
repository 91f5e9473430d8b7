//! Memcached locks: exclusive (tooz's `__TOOZ_LOCK_<name>` key) and `--limit N` semaphores,
//! safer than tooz on the same layout.
//!
//! Exclusive: `ms <lock> F1 T<secs> ME` (add) stores our member id, as tooz's `add` does,
//! and returns the item's CAS. Only that CAS proves the lock is ours: the keeper renews at
//! a third of the lease with compare-and-set (`ms ... MS C<cas>`, same value, new expiry;
//! a failed compare is a loss, where tooz `touch`es whatever is there), checks between
//! renewals (`mg <lock> v c`, every `ownership_check_interval`), and release is
//! compare-and-delete (`md <lock> C<cas>`; a failed compare is a loss, exit 3, where tooz
//! deletes after a separate `get`). A renewal whose answer was lost may have changed the
//! CAS: the next check then adopts the new CAS only if the value is still exactly ours.
//!
//! Fencing tokens come from `_TOOZCTL_FENCE_<name>`, advanced by the holder right after it
//! took the lock (read, then compare-and-set to the next number: a value that is not a
//! positive integer, or at 2^63 - 1, is refused rather than restarted). A missing counter —
//! a new lock, a restarted server (memcached keeps nothing), an eviction — is seeded with
//! the later of the server's and our clock in microseconds: above every token handed out
//! before unless clocks went back by more than the time since the previous seed.
//!
//! Waiting polls (memcached pushes nothing): every 2 ms by default, jittered, or every
//! `poll_interval` when the URL sets it (see `DEFAULT_WAIT_POLL`). Every try runs in a task
//! of its own: when the waiter is cancelled while a try is unanswered, the task still reads
//! the answer and gives back what it took; `close` waits for it.
//!
//! Semaphores (`--limit N`): slot keys `_TOOZCTL_SEM_<i>_<name>` (i < N), each taken with
//! `add` and holding its holder's record; while any slot is held the tooz lock key holds
//! `toozctl-semaphore:<N>` with the longest lease of the holders, so tooz clients and
//! exclusive users of the name are kept out and a different N is a conflict.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::client::{Meta, Req};
use super::{lease_of, Inner, FENCE_PREFIX, HOLDER_PREFIX, LOCK_PREFIX, MAX_KEY, SEM_PREFIX};
use crate::coordination::{
    Error, Health, Held, Holder, LockInfo, LockMode, LockRequest, Release, Result, Wait,
};

/// The lock key's value while a semaphore holds it.
const SEM_MARKER: &str = "toozctl-semaphore:";

/// The keys of one lock name.
#[derive(Clone)]
pub(super) struct Keys {
    pub name: String,
    pub lock: String,
    pub fence: String,
    pub holder: String,
}

impl Keys {
    pub fn new(name: &str) -> Keys {
        Keys {
            name: name.to_string(),
            lock: format!("{LOCK_PREFIX}{name}"),
            fence: format!("{FENCE_PREFIX}{name}"),
            holder: format!("{HOLDER_PREFIX}{name}"),
        }
    }

    fn slot(&self, i: u32) -> String {
        format!("{SEM_PREFIX}{i}_{}", self.name)
    }
}

/// An item we hold: its key, the exact bytes we stored, and the CAS proving it is ours.
#[derive(Clone, Debug)]
struct Claim {
    key: String,
    value: Vec<u8>,
    flags: u32,
    cas: u64,
}

/// `ms` storing `value` with `flags` and expiry `secs` (0: none), in `mode` (`E` add, `S`
/// set), compared against `cas` when given; asks for the new CAS.
pub(super) fn store(
    key: &str,
    value: &[u8],
    flags: u32,
    secs: u64,
    mode: char,
    cas: Option<u64>,
) -> Req {
    let cmp = cas.map(|c| format!(" C{c}")).unwrap_or_default();
    Req::with_data(
        format!("ms {key} {} F{flags} T{secs} M{mode}{cmp} c", value.len()),
        value,
    )
}

pub(super) fn get(key: &str, flags: &str) -> Req {
    if flags.is_empty() {
        Req::new(format!("mg {key}"))
    } else {
        Req::new(format!("mg {key} {flags}"))
    }
}

fn bad_answer(doing: &str, m: &Meta) -> Error {
    Error::Internal(format!("{doing}: unexpected answer '{}'", m.code))
}

enum Attempt {
    Got(Grant),
    Busy,
    Conflict(String),
    /// Nothing was kept: the fencing counter is unusable.
    Refused(String),
}

/// One successful acquisition: what the keeper and the release need.
struct Grant {
    claim: Claim,
    fence: u64,
    /// When the acquiring request was sent: the lease runs from here.
    sent: Instant,
}

/// What someone else wrote, made safe for a one-line message.
pub(super) fn shown(text: &str) -> String {
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

fn record(inner: &Inner, mode: LockMode, fence: u64) -> Result<Vec<u8>> {
    serde_json::to_vec(&inner.identity.holder(Some(mode), Some(fence)))
        .map_err(|e| Error::Internal(format!("holder record: {e}")))
}

/// The next fencing token of `key`; `Ok(Err(why))` when the counter is unusable. `seen`
/// is the counter as already read (`mg <key> v c`), if it was; `with(token)` is a request
/// to send in the same round trip as the write that hands out `token` (the holder record
/// naming it): should that write lose its compare, the next round sends it again with the
/// token actually handed out.
async fn next_fence(
    inner: &Inner,
    key: &str,
    mut seen: Option<Meta>,
    with: impl Fn(u64) -> Result<Option<Req>>,
) -> Result<std::result::Result<u64, String>> {
    for _ in 0..50 {
        let m = match seen.take() {
            Some(m) => m,
            None => {
                inner
                    .meta("reading a fencing counter", get(key, "v c"))
                    .await?
            }
        };
        let Some(v) = m.value.as_ref().filter(|_| m.code == "VA") else {
            let seed = seed(inner).await?;
            let mut reqs = vec![store(key, seed.to_string().as_bytes(), 0, 0, 'E', None)];
            reqs.extend(with(seed)?);
            let r = inner.metas("seeding a fencing counter", reqs).await?;
            if r[0].code == "HD" {
                return Ok(Ok(seed));
            }
            continue;
        };
        let text = String::from_utf8_lossy(v);
        let valid =
            !text.is_empty() && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
        let n = match text.parse::<u64>() {
            Ok(n) if valid && n < i64::MAX as u64 => n,
            Ok(n) if valid => return Ok(Err(format!("is at {n}, its maximum"))),
            _ => {
                return Ok(Err(format!(
                    "holds \"{}\", not a positive integer",
                    shown(&text.chars().take(40).collect::<String>())
                )))
            }
        };
        let next = n + 1;
        let mut reqs = vec![store(key, next.to_string().as_bytes(), 0, 0, 'S', m.cas())];
        reqs.extend(with(next)?);
        let r = inner.metas("advancing a fencing counter", reqs).await?;
        if r[0].code == "HD" {
            return Ok(Ok(next));
        }
    }
    Err(Error::Unavailable(format!(
        "the fencing counter {key} on {} kept changing under us",
        inner.url
    )))
}

/// A seed for a missing counter: the later of the server's clock and ours, microseconds.
async fn seed(inner: &Inner) -> Result<u64> {
    let server = inner.server_time().await?.saturating_mul(1_000_000);
    let local = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    Ok(server.max(local).max(1))
}

/// Compare-and-delete; true when the item was ours.
async fn give_back(inner: &Inner, c: &Claim) -> Result<bool> {
    let m = inner
        .meta(
            "releasing a lock",
            Req::new(format!("md {} C{}", c.key, c.cas)),
        )
        .await?;
    Ok(m.code == "HD")
}

/// Delete `key` if it still holds exactly `value` (an item whose CAS we never learnt).
async fn delete_if(inner: &Inner, key: &str, value: &[u8]) -> Result<()> {
    let m = inner.meta("reading a lock", get(key, "v c")).await?;
    if m.code == "VA" && m.value.as_deref() == Some(value) {
        if let Some(cas) = m.cas() {
            inner
                .meta("releasing a lock", Req::new(format!("md {key} C{cas}")))
                .await?;
        }
    }
    Ok(())
}

/// A holder record (ours) of member `member`, if `bytes` is one.
fn parse_record(bytes: &[u8], member: Option<&str>) -> Option<Holder> {
    let h: Holder = serde_json::from_slice(bytes).ok()?;
    match member {
        Some(m) if h.member_id.as_deref() != Some(m) => None,
        _ => Some(h),
    }
}

/// Remove our holder record beside an exclusive lock, if it is still ours.
async fn drop_record(inner: &Inner, keys: &Keys, fence: Option<u64>) {
    let me = inner.identity.member_id.as_str();
    if let Ok(m) = inner
        .meta("reading a holder record", get(&keys.holder, "v c"))
        .await
    {
        let ours = m
            .value
            .as_deref()
            .and_then(|v| parse_record(v, Some(me)))
            .is_some_and(|h| fence.is_none() || h.fencing_token == fence);
        if ours {
            if let Some(cas) = m.cas() {
                let _ = inner
                    .meta(
                        "removing a holder record",
                        Req::new(format!("md {} C{cas}", keys.holder)),
                    )
                    .await;
            }
        }
    }
}

/// One try at the exclusive lock: the `add`, a read of the lock (whose value tells a
/// semaphore's marker from a plain holder when the add fails) and a read of the fencing
/// counter go out together, one round trip; once the lock is ours, the counter's
/// compare-and-set and the holder record go out together, a second one.
async fn attempt_exclusive(inner: &Inner, keys: &Keys, secs: u64) -> Result<Attempt> {
    let me = inner.identity.member_id.as_bytes().to_vec();
    let sent = Instant::now();
    let mut answers = inner
        .metas(
            "taking a lock",
            vec![
                store(&keys.lock, &me, 1, secs, 'E', None),
                get(&keys.lock, "v"),
                get(&keys.fence, "v c"),
            ],
        )
        .await?;
    let (m, cur, fence) = match (answers.pop(), answers.pop(), answers.pop()) {
        (Some(f), Some(c), Some(m)) => (m, c, f),
        _ => return Err(Error::Internal("taking a lock: answers missing".into())),
    };
    if m.code != "HD" {
        if let Some(limit) = cur
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.strip_prefix(SEM_MARKER))
        {
            let who = describe(&holders(inner, &keys.name).await.unwrap_or_default());
            return Ok(Attempt::Conflict(format!(
                "lock '{}' is held as a semaphore with --limit {} by {who}; it cannot also be used as an exclusive lock: use one kind (and one --limit) per name",
                keys.name,
                shown(limit)
            )));
        }
        return Ok(Attempt::Busy);
    }
    let cas = m.cas().ok_or_else(|| bad_answer("taking a lock", &m))?;
    let claim = Claim {
        key: keys.lock.clone(),
        value: me,
        flags: 1,
        cas,
    };
    let rec = |token: u64| {
        let rec = record(inner, LockMode::Exclusive, token)?;
        Ok(Some(store(&keys.holder, &rec, 0, secs, 'S', None)))
    };
    let fence = match next_fence(inner, &keys.fence, Some(fence), rec).await {
        Ok(Ok(f)) => f,
        Ok(Err(why)) => {
            let _ = give_back(inner, &claim).await;
            return Ok(Attempt::Refused(refusal(keys, &why)));
        }
        Err(e) => {
            let _ = give_back(inner, &claim).await;
            return Err(e);
        }
    };
    Ok(Attempt::Got(Grant { claim, fence, sent }))
}

fn refusal(keys: &Keys, why: &str) -> String {
    format!(
        "refusing to take lock '{}': its fencing counter {} {why}, so the next token might not exceed the last one; \
         repair or delete that key (a missing counter is re-seeded from the clocks)",
        keys.name, keys.fence
    )
}

/// Make sure the lock key holds our semaphore's marker with at least `secs` to live.
/// `Ok(None)`: it does; otherwise what stands in the way.
async fn ensure_marker(inner: &Inner, keys: &Keys, n: u32, secs: u64) -> Result<Option<Attempt>> {
    let marker = format!("{SEM_MARKER}{n}");
    for _ in 0..10 {
        let m = inner.meta("reading a lock", get(&keys.lock, "v t")).await?;
        match m.value.as_deref().filter(|_| m.code == "VA") {
            None => {
                let r = inner
                    .meta(
                        "marking a semaphore",
                        store(&keys.lock, marker.as_bytes(), 1, secs, 'E', None),
                    )
                    .await?;
                if r.code == "HD" {
                    return Ok(None);
                }
            }
            Some(v) if v == marker.as_bytes() => {
                if m.ttl().is_some_and(|t| t >= 0 && (t as u64) < secs) {
                    inner
                        .meta(
                            "extending a semaphore",
                            get(&keys.lock, &format!("T{secs}")),
                        )
                        .await?;
                }
                return Ok(None);
            }
            Some(v) => {
                let v = String::from_utf8_lossy(v).into_owned();
                let who = describe(&holders(inner, &keys.name).await.unwrap_or_default());
                let mode = LockMode::Limit(n);
                return Ok(Some(Attempt::Conflict(match v.strip_prefix(SEM_MARKER) {
                    Some(other) => format!(
                        "lock '{}' is held as a semaphore with --limit {} by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name",
                        keys.name,
                        shown(other)
                    ),
                    None => format!(
                        "lock '{}' is held as an exclusive lock by {who}; it cannot also be used as {mode}: use one kind (and one --limit) per name",
                        keys.name
                    ),
                })));
            }
        }
    }
    Ok(Some(Attempt::Busy))
}

async fn attempt_semaphore(inner: &Inner, keys: &Keys, n: u32, secs: u64) -> Result<Attempt> {
    if let Some(a) = ensure_marker(inner, keys, n, secs).await? {
        return Ok(a);
    }
    let me = &inner.identity.member_id;
    let placeholder = record(inner, LockMode::Limit(n), 0)?;
    let mut taken = None;
    let sent = Instant::now();
    for i in 0..n {
        let key = keys.slot(i);
        let m = inner
            .meta(
                "taking a semaphore slot",
                store(&key, &placeholder, 0, secs, 'E', None),
            )
            .await?;
        if m.code == "HD" {
            let cas = m.cas().ok_or_else(|| bad_answer("taking a slot", &m))?;
            taken = Some(Claim {
                key,
                value: placeholder.clone(),
                flags: 0,
                cas,
            });
            break;
        }
    }
    let Some(mut claim) = taken else {
        return Ok(Attempt::Busy);
    };
    // The last holder may have removed the marker between our look and our slot.
    if let Some(a) = ensure_marker(inner, keys, n, secs).await? {
        let _ = give_back(inner, &claim).await;
        return Ok(a);
    }
    let fence = match next_fence(inner, &keys.fence, None, |_| Ok(None)).await {
        Ok(Ok(f)) => f,
        Ok(Err(why)) => {
            let _ = give_back(inner, &claim).await;
            return Ok(Attempt::Refused(refusal(keys, &why)));
        }
        Err(e) => {
            let _ = give_back(inner, &claim).await;
            return Err(e);
        }
    };
    let rec = record(inner, LockMode::Limit(n), fence)?;
    let m = inner
        .meta(
            "recording a semaphore holder",
            store(&claim.key, &rec, 0, secs, 'S', Some(claim.cas)),
        )
        .await?;
    match (m.code.as_str(), m.cas()) {
        ("HD", Some(cas)) => {
            claim.cas = cas;
            claim.value = rec;
        }
        _ => {
            return Err(Error::Lost(format!(
                "the semaphore slot {} of member '{me}' vanished while it was being taken",
                claim.key
            )))
        }
    }
    Ok(Attempt::Got(Grant { claim, fence, sent }))
}

async fn attempt(inner: &Inner, keys: &Keys, mode: LockMode, secs: u64) -> Result<Attempt> {
    match mode {
        LockMode::Limit(n) => attempt_semaphore(inner, keys, n, secs).await,
        _ => attempt_exclusive(inner, keys, secs).await,
    }
}

/// After an attempt whose outcome we may not know (cancelled, or its answer lost): remove
/// whatever of ours it may have stored.
async fn clean_up(inner: &Inner, keys: &Keys, mode: LockMode) {
    match mode {
        LockMode::Limit(n) => {
            for i in 0..n {
                let key = keys.slot(i);
                if let Ok(m) = inner.meta("reading a slot", get(&key, "v c")).await {
                    let ours = m
                        .value
                        .as_deref()
                        .and_then(|v| parse_record(v, Some(&inner.identity.member_id)));
                    if let (Some(h), Some(cas)) = (ours, m.cas()) {
                        if h.pid == Some(inner.identity.pid) {
                            let _ = inner
                                .meta("releasing a slot", Req::new(format!("md {key} C{cas}")))
                                .await;
                        }
                    }
                }
            }
            drop_marker_if_unused(inner, keys, n).await;
        }
        _ => {
            let me = inner.identity.member_id.as_bytes();
            if delete_if(inner, &keys.lock, me).await.is_ok() {
                drop_record(inner, keys, None).await;
            }
        }
    }
}

/// One try in a task of its own: a cancelled waiter (the receiver dropped) leaves the task
/// to read the answer and give back what it took.
async fn spawned_attempt(
    inner: &Arc<Inner>,
    keys: &Keys,
    mode: LockMode,
    secs: u64,
) -> Result<Attempt> {
    let (tx, rx) = oneshot::channel();
    let (i2, k2) = (inner.clone(), keys.clone());
    let task = tokio::spawn(async move {
        let r = attempt(&i2, &k2, mode, secs).await;
        match tx.send(r) {
            Ok(()) => {}
            Err(Ok(Attempt::Got(g))) => {
                if give_back(&i2, &g.claim).await.is_ok() {
                    match mode {
                        LockMode::Limit(n) => drop_marker_if_unused(&i2, &k2, n).await,
                        _ => drop_record(&i2, &k2, Some(g.fence)).await,
                    }
                } else {
                    clean_up(&i2, &k2, mode).await;
                }
            }
            Err(Err(_)) => clean_up(&i2, &k2, mode).await,
            Err(Ok(_)) => {}
        }
    });
    {
        let mut c = inner.cleanups.lock().unwrap();
        c.retain(|t| !t.is_finished());
        c.push(task);
    }
    match rx.await {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => {
            // The answer may be lost with the request applied: remove what may be ours.
            let (i2, k2) = (inner.clone(), keys.clone());
            let t = tokio::spawn(async move { clean_up(&i2, &k2, mode).await });
            inner.cleanups.lock().unwrap().push(t);
            Err(e)
        }
        Err(_) => Err(Error::Internal(
            "a lock attempt ended without an answer".into(),
        )),
    }
}

/// Take lock `req.name` (or, with `what`, the leader lock it names) with expiry `secs`.
pub(super) async fn acquire(
    inner: &Arc<Inner>,
    req: &LockRequest,
    secs: u64,
    what: Option<String>,
) -> Result<Option<Held>> {
    match req.mode {
        LockMode::Shared => {
            return Err(Error::Unsupported(
                "shared locks are not supported by the memcached backend: tooz's memcached layout has no readers; \
                 --limit N (up to N holders, tooz and exclusive users kept out) is the nearest"
                    .into(),
            ))
        }
        LockMode::Limit(0) => {
            return Err(Error::InvalidInput("--limit must be at least 1".into()))
        }
        LockMode::Limit(n) => {
            let longest = Keys::new(&req.name).slot(n - 1);
            if longest.len() > MAX_KEY {
                return Err(Error::InvalidName(format!(
                    "lock name '{}…' with --limit {n} needs the key {}…, {} bytes: memcached keys are at most {MAX_KEY} bytes",
                    req.name.chars().take(20).collect::<String>(),
                    &longest[..30],
                    longest.len()
                )));
            }
        }
        LockMode::Exclusive => {}
    }
    let keys = Keys::new(&req.name);
    let deadline = match req.wait {
        Wait::Until(d) => Some(d),
        _ => None,
    };
    loop {
        match spawned_attempt(inner, &keys, req.mode, secs).await? {
            Attempt::Got(g) => {
                crate::coordination::note(super::caveat());
                let what = what.unwrap_or_else(|| format!("lock '{}'", req.name));
                return Ok(Some(held(inner, what, keys, req.mode, secs, g)));
            }
            Attempt::Conflict(m) => return Err(Error::Conflict(m)),
            Attempt::Refused(m) => return Err(Error::Unavailable(m)),
            Attempt::Busy => {}
        }
        if req.wait == Wait::NoWait || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        let wake = Instant::now() + jittered(inner.wait_poll);
        tokio::time::sleep_until(deadline.map_or(wake, |d| d.min(wake))).await;
    }
}

/// A wait of `every` ± 50%, drawn anew each time: waiters that started together spread
/// out, and on average they still try every `every`.
pub(super) fn jittered(every: Duration) -> Duration {
    use std::hash::BuildHasher;
    // A fresh randomly keyed hasher per call: enough randomness for spreading waits.
    let r = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    let frac = (r % 1001) as f64 / 1000.0; // 0.0 ..= 1.0
    every.mul_f64(0.5 + frac)
}

fn held(inner: &Arc<Inner>, what: String, keys: Keys, mode: LockMode, secs: u64, g: Grant) -> Held {
    let lease = lease_of(secs);
    let (tx, rx) = watch::channel(Health::Held {
        expires: Some(g.sent + lease),
    });
    let (stop_tx, stop_rx) = oneshot::channel();
    let keeper = tokio::spawn(keep(
        inner.clone(),
        keys.clone(),
        mode,
        g.claim.clone(),
        secs,
        tx,
        stop_rx,
    ));
    let guard = MemLock {
        inner: inner.clone(),
        keys,
        mode,
        fence: g.fence,
        stop: stop_tx,
        keeper,
        health: rx.clone(),
    };
    Held::new(what, g.fence, Some(lease), rx, Box::new(guard))
}

/// Renew our item (compare-and-set, same value, new expiry), and for a semaphore keep the
/// marker alive; `Ok(None)` when the item is no longer ours.
async fn refresh(
    inner: &Inner,
    keys: &Keys,
    mode: LockMode,
    c: &Claim,
    secs: u64,
) -> Result<Option<u64>> {
    let mut reqs = vec![store(&c.key, &c.value, c.flags, secs, 'S', Some(c.cas))];
    match mode {
        LockMode::Limit(_) => reqs.push(get(&keys.lock, "v t")),
        _ => reqs.push(get(&keys.holder, &format!("T{secs}"))),
    }
    let answers = inner.metas("renewing a lock", reqs).await?;
    let new_cas = match (answers[0].code.as_str(), answers[0].cas()) {
        ("HD", Some(cas)) => cas,
        _ => return Ok(None),
    };
    if let LockMode::Limit(n) = mode {
        if !marker_ok(inner, keys, n, secs, &answers[1]).await? {
            return Ok(None);
        }
    }
    Ok(Some(new_cas))
}

/// The semaphore marker as `m` shows it: ours (extended to `secs` when shorter), re-made
/// when missing, or taken by someone else (false).
async fn marker_ok(inner: &Inner, keys: &Keys, n: u32, secs: u64, m: &Meta) -> Result<bool> {
    let marker = format!("{SEM_MARKER}{n}");
    match m.value.as_deref().filter(|_| m.code == "VA") {
        Some(v) if v == marker.as_bytes() => {
            if m.ttl().is_some_and(|t| t >= 0 && (t as u64) < secs) {
                inner
                    .meta(
                        "extending a semaphore",
                        get(&keys.lock, &format!("T{secs}")),
                    )
                    .await?;
            }
            Ok(true)
        }
        Some(_) => Ok(false),
        None => Ok(ensure_marker(inner, keys, n, secs).await?.is_none()),
    }
}

/// What a check between renewals found.
enum Seen {
    Ours,
    /// The value is still exactly ours under another CAS (a renewal whose answer was lost).
    OursAs(u64),
    Gone,
}

async fn check(inner: &Inner, keys: &Keys, mode: LockMode, c: &Claim, secs: u64) -> Result<Seen> {
    let mut reqs = vec![get(&c.key, "v c")];
    if matches!(mode, LockMode::Limit(_)) {
        reqs.push(get(&keys.lock, "v t"));
    }
    let answers = inner.metas("checking a lock", reqs).await?;
    let m = &answers[0];
    let seen = match (m.value.as_deref(), m.cas()) {
        (Some(v), Some(cas)) if m.code == "VA" && v == c.value.as_slice() => {
            if cas == c.cas {
                Seen::Ours
            } else {
                Seen::OursAs(cas)
            }
        }
        _ => Seen::Gone,
    };
    if let (LockMode::Limit(n), false) = (mode, matches!(seen, Seen::Gone)) {
        if !marker_ok(inner, keys, n, secs, &answers[1]).await? {
            return Ok(Seen::Gone);
        }
    }
    Ok(seen)
}

/// Renew at a third of the lease and publish each new deadline; between renewals, check
/// every `ownership_check_interval` that the item is still ours, and publish
/// `Health::Lost` as soon as it is not. A failed call (no answer) is retried quickly and is
/// not a loss: the deadline published last is what `hold` acts on. Ends with the claim
/// (its CAS now) when `stop` fires, so the release can compare against it; a call in
/// progress is finished first.
async fn keep(
    inner: Arc<Inner>,
    keys: Keys,
    mode: LockMode,
    mut claim: Claim,
    secs: u64,
    tx: watch::Sender<Health>,
    mut stop: oneshot::Receiver<()>,
) -> Option<Claim> {
    let lease = lease_of(secs);
    let period = (lease / 3).max(Duration::from_millis(10));
    let every = inner.check_interval.min(period);
    let retry = (lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut renew_at = Instant::now() + period;
    let mut check_at = Instant::now() + every;
    // A renewal whose answer never came may have changed the CAS on the server.
    let mut unsure = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(renew_at.min(check_at)) => {}
            _ = &mut stop => return Some(claim),
        }
        let sent = Instant::now();
        let renewing = sent >= renew_at && !unsure;
        let limit = period.max(Duration::from_millis(100));
        let outcome = if renewing {
            match tokio::time::timeout(limit, refresh(&inner, &keys, mode, &claim, secs)).await {
                Ok(Ok(Some(cas))) => {
                    claim.cas = cas;
                    let _ = tx.send(Health::Held {
                        expires: Some(sent + lease),
                    });
                    renew_at = sent + period;
                    Some(true)
                }
                Ok(Ok(None)) => Some(false),
                Ok(Err(_)) | Err(_) => {
                    unsure = true;
                    None
                }
            }
        } else {
            match tokio::time::timeout(limit, check(&inner, &keys, mode, &claim, secs)).await {
                Ok(Ok(Seen::Ours)) => {
                    unsure = false;
                    Some(true)
                }
                Ok(Ok(Seen::OursAs(cas))) if unsure => {
                    claim.cas = cas;
                    unsure = false;
                    Some(true)
                }
                Ok(Ok(_)) => Some(false),
                Ok(Err(_)) | Err(_) => None,
            }
        };
        match outcome {
            Some(true) => check_at = Instant::now() + every,
            Some(false) => {
                let _ = tx.send(Health::Lost(format!(
                    "the key {} was deleted, expired or taken by someone else",
                    claim.key
                )));
                return None;
            }
            None => {
                // Never sooner than `retry`: a renewal held back while `unsure` must not
                // turn the wait into a busy loop against a server that does not answer.
                let again = Instant::now() + retry;
                renew_at = renew_at.max(again);
                check_at = again;
            }
        }
    }
}

struct MemLock {
    inner: Arc<Inner>,
    keys: Keys,
    mode: LockMode,
    fence: u64,
    stop: oneshot::Sender<()>,
    keeper: tokio::task::JoinHandle<Option<Claim>>,
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

/// Remove the semaphore marker when no slot of `n` is held any more.
async fn drop_marker_if_unused(inner: &Inner, keys: &Keys, n: u32) {
    let reqs: Vec<Req> = (0..n.min(10_000)).map(|i| get(&keys.slot(i), "")).collect();
    let Ok(answers) = inner.metas("reading semaphore slots", reqs).await else {
        return;
    };
    if answers.iter().any(Meta::hit) {
        return;
    }
    let _ = delete_if(inner, &keys.lock, format!("{SEM_MARKER}{n}").as_bytes()).await;
}

#[async_trait]
impl Release for MemLock {
    async fn release(self: Box<Self>) -> Result<()> {
        let MemLock {
            inner,
            keys,
            mode,
            fence,
            stop,
            keeper,
            health,
        } = *self;
        let deadline = release_deadline(&health);
        let _ = stop.send(());
        let claim = match tokio::time::timeout_at(
            deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1)),
            keeper,
        )
        .await
        {
            Ok(Ok(c)) => c,
            _ => None,
        };
        let lost = |why: &str| Error::Lost(format!("the key {} {why}", keys.lock));
        let Some(claim) = claim else {
            if let LockMode::Exclusive = mode {
                drop_record(&inner, &keys, Some(fence)).await;
            }
            return Err(lost("was no longer ours when releasing it"));
        };
        let Some(deadline) = deadline else {
            return Err(lost("had run out its lease before it was released"));
        };
        let give = async {
            let ours = give_back(&inner, &claim).await?;
            match mode {
                LockMode::Limit(n) => drop_marker_if_unused(&inner, &keys, n).await,
                _ => drop_record(&inner, &keys, Some(fence)).await,
            }
            Ok::<bool, Error>(ours)
        };
        match tokio::time::timeout_at(deadline, give).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Error::Lost(format!(
                "the key {} was no longer ours when releasing it",
                claim.key
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Unavailable(format!(
                "could not release {} on {}: no answer in time; it expires with its lease",
                claim.key, inner.url
            ))),
        }
    }
}

/// Shown for a lock key without our record: tooz stores only the holder's member id.
fn tooz_holder(member: &str) -> Holder {
    Holder {
        member_id: Some(member.to_string()),
        note: Some("(a tooz client: tooz stores only the member id on memcached)".into()),
        ..Holder::default()
    }
}

pub(super) async fn holders(inner: &Inner, name: &str) -> Result<Vec<Holder>> {
    let keys = Keys::new(name);
    let answers = inner
        .metas(
            "reading a lock",
            vec![get(&keys.lock, "v"), get(&keys.holder, "v")],
        )
        .await?;
    let Some(value) = answers[0]
        .value
        .as_deref()
        .filter(|_| answers[0].code == "VA")
    else {
        return Ok(Vec::new());
    };
    let value = String::from_utf8_lossy(value).into_owned();
    if let Some(n) = value
        .strip_prefix(SEM_MARKER)
        .and_then(|n| n.parse::<u32>().ok())
    {
        let reqs: Vec<Req> = (0..n.min(10_000))
            .map(|i| get(&keys.slot(i), "v"))
            .collect();
        let slots = inner.metas("reading a semaphore", reqs).await?;
        let mut hs: Vec<Holder> = slots
            .iter()
            .filter_map(|m| m.value.as_deref().and_then(|v| parse_record(v, None)))
            .collect();
        hs.sort_by(|a, b| a.since.cmp(&b.since));
        return Ok(hs);
    }
    let rec = answers[1]
        .value
        .as_deref()
        .and_then(|r| parse_record(r, Some(&value)));
    Ok(vec![rec.unwrap_or_else(|| tooz_holder(&value))])
}

/// Undo the percent-encoding of `lru_crawler metadump`'s `key=` field.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How long listing waits for the server's one LRU crawler, busy with another client's
/// dump (`BUSY currently processing crawler request`).
const CRAWLER_BUSY_WAIT: Duration = Duration::from_secs(10);

/// Every key the server holds (`lru_crawler metadump all`). The server runs one dump at a
/// time and answers `BUSY` meanwhile: another client listing (or our own previous dump
/// still winding down) is waited for, retrying, rather than taken for a server that cannot
/// list.
pub(super) async fn all_keys(inner: &Inner) -> Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + CRAWLER_BUSY_WAIT;
    let lines = loop {
        match inner
            .until_end("listing keys", Req::new("lru_crawler metadump all"))
            .await
        {
            Ok(lines) => break lines,
            Err(Error::Internal(m)) if m.contains("BUSY") => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Unavailable(format!(
                        "listing keys on {}: the server's LRU crawler stayed busy for {CRAWLER_BUSY_WAIT:?} (other clients listing)",
                        inner.url
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(Error::Internal(m)) => {
                return Err(Error::Unsupported(format!(
                    "this memcached server does not list its keys (lru_crawler metadump: {m}), so locks cannot be listed"
                )))
            }
            Err(e) => return Err(e),
        }
    };
    // `metadump` skips an item another client holds at that instant, so one dump can miss
    // a key another dump of ours saw (`locks --all` makes two: locks, then last successes;
    // eight listers at once each read the very keys the others dump). Callers read each
    // name's keys directly, so a name seen once and gone since costs a read, not a row.
    let mut dumped = inner.dumped.lock().unwrap_or_else(|p| p.into_inner());
    dumped.extend(
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("key="))
            .map(|rest| percent_decode(rest.split(' ').next().unwrap_or(""))),
    );
    Ok(dumped.iter().cloned().collect())
}

pub(super) async fn list(inner: &Inner) -> Result<Vec<LockInfo>> {
    let mut names: Vec<String> = all_keys(inner)
        .await?
        .into_iter()
        .filter_map(|k| {
            // `metadump` skips an item another client is reading at that instant: a name
            // is seen under any of its keys.
            k.strip_prefix(LOCK_PREFIX)
                .or_else(|| k.strip_prefix(FENCE_PREFIX))
                .or_else(|| k.strip_prefix(HOLDER_PREFIX))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let keys = Keys::new(&name);
        let holders = holders(inner, &name).await?;
        let answers = inner
            .metas(
                "reading a lock",
                vec![get(&keys.lock, "t"), get(&keys.fence, "v")],
            )
            .await?;
        let ttl = answers[0]
            .ttl()
            .filter(|t| *t >= 0 && !holders.is_empty())
            .map(|t| Duration::from_secs(t as u64));
        let fence = answers[1]
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        out.push(LockInfo {
            name,
            holders,
            ttl,
            fencing_token: fence,
        });
    }
    Ok(out)
}

pub(super) async fn break_lock(inner: &Inner, name: &str) -> Result<Vec<Holder>> {
    let keys = Keys::new(name);
    let cur = inner.meta("reading a lock", get(&keys.lock, "v")).await?;
    let hs = holders(inner, name).await?;
    let mut reqs = vec![
        Req::new(format!("md {}", keys.lock)),
        Req::new(format!("md {}", keys.holder)),
    ];
    if let Some(n) = cur
        .value
        .as_deref()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.strip_prefix(SEM_MARKER))
        .and_then(|n| n.parse::<u32>().ok())
    {
        reqs.extend((0..n.min(10_000)).map(|i| Req::new(format!("md {}", keys.slot(i)))));
    }
    inner.metas("breaking a lock", reqs).await?;
    Ok(hs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spelled_as_memcached_reads_them() {
        let r = store("k", b"abc", 1, 30, 'E', None);
        assert_eq!(r.line, "ms k 3 F1 T30 ME c");
        let r = store("k", b"abc", 2, 0, 'S', Some(9));
        assert_eq!(r.line, "ms k 3 F2 T0 MS C9 c");
    }

    #[test]
    fn metadump_keys_are_decoded() {
        assert_eq!(percent_decode("__TOOZ_LOCK_a%2Fb"), "__TOOZ_LOCK_a/b");
        assert_eq!(percent_decode("plain%"), "plain%");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn waiters_try_every_few_milliseconds_jittered() {
        // The documented default (docs/memcached-backend.md): 2 ms, so a release is seen
        // within 3 ms, at about 500 tries (one round trip each) a second per waiter.
        assert_eq!(super::super::DEFAULT_WAIT_POLL, Duration::from_millis(2));
        let every = Duration::from_millis(2);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(every)).collect();
        assert!(waits.iter().all(|w| *w >= every / 2 && *w <= every * 3 / 2));
        // Spread out, not all the same.
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 50, "{}", distinct.len());
    }

    #[test]
    fn records_must_name_the_member() {
        let r = br#"{"member_id":"m","pid":1,"fencing_token":3}"#;
        assert_eq!(parse_record(r, Some("m")).unwrap().fencing_token, Some(3));
        assert!(parse_record(r, Some("other")).is_none());
        assert!(parse_record(b"junk", None).is_none());
    }
}
