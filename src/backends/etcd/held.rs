//! A key we hold on its own lease (an exclusive lock, a semaphore entry, a membership, a
//! leadership) and how it is given back: compare-and-delete plus revoking the lease, or,
//! for an exclusive lock with queued waiters, an offer to the first of them in one write
//! (which it confirms, see `lock`). A key that is no longer ours at release is a loss.
//! [`Queue`] follows the hand-over queue by a watch while the lock is held, so a release
//! need not read it first; it starts from a [`Peek`] at the queue taken in the very
//! transaction that made us the holder, so not even a short COMMAND's release waits for a
//! read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::follow::{Follow, Seen};
use super::keys::{by_create, put_on, range};
use super::lease::Lease;
use super::EtcdCoordinator;
use crate::coordination::{Error, Release, Result};

/// A held key on its own lease: an exclusive lock, a semaphore entry (no `hkey`), a
/// membership or a leadership.
pub(super) struct EtcdLock {
    pub c: EtcdCoordinator,
    pub key: Vec<u8>,
    pub hkey: Vec<u8>,
    /// Our value of the key, compared before deleting it.
    pub value: Option<Vec<u8>>,
    pub lease: Option<Lease>,
    pub watcher: JoinHandle<()>,
    /// Exclusive locks: the waiters queued for a hand-over.
    pub waiters: Option<Queue>,
}

impl EtcdLock {
    /// Offer the key to the first queued waiter (its value and record, on its lease) in one
    /// write; it holds the lock once it confirms (see [`EtcdLock::guard_offer`]).
    /// `Ok(None)`: nobody waits, or the hand-over did not apply; else the offer's revision.
    /// `unsure` is set when an attempt of the hand-over may have applied without our
    /// hearing of it.
    async fn hand_over(&self, within: Duration, unsure: &mut bool) -> Result<Option<i64>> {
        let (Some(q), Some(ours)) = (&self.waiters, &self.value) else {
            return Ok(None);
        };
        let c = &self.c;
        let mut client = c.client();
        let known = q.first();
        let first = match known {
            Some(Some(first)) => first,
            // The followed queue is empty: nobody to hand over to, no read needed.
            Some(None) => return Ok(None),
            None => {
                // Serializable: no consensus round; a stale answer only makes the
                // transaction below fail.
                let first = by_create().with_limit(1).with_serializable();
                let resp = c
                    .rpc(
                        "reading the lock's waiters",
                        client.get(q.prefix.clone(), Some(first)),
                    )
                    .await?;
                let Some(w) = resp.kvs().first() else {
                    return Ok(None);
                };
                (w.key().to_vec(), w.value().to_vec(), w.mod_revision())
            }
        };
        let Some(offer) = offer_ops(&self.names(q), &first) else {
            return Ok(None);
        };
        let txn = Txn::new()
            .when([
                Compare::value(self.key.clone(), CompareOp::Equal, ours.clone()),
                Compare::mod_revision(first.0, CompareOp::Equal, first.2),
            ])
            .and_then(offer);
        let answer = c.txn_again("handing the lock over", within, &txn).await;
        *unsure |= answer.unsure;
        let resp = answer.result?;
        Ok(resp
            .succeeded()
            .then(|| resp.header().map(|h| h.revision()))
            .flatten())
    }

    fn names<'a>(&'a self, q: &'a Queue) -> Names<'a> {
        Names {
            key: &self.key,
            hkey: &self.hkey,
            waiters: &q.prefix,
        }
    }

    /// Stay until the waiter we offered the lock to (at revision `at`) has confirmed it,
    /// and pass the offer on when it stays unconfirmed for [`TAKEOVER_AFTER`] (its
    /// recipient was killed while queued), until `until`. The holder that made the offer
    /// is the one that sees it through: the waiters follow only their own queue entry and
    /// the key's deletion, so that a hand-over wakes its recipient and nobody else. Any
    /// write of the holder record after `at` settles it: the confirmation, a release, a
    /// waiter's own pass-on, an expiry. The recipient does not wait for this: it holds
    /// the lock from its confirmation; only our exit does, by about one round trip.
    async fn guard_offer(&self, mut at: i64, until: Instant) {
        let Some(q) = &self.waiters else { return };
        let c = &self.c;
        loop {
            let due = (Instant::now() + TAKEOVER_AFTER).min(until);
            let mut follow = Follow::new(c.client(), self.hkey.clone(), false, at + 1, c.timeout);
            loop {
                match tokio::time::timeout_at(due, follow.next()).await {
                    Ok(Seen::Events(_) | Seen::Compacted) => return,
                    Ok(Seen::Disconnected) => {}
                    Err(_) => break,
                }
            }
            if Instant::now() >= until {
                return;
            }
            match tokio::time::timeout_at(until, take_over(c, &self.names(q), at)).await {
                Ok(Some(next)) => at = next,
                _ => return,
            }
        }
    }
}

/// The keys of one exclusive lock.
pub(super) struct Names<'a> {
    pub key: &'a [u8],
    pub hkey: &'a [u8],
    pub waiters: &'a [u8],
}

/// How long an offer may stay unconfirmed before it is passed on: its recipient is
/// presumed dead (killed while queued). A live recipient confirms within a round trip;
/// one that is merely slow loses its turn and queues again, never the lock's safety.
pub(super) const TAKEOVER_AFTER: Duration = Duration::from_millis(300);

/// The writes of an offer to the queued waiter `w`: the key with its value and the holder
/// record with its record, both on its lease, and its queue entry deleted. `None` for an
/// entry not in our layout.
fn offer_ops(n: &Names<'_>, w: &Waiter) -> Option<Vec<TxnOp>> {
    let (wkey, wvalue, _) = w;
    let hex = std::str::from_utf8(wkey.get(n.waiters.len()..)?).ok()?;
    let lease = i64::from_str_radix(hex, 16).ok()?;
    if wvalue.len() <= 16 {
        return None;
    }
    let (value, record) = wvalue.split_at(16);
    Some(vec![
        TxnOp::put(n.key.to_vec(), value, put_on(lease)),
        TxnOp::put(n.hkey.to_vec(), record, put_on(lease)),
        TxnOp::delete(wkey.clone(), None),
    ])
}

/// The offer made at revision `at` was not confirmed in time: pass it on to the first
/// waiter still queued (or free the lock when none is), *if* it is still unconfirmed.
/// `Some`: the revision of the new offer. Errors only delay: the offer's recipient's
/// lease runs out in the end, and the waiters wake on the key's deletion.
pub(super) async fn take_over(c: &EtcdCoordinator, n: &Names<'_>, at: i64) -> Option<i64> {
    let unconfirmed = [
        Compare::mod_revision(n.key.to_vec(), CompareOp::Equal, at),
        Compare::mod_revision(n.hkey.to_vec(), CompareOp::Equal, at),
    ];
    for _ in 0..3 {
        let mut client = c.client();
        let first = by_create().with_limit(1);
        let resp = c
            .rpc(
                "reading the lock's waiters",
                client.get(n.waiters.to_vec(), Some(first)),
            )
            .await
            .ok()?;
        let next = resp.kvs().first().map(entry).map(|(_, w)| w);
        let offer = next.as_ref().and_then(|w| offer_ops(n, w));
        let txn = match (next, offer) {
            (Some((wkey, _, wmod)), Some(offer)) => {
                let mut when = unconfirmed.to_vec();
                when.push(Compare::mod_revision(wkey, CompareOp::Equal, wmod));
                Txn::new().when(when).and_then(offer)
            }
            _ => Txn::new().when(unconfirmed.to_vec()).and_then([
                TxnOp::delete(n.key.to_vec(), None),
                TxnOp::delete(n.hkey.to_vec(), None),
            ]),
        }
        .or_else([
            TxnOp::get(n.key.to_vec(), None),
            TxnOp::get(n.hkey.to_vec(), None),
        ]);
        let r = c
            .rpc("passing an unconfirmed hand-over on", client.txn(txn))
            .await
            .ok()?;
        let ops = r.op_responses();
        if r.succeeded() {
            // An offer puts the key; freeing it deletes it.
            let offered = matches!(ops.first(), Some(TxnOpResponse::Put(_)));
            return offered.then(|| r.header().map(|h| h.revision())).flatten();
        }
        let still = range(ops.first()).first().map(|k| k.mod_revision()) == Some(at)
            && range(ops.get(1)).first().map(|k| k.mod_revision()) == Some(at);
        if !still {
            return None;
        }
    }
    None
}

/// A queued waiter: key, value, mod revision.
type Waiter = (Vec<u8>, Vec<u8>, i64);

/// A queue entry as [`Known`] keeps it: by create revision.
fn entry(kv: &KeyValue) -> (i64, Waiter) {
    let waiter = (kv.key().to_vec(), kv.value().to_vec(), kv.mod_revision());
    (kv.create_revision(), waiter)
}

/// The head of a lock's hand-over queue, read in the transaction that made us its holder
/// (the acquiring write or the confirmation of a hand-over): [`Queue::follow`] starts
/// from it instead of reading the queue once more while COMMAND starts. A short COMMAND
/// (the queue's own hand-offs run back to back) used to find the queue still unread at
/// its release, and paid that read between COMMAND's end and the offer (issue 13).
pub(super) struct Peek {
    head: Vec<KeyValue>,
    /// Whether `head` is the whole queue.
    complete: bool,
    /// The revision it was read at.
    rev: i64,
}

impl Peek {
    /// How many waiters the transaction reads: the whole queue in the usual case, and a
    /// response of a few kilobytes at most on the hand-off's path when it is longer
    /// (then the follower reads the rest, as without a peek).
    const HEAD: i64 = 32;

    /// The read to put last in the transaction's success branch.
    pub(super) fn op(prefix: &[u8]) -> TxnOp {
        TxnOp::get(prefix.to_vec(), Some(by_create().with_limit(Self::HEAD)))
    }

    /// The peek from a successful transaction whose last operation is [`Peek::op`];
    /// `ours` (our own queue entry, deleted in the same write) is left out all the same.
    pub(super) fn from(resp: &TxnResponse, ours: &[u8]) -> Option<Peek> {
        let ops = resp.op_responses();
        let Some(TxnOpResponse::Get(g)) = ops.last() else {
            return None;
        };
        let head: Vec<KeyValue> = g
            .kvs()
            .iter()
            .filter(|kv| kv.key() != ours)
            .cloned()
            .collect();
        Some(Peek {
            complete: g.count() <= Self::HEAD && !g.more(),
            head,
            rev: resp.header()?.revision(),
        })
    }
}
/// Waiters by create revision; `None` until read.
type Known = Arc<Mutex<Option<BTreeMap<i64, Waiter>>>>;

/// The hand-over queue of a held lock, followed by a watch while we hold it, so that a
/// release need not read it first.
pub(super) struct Queue {
    prefix: Vec<u8>,
    /// create revision → (key, value, mod revision); `None` until read (or after a
    /// compaction).
    known: Known,
    task: JoinHandle<()>,
}

impl Queue {
    pub(super) fn follow(c: &EtcdCoordinator, prefix: Vec<u8>, peek: Option<Peek>) -> Queue {
        // What the peek saw is known at once; a stale entry only makes a hand-over's
        // compare fail (then the lock is released instead, and the waiters try again).
        let seen = peek.as_ref().map(|p| p.head.iter().map(entry).collect());
        // The whole queue seen: follow it from there, without a read.
        let mut start = peek.filter(|p| p.complete).map(|p| p.rev);
        let known: Known = Arc::new(Mutex::new(seen));
        let (k, p, client, timeout) = (known.clone(), prefix.clone(), c.client(), c.timeout);
        let task = tokio::spawn(async move {
            loop {
                let mut cl = client.clone();
                let rev = if let Some(rev) = start.take() {
                    rev
                } else {
                    match tokio::time::timeout(
                        timeout,
                        cl.get(p.clone(), Some(GetOptions::new().with_prefix())),
                    )
                    .await
                    {
                        Ok(Ok(resp)) => {
                            let map = resp.kvs().iter().map(entry).collect();
                            *k.lock().unwrap_or_else(|e| e.into_inner()) = Some(map);
                            resp.header().map(|h| h.revision()).unwrap_or(0)
                        }
                        _ => {
                            Follow::backoff().await;
                            continue;
                        }
                    }
                };
                let mut follow = Follow::new(client.clone(), p.clone(), true, rev + 1, timeout);
                loop {
                    match follow.next().await {
                        Seen::Events(evs) => {
                            let mut guard = k.lock().unwrap_or_else(|e| e.into_inner());
                            let Some(map) = guard.as_mut() else { break };
                            for e in &evs {
                                let Some(kv) = e.kv() else { continue };
                                match e.event_type() {
                                    EventType::Put => {
                                        let (created, waiter) = entry(kv);
                                        map.insert(created, waiter);
                                    }
                                    EventType::Delete => map.retain(|_, v| v.0 != kv.key()),
                                }
                            }
                        }
                        // Resumes from the last revision by itself; a stale view only
                        // makes a hand-over fail over to a plain release.
                        Seen::Disconnected => {}
                        Seen::Compacted => {
                            *k.lock().unwrap_or_else(|e| e.into_inner()) = None;
                            break;
                        }
                    }
                }
            }
        });
        Queue {
            prefix,
            known,
            task,
        }
    }

    /// `None`: not known yet; `Some(None)`: nobody waits; else the first waiter.
    fn first(&self) -> Option<Option<Waiter>> {
        let guard = self.known.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|m| m.values().next().cloned())
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl Release for EtcdLock {
    async fn release(mut self: Box<Self>) -> Result<()> {
        self.watcher.abort();
        let lease = self.lease.take().expect("released once");
        // Once lost there is little to give back and the server may not answer; past the
        // lease's deadline etcd drops our keys by itself. Either way, do not hold up
        // toozctl's exit for a whole request timeout.
        let limit = lease
            .health()
            .borrow()
            .release_budget(Duration::from_secs(1), self.c.timeout);
        // The queue is known as it stands: stop following it, so that the offer's own
        // deletion of the recipient's entry does not wake us on the hand-off's path.
        if let Some(q) = &self.waiters {
            q.task.abort();
        }
        let until = Instant::now() + limit;
        match tokio::time::timeout(limit, self.give_back(lease, until)).await {
            Ok(Ok(Some((offer, lease)))) => {
                self.guard_offer(offer, until).await;
                // Our lease has held nothing since the offer; revoked only now, so that
                // its write does not queue behind or ahead of the recipient's
                // confirmation in the log. Past the budget it is given a moment more.
                let left = until.saturating_duration_since(Instant::now());
                lease
                    .revoke_within(&self.c, left.max(Duration::from_millis(500)))
                    .await
            }
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(Error::Unavailable(format!(
                "etcd at {} did not answer the release within {}s",
                self.c.endpoints,
                limit.as_secs_f64()
            ))),
        }
    }
}

impl EtcdLock {
    /// Hand over or delete, then revoke, each sent again to a member that answers while
    /// `until` allows (a release must not fail because the member it went to died).
    /// `Some`: the revision of the offer that handed the lock over, and our lease, not
    /// revoked yet.
    async fn give_back(&self, lease: Lease, until: Instant) -> Result<Option<(i64, Lease)>> {
        let c = &self.c;
        let left = || until.saturating_duration_since(Instant::now());
        // An attempt cut off or timed out may have been applied all the same: our own
        // hand-over or delete, found done by the next attempt, is then no loss.
        let mut unsure = false;
        // Our lease must outlive the hand-over: revoking it first would delete the key.
        match self.hand_over(left(), &mut unsure).await {
            Ok(Some(offer)) => return Ok(Some((offer, lease))),
            Ok(None) => {}
            // Not handed over as far as we know: the delete below decides.
            Err(_) => unsure = true,
        }
        let mut txn = Txn::new();
        if let Some(v) = &self.value {
            txn = txn.when([Compare::value(
                self.key.clone(),
                CompareOp::Equal,
                v.clone(),
            )]);
        }
        let mut ops = vec![TxnOp::delete(self.key.clone(), None)];
        if !self.hkey.is_empty() {
            ops.push(TxnOp::delete(self.hkey.clone(), None));
        }
        let txn = txn.and_then(ops);
        // The delete first, the revoke after it: a revoke applied first would delete the
        // key itself and make our own release look like a loss. The next holder wakes on
        // the delete; only our exit waits for the revoke.
        let deleted = c.txn_again("releasing the lock", left(), &txn).await;
        unsure |= deleted.unsure;
        let revoked = lease.revoke_within(c, left()).await;
        let resp = deleted.result?;
        // Not ours any more (deleted, expired, or someone else's value): the primitive was
        // lost before we gave it back, and that is a loss like any other — unless an
        // earlier attempt of ours may have done it. (A stranger's delete in that same
        // instant goes unreported; one any earlier was reported by the key watcher.)
        let gone = !resp.succeeded()
            || matches!(resp.op_responses().first(), Some(TxnOpResponse::Delete(d)) if d.deleted() == 0);
        if gone && !unsure {
            return Err(Error::Lost(format!(
                "its key {} was already gone at release (deleted, expired or taken by another holder)",
                String::from_utf8_lossy(&self.key)
            )));
        }
        revoked.map(|_| None)
    }
}
