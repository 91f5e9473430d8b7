//! The one rule shared by `lock`, `elect` and `group join`: the primitives are held before
//! COMMAND starts and given back only after its whole process tree has exited; without
//! COMMAND they are held until SIGINT, SIGTERM or SIGHUP. This module decides *when* to
//! stop COMMAND; `supervise` carries the stop out, with one deadline for the whole tree.
//!
//! Loss is data published by the backends ([`Health`]). An outright loss acts at once. For
//! leases, each backend publishes when its lease runs out unless renewed; we act early
//! enough that the whole `--on-lost` sequence (SIGTERM, the `--kill-after` grace, SIGKILL)
//! ends before that deadline, so another holder can never run beside our COMMAND; and
//! whatever started the stop, the SIGKILL comes no later than the lease's deadline less a
//! margin (the *safe deadline*). Deadlines are kept on CLOCK_BOOTTIME ([`watchdog`]).
//! Either way the result is [`Error::Lost`] (exit 3) once COMMAND's tree is gone, and so is
//! a loss the backend finds only when releasing.
//!
//! COMMAND is never started inside the margin: when the acquisition answered so late that
//! less than `--kill-after` plus the margin is left on the lease, we wait for the backend's
//! next renewal (they renew at a fraction of the lease) until the lease would run out; if
//! none comes, the primitive is released and the result is [`Error::Lost`] without COMMAND
//! ever running.
//!
//! Should toozctl itself be unable to act at the safe deadline (frozen by SIGSTOP, starved of
//! CPU, suspended) or die, COMMAND's guard process (`supervise::guard`) kills the tree: it
//! is sent the same safe deadline after every renewal, and told when the tree is gone.
//!
//! Job control: when COMMAND is stopped from its terminal (Ctrl-Z), toozctl stops too, so
//! the shell gets its prompt back. A stopped toozctl cannot renew anything: a suspension
//! longer than the lease loses it, and the guard kills the (stopped) tree at the safe
//! deadline. On `fg`, before COMMAND is continued, toozctl looks at
//! what it missed: a lease that ran out meanwhile (on BOOTTIME) or a loss already reported
//! applies `--on-lost` first (SIGKILL at once when the safe deadline has passed), so COMMAND
//! never runs again without the primitive; then it exits 3.

mod watchdog;

use std::ffi::OsString;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::watchdog::{margin, Now, Watchdog};
use crate::cli::{OnLost, SuperviseArgs};
use crate::coordination::{self, Health, Held};
use crate::error::{Error, Result};
use crate::output::Log;
use crate::supervise::{self, Child, Event, Signals};

/// What to run while holding.
pub struct Spec<'a> {
    pub command: &'a [OsString],
    pub env: Vec<(String, String)>,
    pub supervise: &'a Supervise,
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

type Changes = mpsc::UnboundedReceiver<(usize, Health)>;

/// Forward every health change of every primitive into one channel.
fn merge_health(held: &[Held]) -> (Changes, Vec<Health>) {
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

/// What a hold loop works with.
struct Ctx<'s> {
    log: &'s Log,
    dog: Watchdog,
    changes: Changes,
    signals: &'s mut Signals,
    /// `--on-lost` was applied.
    acted: bool,
    /// What is held ("lock 'x'"), for systemd's STATUS line.
    holding: String,
}

impl Ctx<'_> {
    /// Take in every health change already received (after we were stopped, say).
    fn catch_up(&mut self) {
        while let Ok((i, h)) = self.changes.try_recv() {
            self.dog.update(i, h, Now::read());
        }
        self.check_deadline();
    }

    fn check_deadline(&mut self) {
        let now = Now::read();
        if self.dog.due(now) {
            self.dog.expire(now);
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
    hold_then(
        log,
        spec,
        held,
        signals,
        announce,
        async |_: &Result<()>, _| {},
    )
    .await
}

/// [`hold`], with `before_release` called once COMMAND's tree is gone and before anything
/// is given back: with the outcome so far and whether a primitive was lost (or its lease
/// ran out) meanwhile. `lock --once-per` records a success there, still under the lock.
///
/// The caller asks nothing more of the coordinator afterwards except its `close`: the last
/// release may end the backend's session (see `release_all`).
pub async fn hold_then(
    log: &Log,
    spec: Spec<'_>,
    held: Vec<Held>,
    signals: &mut Signals,
    announce: impl FnOnce(),
    before_release: impl AsyncFnOnce(&Result<()>, bool),
) -> Result<()> {
    let (changes, current) = merge_health(&held);
    // Without COMMAND there is nothing to stop, so no grace to fit before the deadline.
    let grace = match spec.supervise.on_lost {
        OnLost::Term if !spec.command.is_empty() => spec.supervise.kill_after,
        _ => Duration::ZERO,
    };
    let mut cx = Ctx {
        log,
        dog: Watchdog::new(&held, current, grace, Now::read()),
        changes,
        signals,
        acted: false,
        holding: held
            .iter()
            .map(|h| h.what.as_str())
            .collect::<Vec<_>>()
            .join(" and "),
    };
    let mut child = None;
    let outcome = if spec.command.is_empty() {
        announce();
        crate::supervise::sd_notify::ready(&format!("holding {}", cx.holding));
        hold_without_command(&mut cx).await
    } else {
        let keep: Vec<_> = held.iter().flat_map(|h| h.keep_alive_fds()).collect();
        let (outcome, c) = run_command(&spec, &mut cx, &keep, announce).await;
        child = c;
        outcome
    };
    cx.catch_up();
    before_release(&outcome, cx.dog.lost().is_some()).await;
    crate::supervise::sd_notify::send("STOPPING=1");
    let mut dog = cx.dog;
    release_all(log, &mut dog, held).await;
    // COMMAND's tree is gone and its guard was told to go (`run_command`); the cgroup is
    // removed only now, after the primitives were given back, so that the next holder
    // does not wait for it (issue 13: hand-off), and a SIGKILLed guard is not even
    // waited for (`Guard::leave`).
    if let Some(mut c) = child {
        c.leave_guard();
        drop(c);
    }
    match dog.take_lost() {
        Some(reason) => Err(Error::Lost(reason)),
        None => outcome,
    }
}

/// Give everything back, last taken first. A release that finds the primitive no longer
/// ours is a loss (it may have been someone else's while COMMAND ran).
///
/// The final release is [`Held::release_last`]: every caller of [`hold`] and [`hold_then`]
/// (`lock`, `elect`, `group join`) asks nothing more of the coordinator after them but its
/// `close`, so the backend may end its session right behind that release.
async fn release_all(log: &Log, dog: &mut Watchdog, held: Vec<Held>) {
    let mut rest = held.len();
    for h in held.into_iter().rev() {
        let what = h.what.clone();
        rest -= 1;
        let released = if rest == 0 {
            h.release_last().await
        } else {
            h.release().await
        };
        match released {
            Ok(()) => {}
            Err(coordination::Error::Lost(m)) => {
                dog.set_lost(format!("{what} was found lost when released: {m}"))
            }
            Err(e) if dog.lost().is_none() => log.warn(&format!("releasing {what}: {e}")),
            Err(_) => {}
        }
    }
}

async fn hold_without_command(cx: &mut Ctx<'_>) -> Result<()> {
    while cx.dog.lost().is_none() {
        let nap = cx.dog.nap(Now::read());
        tokio::select! {
            sig = cx.signals.recv() => match sig {
                Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP | Signal::SIGQUIT => {
                    cx.log.info(&format!("{sig} received: releasing"));
                    return Ok(());
                }
                other => cx.log.info(&format!("{other} ignored while holding without a command")),
            },
            Some((i, h)) = cx.changes.recv() => cx.dog.update(i, h, Now::read()),
            _ = nap_for(nap), if nap.is_some() => cx.check_deadline(),
        }
    }
    Ok(())
}

async fn nap_for(d: Option<Duration>) {
    tokio::time::sleep(d.unwrap_or(Duration::ZERO)).await
}

/// Never start a doomed COMMAND: while the lease leaves less than the `--on-lost`
/// sequence and the margin, wait for a renewal, until the lease would run out.
async fn await_time_to_start(cx: &mut Ctx<'_>) -> Result<()> {
    let mut said = false;
    loop {
        if let Some(reason) = cx.dog.lost() {
            return Err(Error::Lost(reason.to_string()));
        }
        let now = Now::read();
        if !cx.dog.due(now) {
            return Ok(());
        }
        if cx.dog.earliest_expiry().is_none_or(|e| e <= now.boot) {
            let reason = cx.dog.too_late_to_start(now);
            cx.dog.set_lost(reason.clone());
            return Err(Error::Lost(reason));
        }
        if !std::mem::replace(&mut said, true) {
            cx.log
                .info("too little time left on the lease to start COMMAND: waiting for a renewal");
        }
        tokio::select! {
            Some((i, h)) = cx.changes.recv() => cx.dog.update(i, h, Now::read()),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            sig = cx.signals.recv() => match sig {
                Signal::SIGUSR1 | Signal::SIGUSR2 => {}
                stop => return Err(Error::Interrupted(stop as i32)),
            },
        }
    }
}

/// Run COMMAND until its whole tree is gone. The `Child` is handed back with its guard
/// dismissed but not yet reaped, and its cgroup not yet removed (see `hold_then`).
async fn run_command(
    spec: &Spec<'_>,
    cx: &mut Ctx<'_>,
    keep: &[std::os::fd::RawFd],
    announce: impl FnOnce(),
) -> (Result<()>, Option<Child>) {
    if let Err(e) = await_time_to_start(cx).await {
        return (Err(e), None);
    }
    announce();
    let mut child = match Child::spawn(spec.command, &spec.env, keep) {
        Ok(c) => c,
        Err(e) => {
            cx.log.error(&e.message);
            return (Err(Error::Child(e.code)), None);
        }
    };
    cx.log.debug(&format!(
        "started COMMAND as pid {} in its own process group",
        child.pid()
    ));
    crate::supervise::sd_notify::ready(&format!(
        "holding {}; COMMAND running as pid {}",
        cx.holding,
        child.pid()
    ));
    cx.log.info(&format!(
        "COMMAND's process tree is contained by {}",
        child.containment()
    ));
    let status = supervise_tree(spec.supervise, cx, &mut child).await;
    // The tree is gone: the guard may go (reaped after the release, in `hold_then`).
    child.dismiss_guard();
    child.finish();
    let outcome = match supervise::exit_code(status) {
        0 => Ok(()),
        code => Err(Error::Child(code)),
    };
    (outcome, Some(child))
}

/// Say (once) whether COMMAND's guard started: `false` while its fork is under way (toozctl
/// does not wait for it, see `supervise::guard`).
fn tell_guard(cx: &Ctx<'_>, child: &mut Child) -> bool {
    match child.guard_started() {
        None => return false,
        Some(Ok(pid)) => cx.log.debug(&format!(
            "guard process {pid} kills COMMAND's tree if toozctl dies or cannot act by the lease's safe deadline"
        )),
        Some(Err(why)) => cx.log.warn(&why),
    }
    true
}

/// Run until COMMAND and every process it left are gone, acting on a loss.
async fn supervise_tree(s: &Supervise, cx: &mut Ctx<'_>, child: &mut Child) -> ExitStatus {
    let mut status: Option<ExitStatus> = None;
    let mut guard_told = false;
    loop {
        guard_told = guard_told || tell_guard(cx, child);
        act_on_loss(cx, s, child);
        keep_safe_deadline(cx, child);
        guard_deadline(cx, s, child);
        let mut nap = cx
            .dog
            .nap(Now::read())
            .or(child.stopping().then_some(Duration::from_millis(250)));
        if !guard_told {
            // Look again soon: a failed fork is told while COMMAND runs.
            let soon = Duration::from_millis(2);
            nap = Some(nap.map_or(soon, |n| n.min(soon)));
        }
        tokio::select! {
            ev = next_event(child, status.is_some()) => match (ev, status) {
                (Next::Child(Event::Exited(st)), _) => {
                    // COMMAND may have died because the lease ran out while toozctl could
                    // not act (the guard killed it): that is a loss, said as such.
                    cx.check_deadline();
                    status = Some(st);
                    stop_leftovers(cx, s, child);
                }
                (Next::Child(Event::Suspended(sig)), _) => suspend(cx, s, child, sig),
                (Next::Gone(gone), Some(st)) => {
                    if !gone {
                        cx.log.warn("processes of COMMAND's tree still exist after SIGKILL (stuck in the kernel)");
                    }
                    return st;
                }
                (Next::Gone(_), None) => {}
            },
            sig = cx.signals.recv() => {
                cx.log.debug(&format!("forwarding {sig} to COMMAND's process group"));
                child.signal_group(sig);
            }
            Some((i, h)) = cx.changes.recv() => cx.dog.update(i, h, Now::read()),
            _ = nap_for(nap), if nap.is_some() => cx.check_deadline(),
        }
    }
}

enum Next {
    Child(Event),
    /// The tree is gone (`false`: some survived SIGKILL for a while).
    Gone(bool),
}

/// COMMAND's next event, or once it has exited, the end of its tree.
async fn next_event(child: &mut Child, exited: bool) -> Next {
    if exited {
        Next::Gone(child.wait_gone().await)
    } else {
        Next::Child(child.wait_exit().await)
    }
}

/// A stop in progress never outlives the lease's safe deadline as it stands now: it comes
/// closer in BOOTTIME while the monotonic clock stands still (suspend), and moves later
/// while renewals go on (the grace is then not cut for nothing).
fn keep_safe_deadline(cx: &Ctx<'_>, child: &mut Child) {
    if child.stopping() {
        if let Some(d) = cx.dog.safe_deadline() {
            child.kill_by(Now::read().to_mono(d));
        }
    }
}

/// The guard kills the tree at the same safe deadline as our own SIGKILL would come, should
/// toozctl be unable to act then (stopped, starved of CPU); sent after every renewal.
/// `--on-lost ignore` asks to leave COMMAND running, so the guard gets no deadline.
fn guard_deadline(cx: &Ctx<'_>, s: &Supervise, child: &mut Child) {
    let at = match s.on_lost {
        OnLost::Ignore => None,
        _ => cx.dog.safe_deadline(),
    };
    child.guard_deadline(at);
}

/// COMMAND exited: what it left behind gets SIGTERM and the rest of the grace (or of the
/// stop already in progress: no second grace), then SIGKILL; the release waits for it.
fn stop_leftovers(cx: &Ctx<'_>, s: &Supervise, child: &mut Child) {
    if !child.has_leftovers() {
        return;
    }
    if !child.stopping() {
        cx.log
            .info("COMMAND exited and left processes behind: stopping them before the release");
    }
    child.stop(Signal::SIGTERM, Instant::now() + s.kill_after);
    keep_safe_deadline(cx, child);
}

/// COMMAND was stopped from the terminal: stop with it; when continued, act on whatever
/// was lost meanwhile *before* COMMAND runs again, then continue it.
fn suspend(cx: &mut Ctx<'_>, s: &Supervise, child: &mut Child, sig: Signal) {
    cx.log.debug(&format!(
        "COMMAND stopped by {sig}: stopping toozctl's job too"
    ));
    child.suspend_like(sig);
    cx.catch_up();
    act_on_loss(cx, s, child);
    keep_safe_deadline(cx, child);
    child.resume();
}

/// Apply `--on-lost` once, when a loss is known.
fn act_on_loss(cx: &mut Ctx<'_>, s: &Supervise, child: &mut Child) {
    let Some(reason) = cx.dog.lost() else { return };
    if std::mem::replace(&mut cx.acted, true) {
        return;
    }
    let now = Now::read();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let kill_at = cx.dog.kill_at(now, s.kill_after);
    let (what, sig) = match s.on_lost {
        OnLost::Term if kill_at <= now.mono => (
            "the lease's safe deadline has passed: sending SIGKILL to COMMAND's process tree"
                .to_string(),
            Some(Signal::SIGKILL),
        ),
        OnLost::Term => (
            format!(
                "sending SIGTERM to COMMAND's process tree, SIGKILL in {:.1}s",
                (kill_at - now.mono).as_secs_f64()
            ),
            Some(Signal::SIGTERM),
        ),
        OnLost::Kill => (
            "sending SIGKILL to COMMAND's process tree".to_string(),
            Some(Signal::SIGKILL),
        ),
        OnLost::Ignore => ("COMMAND left running (--on-lost ignore)".to_string(), None),
    };
    cx.log.error(&format!("{reason} (at {at}): {what}"));
    if let Some(sig) = sig {
        child.stop(sig, now.mono + s.kill_after);
        keep_safe_deadline(cx, child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::Release;
    use tokio::sync::watch;
    use tokio::time::Instant;

    /// A primitive whose health the test publishes itself; releasing it records that and
    /// answers with the error given, if any.
    pub(crate) struct Probe(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        Option<crate::coordination::Error>,
    );

    #[async_trait::async_trait]
    impl Release for Probe {
        async fn release(self: Box<Self>) -> crate::coordination::Result<()> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            self.1.map_or(Ok(()), Err)
        }
    }

    pub(crate) fn probe(
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
                Box::new(Probe(released.clone(), None)),
            ),
            tx,
            released,
        )
    }

    /// A probe whose health starts as `health` and whose release answers `release`.
    fn probe_with(
        lease: Option<Duration>,
        health: Health,
        release: Option<crate::coordination::Error>,
    ) -> (Held, watch::Sender<Health>) {
        let (tx, rx) = watch::channel(health);
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = Held::new(
            "lock 'p'".into(),
            1,
            lease,
            rx,
            Box::new(Probe(released, release)),
        );
        (held, tx)
    }

    fn sup(kill_after_ms: u64) -> Supervise {
        Supervise {
            on_lost: OnLost::Term,
            kill_after: Duration::from_millis(kill_after_ms),
        }
    }

    fn touch(marker: &std::path::Path) -> Vec<OsString> {
        vec!["touch".into(), marker.into()]
    }

    async fn hold_one(held: Held, cmd: &[OsString], s: &Supervise) -> Result<()> {
        let mut signals = Signals::install().unwrap();
        let spec = Spec {
            command: cmd,
            env: vec![],
            supervise: s,
        };
        hold(&Log::new(-1), spec, vec![held], &mut signals, || {}).await
    }

    #[test]
    fn a_loss_found_only_at_release_is_a_loss() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            let taken = crate::coordination::Error::Lost("the key holds another owner's token".into());
            let (held, _tx) = probe_with(None, Health::Held { expires: None }, Some(taken));
            let r = hold_one(held, &["true".into()], &sup(1000)).await;
            assert!(
                matches!(&r, Err(Error::Lost(m)) if m.contains("another owner's token") && m.contains("lock 'p'")),
                "{r:?}"
            );
        });
    }

    #[test]
    fn command_is_not_started_inside_the_safety_margin() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            // 300 ms left of a 1 s lease: less than --kill-after 500 ms + the 100 ms margin.
            let lease = Duration::from_secs(1);
            let late = Health::Held {
                expires: Some(Instant::now() + Duration::from_millis(300)),
            };
            let (held, _tx) = probe_with(Some(lease), late, None);
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let r = hold_one(held, &touch(&marker), &sup(500)).await;
            assert!(
                matches!(&r, Err(Error::Lost(m)) if m.contains("not started")),
                "{r:?}"
            );
            assert!(!marker.exists(), "a doomed COMMAND was started");
        });
    }

    #[test]
    fn a_renewal_inside_the_margin_lets_the_command_start() {
        let _one = crate::supervise::one_at_a_time();
        rt().block_on(async {
            let lease = Duration::from_secs(1);
            let late = Health::Held {
                expires: Some(Instant::now() + Duration::from_millis(300)),
            };
            let (held, tx) = probe_with(Some(lease), late, None);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tx.send(Health::Held {
                    expires: Some(Instant::now() + lease),
                });
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let r = hold_one(held, &touch(&marker), &sup(500)).await;
            assert!(r.is_ok(), "{r:?}");
            assert!(marker.exists(), "COMMAND started after the renewal");
        });
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
        let _one = crate::supervise::one_at_a_time();
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
        let _one = crate::supervise::one_at_a_time();
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
        let _one = crate::supervise::one_at_a_time();
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
        let _one = crate::supervise::one_at_a_time();
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
        let _one = crate::supervise::one_at_a_time();
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
        let _one = crate::supervise::one_at_a_time();
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
