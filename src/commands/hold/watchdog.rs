//! When to act on the primitives' health, on a clock that keeps counting through system
//! suspend. Backends publish lease deadlines as tokio (CLOCK_MONOTONIC) instants, and
//! CLOCK_MONOTONIC stops while the machine sleeps; so each deadline is converted to
//! CLOCK_BOOTTIME the moment it is received, and every decision compares with BOOTTIME. A
//! laptop or VM resumed after its lease ran out therefore treats the lease as run out, and
//! so does a toozctl that was itself stopped (SIGSTOP, Ctrl-Z) past it. Pure: every
//! function takes the clocks it reads as a [`Now`], so tests inject them.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::coordination::{Health, Held};

/// What the watchdog needs of a held primitive: its name for messages and its lease.
struct Prim {
    what: String,
    lease: Option<Duration>,
}

/// Safety margin before a lease deadline, on top of the `--on-lost` sequence.
pub fn margin(lease: Option<Duration>) -> Duration {
    let tenth = lease.map(|l| l / 10).unwrap_or(Duration::from_millis(250));
    tenth.min(Duration::from_millis(250))
}

/// The three clocks, read at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    /// CLOCK_BOOTTIME, since boot.
    pub boot: Duration,
    pub wall: SystemTime,
}

impl Now {
    pub fn read() -> Now {
        Now {
            mono: Instant::now(),
            boot: boottime(),
            wall: SystemTime::now(),
        }
    }

    /// A monotonic instant (as backends publish) as a BOOTTIME deadline.
    pub fn to_boot(self, at: Instant) -> Duration {
        if at >= self.mono {
            self.boot + (at - self.mono)
        } else {
            self.boot.saturating_sub(self.mono - at)
        }
    }

    /// A BOOTTIME deadline as a monotonic instant to sleep until (now, if it has passed).
    pub fn to_mono(self, boot: Duration) -> Instant {
        self.mono + boot.saturating_sub(self.boot)
    }

    /// A BOOTTIME moment as wall-clock time, for messages.
    pub fn to_wall(self, boot: Duration) -> String {
        let t = if boot >= self.boot {
            self.wall + (boot - self.boot)
        } else {
            self.wall - (self.boot - boot)
        };
        chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// CLOCK_BOOTTIME: like CLOCK_MONOTONIC, but counting while the system is suspended.
fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_BOOTTIME exists since Linux 2.6.39.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Tracks the primitives' health and says when to act, and why.
pub struct Watchdog {
    held: Vec<Prim>,
    current: Vec<Health>,
    /// Each lease's last published deadline on BOOTTIME (kept after a loss: messages and
    /// the safe deadline still need it).
    expires: Vec<Option<Duration>>,
    /// The `--on-lost` sequence to fit before a deadline.
    grace: Duration,
    lost: Option<String>,
    /// We acted because a lease was about to run out (not on a reported loss).
    expired: bool,
}

impl Watchdog {
    pub fn new(held: &[Held], current: Vec<Health>, grace: Duration, now: Now) -> Self {
        let mut dog = Watchdog {
            held: held
                .iter()
                .map(|h| Prim {
                    what: h.what.clone(),
                    lease: h.lease,
                })
                .collect(),
            current: current.clone(),
            expires: vec![None; held.len()],
            grace,
            lost: None,
            expired: false,
        };
        for (i, h) in current.into_iter().enumerate() {
            dog.update(i, h, now);
        }
        dog
    }

    pub fn lost(&self) -> Option<&str> {
        self.lost.as_deref()
    }

    pub fn take_lost(&mut self) -> Option<String> {
        self.lost.take()
    }

    /// Record a loss found some other way (at release).
    pub fn set_lost(&mut self, reason: String) {
        self.lost.get_or_insert(reason);
    }

    /// A health change of primitive `i`, received `now`.
    pub fn update(&mut self, i: usize, h: Health, now: Now) {
        match &h {
            Health::Held { expires } => self.expires[i] = expires.map(|e| now.to_boot(e)),
            Health::Lost(reason) => self.report_loss(i, reason, now),
        }
        self.current[i] = h;
    }

    fn report_loss(&mut self, i: usize, reason: &str, now: Now) {
        let what = &self.held[i].what;
        match (&mut self.lost, self.expired) {
            (Some(msg), true) => {
                msg.push_str(&format!("; the backend then reported it lost: {reason}"));
                self.expired = false;
            }
            (Some(_), false) => {}
            (None, _) => {
                let ran_out = match self.expires[i] {
                    Some(e) if e <= now.boot => format!(
                        " (its lease ran out at {}{})",
                        now.to_wall(e),
                        self.renewed_note(i, now)
                    ),
                    _ => String::new(),
                };
                self.lost = Some(format!("{what} was lost: {reason}{ran_out}"));
            }
        }
    }

    /// ", no renewal since T0": when the last successful renewal was sent.
    fn renewed_note(&self, i: usize, now: Now) -> String {
        match (self.expires[i], self.held[i].lease) {
            (Some(e), Some(l)) => {
                format!(", no renewal since {}", now.to_wall(e.saturating_sub(l)))
            }
            _ => String::new(),
        }
    }

    /// When (BOOTTIME) the `--on-lost` sequence must start; `None` once lost, or when no
    /// lease can run out.
    pub fn act_at(&self) -> Option<Duration> {
        if self.lost.is_some() {
            return None;
        }
        self.leases()
            .map(|(e, held)| e.saturating_sub(self.grace + margin(held.lease)))
            .min()
    }

    /// The latest moment (BOOTTIME) anything of COMMAND's may still run: the earliest lease
    /// deadline less its margin.
    pub fn safe_deadline(&self) -> Option<Duration> {
        self.expires
            .iter()
            .zip(&self.held)
            .filter_map(|(e, held)| e.map(|e| e.saturating_sub(margin(held.lease))))
            .min()
    }

    /// When a stop begun `now` must end in SIGKILL: after the grace, and no later than
    /// the safe deadline.
    pub fn kill_at(&self, now: Now, grace: Duration) -> Instant {
        let by_grace = now.mono + grace;
        match self.safe_deadline() {
            Some(d) => by_grace.min(now.to_mono(d)),
            None => by_grace,
        }
    }

    /// The earliest lease deadline of the primitives still held.
    pub fn earliest_expiry(&self) -> Option<Duration> {
        self.leases().map(|(e, _)| e).min()
    }

    fn leases(&self) -> impl Iterator<Item = (Duration, &Prim)> + '_ {
        self.current
            .iter()
            .zip(&self.expires)
            .zip(&self.held)
            .filter_map(|((h, e), held)| match (h, e) {
                (Health::Held { expires: Some(_) }, Some(e)) => Some((*e, held)),
                _ => None,
            })
    }

    /// Whether the `--on-lost` sequence is due (BOOTTIME has reached [`Self::act_at`]).
    pub fn due(&self, now: Now) -> bool {
        self.act_at().is_some_and(|a| a <= now.boot)
    }

    /// How long to sleep before looking again: until the act deadline, at most 250 ms,
    /// so a suspend of the machine (which monotonic sleeps do not count) is noticed soon.
    pub fn nap(&self, now: Now) -> Option<Duration> {
        let a = self.act_at()?;
        Some(a.saturating_sub(now.boot).min(Duration::from_millis(250)))
    }

    /// Act on a lease about to run out (or already run out, when toozctl could not look
    /// in time: stopped, or the machine suspended), saying which.
    pub fn expire(&mut self, now: Now) {
        let Some(i) = (0..self.held.len())
            .filter(|&i| matches!(self.current[i], Health::Held { expires: Some(_) }))
            .min_by_key(|&i| self.expires[i])
        else {
            return;
        };
        let what = &self.held[i].what;
        let e = self.expires[i].unwrap_or(now.boot);
        let renewed = self.renewed_note(i, now);
        self.lost = Some(if e <= now.boot {
            format!(
                "the lease of {what} ran out at {}{renewed} while toozctl could not act \
                 (it was stopped, or the machine was suspended, until {})",
                now.to_wall(e),
                now.to_wall(now.boot)
            )
        } else {
            format!(
                "{what} could not be renewed before its lease would run out at {}{renewed}",
                now.to_wall(e)
            )
        });
        self.expired = true;
    }

    /// Before COMMAND starts: why not, when a lease would leave too little time.
    pub fn too_late_to_start(&self, now: Now) -> String {
        let e = self.earliest_expiry().unwrap_or(now.boot);
        format!(
            "the lease runs out at {} and no renewal came in time to leave --kill-after and the \
             safety margin before it: COMMAND was not started",
            now.to_wall(e)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::hold::tests::probe;

    fn now_at(mono: Instant, boot_secs: u64) -> Now {
        Now {
            mono,
            boot: Duration::from_secs(boot_secs),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        }
    }

    #[test]
    fn deadlines_are_converted_to_boottime_when_received() {
        let mono = Instant::now();
        let now = now_at(mono, 100);
        assert_eq!(
            now.to_boot(mono + Duration::from_secs(7)),
            Duration::from_secs(107)
        );
        assert_eq!(
            now.to_boot(mono - Duration::from_secs(2)),
            Duration::from_secs(98)
        );
        assert_eq!(
            now.to_mono(Duration::from_secs(103)),
            mono + Duration::from_secs(3)
        );
        assert_eq!(
            now.to_mono(Duration::from_secs(90)),
            mono,
            "a passed deadline is now"
        );
    }

    #[test]
    fn a_suspend_that_outlasts_the_lease_makes_it_due() {
        let _rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lease = Duration::from_secs(10);
        let (held, _tx, _) = probe(Some(lease));
        let held = [held];
        let mono = Instant::now();
        let received = now_at(mono, 1000);
        let health = Health::Held {
            expires: Some(mono + lease),
        };
        let mut dog = Watchdog::new(&held, vec![health], Duration::from_secs(2), received);
        // Act at 1010 - 2 s grace - 250 ms margin = 1007.75.
        assert!(!dog.due(now_at(mono, 1005)));
        // The machine slept 60 s: the monotonic clock did not move, BOOTTIME did.
        let after_suspend = now_at(mono, 1060);
        assert!(dog.due(after_suspend), "an elapsed lease is elapsed");
        assert_eq!(
            dog.kill_at(after_suspend, Duration::from_secs(2)),
            mono,
            "KILL at once"
        );
        dog.expire(after_suspend);
        let msg = dog.lost().unwrap().to_string();
        assert!(
            msg.contains("ran out at") && msg.contains("no renewal since"),
            "{msg}"
        );
        assert!(
            msg.contains("stopped, or the machine was suspended"),
            "{msg}"
        );
        dog.update(
            0,
            Health::Lost("taken by someone else".into()),
            after_suspend,
        );
        let msg = dog.lost().unwrap();
        assert!(
            msg.ends_with("; the backend then reported it lost: taken by someone else"),
            "{msg}"
        );
    }

    #[test]
    fn acting_in_time_says_it_could_not_be_renewed() {
        let _rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lease = Duration::from_secs(10);
        let (held, _tx, _) = probe(Some(lease));
        let held = [held];
        let mono = Instant::now();
        let health = Health::Held {
            expires: Some(mono + lease),
        };
        let mut dog = Watchdog::new(
            &held,
            vec![health],
            Duration::from_secs(2),
            now_at(mono, 1000),
        );
        let at = now_at(mono, 1008);
        assert!(dog.due(at));
        assert_eq!(
            dog.kill_at(at, Duration::from_secs(2)),
            mono + Duration::from_millis(1750),
            "acting 250 ms late, the grace is cut at the safe deadline (1009.75)"
        );
        dog.expire(at);
        let msg = dog.lost().unwrap();
        assert!(
            msg.contains("could not be renewed before its lease would run out"),
            "{msg}"
        );
    }
}
