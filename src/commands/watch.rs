//! `toozctl watch group|leader|lock TARGET`: print one line per event as it happens
//! (JSON lines with `-o json`), optionally run a handler per event.
//!
//! Handlers (`--exec -- COMMAND`) run one at a time, in event order; events that arrive
//! meanwhile are printed at once and queued for their handler, never dropped. A handler
//! gets the event's JSON object on stdin and `TOOZCTL_EVENT`, `TOOZCTL_GROUP` or
//! `TOOZCTL_LOCK`, `TOOZCTL_EVENT_MEMBER`, `TOOZCTL_BACKEND` (and `TOOZCTL_FENCING_TOKEN`
//! when the event has one). A failing handler is reported and the watch goes on, unless
//! `--fail-fast`, which ends the watch with the handler's status.
//!
//! `--initial` reports the state first (marked `initial`), then the changes; a group that
//! does not exist yet is waited for unless `--must-exist` (see `state`, which does both
//! on any backend with the `Coordinator` methods alone).

mod state;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;

use clap::ValueEnum;
use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::coordination::{Coordinator, Event, EventKind, Holder, WatchTarget};
use crate::error::{Error, Result};
use crate::output::{table, Log};
use crate::supervise::{self, Signals};

const EXAMPLES: &str = "\
Examples:
  toozctl -o json watch group workers
  # wait until the nightly lock is free, then go on
  toozctl watch lock nightly-backup --until released && ./after-backup.sh
  # page someone on every leadership change
  toozctl watch leader scheduler --exec -- sh -c 'notify \"$TOOZCTL_EVENT_MEMBER leads\"'
  toozctl watch group workers --count 2
  # keep a list of members up to date from any start: present members first, then changes
  toozctl -o json watch --initial group workers --exec -- ./update-pool.sh";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Members joining and leaving a group
    Group,
    /// New leaders of a group
    Leader,
    /// A lock being acquired and released
    Lock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Until {
    Join,
    Leave,
    Elected,
    Acquired,
    Released,
}

impl Until {
    fn kind(self) -> EventKind {
        match self {
            Until::Join => EventKind::Join,
            Until::Leave => EventKind::Leave,
            Until::Elected => EventKind::Elected,
            Until::Acquired => EventKind::Acquired,
            Until::Released => EventKind::Released,
        }
    }

    fn fits(self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Until::Join | Until::Leave, Kind::Group)
                | (Until::Elected, Kind::Leader)
                | (Until::Acquired | Until::Released, Kind::Lock)
        )
    }
}

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Print one line per event as it happens: join/leave (group), elected (leader), \
acquired/released (lock). With --exec, run COMMAND once per event, one at a time in event order, with \
the event's JSON on stdin and TOOZCTL_EVENT, TOOZCTL_GROUP or TOOZCTL_LOCK, TOOZCTL_EVENT_MEMBER and \
TOOZCTL_BACKEND in its environment. `--until released` exits 0 at once when the lock is already free.\n\n\
--initial first reports the current state as events marked initial (\"initial\": true in JSON, \
TOOZCTL_EVENT_INITIAL=1 for handlers): a join per present member, the current leader, an acquired \
per holder; then the changes, with no gap and no duplicate in between, so a handler converges to \
the backend's state whatever the start order. Initial events count for --count and --until.\n\n\
A group (or leader) watch on a group that does not exist yet says so once on stderr and waits for \
it to be created; members present when it appears are reported as joins (changes, not initial, \
even with --initial: they came after the watch began). --must-exist exits 4 instead.",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    /// What to watch
    #[arg(value_enum)]
    pub kind: Kind,
    /// The group or lock name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub target: String,
    /// Exit 0 after N events
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Exit 0 after the first event of this kind
    #[arg(long, value_enum, value_name = "EVENT")]
    pub until: Option<Until>,
    /// Run COMMAND (after --) once per event
    #[arg(long, requires = "command")]
    pub exec: bool,
    /// Stop the watch when a handler fails, exiting with its status
    #[arg(long, requires = "exec")]
    pub fail_fast: bool,
    /// First report the current state as events marked initial (a join per member, the
    /// leader, an acquired per holder), then the changes, with no gap and no duplicate
    #[arg(long)]
    pub initial: bool,
    /// Exit 4 when the group does not exist, instead of waiting for it to be created
    #[arg(long)]
    pub must_exist: bool,
    /// The handler (after --, with --exec)
    #[arg(last = true, value_name = "COMMAND", requires = "exec")]
    pub command: Vec<OsString>,
}

/// An event as printed and as handlers get it on stdin.
#[derive(Debug, Clone, Serialize)]
struct EventOut {
    event: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<Holder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fencing_token: Option<u64>,
    at: String,
    /// Part of the state read at the start (`--initial`), not a change seen happening.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    initial: bool,
}

impl EventOut {
    fn new(e: &Event, initial: bool) -> EventOut {
        let (group, name) = match &e.target {
            WatchTarget::Group(g) | WatchTarget::Leader(g) => (Some(g.clone()), None),
            WatchTarget::Lock(n) => (None, Some(n.clone())),
        };
        let at = chrono::DateTime::<chrono::Utc>::from(e.at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        EventOut {
            event: e.kind,
            group,
            name,
            member_id: e.member.clone(),
            holder: e.holder.clone(),
            fencing_token: e.fencing_token,
            at,
            initial,
        }
    }

    fn text(&self) -> String {
        let target = self.group.as_deref().or(self.name.as_deref()).unwrap_or("");
        let who = match (&self.holder, &self.member_id) {
            (Some(h), _) => h.to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        let mark = if self.initial { "(initial)" } else { "" };
        format!("{}  {}  {}  {}  {}", self.at, self.event, target, who, mark)
            .trim_end()
            .to_string()
    }
}

type Handler = Pin<Box<dyn Future<Output = std::io::Result<std::process::ExitStatus>>>>;

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    if let Some(u) = args.until {
        if !u.fits(args.kind) {
            return Err(Error::Usage(format!(
                "--until {} is not an event of a {} watch",
                u.to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default(),
                args.kind
                    .to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            )));
        }
    }
    let log = Log::new(ctx.verbosity);
    crate::commands::with_backend(ctx, &log, &[], false, async |coord, signals| {
        watch(ctx, &log, &args, coord, signals).await
    })
    .await
}

async fn watch(
    ctx: &Context,
    log: &Log,
    args: &Args,
    coord: &dyn Coordinator,
    signals: &mut Signals,
) -> Result<()> {
    let target = match args.kind {
        Kind::Group => WatchTarget::Group(args.target.clone()),
        Kind::Leader => WatchTarget::Leader(args.target.clone()),
        Kind::Lock => WatchTarget::Lock(args.target.clone()),
    };
    let (mut events, initial, mut tracker) = start(log, args, coord, &target, signals).await?;
    // After waiting for the group, what is there came after the watch began: changes.
    let marked = args.initial && !initial.waited;
    let initial = initial.events;
    if args.kind == Kind::Lock
        && args.until == Some(Until::Released)
        && coord.lock_holders(&args.target).await?.is_empty()
    {
        log.info(&format!("lock '{}' is free", args.target));
        return Ok(());
    }
    log.info(&format!(
        "watching {} '{}'",
        kind_name(args.kind),
        args.target
    ));
    let mut queue: VecDeque<EventOut> = VecDeque::new();
    let mut running: Option<Handler> = None;
    let mut seen = 0u64;
    let mut done = false;
    let mut report =
        |ev: &Event, initial: bool, queue: &mut VecDeque<EventOut>| -> Result<bool> {
            let out = EventOut::new(ev, initial);
            table::stream_item(ctx.output, &out, || out.text())?;
            seen += 1;
            if args.exec {
                queue.push_back(out);
            }
            Ok(args.count.is_some_and(|n| seen >= n)
                || args.until.is_some_and(|u| u.kind() == ev.kind))
        };
    for ev in &initial {
        if report(ev, marked, &mut queue)? {
            done = true;
            break;
        }
    }
    loop {
        if running.is_none() {
            match queue.pop_front() {
                Some(ev) => running = Some(handler(ctx, args, ev)),
                None if done => return Ok(()),
                None => {}
            }
        }
        tokio::select! {
            ev = events.recv(), if !done => {
                let ev = match ev {
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(Error::Internal("the watch ended unexpectedly".into())),
                };
                if tracker.as_mut().is_none_or(|t| t.admit(&ev)) {
                    done = report(&ev, false, &mut queue)?;
                }
            }
            status = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                let code = match status {
                    Ok(s) => supervise::exit_code(s),
                    Err(e) => {
                        log.error(&format!("cannot run the handler: {e}"));
                        127
                    }
                };
                if code != 0 {
                    log.error(&format!("handler exited with status {code}"));
                    if args.fail_fast {
                        return Err(Error::Child(code));
                    }
                }
            }
            sig = signals.recv() => match sig {
                Signal::SIGUSR1 | Signal::SIGUSR2 => {}
                stop => return Err(Error::Interrupted(stop as i32)),
            },
        }
    }
}

/// The state read at the start, and whether the group had to be waited for first.
struct Initial {
    events: Vec<Event>,
    waited: bool,
}

/// Subscribe to `target`'s changes; with `--initial`, or after waiting for a group that did
/// not exist, read the state too (after subscribing, see `state`): its events come first,
/// and the tracker keeps the stream from repeating them. A missing group is waited for
/// (said once on stderr) unless `--must-exist`.
async fn start(
    log: &Log,
    args: &Args,
    coord: &dyn Coordinator,
    target: &WatchTarget,
    signals: &mut Signals,
) -> Result<(crate::coordination::Events, Initial, Option<state::Tracker>)> {
    let group = match target {
        WatchTarget::Group(g) | WatchTarget::Leader(g) if !args.must_exist => Some(g),
        _ => None,
    };
    if let (WatchTarget::Group(g) | WatchTarget::Leader(g), true) = (target, args.must_exist) {
        // Not every backend's watch refuses a missing group by itself (Redis's follows it).
        coord.members(g).await?;
    }
    let mut waited = false;
    let events = loop {
        if let Some(g) = group {
            state::wait_for_group(coord, g, signals, || {
                waited = true;
                log.warn(&format!(
                    "group '{g}' does not exist yet; waiting for it to be created (--must-exist: exit 4 instead)"
                ));
            })
            .await?;
        }
        match coord.watch(target).await {
            // Deleted again between the look and the subscription: wait once more.
            Err(crate::coordination::Error::NotFound(_)) if group.is_some() => continue,
            other => break other?,
        }
    };
    if !(args.initial || waited) {
        let none = Initial {
            events: Vec::new(),
            waited,
        };
        return Ok((events, none, None));
    }
    // After a wait, whoever is there joined after the watch began: reported as changes.
    let initial = state::snapshot(coord, target).await?;
    let tracker = state::Tracker::new(&initial);
    let initial = Initial {
        events: initial,
        waited,
    };
    Ok((events, initial, Some(tracker)))
}

fn kind_name(k: Kind) -> String {
    k.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// Start the handler for one event; it is killed if the watch ends first.
fn handler(ctx: &Context, args: &Args, ev: EventOut) -> Handler {
    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .stdin(Stdio::piped())
        .kill_on_drop(true);
    cmd.env("TOOZCTL_EVENT", ev.event.to_string());
    cmd.env("TOOZCTL_BACKEND", ctx.url.to_string());
    if let Some(m) = &ev.member_id {
        cmd.env("TOOZCTL_EVENT_MEMBER", m);
    }
    match args.kind {
        Kind::Lock => cmd.env("TOOZCTL_LOCK", &args.target),
        Kind::Group | Kind::Leader => cmd.env("TOOZCTL_GROUP", &args.target),
    };
    if let Some(t) = ev.fencing_token {
        cmd.env("TOOZCTL_FENCING_TOKEN", t.to_string());
    }
    if ev.initial {
        cmd.env("TOOZCTL_EVENT_INITIAL", "1");
    }
    let json = serde_json::to_string(&ev).unwrap_or_default() + "\n";
    Box::pin(async move {
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // A handler that does not read its stdin is fine.
            let _ = stdin.write_all(json.as_bytes()).await;
        }
        child.wait().await
    })
}
