//! Following a key or prefix: [`Follow`] watches from a revision, reconnecting from the
//! last revision it saw (so nothing is missed across a reconnect) and reporting a
//! compaction so the caller re-reads the state; [`wait_for_delete`] waits on it for a
//! deletion. Every wait in this backend (lock waiters, semaphore queues, election
//! predecessors, loss detection) and the `watch` command are built on it. It sits below
//! every other module of the backend and imports none of them.

use std::time::Duration;

use etcd_client::{Client, EventType, WatchFilterType, WatchOptions, WatchStream};

use super::EtcdCoordinator;
use crate::coordination::{Result, Wait};

pub enum Seen {
    Events(Vec<etcd_client::Event>),
    /// The stream broke; it is re-created from the last revision on the next call.
    Disconnected,
    /// The next revision was compacted away: re-read, then [`Follow::restart`].
    Compacted,
}

pub struct Follow {
    client: Client,
    key: Vec<u8>,
    prefix: bool,
    next_rev: i64,
    timeout: Duration,
    stream: Option<WatchStream>,
    reported: bool,
    /// Only deletions are sent (etcd's `NOPUT` filter): a waiter that only cares for a
    /// key's deletion is not woken by every write of it.
    deletes_only: bool,
}

impl Follow {
    pub fn new(
        client: Client,
        key: Vec<u8>,
        prefix: bool,
        from_rev: i64,
        timeout: Duration,
    ) -> Follow {
        Follow {
            client,
            key,
            prefix,
            next_rev: from_rev,
            timeout,
            stream: None,
            reported: false,
            deletes_only: false,
        }
    }

    /// Follow deletions only: puts are filtered out by the server.
    pub fn deletes_only(mut self) -> Follow {
        self.deletes_only = true;
        self
    }

    pub fn restart(&mut self, from_rev: i64) {
        self.next_rev = from_rev;
        self.stream = None;
    }

    /// The next batch of events (or a disconnection / compaction). Waits as long as it takes.
    pub async fn next(&mut self) -> Seen {
        loop {
            if self.stream.is_none() {
                let mut opts = WatchOptions::new().with_start_revision(self.next_rev);
                if self.prefix {
                    opts = opts.with_prefix();
                }
                if self.deletes_only {
                    opts = opts.with_filters([WatchFilterType::NoPut]);
                }
                match tokio::time::timeout(
                    self.timeout,
                    self.client.watch(self.key.clone(), Some(opts)),
                )
                .await
                {
                    Ok(Ok(s)) => {
                        self.stream = Some(s);
                        self.reported = false;
                    }
                    Ok(Err(_)) => {
                        if let Some(s) = self.broken() {
                            return s;
                        }
                        Follow::backoff().await;
                        continue;
                    }
                    Err(_) => {
                        if let Some(s) = self.broken() {
                            return s;
                        }
                        Follow::backoff().await;
                        continue;
                    }
                }
            }
            let stream = self.stream.as_mut().expect("created above");
            match stream.message().await {
                Ok(Some(resp)) => {
                    if resp.compact_revision() > 0 {
                        self.stream = None;
                        return Seen::Compacted;
                    }
                    if resp.canceled() {
                        self.stream = None;
                        continue;
                    }
                    let events = resp.events();
                    if let Some(last) = events.last().and_then(|e| e.kv()) {
                        self.next_rev = last.mod_revision() + 1;
                        return Seen::Events(events.to_vec());
                    }
                }
                Ok(None) => {
                    if let Some(s) = self.broken() {
                        return s;
                    }
                    Follow::backoff().await;
                }
                Err(_) => {
                    if let Some(s) = self.broken() {
                        return s;
                    }
                    Follow::backoff().await;
                }
            }
        }
    }

    /// Drop the stream; report the first failure, pause before retrying the next ones.
    fn broken(&mut self) -> Option<Seen> {
        self.stream = None;
        if !self.reported {
            self.reported = true;
            return Some(Seen::Disconnected);
        }
        None
    }

    /// Pause between reconnection attempts.
    pub async fn backoff() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until a key (or a key under a prefix) is deleted after `from_rev`. `false`: the
/// deadline passed first.
pub(super) async fn wait_for_delete(
    c: &EtcdCoordinator,
    key: &[u8],
    prefix: bool,
    from_rev: i64,
    wait: Wait,
) -> Result<bool> {
    let mut follow =
        Follow::new(c.client(), key.to_vec(), prefix, from_rev, c.timeout).deletes_only();
    loop {
        let next = match wait {
            Wait::Until(deadline) => match tokio::time::timeout_at(deadline, follow.next()).await {
                Ok(s) => s,
                Err(_) => return Ok(false),
            },
            _ => follow.next().await,
        };
        match next {
            Seen::Events(evs) if evs.iter().any(|e| e.event_type() == EventType::Delete) => {
                return Ok(true)
            }
            Seen::Events(_) | Seen::Disconnected => {}
            Seen::Compacted => return Ok(true),
        }
    }
}
