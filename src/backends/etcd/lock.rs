//! etcd locks in tooz's layout, and `--limit N` semaphores beside it.
//!
//! Exclusive: one transaction — *if* `/tooz/locks<name>` was never created (and no
//! semaphore of that name has holders) *then* put it (16 random bytes, as tooz) and our
//! holder record, both on our lease, *else* read them and, when we are going to wait, queue
//! `/toozctl/waiters/<enc>/<lease hex>` (our value and record, on our lease) in the same
//! write. A waiter follows, from the revision of its failed try, only deletions: of the
//! key (try again) and of its own queue entry (the holder offered the lock to us).
//! Release: read the first queued waiter; if there is one, one transaction *if* the key
//! still has our value *then* put the waiter's value and record on the waiter's lease and
//! drop its queue entry (the offer); otherwise *if* our value *then* delete key and record,
//! and revoke our lease. The recipient holds the lock only once it has *confirmed* the
//! offer: its record rewritten *if* key and record still have the offer's revision. The
//! holder that made the offer stays until it is confirmed; one left unconfirmed for
//! [`TAKEOVER_AFTER`] (its recipient was killed or stalled while queued) it passes on to
//! the next one queued, by the same compare, so a hand-over never goes to a dead waiter
//! and exactly one of confirmation and pass-on wins; then it revokes its lease. An offer
//! wakes its recipient and nobody else. tooz never sees the queue: to tooz the key just
//! stays held, and tooz's own release (a plain compare-and-delete) wakes our waiters
//! through the deletion.
//!
//! The fencing token is the revision at which the key became ours: its create revision, or
//! the offer's revision (the key's mod revision), which increases with every holder.
//!
//! Semaphores (`--limit N`): each holder or waiter puts `/toozctl/semaphores/<enc>/<lease
//! hex>` on its lease, only while no exclusive (tooz or toozctl) holder has the tooz key;
//! the first N keys by create revision hold it (a fair queue, as etcd's own recipes); the
//! others watch the prefix for deletions. tooz does not see semaphores.
//!
//! `--shared` readers are in `shared.rs`; while they hold, the tooz key holds a marker.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, EventType, GetOptions, KeyValue, Txn, TxnOp};

use super::follow::{wait_for_delete, Follow, Seen};
use super::held::{take_over, EtcdLock, Names, Peek, Queue, TAKEOVER_AFTER};
use super::keys::{
    by_create, lock_key, put_on, random_value, range, readers_prefix, semaphore_prefix,
    waiter_prefix, MARKER,
};
use super::lease::{self, take_lease, Lease};
use super::{
    conflict, holder_json, holder_key, parse_holder, EtcdCoordinator, LOCK_PREFIX, SEMAPHORE_PREFIX,
};
use crate::coordination::{
    note, validate_name, Error, Held, Holder, LockInfo, LockMode, LockRequest, Result, Wait,
};

// A note, printed after "held by": it must not say "held by" itself.
const TOOZ_HOLDER: &str = "a tooz client";

/// The holder of the tooz key `kv`, from our record if it belongs to the same acquisition.
fn exclusive_holder(kv: &KeyValue, record: Option<&KeyValue>) -> Holder {
    if kv.value() == MARKER {
        return Holder {
            mode: Some("shared".into()),
            ..Holder::unknown("toozctl readers (--shared)")
        };
    }
    // Our record is written in the same transaction as the key (also on a hand-over), and
    // again when the recipient of a hand-over confirms it.
    let ours = record.filter(|r| r.mod_revision() >= kv.mod_revision());
    let mut h = parse_holder(ours.map(|r| r.value()), TOOZ_HOLDER);
    h.fencing_token = Some(kv.mod_revision() as u64);
    h
}

pub(super) async fn acquire(c: &EtcdCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    validate_name("lock", &req.name)?;
    match req.mode {
        LockMode::Shared => super::shared::acquire(c, req).await,
        LockMode::Limit(n) => semaphore(c, req, n).await,
        LockMode::Exclusive => exclusive(c, req).await,
    }
}

async fn exclusive(c: &EtcdCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    let key = lock_key(&req.name);
    let hkey = holder_key(&key);
    let sem = semaphore_prefix(&req.name);
    let ttl = req.ttl.unwrap_or(c.lock_ttl);
    let mut lease = take_lease(c, ttl).await?;
    let value = random_value();
    let record = holder_json(&c.identity.holder(Some(LockMode::Exclusive), None));
    // Our queue entry and the reads of a failed try, both tied to our lease.
    let queue_ops = |lease_id: i64| {
        let queued = [
            waiter_prefix(&req.name),
            format!("{lease_id:016x}").into_bytes(),
        ]
        .concat();
        let mut or_else = vec![
            TxnOp::get(key.clone(), None),
            TxnOp::get(hkey.clone(), None),
            TxnOp::get(
                sem.clone(),
                Some(GetOptions::new().with_prefix().with_limit(1)),
            ),
        ];
        if req.wait != Wait::NoWait {
            // Queue for a hand-over in the same write: value, then our holder record.
            or_else.push(TxnOp::put(
                queued.clone(),
                [value.clone(), record.clone()].concat(),
                put_on(lease_id),
            ));
        }
        (queued, or_else)
    };
    let (mut queued, mut or_else) = queue_ops(lease.id);
    let waiters = waiter_prefix(&req.name);
    let names = Names {
        key: &key,
        hkey: &hkey,
        waiters: &waiters,
    };
    // The queue as the transaction that made us the holder saw it (see `Peek`).
    let mut peek = None;
    // A waiter's lease can run out while etcd is out of reach (its keep-alives fail): its
    // queue entry goes with it, and the next write on it answers "lease not found". A
    // waiter is not a holder, so nothing is lost: it takes a new lease and queues again
    // (at the back), as many times in a row as `RELEASES`, then gives up as unavailable.
    const RELEASES: u32 = 5;
    let mut releases = 0;
    let mut acquired_at = None;
    while acquired_at.is_none() {
        let txn = Txn::new()
            .when([
                Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Compare::create_revision(sem.clone(), CompareOp::Equal, 0).with_prefix(),
            ])
            .and_then([
                TxnOp::put(key.clone(), value.clone(), put_on(lease.id)),
                TxnOp::put(hkey.clone(), record.clone(), put_on(lease.id)),
                TxnOp::delete(queued.clone(), None),
                Peek::op(&waiters),
            ])
            .or_else(or_else.clone());
        // Sent again while the member asked goes away: an attempt applied unheard either
        // took the lock for us (the next one finds our value and confirms it with our
        // record, below) or queued us (the next one rewrites the same entry, keeping its
        // place).
        let resp = match c
            .txn_again(&format!("taking lock '{}'", req.name), c.timeout, &txn)
            .await
            .result
        {
            Ok(r) => r,
            Err(e) if lease_gone(&e) && req.wait != Wait::NoWait && releases < RELEASES => {
                releases += 1;
                note(&format!(
                    "our lease ran out while waiting for lock '{}': queueing again with a new one",
                    req.name
                ));
                std::mem::replace(&mut lease, Lease::grant(c, ttl).await?).forget();
                (queued, or_else) = queue_ops(lease.id);
                continue;
            }
            Err(e) => return Err(e),
        };
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        if resp.succeeded() {
            acquired_at = Some(rev);
            peek = Peek::from(&resp, &queued);
            break;
        }
        let ops = resp.op_responses();
        let current = range(ops.first());
        let record_rev = range(ops.get(1)).first().map(|r| r.mod_revision());
        let mut offer = None;
        match current.first() {
            // Offered to us while we were not watching (after a compaction).
            Some(kv) if kv.value() == value.as_slice() => {
                if record_rev > Some(kv.mod_revision()) {
                    acquired_at = Some(kv.mod_revision());
                    break;
                }
                if let Some(r) = confirm(c, &names, kv.mod_revision(), &record, lease.id).await? {
                    acquired_at = Some(kv.mod_revision());
                    peek = Peek::from(&r, &queued);
                    break;
                }
                continue;
            }
            Some(kv) => {
                if is_offer(kv, record_rev) {
                    offer = Some(kv.mod_revision());
                }
            }
            None => {
                if let Some(s) = range(ops.get(2)).first() {
                    let holder = parse_holder(Some(s.value()), "a semaphore holder");
                    lease.revoke(c).await?;
                    return Err(conflict(&req.name, &holder, LockMode::Exclusive));
                }
            }
        }
        if req.wait == Wait::NoWait {
            *c.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some((ttl, lease));
            return Ok(None);
        }
        match wait_for_turn(c, &names, &queued, rev + 1, offer, req.wait).await? {
            Turn::Free => {}
            Turn::Offered(at) => match confirm(c, &names, at, &record, lease.id).await {
                Ok(Some(r)) => {
                    acquired_at = Some(at);
                    peek = Peek::from(&r, &queued);
                }
                Ok(None) => {}
                // The offer went to a lease that is gone: its holder passes it on after
                // TAKEOVER_AFTER; we queue again with a new lease (next try).
                Err(e) if lease_gone(&e) && releases < RELEASES => {
                    releases += 1;
                    std::mem::replace(&mut lease, Lease::grant(c, ttl).await?).forget();
                    (queued, or_else) = queue_ops(lease.id);
                }
                Err(e) => return Err(e),
            },
            Turn::TimedOut => {
                lease.revoke(c).await?;
                return Ok(None);
            }
        }
    }
    let token = acquired_at.expect("loop ends when acquired");
    let watcher = lease::watch_loss(c, key.clone(), value.clone(), token, lease.sender());
    let (health, lease_ttl) = (lease.health(), lease.ttl);
    let held = EtcdLock {
        c: c.shallow(),
        key,
        hkey,
        value: Some(value),
        lease: Some(lease),
        watcher,
        waiters: Some(Queue::follow(c, waiters, peek)),
    };
    Ok(Some(Held::new(
        format!("lock '{}'", req.name),
        token as u64,
        Some(lease_ttl),
        health,
        Box::new(held),
    )))
}

enum Turn {
    /// The key was deleted: try again.
    Free,
    /// Our queue entry was deleted at this revision: the holder offered us the lock
    /// (confirm it to hold it), or, when the confirmation fails, our turn was passed over.
    Offered(i64),
    TimedOut,
}

/// etcd's answer to a write on a lease that expired or was revoked.
fn lease_gone(e: &Error) -> bool {
    e.message().contains("requested lease not found")
}

/// A hand-over (the key written again, not created) that its recipient has not confirmed
/// yet: the holder record was written with the key and not since.
fn is_offer(kv: &KeyValue, record_rev: Option<i64>) -> bool {
    kv.version() > 1 && kv.value() != MARKER && record_rev == Some(kv.mod_revision())
}

/// Accept the offer made at revision `at`: rewrite our holder record on our lease, *if*
/// nobody passed the offer on meanwhile. Only then do we hold the lock. The answer of
/// a confirmation that applied (`Some`) holds a [`Peek`] at the queue.
async fn confirm(
    c: &EtcdCoordinator,
    n: &Names<'_>,
    at: i64,
    record: &[u8],
    lease: i64,
) -> Result<Option<etcd_client::TxnResponse>> {
    let txn = Txn::new()
        .when([
            Compare::mod_revision(n.key.to_vec(), CompareOp::Equal, at),
            Compare::mod_revision(n.hkey.to_vec(), CompareOp::Equal, at),
        ])
        .and_then([
            TxnOp::put(n.hkey.to_vec(), record.to_vec(), put_on(lease)),
            Peek::op(n.waiters),
        ]);
    // Sent again while the member asked goes away: a confirmation applied unheard makes
    // the next attempt fail, and the caller's next read finds our record newer than the
    // key, which is the lock held.
    let answer = c
        .txn_again("confirming the hand-over", c.timeout, &txn)
        .await;
    Ok(Some(answer.result?).filter(|r| r.succeeded()))
}

/// Wait until the lock key is deleted, or offered to us: the offer deletes our queue
/// entry (`queued`), in the same write that gives the key our value, so the deletion's
/// revision is the offer's. Only deletions are followed, of the key and of our own entry:
/// an offer to another waiter wakes nobody but it (its holder sees it through, see
/// `EtcdLock::guard_offer`). An `offer` to someone else already unconfirmed when we
/// queued is passed on after [`TAKEOVER_AFTER`], in case its holder is gone too.
async fn wait_for_turn(
    c: &EtcdCoordinator,
    n: &Names<'_>,
    queued: &[u8],
    from_rev: i64,
    mut offer: Option<i64>,
    wait: Wait,
) -> Result<Turn> {
    let follow = |key: &[u8]| Follow::new(c.client(), key.to_vec(), false, from_rev, c.timeout);
    let (mut freed, mut mine) = (follow(n.key).deletes_only(), follow(queued).deletes_only());
    let mut due = offer.map(|_| tokio::time::Instant::now() + TAKEOVER_AFTER);
    loop {
        let limit = match (wait, due) {
            (Wait::Until(d), Some(t)) => Some(d.min(t)),
            (Wait::Until(d), None) => Some(d),
            (_, t) => t,
        };
        // Whether it is our entry that was deleted, and what was seen.
        let both = async {
            tokio::select! {
                s = freed.next() => (false, s),
                s = mine.next() => (true, s),
            }
        };
        let (entry, next) = match limit {
            Some(l) => match tokio::time::timeout_at(l, both).await {
                Ok(s) => s,
                Err(_) => {
                    if let (Some(t), Some(at)) = (due, offer) {
                        if tokio::time::Instant::now() >= t {
                            take_over(c, n, at).await;
                            (due, offer) = (None, None);
                            continue;
                        }
                    }
                    return Ok(Turn::TimedOut);
                }
            },
            None => both.await,
        };
        match next {
            Seen::Events(evs) => {
                let deleted = evs.iter().find(|e| e.event_type() == EventType::Delete);
                match (deleted.and_then(|e| e.kv()), entry) {
                    // Handed to us, or passed over (then the confirmation fails and we
                    // queue again): the offer's revision is the deletion's.
                    (Some(kv), true) => return Ok(Turn::Offered(kv.mod_revision())),
                    (Some(_), false) => return Ok(Turn::Free),
                    (None, _) => {}
                }
            }
            Seen::Disconnected => {}
            Seen::Compacted => return Ok(Turn::Free),
        }
    }
}

async fn semaphore(c: &EtcdCoordinator, req: &LockRequest, n: u32) -> Result<Option<Held>> {
    let key = lock_key(&req.name);
    let prefix = semaphore_prefix(&req.name);
    let ttl = req.ttl.unwrap_or(c.lock_ttl);
    let lease = take_lease(c, ttl).await?;
    let mine = [prefix.clone(), format!("{:016x}", lease.id).into_bytes()].concat();
    let mode = LockMode::Limit(n);
    let record = holder_json(&c.identity.holder(Some(mode), None));
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([
            TxnOp::put(mine.clone(), record.clone(), put_on(lease.id)),
            TxnOp::get(prefix.clone(), Some(by_create())),
        ])
        .or_else([
            TxnOp::get(key.clone(), None),
            TxnOp::get(holder_key(&key), None),
        ]);
    let mut client = c.client();
    let resp = c
        .rpc(
            &format!("queueing for lock '{}'", req.name),
            client.txn(txn),
        )
        .await?;
    let ops = resp.op_responses();
    if !resp.succeeded() {
        let holder = match range(ops.first()).first() {
            Some(kv) => exclusive_holder(kv, range(ops.get(1)).first()),
            None => Holder::unknown(TOOZ_HOLDER),
        };
        lease.revoke(c).await?;
        return Err(conflict(&req.name, &holder, mode));
    }
    let my_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
    let mut rev = my_rev;
    let mut queue = range(ops.get(1));
    loop {
        let mut pos = None;
        for (i, kv) in queue.iter().enumerate() {
            if kv.key() == mine.as_slice() {
                pos = Some(i);
                continue;
            }
            let h = parse_holder(Some(kv.value()), "a semaphore holder");
            if h.mode.as_deref() != Some(mode.to_string().as_str()) {
                lease.revoke(c).await?;
                return Err(conflict(&req.name, &h, mode));
            }
        }
        match pos {
            Some(i) if i < n as usize => {
                let watcher =
                    lease::watch_loss(c, mine.clone(), record.clone(), my_rev, lease.sender());
                let health = lease.health();
                let lease_ttl = Some(lease.ttl);
                let held = EtcdLock {
                    c: c.shallow(),
                    key: mine.clone(),
                    hkey: Vec::new(),
                    value: None,
                    lease: Some(lease),
                    watcher,
                    waiters: None,
                };
                return Ok(Some(Held::new(
                    format!("lock '{}'", req.name),
                    my_rev as u64,
                    lease_ttl,
                    health,
                    Box::new(held),
                )));
            }
            Some(_) => {}
            None => {
                return Err(Error::Lost(format!(
                    "our queue entry for lock '{}' was deleted while waiting",
                    req.name
                )));
            }
        }
        if req.wait == Wait::NoWait || !wait_for_delete(c, &prefix, true, rev + 1, req.wait).await?
        {
            lease.revoke(c).await?;
            return Ok(None);
        }
        let mut client = c.client();
        let resp = c
            .rpc(
                "reading the semaphore queue",
                client.get(prefix.clone(), Some(by_create())),
            )
            .await?;
        rev = resp.header().map(|h| h.revision()).unwrap_or(rev);
        queue = resp.kvs().to_vec();
    }
}

/// Current holders of lock `name` and the revision they were read at.
pub(super) async fn holders_at(c: &EtcdCoordinator, name: &str) -> Result<(Vec<Holder>, i64)> {
    validate_name("lock", name)?;
    let key = lock_key(name);
    let txn = Txn::new().and_then([
        TxnOp::get(key.clone(), None),
        TxnOp::get(holder_key(&key), None),
        TxnOp::get(semaphore_prefix(name), Some(by_create())),
        TxnOp::get(readers_prefix(name), Some(by_create())),
    ]);
    let mut client = c.client();
    let resp = c
        .rpc(&format!("reading lock '{name}'"), client.txn(txn))
        .await?;
    let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
    let ops = resp.op_responses();
    let mut out = Vec::new();
    match range(ops.first()).first() {
        Some(kv) if kv.value() == MARKER => out.extend(reader_holders(&range(ops.get(3)))),
        Some(kv) => out.push(exclusive_holder(kv, range(ops.get(1)).first())),
        None => {}
    }
    out.extend(semaphore_holders(&range(ops.get(2))));
    Ok((out, rev))
}

/// `--shared` readers' records, oldest first.
fn reader_holders(records: &[KeyValue]) -> Vec<Holder> {
    records
        .iter()
        .map(|kv| {
            let mut h = parse_holder(Some(kv.value()), "a reader");
            h.fencing_token = Some(kv.create_revision() as u64);
            h
        })
        .collect()
}

/// The first N entries of a semaphore queue (N read from their records).
fn semaphore_holders(queue: &[KeyValue]) -> Vec<Holder> {
    let mut out: Vec<Holder> = Vec::new();
    for kv in queue {
        let mut h = parse_holder(Some(kv.value()), "a semaphore holder");
        h.fencing_token = Some(kv.create_revision() as u64);
        let limit = h
            .mode
            .as_deref()
            .and_then(|m| m.strip_prefix("limit "))
            .and_then(|n| n.parse::<usize>().ok());
        if out.len() < limit.unwrap_or(1) {
            out.push(h);
        }
    }
    out
}

pub(super) async fn holders(c: &EtcdCoordinator, name: &str) -> Result<Vec<Holder>> {
    Ok(holders_at(c, name).await?.0)
}

/// Who created the lock key at `create_rev` (for watch events).
pub(super) async fn holder_of(c: &EtcdCoordinator, name: &str, mod_rev: i64) -> Holder {
    let mut client = c.client();
    let record = c
        .rpc(
            "reading a holder record",
            client.get(holder_key(&lock_key(name)), None),
        )
        .await
        .ok();
    let kv = record
        .as_ref()
        .and_then(|r| r.kvs().first())
        .filter(|kv| kv.mod_revision() == mod_rev);
    let mut h = parse_holder(kv.map(|kv| kv.value()), TOOZ_HOLDER);
    h.fencing_token = Some(mod_rev as u64);
    h
}

pub(super) async fn list(c: &EtcdCoordinator) -> Result<Vec<LockInfo>> {
    let records_prefix = holder_key(LOCK_PREFIX.as_bytes());
    let txn = Txn::new().and_then([
        TxnOp::get(LOCK_PREFIX, Some(GetOptions::new().with_prefix())),
        TxnOp::get(
            records_prefix.clone(),
            Some(GetOptions::new().with_prefix()),
        ),
        TxnOp::get(SEMAPHORE_PREFIX, Some(by_create())),
    ]);
    let mut client = c.client();
    let resp = c.rpc("listing locks", client.txn(txn)).await?;
    let ops = resp.op_responses();
    let records: BTreeMap<Vec<u8>, KeyValue> = range(ops.get(1))
        .into_iter()
        .map(|kv| (kv.key()[records_prefix.len()..].to_vec(), kv))
        .collect();
    let mut out = Vec::new();
    for kv in range(ops.first()) {
        let name_bytes = &kv.key()[LOCK_PREFIX.len()..];
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let holders = if kv.value() == MARKER {
            super::shared::readers(c, &name).await?
        } else {
            vec![exclusive_holder(&kv, records.get(name_bytes))]
        };
        let ttl = match kv.lease() {
            0 => None,
            id => client
                .lease_time_to_live(id, None)
                .await
                .ok()
                .filter(|r| r.ttl() >= 0)
                .map(|r| Duration::from_secs(r.ttl() as u64)),
        };
        out.push(LockInfo {
            name,
            holders,
            ttl,
            fencing_token: Some(kv.mod_revision() as u64),
        });
    }
    let mut queues: BTreeMap<String, Vec<KeyValue>> = BTreeMap::new();
    for kv in range(ops.get(2)) {
        let rest = String::from_utf8_lossy(&kv.key()[SEMAPHORE_PREFIX.len()..]).into_owned();
        if let Some((enc, _)) = rest.rsplit_once('/') {
            queues
                .entry(super::decode_component(enc))
                .or_default()
                .push(kv);
        }
    }
    for (name, queue) in queues {
        let holders = semaphore_holders(&queue);
        let token = holders.iter().filter_map(|h| h.fencing_token).max();
        out.push(LockInfo {
            name,
            holders,
            ttl: None,
            fencing_token: token,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn break_lock(c: &EtcdCoordinator, name: &str) -> Result<Vec<Holder>> {
    let held = holders(c, name).await?;
    let key = lock_key(name);
    let txn = Txn::new().and_then([
        TxnOp::delete(key.clone(), None),
        TxnOp::delete(holder_key(&key), None),
        TxnOp::delete(
            semaphore_prefix(name),
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        ),
        TxnOp::delete(
            readers_prefix(name),
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        ),
    ]);
    let mut client = c.client();
    c.rpc(&format!("breaking lock '{name}'"), client.txn(txn))
        .await?;
    Ok(held)
}
