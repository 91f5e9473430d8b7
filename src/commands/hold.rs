//! The one rule shared by `lock`, `elect` and `group join`: the primitives are held before
//! COMMAND starts and given back only after it (and whatever it left in its process group)
//! has exited; without COMMAND they are held until SIGINT, SIGTERM or SIGHUP.
//!
//! Loss is data published by the backends ([`Health`]). An outright loss acts at once. For
//! leases, each backend publishes when its lease runs out unless renewed; we act early
//! enough that the whole `--on-lost` sequence (SIGTERM, the `--kill-after` grace, SIGKILL)
//! ends before that deadline, so another holder can never run beside our COMMAND. Either
//! way the result is [`Error::Lost`] (exit 3) once COMMAND is gone.

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::cli::{OnLost, SuperviseArgs};
use crate::coordination::{Health, Held};
use crate::error::{Error, Result};
use crate::output::Log;
use crate::supervise::{self, Child, Signals};

/// What to run while holding.
pub struct Spec<'a> {
    pub command: &'a [OsString],
    pub env: Vec<(String, String)>,
    pub supervise: &'a Supervise,
}

/// Safety margin before a lease deadline, on top of the `--on-lost` sequence.
fn margin(lease: Option<Duration>) -> Duration {
    let tenth = lease.map(|l| l / 10).unwrap_or(Duration::from_millis(250));
    tenth.min(Duration::from_millis(250))
}

/// `--kill-after` when none is given (and the lease, if any, is at least twice as long).
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(10);

/// How COMMAND is stopped, with the grace resolved against the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervise {
    pub on_lost: OnLost,
    pub kill_after: Duration,
}

/// Resolve `--on-lost`/`--kill-after` against the lease before anything is taken. Without
/// `--kill-after` the grace is 10 s, or half the lease when that is shorter (ZooKeeper's
/// default session is 10 s); an explicit grace that does not fit in the lease is a usage
/// error, since COMMAND could then outlive it.
pub fn resolve(
    args: &SuperviseArgs,
    lease: Option<Duration>,
    has_command: bool,
) -> Result<Supervise> {
    let kill_after = match (args.kill_after, lease) {
        (Some(k), _) => k,
        (None, Some(lease)) => DEFAULT_KILL_AFTER.min(lease / 2),
        (None, None) => DEFAULT_KILL_AFTER,
    };
    if let (Some(lease), true, OnLost::Term) = (lease, has_command, args.on_lost) {
        if kill_after + margin(Some(lease)) >= lease {
            return Err(Error::Usage(format!(
                "--kill-after {} is not shorter than the lease of {}: COMMAND could outlive the lease; \
                 lower --kill-after, or lengthen the lease (--ttl, or the URL's lock_timeout/timeout)",
                seconds(kill_after),
                seconds(lease)
            )));
        }
    }
    Ok(Supervise {
        on_lost: args.on_lost,
        kill_after,
    })
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Forward every health change of every primitive into one channel.
fn merge_health(held: &[Held]) -> (mpsc::UnboundedReceiver<(usize, Health)>, Vec<Health>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut current = Vec::with_capacity(held.len());
    for (i, h) in held.iter().enumerate() {
        let mut r = h.health();
        current.push(r.borrow_and_update().clone());
        let tx = tx.clone();
        tokio::spawn(async move {
            while r.changed().await.is_ok() {
                let v = r.borrow_and_update().clone();
                if tx.send((i, v)).is_err() {
                    break;
                }
            }
        });
    }
    (rx, current)
}

/// Tracks the primitives' health and says when to act.
struct Watchdog<'a> {
    held: &'a [Held],
    current: Vec<Health>,
    grace: Duration,
    lost: Option<String>,
}

impl Watchdog<'_> {
    fn update(&mut self, i: usize, h: Health) {
        if let (Health::Lost(reason), None) = (&h, &self.lost) {
            self.lost = Some(format!("{} was lost: {reason}", self.held[i].what));
        }
        self.current[i] = h;
    }

    /// The instant by which the `--on-lost` sequence must start.
    fn act_at(&self) -> Option<Instant> {
        if self.lost.is_some() {
            return None;
        }
        self.current
            .iter()
            .zip(self.held)
            .filter_map(|(h, held)| match h {
                Health::Held { expires: Some(e) } => {
                    Some(e.checked_sub(self.grace + margin(held.lease)).unwrap_or(*e))
                }
                _ => None,
            })
            .min()
    }

    fn expire(&mut self) {
        let what: Vec<&str> = self
            .current
            .iter()
            .zip(self.held)
            .filter(|(h, _)| matches!(h, Health::Held { expires: Some(_) }))
            .map(|(_, held)| held.what.as_str())
            .collect();
        self.lost = Some(format!(
            "{} could not be renewed before its lease would run out",
            what.first().copied().unwrap_or("the primitive")
        ));
    }
}

/// Run `fut` unless a stop signal comes first. SIGINT, SIGTERM, SIGHUP and SIGQUIT cancel
/// it (dropping the future withdraws any queue entry) and give [`Error::Interrupted`];
/// SIGUSR1 and SIGUSR2 are ignored while nothing is held.
pub async fn interruptible<F: std::future::Future>(
    signals: &mut Signals,
    fut: F,
) -> Result<F::Output> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Ok(out),
            sig = signals.recv() => match sig {
                Signal::SIGUSR1 | Signal::SIGUSR2 => continue,
                stop => return Err(Error::Interrupted(stop as i32)),
            },
        }
    }
}

/// Hold `held` while COMMAND runs (or, without COMMAND, until a stop signal), then give
/// everything back. `announce` runs once COMMAND is about to start or the hold begins.
pub async fn hold(
    log: &Log,
    spec: Spec<'_>,
    held: Vec<Held>,
    signals: &mut Signals,
    announce: impl FnOnce(),
) -> Result<()> {
    let (mut changes, current) = merge_health(&held);
    // Without COMMAND there is nothing to stop, so no grace to fit before the deadline.
    let grace = match spec.supervise.on_lost {
        OnLost::Term if !spec.command.is_empty() => spec.supervise.kill_after,
        _ => Duration::ZERO,
    };
    let mut dog = Watchdog {
        held: &held,
        current,
        grace,
        lost: None,
    };
    for (i, h) in dog.current.clone().into_iter().enumerate() {
        dog.update(i, h);
    }
    let outcome = if spec.command.is_empty() {
        announce();
        hold_without_command(log, &mut dog, &mut changes, signals).await
    } else {
        announce();
        run_command(log, &spec, &mut dog, &mut changes, signals).await
    };
    let lost = dog.lost.take();
    for h in held.into_iter().rev() {
        let what = h.what.clone();
        if let Err(e) = h.release().await {
            if lost.is_none() {
                log.warn(&format!("releasing {what}: {e}"));
            }
        }
    }
    match lost {
        Some(reason) => Err(Error::Lost(reason)),
        None => outcome,
    }
}

async fn hold_without_command(
    log: &Log,
    dog: &mut Watchdog<'_>,
    changes: &mut mpsc::UnboundedReceiver<(usize, Health)>,
    signals: &mut Signals,
) -> Result<()> {
    while dog.lost.is_none() {
        let act_at = dog.act_at();
        tokio::select! {
            sig = signals.recv() => match sig {
                Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP | Signal::SIGQUIT => {
                    log.info(&format!("{sig} received: releasing"));
                    return Ok(());
                }
                other => log.info(&format!("{other} ignored while holding without a command")),
            },
            Some((i, h)) = changes.recv() => dog.update(i, h),
            _ = sleep_until(act_at.unwrap_or_else(far_future)), if act_at.is_some() => dog.expire(),
        }
    }
    Ok(())
}

async fn run_command(
    log: &Log,
    spec: &Spec<'_>,
    dog: &mut Watchdog<'_>,
    changes: &mut mpsc::UnboundedReceiver<(usize, Health)>,
    signals: &mut Signals,
) -> Result<()> {
    if let Some(reason) = &dog.lost {
        return Err(Error::Lost(reason.clone()));
    }
    let mut child = Child::spawn(spec.command, &spec.env).map_err(|e| {
        log.error(&e.message);
        Error::Child(e.code)
    })?;
    log.debug(&format!(
        "started COMMAND as pid {} in its own process group",
        child.pid()
    ));
    let mut kill_at: Option<Instant> = None;
    let mut acted = false;
    let status = loop {
        if dog.lost.is_some() && !acted {
            acted = true;
            kill_at = on_lost(log, dog, spec.supervise, &child);
        }
        let act_at = dog.act_at();
        tokio::select! {
            status = child.wait_exit() => break status,
            sig = signals.recv() => {
                log.debug(&format!("forwarding {sig} to COMMAND's process group"));
                child.signal_group(sig);
            }
            Some((i, h)) = changes.recv() => dog.update(i, h),
            _ = sleep_until(act_at.unwrap_or_else(far_future)), if act_at.is_some() => dog.expire(),
            _ = sleep_until(kill_at.unwrap_or_else(far_future)), if kill_at.is_some() => {
                log.warn(&format!("COMMAND still running {:?} after SIGTERM: sending SIGKILL to its process group", spec.supervise.kill_after));
                child.signal_group(Signal::SIGKILL);
                kill_at = None;
            }
        }
    };
    child.finish(spec.supervise.kill_after).await;
    match supervise::exit_code(status) {
        0 => Ok(()),
        code => Err(Error::Child(code)),
    }
}

/// Apply `--on-lost`; returns when to escalate to SIGKILL.
fn on_lost(log: &Log, dog: &Watchdog<'_>, s: &Supervise, child: &Child) -> Option<Instant> {
    let reason = dog.lost.as_deref().unwrap_or("lost");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match s.on_lost {
        OnLost::Term => {
            log.error(&format!(
                "{reason} (at {now}): sending SIGTERM to COMMAND's process group"
            ));
            child.signal_group(Signal::SIGTERM);
            Some(Instant::now() + s.kill_after)
        }
        OnLost::Kill => {
            log.error(&format!(
                "{reason} (at {now}): sending SIGKILL to COMMAND's process group"
            ));
            child.signal_group(Signal::SIGKILL);
            None
        }
        OnLost::Ignore => {
            log.error(&format!(
                "{reason} (at {now}): COMMAND left running (--on-lost ignore)"
            ));
            None
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::Release;
    use tokio::sync::watch;

    /// A primitive whose health the test publishes itself; releasing it records that.
    struct Probe(std::sync::Arc<std::sync::atomic::AtomicBool>);

    #[async_trait::async_trait]
    impl Release for Probe {
        async fn release(self: Box<Self>) -> crate::coordination::Result<()> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    fn probe(
        lease: Option<Duration>,
    ) -> (
        Held,
        watch::Sender<Health>,
        std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = watch::channel(Health::Held {
            expires: lease.map(|l| Instant::now() + l),
        });
        (
            Held::new(
                "lock 'p'".into(),
                1,
                lease,
                rx,
                Box::new(Probe(released.clone())),
            ),
            tx,
            released,
        )
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn sleeper() -> Vec<OsString> {
        ["sleep", "30"].iter().map(OsString::from).collect()
    }

    #[test]
    fn outright_loss_stops_the_command_at_once_and_gives_lost() {
        rt().block_on(async {
            let (held, tx, released) = probe(None);
            let sup = Supervise {
                on_lost: OnLost::Term,
                kill_after: Duration::from_secs(5),
            };
            let cmd = sleeper();
            let mut signals = Signals::install().unwrap();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = tx.send(Health::Lost("key deleted".into()));
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            let start = Instant::now();
            let spec = Spec {
                command: &cmd,
                env: vec![],
                supervise: &sup,
            };
            let r = hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await;
            assert!(
                matches!(&r, Err(Error::Lost(m)) if m.contains("key deleted")),
                "{r:?}"
            );
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{:?}",
                start.elapsed()
            );
            assert!(
                released.load(std::sync::atomic::Ordering::SeqCst),
                "cleaned up after the loss"
            );
        });
    }

    #[test]
    fn command_is_stopped_before_an_unrenewed_lease_runs_out() {
        rt().block_on(async {
            let lease = Duration::from_millis(1500);
            let (held, _tx, _) = probe(Some(lease));
            // A child that ignores SIGTERM: only SIGKILL ends it, and that must come before the lease ends.
            let cmd: Vec<OsString> = ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]
                .iter()
                .map(OsString::from)
                .collect();
            let sup = Supervise {
                on_lost: OnLost::Term,
                kill_after: Duration::from_millis(500),
            };
            let mut signals = Signals::install().unwrap();
            let start = Instant::now();
            let spec = Spec {
                command: &cmd,
                env: vec![],
                supervise: &sup,
            };
            let r = hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await;
            let took = start.elapsed();
            assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");
            assert!(took < lease, "COMMAND outlived the lease: {took:?}");
            assert!(
                took > Duration::from_millis(700),
                "acted too early: {took:?}"
            );
        });
    }

    #[test]
    fn renewals_keep_the_command_running() {
        rt().block_on(async {
            let lease = Duration::from_millis(600);
            let (held, tx, _) = probe(Some(lease));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if tx
                        .send(Health::Held {
                            expires: Some(Instant::now() + lease),
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
            let cmd: Vec<OsString> = ["sleep", "1.5"].iter().map(OsString::from).collect();
            let sup = Supervise {
                on_lost: OnLost::Term,
                kill_after: Duration::from_millis(200),
            };
            let mut signals = Signals::install().unwrap();
            let spec = Spec {
                command: &cmd,
                env: vec![],
                supervise: &sup,
            };
            let r = hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await;
            assert!(r.is_ok(), "{r:?}");
        });
    }

    #[test]
    fn a_primitive_lost_before_the_start_never_runs_the_command() {
        rt().block_on(async {
            let (held, tx, _) = probe(None);
            let _ = tx.send(Health::Lost("gone".into()));
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let cmd: Vec<OsString> = vec!["touch".into(), marker.clone().into()];
            let sup = Supervise {
                on_lost: OnLost::Term,
                kill_after: Duration::from_secs(1),
            };
            let mut signals = Signals::install().unwrap();
            let spec = Spec {
                command: &cmd,
                env: vec![],
                supervise: &sup,
            };
            let r = hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await;
            assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");
            assert!(!marker.exists());
        });
    }

    #[test]
    fn on_lost_ignore_lets_the_command_finish_but_still_reports_lost() {
        rt().block_on(async {
            let (held, tx, _) = probe(None);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tx.send(Health::Lost("gone".into()));
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("finished");
            let script = format!("sleep 0.4; touch {}", marker.display());
            let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
            let sup = Supervise {
                on_lost: OnLost::Ignore,
                kill_after: Duration::from_secs(1),
            };
            let mut signals = Signals::install().unwrap();
            let spec = Spec {
                command: &cmd,
                env: vec![],
                supervise: &sup,
            };
            let r = hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await;
            assert!(matches!(r, Err(Error::Lost(_))), "{r:?}");
            assert!(marker.exists(), "COMMAND ran to its end");
        });
    }

    #[test]
    fn grace_must_fit_in_the_lease() {
        let args = |k: Option<u64>| SuperviseArgs {
            on_lost: OnLost::Term,
            kill_after: k.map(Duration::from_secs),
        };
        let secs = Duration::from_secs;
        assert_eq!(
            resolve(&args(Some(10)), Some(secs(30)), true)
                .unwrap()
                .kill_after,
            secs(10)
        );
        assert!(resolve(&args(Some(10)), Some(secs(10)), true).is_err());
        assert!(resolve(&args(Some(10)), None, true).is_ok());
        assert!(
            resolve(&args(Some(10)), Some(secs(5)), false).is_ok(),
            "nothing to stop in hold mode"
        );
        // No --kill-after: 10 s, or half a shorter lease, so the defaults always fit.
        assert_eq!(
            resolve(&args(None), Some(secs(30)), true)
                .unwrap()
                .kill_after,
            secs(10)
        );
        assert_eq!(
            resolve(&args(None), Some(secs(10)), true)
                .unwrap()
                .kill_after,
            secs(5)
        );
        assert_eq!(
            resolve(&args(None), Some(secs(2)), true)
                .unwrap()
                .kill_after,
            secs(1)
        );
        assert_eq!(
            resolve(&args(None), None, true).unwrap().kill_after,
            secs(10)
        );
    }
}
