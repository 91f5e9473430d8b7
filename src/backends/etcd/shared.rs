//! `--shared` (reader) locks that tooz's exclusive holders still respect.
//!
//! tooz only looks at `/tooz/locks<name>`, so while any reader holds, that key must exist.
//! The first reader grants a *shared lease* and creates the key with the value
//! `toozctl:shared\0\0` on it; every reader (the first included) puts its record at
//! `/toozctl/readers/<enc>/<own lease hex>` on its own lease and keeps the shared lease
//! alive too. A later reader joins in one transaction *if* the key still holds the marker
//! (same create revision). A reader whose `--ttl` is longer than the shared lease's grants
//! a longer shared lease and moves the marker onto it in the same join transaction (*if*
//! the key is still on the lease it saw), so the marker's lease is never shorter than any
//! reader's own: every reader keeps the writers out for as long as its own lease lives.
//! Each reader follows the marker: a move is adopted (keep-alives go to the new lease), a
//! deletion or any other write is a loss. A reader's health is the earlier of its own
//! lease's and the shared lease's deadlines, so it never believes it holds past the
//! marker. The last reader out deletes the key in the same transaction that deletes its
//! record, *if* no other record is left (two range compares around its own key), then
//! revokes the shared lease. So tooz, exclusive toozctl holders and semaphores all see the
//! lock held while readers run; a reader arriving while an exclusive holder has the key
//! waits for its deletion.

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Compare, CompareOp, EventType, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::follow::{wait_for_delete, Follow, Seen};
use super::keys::{by_create, lock_key, put_on, range, readers_prefix, semaphore_prefix, MARKER};
use super::lease::take_lease;
use super::lease::{self, Lease};
use super::{conflict, holder_json, parse_holder, EtcdCoordinator};
use crate::coordination::{
    Error, Health, Held, Holder, LockMode, LockRequest, Release, Result, Wait,
};

/// The first key after every key under `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

pub(super) async fn acquire(c: &EtcdCoordinator, req: &LockRequest) -> Result<Option<Held>> {
    let key = lock_key(&req.name);
    let readers = readers_prefix(&req.name);
    let sem = semaphore_prefix(&req.name);
    let ttl = req.ttl.unwrap_or(c.lock_ttl);
    let lease = take_lease(c, ttl).await?;
    let mine = [readers.clone(), format!("{:016x}", lease.id).into_bytes()].concat();
    let record = holder_json(&c.identity.holder(Some(LockMode::Shared), None));
    loop {
        let mut client = c.client();
        let look = Txn::new().and_then([
            TxnOp::get(key.clone(), None),
            TxnOp::get(
                sem.clone(),
                Some(GetOptions::new().with_prefix().with_limit(1)),
            ),
        ]);
        let resp = c
            .rpc(&format!("reading lock '{}'", req.name), client.txn(look))
            .await?;
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let ops = resp.op_responses();
        let (current, sem_holder) = (range(ops.first()), range(ops.get(1)));
        let joined = match current.first() {
            // Readers hold it: join them.
            Some(kv) if kv.value() == MARKER => {
                join(c, &req.name, kv, &mine, &record, &lease).await?
            }
            // An exclusive holder (tooz or toozctl): wait for the key's deletion.
            Some(_) => {
                if req.wait == Wait::NoWait {
                    *c.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some((ttl, lease));
                    return Ok(None);
                }
                if !wait_for_delete(c, &key, false, rev + 1, req.wait).await? {
                    lease.revoke(c).await?;
                    return Ok(None);
                }
                continue;
            }
            None => {
                if let Some(s) = sem_holder.first() {
                    let holder = parse_holder(Some(s.value()), "a semaphore holder");
                    lease.revoke(c).await?;
                    return Err(conflict(&req.name, &holder, LockMode::Shared));
                }
                // The first reader: create the key on a new shared lease.
                let mut shared = Lease::grant(c, ttl).await?;
                let txn = Txn::new()
                    .when([
                        Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                        Compare::create_revision(sem.clone(), CompareOp::Equal, 0).with_prefix(),
                    ])
                    .and_then([
                        TxnOp::put(key.clone(), MARKER.to_vec(), put_on(shared.id)),
                        TxnOp::put(mine.clone(), record.clone(), put_on(lease.id)),
                    ]);
                let r = c
                    .rpc(
                        &format!("taking lock '{}' shared", req.name),
                        client.txn(txn),
                    )
                    .await?;
                if r.succeeded() {
                    // Other readers will rely on it: only the last one out revokes it.
                    shared.disown();
                    let rev = r.header().map(|h| h.revision()).unwrap_or(0);
                    Some((rev, rev, shared))
                } else {
                    shared.revoke(c).await?;
                    None
                }
            }
        };
        let Some((token, created, shared)) = joined else {
            continue;
        };
        // Deleting or overwriting the tooz key ends every reader's hold.
        let (health, watcher) =
            follow_marker(c, key.clone(), created, token, lease.health(), shared);
        let lease_ttl = lease.ttl;
        let held = SharedLock {
            c: c.shallow(),
            key,
            readers,
            mine,
            lease: Some(lease),
            watcher,
        };
        return Ok(Some(Held::new(
            format!("lock '{}' (shared)", req.name),
            token as u64,
            Some(lease_ttl),
            health,
            Box::new(held),
        )));
    }
}

struct SharedLock {
    c: EtcdCoordinator,
    key: Vec<u8>,
    readers: Vec<u8>,
    mine: Vec<u8>,
    lease: Option<Lease>,
    /// Follows the marker and keeps its (shared) lease alive while we hold.
    watcher: JoinHandle<()>,
}

#[async_trait]
impl Release for SharedLock {
    async fn release(mut self: Box<Self>) -> Result<()> {
        self.watcher.abort();
        let c = &self.c;
        let lease = self.lease.take().expect("released once");
        let mut after_mine = self.mine.clone();
        after_mine.push(0);
        // The last reader out (no record before or after ours) deletes the tooz key too.
        let txn = Txn::new()
            .when([
                Compare::create_revision(self.readers.clone(), CompareOp::Equal, 0)
                    .with_range(self.mine.clone()),
                Compare::create_revision(after_mine, CompareOp::Equal, 0)
                    .with_range(prefix_end(&self.readers)),
                Compare::value(self.key.clone(), CompareOp::Equal, MARKER.to_vec()),
            ])
            .and_then([
                TxnOp::delete(self.mine.clone(), None),
                TxnOp::get(self.key.clone(), None),
                TxnOp::delete(self.key.clone(), None),
            ])
            .or_else([
                TxnOp::delete(self.mine.clone(), None),
                TxnOp::get(self.key.clone(), None),
            ]);
        // Sent again while the member asked goes away; an attempt that may have applied
        // unheard makes "already gone" our own doing, not a loss.
        let answer = c
            .txn_again("releasing the shared lock", c.timeout, &txn)
            .await;
        let revoked = lease.revoke(c).await;
        let unsure = answer.unsure;
        let r = answer.result?;
        let mut client = c.client();
        let ops = r.op_responses();
        let marker = range(ops.get(1));
        if r.succeeded() {
            // Nobody else relies on the readers' lease any more.
            if let Some(id) = marker.first().map(|kv| kv.lease()).filter(|id| *id != 0) {
                let _ = c
                    .rpc("revoking the readers' lease", client.lease_revoke(id))
                    .await;
            }
        }
        let record_gone = matches!(ops.first(), Some(TxnOpResponse::Delete(d)) if d.deleted() == 0);
        let marker_gone = marker.first().map(|kv| kv.value()) != Some(MARKER.as_slice());
        if (record_gone || marker_gone) && !unsure {
            return Err(Error::Lost(format!(
                "its reader record or the marker {} was already gone at release",
                String::from_utf8_lossy(&self.key)
            )));
        }
        revoked
    }
}

/// Join the readers of the marker `kv`: our join revision, the marker's create revision
/// and the shared lease. A lease shorter than ours is replaced by a new one of our length
/// in the same transaction. `None`: the marker changed meanwhile.
async fn join(
    c: &EtcdCoordinator,
    name: &str,
    kv: &KeyValue,
    mine: &[u8],
    record: &[u8],
    lease: &Lease,
) -> Result<Option<(i64, i64, Lease)>> {
    let mut client = c.client();
    let sent = tokio::time::Instant::now();
    let ttl = c
        .rpc(
            "reading the readers' lease",
            client.lease_time_to_live(kv.lease(), None),
        )
        .await?;
    let (left, granted) = (ttl.ttl(), ttl.granted_ttl());
    if left <= 0 {
        // Expiring: the key goes with it; try again after.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        return Ok(None);
    }
    let mut longer = None;
    if Duration::from_secs(granted.max(0) as u64) < lease.ttl {
        let mut l = Lease::grant(c, lease.ttl).await?;
        // Not revoked if we are cancelled with the move in flight: had it applied, the
        // other readers follow the marker onto it and keep it alive.
        l.disown();
        longer = Some(l);
    }
    let mut ops = vec![TxnOp::put(mine.to_vec(), record.to_vec(), put_on(lease.id))];
    if let Some(l) = &longer {
        ops.push(TxnOp::put(kv.key().to_vec(), MARKER.to_vec(), put_on(l.id)));
    }
    let txn = Txn::new()
        .when([
            Compare::create_revision(kv.key().to_vec(), CompareOp::Equal, kv.create_revision()),
            Compare::lease(kv.key().to_vec(), CompareOp::Equal, kv.lease()),
        ])
        .and_then(ops);
    let r = c
        .rpc(
            &format!("joining the readers of lock '{name}'"),
            client.txn(txn),
        )
        .await?;
    let rev = r.header().map(|h| h.revision()).unwrap_or(0);
    match (r.succeeded(), longer) {
        (false, Some(l)) => {
            l.revoke(c).await?;
            Ok(None)
        }
        (false, None) => Ok(None),
        // Other readers rely on it: only the last one out revokes it.
        (true, Some(l)) => {
            // Nothing is on the shorter lease any more: give it back now rather than let
            // it run out (its other keepers follow the marker to the new one).
            let _ = c
                .rpc("revoking a replaced lease", client.lease_revoke(kv.lease()))
                .await;
            Ok(Some((rev, kv.create_revision(), l)))
        }
        (true, None) => Ok(Some((
            rev,
            kv.create_revision(),
            Lease::adopt_until(
                c,
                kv.lease(),
                lease.ttl,
                sent + Duration::from_secs(left as u64),
            ),
        ))),
    }
}

/// Follow the marker `key` (created at revision `created`) from revision `from`: a move to
/// another lease is adopted (our keep-alives follow it), a deletion or any other write is
/// a loss. The returned health is the earlier of our own lease's and the shared lease's
/// deadlines.
fn follow_marker(
    c: &EtcdCoordinator,
    key: Vec<u8>,
    created: i64,
    from: i64,
    mut own: watch::Receiver<Health>,
    shared: Lease,
) -> (watch::Receiver<Health>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(combine(&own.borrow(), &shared.health().borrow()));
    let mut m = Marker {
        c: c.shallow(),
        shown: String::from_utf8_lossy(&key).into_owned(),
        key,
        created,
        shared_rx: shared.health(),
        shared,
    };
    let task = tokio::spawn(async move {
        let mut follow = Follow::new(m.c.client(), m.key.clone(), false, from + 1, m.c.timeout);
        loop {
            let outcome = tokio::select! {
                r = own.changed() => if r.is_err() { return } else { Ok(()) },
                r = m.shared_rx.changed() => if r.is_err() { return } else { Ok(()) },
                seen = follow.next() => match seen {
                    Seen::Events(evs) => evs.iter().try_for_each(|e| m.seen(e)),
                    Seen::Disconnected => Ok(()),
                    Seen::Compacted => m.reread(&mut follow).await,
                },
            };
            let outcome = match outcome {
                Ok(()) if matches!(*m.shared_rx.borrow(), Health::Lost(_)) => m.reread_lost().await,
                other => other,
            };
            if let Err(why) = outcome {
                lease::publish(&tx, Health::Lost(why));
                return;
            }
            lease::publish(&tx, combine(&own.borrow(), &m.shared_rx.borrow()));
        }
    });
    (rx, task)
}

/// What a reader knows of the marker it follows.
struct Marker {
    c: EtcdCoordinator,
    key: Vec<u8>,
    shown: String,
    /// The marker's create revision: a marker created again is another one.
    created: i64,
    /// The shared lease we keep alive, and its health.
    shared: Lease,
    shared_rx: watch::Receiver<Health>,
}

impl Marker {
    /// Still our marker? Adopt its lease if it moved; `Err(why)` when it is not ours.
    fn check(&mut self, kv: Option<&KeyValue>) -> std::result::Result<(), String> {
        let Some(kv) = kv else {
            return Err(format!("its key {} was deleted", self.shown));
        };
        if kv.value() != MARKER || kv.create_revision() != self.created {
            return Err(format!("its key {} was overwritten", self.shown));
        }
        if kv.lease() != self.shared.id && kv.lease() != 0 {
            // Moved to a longer lease by a joining reader.
            self.shared = Lease::adopt(&self.c, kv.lease(), self.shared.ttl);
            self.shared_rx = self.shared.health();
        }
        Ok(())
    }

    fn seen(&mut self, e: &etcd_client::Event) -> std::result::Result<(), String> {
        match e.event_type() {
            EventType::Delete => self.check(None),
            EventType::Put => self.check(e.kv()),
        }
    }

    /// Read the marker again (after a compaction) and follow on from there.
    async fn reread(&mut self, follow: &mut Follow) -> std::result::Result<(), String> {
        let mut cl = self.c.client();
        match self
            .c
            .rpc("reading the marker", cl.get(self.key.clone(), None))
            .await
        {
            Ok(resp) => {
                self.check(resp.kvs().first())?;
                follow.restart(resp.header().map(|h| h.revision()).unwrap_or(0) + 1);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        Ok(())
    }

    /// The shared lease is gone. Revoked after a joining reader moved the marker to a
    /// longer lease, before we saw the move? Then follow the marker; else it is lost.
    async fn reread_lost(&mut self) -> std::result::Result<(), String> {
        let mut cl = self.c.client();
        if let Ok(resp) = self
            .c
            .rpc("reading the marker", cl.get(self.key.clone(), None))
            .await
        {
            self.check(resp.kvs().first())?;
        }
        Ok(())
    }
}

/// Held until the earlier of both deadlines; lost when either is.
fn combine(own: &Health, shared: &Health) -> Health {
    match (own, shared) {
        (Health::Lost(why), _) => Health::Lost(why.clone()),
        (_, Health::Lost(why)) => Health::Lost(format!("the readers' lease: {why}")),
        (Health::Held { expires: a }, Health::Held { expires: b }) => Health::Held {
            expires: match (a, b) {
                (Some(a), Some(b)) => Some(*a.min(b)),
                (a, b) => a.or(*b),
            },
        },
    }
}

/// The readers holding lock `name` now (their records, oldest first).
pub(super) async fn readers(c: &EtcdCoordinator, name: &str) -> Result<Vec<Holder>> {
    let mut client = c.client();
    let resp = c
        .rpc(
            "reading the lock's readers",
            client.get(readers_prefix(name), Some(by_create())),
        )
        .await?;
    Ok(resp
        .kvs()
        .iter()
        .map(|kv| {
            let mut h = parse_holder(Some(kv.value()), "a reader");
            h.fencing_token = Some(kv.create_revision() as u64);
            h
        })
        .collect())
}
