//! `toozctl watch group|leader|lock TARGET`: print one line per event as it happens
//! (JSON lines with `-o json`), optionally run a handler per event.
//!
//! Handlers (`--exec -- COMMAND`) run one at a time, in event order; events that arrive
//! meanwhile are printed at once and queued for their handler, never dropped. A handler
//! gets the event's JSON object on stdin and `TOOZCTL_EVENT`, `TOOZCTL_GROUP` or
//! `TOOZCTL_LOCK`, `TOOZCTL_EVENT_MEMBER`, `TOOZCTL_BACKEND` (and `TOOZCTL_FENCING_TOKEN`
//! when the event has one). A failing handler is reported and the watch goes on, unless
//! `--fail-fast`, which ends the watch with the handler's status.

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
  toozctl watch group workers --count 2";

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
    about = "Print group, leader or lock events as they happen",
    long_about = "Print one line per event as it happens: join/leave (group), elected (leader), \
acquired/released (lock). With --exec, run COMMAND once per event, one at a time in event order, with \
the event's JSON on stdin and TOOZCTL_EVENT, TOOZCTL_GROUP or TOOZCTL_LOCK, TOOZCTL_EVENT_MEMBER and \
TOOZCTL_BACKEND in its environment. `--until released` exits 0 at once when the lock is already free.",
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
}

impl EventOut {
    fn new(e: &Event) -> EventOut {
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
        }
    }

    fn text(&self) -> String {
        let target = self.group.as_deref().or(self.name.as_deref()).unwrap_or("");
        let who = match (&self.holder, &self.member_id) {
            (Some(h), _) => h.to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        format!("{}  {}  {}  {}", self.at, self.event, target, who)
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
    let mut events = coord.watch(&target).await?;
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
                let out = EventOut::new(&ev);
                table::stream_item(ctx.output, &out, || out.text())?;
                seen += 1;
                done = args.count.is_some_and(|n| seen >= n) || args.until.is_some_and(|u| u.kind() == ev.kind);
                if args.exec {
                    queue.push_back(out);
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
