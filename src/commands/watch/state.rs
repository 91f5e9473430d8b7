//! What `watch --initial` adds to a backend's stream of changes, on any backend, with
//! nothing but the `Coordinator` methods every backend has: the current state read as
//! events ([`snapshot`]), waiting for a group that does not exist yet ([`wait_for_group`]),
//! and the filter ([`Tracker`]) that joins the two without a gap or a duplicate.
//!
//! No gap: the watch subscribes first and reads the state second, so every change after
//! the read is in the stream. No duplicate: changes that happened between the subscription
//! and the read are in both; the tracker knows the state the read reported and passes a
//! stream event only when it changes that state (a `join` of a member already there, a
//! `leave` of one not there, an `elected` of the leader already reported, an `acquired` by
//! a holder already holding are dropped). Applied to the state read, the events of the
//! overlap end in that same state, whatever their order, so from then on the watcher's
//! picture equals the backend's. `lost` and `resync` always pass.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::coordination::{Coordinator, Error, Event, EventKind, Holder, WatchTarget};
use crate::error::Result;
use crate::supervise::Signals;

/// How often a missing group is looked for.
const GROUP_POLL: Duration = Duration::from_millis(250);

/// The current state of `target` as events: a `join` per member, an `elected` for the
/// current leader, an `acquired` per holder. A group deleted meanwhile is empty; a backend
/// that cannot name a leader reports none.
pub async fn snapshot(coord: &dyn Coordinator, target: &WatchTarget) -> Result<Vec<Event>> {
    let mut out = Vec::new();
    match target {
        WatchTarget::Group(g) => match coord.members(g).await {
            Ok(ms) => {
                for m in ms {
                    out.push(Event::now(EventKind::Join, target, Some(m.member_id), None));
                }
            }
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        },
        WatchTarget::Leader(g) => match coord.leader(g).await {
            Ok(Some(h)) => out.push(Event::now(
                EventKind::Elected,
                target,
                h.member_id.clone(),
                Some(h),
            )),
            Ok(None) | Err(Error::NotFound(_)) | Err(Error::Unsupported(_)) => {}
            Err(e) => return Err(e.into()),
        },
        WatchTarget::Lock(name) => {
            for h in coord.lock_holders(name).await? {
                out.push(Event::now(
                    EventKind::Acquired,
                    target,
                    h.member_id.clone(),
                    Some(h),
                ));
            }
        }
    }
    Ok(out)
}

/// Wait until group `g` exists (polling `members`, which reads and never creates).
/// Returns at once when it exists; a signal ends the wait as 128+S.
pub async fn wait_for_group(
    coord: &dyn Coordinator,
    g: &str,
    signals: &mut Signals,
    mut announce: impl FnMut(),
) -> Result<()> {
    let mut announced = false;
    loop {
        match coord.members(g).await {
            Ok(_) => return Ok(()),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if !announced {
            announce();
            announced = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(GROUP_POLL) => {}
            sig = signals.recv() => match sig {
                Signal::SIGUSR1 | Signal::SIGUSR2 => {}
                stop => return Err(crate::error::Error::Interrupted(stop as i32)),
            },
        }
    }
}

/// Who an event is about, for matching the stream against the state read.
fn who(e: &Event) -> Option<String> {
    e.member
        .clone()
        .or_else(|| e.holder.as_ref().and_then(|h| h.member_id.clone()))
}

/// A leader as reported: the holder record without its lock mode (which some backends add
/// to events only), or the member alone.
fn leader_key(e: &Event) -> (Option<String>, Option<Holder>) {
    let holder = e.holder.clone().map(|mut h| {
        h.mode = None;
        h
    });
    (who(e), holder)
}

/// The state the watcher has been told, and the filter that keeps it true.
pub struct Tracker {
    members: BTreeSet<String>,
    leader: Option<(Option<String>, Option<Holder>)>,
    /// Holders by member id (`None`: a holder that records none, such as a tooz client).
    holders: BTreeSet<Option<String>>,
}

impl Tracker {
    /// The state `initial` (from [`snapshot`]) describes.
    pub fn new(initial: &[Event]) -> Tracker {
        let mut t = Tracker {
            members: BTreeSet::new(),
            leader: None,
            holders: BTreeSet::new(),
        };
        for e in initial {
            t.admit(e);
        }
        t
    }

    /// Whether a stream event changes what the watcher was told (then it is reported, and
    /// the state follows it).
    pub fn admit(&mut self, e: &Event) -> bool {
        match e.kind {
            EventKind::Join => match who(e) {
                Some(m) => self.members.insert(m),
                None => true,
            },
            EventKind::Leave => match who(e) {
                Some(m) => self.members.remove(&m),
                None => true,
            },
            EventKind::Elected => {
                let key = leader_key(e);
                if self.leader.as_ref() == Some(&key) {
                    return false;
                }
                self.leader = Some(key);
                true
            }
            EventKind::Acquired => self.holders.insert(who(e)),
            EventKind::Released => {
                let k = who(e);
                if self.holders.remove(&k) {
                    return true;
                }
                // A release that names nobody we know of ends one holding we reported.
                if k.is_none() {
                    return self.holders.pop_first().is_some();
                }
                false
            }
            EventKind::Lost | EventKind::Resync => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind, m: Option<&str>) -> Event {
        let t = WatchTarget::Group("g".into());
        Event::now(kind, &t, m.map(String::from), None)
    }

    #[test]
    fn the_overlap_is_reported_once_and_ends_in_the_state_read() {
        use EventKind::*;
        // Read: {a, b}. Meanwhile (in the stream too): b joined, c joined and left,
        // a left and came back.
        let mut t = Tracker::new(&[ev(Join, Some("a")), ev(Join, Some("b"))]);
        let stream = [
            (ev(Join, Some("b")), false),
            (ev(Join, Some("c")), true),
            (ev(Leave, Some("c")), true),
            (ev(Leave, Some("a")), true),
            (ev(Join, Some("a")), true),
            (ev(Leave, Some("x")), false),
            (ev(Lost, None), true),
        ];
        for (e, pass) in stream {
            assert_eq!(t.admit(&e), pass, "{:?} {:?}", e.kind, e.member);
        }
        assert_eq!(
            t.members.iter().cloned().collect::<Vec<_>>(),
            ["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn holders_and_leaders() {
        use EventKind::*;
        let mut t = Tracker::new(&[ev(Acquired, Some("h1"))]);
        assert!(!t.admit(&ev(Acquired, Some("h1"))), "already reported");
        assert!(t.admit(&ev(Released, Some("h1"))));
        assert!(!t.admit(&ev(Released, Some("h1"))), "not held");
        assert!(t.admit(&ev(Acquired, None)));
        assert!(t.admit(&ev(Released, None)));
        assert!(!t.admit(&ev(Released, None)));
        let mut l = Tracker::new(&[ev(Elected, Some("a"))]);
        assert!(!l.admit(&ev(Elected, Some("a"))));
        assert!(l.admit(&ev(Elected, Some("b"))));
        assert!(l.admit(&ev(Elected, Some("a"))));
    }
}
