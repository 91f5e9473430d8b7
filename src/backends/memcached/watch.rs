//! Watches on memcached: memcached pushes nothing, so a watch re-reads the state every
//! 0.1 s (or `poll_interval`; tooz's own watchers run only when the application calls
//! `run_watchers`) and reports the differences. When the server cannot be read it reports
//! `lost` once, keeps trying, and on the first good read reports `resync` plus whatever
//! changed meanwhile.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::lock::{self, get, Keys};
use super::{group, Inner};
use crate::coordination::{Error, Event, EventKind, Events, Holder, Result, WatchTarget};

/// How long after seeing a lock key without our record a watch looks again.
const RECORD_GRACE: Duration = Duration::from_millis(50);

#[derive(Clone, PartialEq)]
enum State {
    Members(BTreeSet<String>),
    /// The lock value and its CAS (a new holder, even with the same member id, is a new
    /// CAS), with what we know of the holder.
    Held(Option<((Vec<u8>, u64), Holder)>),
}

async fn read(inner: &Inner, target: &WatchTarget) -> Result<State> {
    match target {
        WatchTarget::Group(g) => match group::members(inner, g).await {
            Ok(ms) => Ok(State::Members(
                ms.into_iter().map(|m| m.member_id).collect(),
            )),
            Err(Error::NotFound(_)) => Ok(State::Members(BTreeSet::new())),
            Err(e) => Err(e),
        },
        WatchTarget::Leader(g) => read_lock(inner, &group::leader_lock(g)).await,
        WatchTarget::Lock(n) => read_lock(inner, n).await,
    }
}

async fn read_lock(inner: &Inner, name: &str) -> Result<State> {
    let keys = Keys::new(name);
    let m = inner.meta("reading a lock", get(&keys.lock, "v c")).await?;
    let cas = m.cas();
    let (Some(value), Some(cas)) = (m.value.filter(|_| m.code == "VA"), cas) else {
        return Ok(State::Held(None));
    };
    let mut holder = lock::holders(inner, name).await?.into_iter().next();
    if holder.as_ref().is_none_or(|h| h.fencing_token.is_none()) {
        // A toozctl holder writes its record just after taking the key: look once more
        // before reporting a holder without one (a tooz client never writes one).
        tokio::time::sleep(RECORD_GRACE).await;
        holder = lock::holders(inner, name).await?.into_iter().next();
    }
    Ok(State::Held(Some((
        (value, cas),
        holder.unwrap_or_default(),
    ))))
}

/// The events that lead from `old` to `new`.
fn diff(target: &WatchTarget, old: &State, new: &State) -> Vec<Event> {
    let mut out = Vec::new();
    match (old, new) {
        (State::Members(a), State::Members(b)) => {
            for m in b.difference(a) {
                out.push(Event::now(EventKind::Join, target, Some(m.clone()), None));
            }
            for m in a.difference(b) {
                out.push(Event::now(EventKind::Leave, target, Some(m.clone()), None));
            }
        }
        (State::Held(a), State::Held(b)) => {
            // A renewal changes the CAS but not the value: the same holder.
            let same = match (a, b) {
                // tooz's renewals (`touch`) keep the CAS; ours carry a fencing token.
                (Some(((x, cx), hx)), Some(((y, cy), hy))) => {
                    x == y
                        && (cx == cy
                            || (hx.fencing_token.is_some() && hx.fencing_token == hy.fencing_token))
                }
                (None, None) => true,
                _ => false,
            };
            if same {
                return out;
            }
            let leader = matches!(target, WatchTarget::Leader(_));
            if let (Some((_, h)), false) = (a, leader) {
                out.push(Event::now(
                    EventKind::Released,
                    target,
                    h.member_id.clone(),
                    Some(h.clone()),
                ));
            }
            if let Some((_, h)) = b {
                let kind = if leader {
                    EventKind::Elected
                } else {
                    EventKind::Acquired
                };
                out.push(Event::now(
                    kind,
                    target,
                    h.member_id.clone(),
                    Some(h.clone()),
                ));
            }
        }
        _ => {}
    }
    out
}

pub(super) async fn watch(inner: &Arc<Inner>, target: &WatchTarget) -> Result<Events> {
    let state = read(inner, target).await?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(run(inner.clone(), target.clone(), state, tx));
    Ok(rx)
}

async fn run(
    inner: Arc<Inner>,
    target: WatchTarget,
    mut state: State,
    tx: mpsc::Sender<Result<Event>>,
) {
    let mut disconnected = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.watch_poll) => {}
            _ = tx.closed() => return,
        }
        match read(&inner, &target).await {
            Ok(new) => {
                let mut events = Vec::new();
                if disconnected {
                    disconnected = false;
                    events.push(Event::now(EventKind::Resync, &target, None, None));
                }
                events.extend(diff(&target, &state, &new));
                state = new;
                for e in events {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
            Err(_) if !disconnected => {
                disconnected = true;
                let lost = Event::now(EventKind::Lost, &target, None, None);
                if tx.send(Ok(lost)).await.is_err() {
                    return;
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_is_not_an_event_but_a_new_holder_is() {
        let t = WatchTarget::Lock("x".into());
        let h = |m: &str, f: u64| Holder {
            member_id: Some(m.into()),
            fencing_token: Some(f),
            ..Holder::default()
        };
        let a = State::Held(Some(((b"a".to_vec(), 1), h("a", 1))));
        let a_renewed = State::Held(Some(((b"a".to_vec(), 7), h("a", 1))));
        let a_again = State::Held(Some(((b"a".to_vec(), 9), h("a", 2))));
        let tooz = |cas| State::Held(Some(((b"a".to_vec(), cas), Holder::default())));
        assert!(diff(&t, &tooz(3), &tooz(3)).is_empty());
        assert_eq!(diff(&t, &tooz(3), &tooz(4)).len(), 2);
        let free = State::Held(None);
        let kinds = |v: Vec<Event>| v.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert!(diff(&t, &a, &a_renewed).is_empty());
        assert_eq!(
            kinds(diff(&t, &a, &a_again)),
            vec![EventKind::Released, EventKind::Acquired]
        );
        assert_eq!(kinds(diff(&t, &free, &a)), vec![EventKind::Acquired]);
        assert_eq!(kinds(diff(&t, &a, &free)), vec![EventKind::Released]);
    }
}
