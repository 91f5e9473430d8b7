//! etcd leases: granted per held primitive, kept alive at a quarter of their TTL by a
//! background task that publishes `Health::Held { expires }` (measured from when the
//! successful keep-alive was sent) and `Health::Lost` when etcd says the lease is gone.
//! A key watcher ([`watch_loss`]) publishes `Lost` at once when our key is deleted or
//! overwritten behind our back.
//!
//! A [`Lease`] dropped without [`Lease::revoke`] or [`Lease::forget`] (a cancelled wait)
//! hands its id to the coordinator's orphan list, which `close()` revokes: nothing of a
//! cancelled waiter outlives the process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, EventType, LeaseKeepAliveStream, LeaseKeeper};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::follow::{Follow, Seen};
use super::EtcdCoordinator;
use crate::coordination::{Health, Result};

/// The TTL etcd will be asked for: whole seconds, at least one.
pub fn granted_ttl(d: Duration) -> Duration {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(s.max(1))
}

pub struct Lease {
    pub id: i64,
    /// What etcd granted (it may raise a short TTL to its minimum).
    pub ttl: Duration,
    health: Arc<watch::Sender<Health>>,
    rx: watch::Receiver<Health>,
    keeper: JoinHandle<()>,
    orphans: Arc<Mutex<Vec<i64>>>,
    armed: bool,
}

impl Lease {
    pub async fn grant(c: &EtcdCoordinator, ttl: Duration) -> Result<Lease> {
        let want = granted_ttl(ttl);
        let sent = Instant::now();
        let mut client = c.client();
        let resp = c
            .rpc(
                "granting a lease",
                client.lease_grant(want.as_secs() as i64, None),
            )
            .await?;
        let ttl = Duration::from_secs(resp.ttl().max(1) as u64);
        let (tx, rx) = watch::channel(Health::Held {
            expires: Some(sent + ttl),
        });
        let health = Arc::new(tx);
        let keeper = tokio::spawn(keep_alive(
            c.client(),
            resp.id(),
            ttl,
            health.clone(),
            c.timeout,
        ));
        Ok(Lease {
            id: resp.id(),
            ttl,
            health,
            rx,
            keeper,
            orphans: c.orphans.clone(),
            armed: true,
        })
    }

    /// Keep alive a lease someone else granted (the shared lease of `--shared` readers),
    /// without owning it: dropping the result stops the keep-alives and revokes nothing.
    pub fn adopt(c: &EtcdCoordinator, id: i64, ttl: Duration) -> Lease {
        Lease::adopt_until(c, id, ttl, Instant::now() + granted_ttl(ttl))
    }

    /// [`Lease::adopt`] a lease known to run until `expires` unless kept alive; `ttl` sets
    /// how often it is kept alive (a quarter of it).
    pub fn adopt_until(c: &EtcdCoordinator, id: i64, ttl: Duration, expires: Instant) -> Lease {
        let ttl = granted_ttl(ttl);
        let (tx, rx) = watch::channel(Health::Held {
            expires: Some(expires),
        });
        let health = Arc::new(tx);
        let keeper = tokio::spawn(keep_alive(c.client(), id, ttl, health.clone(), c.timeout));
        Lease {
            id,
            ttl,
            health,
            rx,
            keeper,
            orphans: c.orphans.clone(),
            armed: false,
        }
    }

    /// From now on nobody revokes it when this is dropped (others rely on it).
    pub fn disown(&mut self) {
        self.armed = false;
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.rx.clone()
    }

    pub fn sender(&self) -> Arc<watch::Sender<Health>> {
        self.health.clone()
    }

    /// Stop keeping it alive and hand back its id without revoking it.
    pub fn forget(mut self) -> i64 {
        self.armed = false;
        self.keeper.abort();
        self.id
    }

    /// Revoke it now: every key attached to it goes with it.
    pub async fn revoke(self, c: &EtcdCoordinator) -> Result<()> {
        self.revoke_within(c, c.timeout).await
    }

    /// [`Lease::revoke`], sent again to another member while `within` lasts when the one
    /// asked goes away (a revoke applied twice is still one revoke).
    pub async fn revoke_within(self, c: &EtcdCoordinator, within: Duration) -> Result<()> {
        let id = self.forget();
        let answer = c
            .rpc_again("revoking a lease", within, |mut client| async move {
                client.lease_revoke(id).await
            })
            .await;
        match answer.result {
            Ok(_) => Ok(()),
            // Already expired or revoked: nothing left to give back.
            Err(e) if e.message().contains("requested lease not found") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.abort();
        if self.armed {
            self.orphans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
        }
    }
}

/// Publish `h` unless the primitive is already lost (a loss is final).
pub fn publish(tx: &watch::Sender<Health>, h: Health) {
    tx.send_if_modified(|cur| {
        if matches!(cur, Health::Lost(_)) || *cur == h {
            false
        } else {
            *cur = h;
            true
        }
    });
}

async fn keep_alive(
    mut client: Client,
    id: i64,
    ttl: Duration,
    tx: Arc<watch::Sender<Health>>,
    timeout: Duration,
) {
    let interval = (ttl / 4).max(Duration::from_millis(100));
    let mut stream: Option<(LeaseKeeper, LeaseKeepAliveStream)> = None;
    let mut pause = interval;
    loop {
        tokio::time::sleep(pause).await;
        pause = interval;
        let sent = Instant::now();
        let attempt = async {
            if stream.is_none() {
                stream = Some(client.lease_keep_alive(id).await?);
            }
            let (keeper, responses) = stream.as_mut().expect("opened above");
            keeper.keep_alive().await?;
            responses.message().await
        };
        match tokio::time::timeout(timeout.min(interval), attempt).await {
            Ok(Ok(Some(resp))) if resp.ttl() > 0 => {
                publish(
                    &tx,
                    Health::Held {
                        expires: Some(sent + Duration::from_secs(resp.ttl() as u64)),
                    },
                );
            }
            Ok(Ok(Some(_))) => {
                publish(&tx, Health::Lost(format!("its etcd lease {id:x} expired")));
                return;
            }
            // No answer: the supervisor watches the deadline; try again soon.
            _ => {
                stream = None;
                pause = (interval / 4).max(Duration::from_millis(50));
            }
        }
    }
}

/// Publish `Lost` as soon as `key` (ours since revision `create_rev`, with `value`) is
/// deleted or written again: we never write it after taking it. Runs until aborted.
pub fn watch_loss(
    c: &EtcdCoordinator,
    key: Vec<u8>,
    value: Vec<u8>,
    create_rev: i64,
    tx: Arc<watch::Sender<Health>>,
) -> JoinHandle<()> {
    let client = c.client();
    let timeout = c.timeout;
    tokio::spawn(async move {
        let shown = String::from_utf8_lossy(&key).into_owned();
        let mut follow = Follow::new(client.clone(), key.clone(), false, create_rev + 1, timeout);
        loop {
            match follow.next().await {
                Seen::Events(events) => {
                    for ev in events {
                        let Some(kv) = ev.kv() else { continue };
                        let gone = match ev.event_type() {
                            EventType::Delete => Some(format!("its key {shown} was deleted")),
                            EventType::Put if kv.mod_revision() > create_rev => {
                                Some(format!("its key {shown} was overwritten"))
                            }
                            EventType::Put => None,
                        };
                        if let Some(why) = gone {
                            publish(&tx, Health::Lost(why));
                            return;
                        }
                    }
                }
                Seen::Disconnected => {}
                Seen::Compacted => {
                    let mut cl = client.clone();
                    match tokio::time::timeout(timeout, cl.get(key.clone(), None)).await {
                        Ok(Ok(resp)) => {
                            let same = resp.kvs().first().is_some_and(|kv| {
                                kv.mod_revision() == create_rev && kv.value() == value
                            });
                            if !same {
                                publish(
                                    &tx,
                                    Health::Lost(format!(
                                        "its key {shown} was deleted or replaced"
                                    )),
                                );
                                return;
                            }
                            let rev = resp.header().map(|h| h.revision()).unwrap_or(create_rev);
                            follow.restart(rev + 1);
                        }
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        }
    })
}

/// A lease for a lock: the spare one left by a failed non-blocking try, or a new one.
pub(super) async fn take_lease(c: &EtcdCoordinator, ttl: Duration) -> Result<Lease> {
    let spare = c.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
    match spare {
        Some((asked, l)) if asked == ttl => Ok(l),
        Some((_, l)) => {
            c.orphans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(l.forget());
            Lease::grant(c, ttl).await
        }
        None => Lease::grant(c, ttl).await,
    }
}
