//! The command tree ([`Cli`], [`Command`]) and one module per subcommand: an `Args` struct
//! (clap) and its `run()`. This is the only layer that joins the coordination API, the
//! backends, supervision and output; the argument groups shared by several commands live
//! below it in `crate::cli`.

pub mod check;
pub mod completions;
pub mod elect;
pub mod fast;
pub mod group;
pub mod hold;
pub mod lock;
pub mod locks;
pub mod once_per;
pub mod partition;
pub mod take;
pub mod unlock;
pub mod watch;

use std::ffi::OsString;

use crate::backends;
use clap::{Parser, Subcommand};

use crate::cli::{GlobalArgs, EXIT_CODES};
use crate::context::Context;
use crate::coordination::Coordinator;
use crate::error::{Error, Result};
use crate::output::Log;
use crate::supervise::Signals;

const EXAMPLES: &str = "\
Examples:
  # run a job under a lock on the embedded file backend (no server needed)
  toozctl lock nightly -- echo hello
  # the same lock for every machine, on Redis; exit 0 quietly if another run holds it
  toozctl -b redis://redis.example:6379 -q lock -n -E 0 backup -- /usr/local/bin/backup
  # who holds what, on the backend nova uses
  toozctl --oslo-config /etc/nova/nova.conf locks
  # a password from a file, not on the command line (where `ps` shows it)
  toozctl -b redis://redis.example:6379 --password-file /etc/toozctl/redis.pw locks

Configuration: flag > environment (TOOZCTL_BACKEND, TOOZCTL_PROFILE, TOOZCTL_CONFIG, ...) >
profile > default_profile of the config file > embedded file backend; --oslo-config sits
between --backend and TOOZCTL_BACKEND. Passwords: --password-file, or a profile's
password_file/password_env; never in -b, which every local user sees in `ps`. See the
README for the config file and for what toozctl trusts and refuses (Security).";

#[derive(Debug, Parser)]
#[command(
    name = "toozctl",
    version,
    about = "Hold distributed locks, leaderships and group memberships for the lifetime of a command",
    long_about = "Hold distributed locks, leaderships and group memberships for the lifetime of a command.\n\n\
toozctl is flock(1) across machines: it takes a coordination primitive on a tooz backend \
(file, Redis, ZooKeeper, etcd) with tooz's own data layout, runs COMMAND while holding it, \
and gives it back when COMMAND exits. With no configuration it uses an embedded file \
backend in $XDG_STATE_HOME/toozctl (~/.local/state/toozctl).",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"),
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = "Hold a lock while COMMAND runs (flock across machines)")]
    Lock(Deferred<lock::Args>),
    #[command(about = "Run COMMAND only while leader of a group")]
    Elect(Deferred<elect::Args>),
    // Not deferred: its subcommands' names and summaries are needed for `help group`
    // (their arguments are deferred, in group/mod.rs).
    Group(group::Args),
    #[command(about = "Print group, leader or lock events as they happen")]
    Watch(Deferred<watch::Args>),
    #[command(about = "List the locks on the backend: holder, age, TTL left, fencing token")]
    Locks(Deferred<locks::Args>),
    #[command(about = "Break a lock (tooz's break_) and say who held it")]
    Unlock(Deferred<unlock::Args>),
    #[command(
        about = "Check that the backend can keep toozctl's promises: versions, notifications, persistence, RTT, clock skew, TLS/auth"
    )]
    Check(Deferred<check::Args>),
    #[command(
        about = "Print which group members own each item (tooz's Partitioner: a consistent hash ring)"
    )]
    Partition(Deferred<partition::Args>),
    #[command(about = "Print a shell completion script (bash, zsh, fish, elvish, powershell)")]
    Completions(Deferred<completions::Args>),
}

/// A subcommand's arguments, made only when that subcommand is the one used (or for help,
/// completions and man pages, which build them all): clap's `Command::defer`. Making every
/// subcommand's arguments at each start cost the parse of `toozctl lock NAME -- true`
/// 133 µs instead of 95 µs (issue 13).
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Deferred)
    }
    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

/// `augment` applied to `cmd`, keeping the summary the subcommand's variant gave it: a
/// deferred struct's flattened parts (their doc comments) would otherwise replace it.
fn keep_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let cmd = augment(cmd);
    match about {
        Some(a) => cmd.about(a),
        None => cmd,
    }
}

impl<T: clap::Args> clap::Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keep_about(c, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keep_about(c, T::augment_args_for_update))
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let verbosity = ctx.verbosity;
    crate::coordination::set_note_sink(Box::new(move |m| Log::new(verbosity).info(m)));
    crate::supervise::sd_notify::init(ctx.notify_socket.clone());
    match command {
        Command::Lock(Deferred(args)) => lock::run(ctx, args).await,
        Command::Elect(Deferred(args)) => elect::run(ctx, args).await,
        Command::Group(args) => group::run(ctx, args).await,
        Command::Watch(Deferred(args)) => watch::run(ctx, args).await,
        Command::Locks(Deferred(args)) => locks::run(ctx, args).await,
        Command::Unlock(Deferred(args)) => unlock::run(ctx, args).await,
        Command::Check(Deferred(args)) => check::run(ctx, args).await,
        Command::Partition(Deferred(args)) => partition::run(ctx, args).await,
        Command::Completions(Deferred(args)) => completions::run(args),
    }
}

/// clap value parser for the names reading commands take: the form text output prints is
/// read back (`output::escape`), so a name with control characters can be named.
pub fn shown_name(text: &str) -> std::result::Result<String, String> {
    Ok(crate::output::unescape(text).into_owned())
}

/// NAME and COMMAND of `lock`, `elect` and `group join`, whose syntax is
/// `[OPTIONS] [--] NAME [-- COMMAND...]`. clap hands over NAME when it came before the
/// first `--`; otherwise everything after that `--` arrives in `command`, and NAME is its
/// first word, followed by nothing (hold mode) or by a second `--` and COMMAND. This is how
/// a name that starts with `-` is given: `lock -- -x -- true`.
pub fn name_and_command(
    name: Option<String>,
    command: Vec<OsString>,
) -> Result<(String, Vec<OsString>)> {
    if let Some(n) = name {
        return Ok((n, command));
    }
    let mut words = command.into_iter();
    let Some(first) = words.next() else {
        return Err(Error::Usage(
            "the following required arguments were not provided: <NAME> (see --help)".into(),
        ));
    };
    let name = first
        .into_string()
        .map_err(|_| Error::Usage("the name given after -- is not valid UTF-8".into()))?;
    let rest: Vec<OsString> = words.collect();
    match rest.split_first() {
        None => Ok((name, Vec::new())),
        Some((sep, command)) if sep == "--" => Ok((name, command.to_vec())),
        Some(_) => Err(Error::Usage(format!(
            "after '-- {}' comes a second -- before COMMAND (syntax: [--] NAME [-- COMMAND...])",
            crate::output::shorten(&name, 100)
        ))),
    }
}

/// The frame of every command that waits or holds: signal handlers installed before
/// anything is taken (a signal while connecting or waiting cancels cleanly), an
/// interruptible connect as the identity running `command`, then `body`, and the backend
/// closed whatever `body` returned (withdrawing queue entries, ending the session).
///
/// `record_words` is `--record-command`: the holder record then keeps COMMAND's first words,
/// not only its program name.
pub async fn with_backend<F>(
    ctx: &Context,
    log: &Log,
    command: &[OsString],
    record_words: bool,
    body: F,
) -> Result<()>
where
    F: AsyncFnOnce(&dyn Coordinator, &mut Signals) -> Result<()>,
{
    let mut signals = Signals::install()
        .map_err(|e| Error::Internal(format!("cannot install signal handlers: {e}")))?;
    // COMMAND's cgroup is made now, before the primitive is taken: off the path from
    // the previous holder's release to our COMMAND's start (removed if unused).
    let _cgroup = (!command.is_empty()).then(crate::supervise::Prepared::make);
    let coord = hold::interruptible(
        &mut signals,
        backends::connect(&ctx.url, ctx.identity(command, record_words)),
    )
    .await??;
    let result = body(coord.as_ref(), &mut signals).await;
    if let Err(e) = coord.close().await {
        log.debug(&format!("closing the backend connection: {e}"));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Parsing `lock` makes only `lock`'s arguments: the other subcommands keep their
    /// names and summaries (for `--help`) but have no arguments until built.
    #[test]
    fn only_the_subcommand_used_is_made() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        let args_of = |c: &clap::Command, name: &str| {
            let sub = c.find_subcommand(name).expect("a subcommand");
            (sub.get_arguments().count(), sub.get_about().is_some())
        };
        for name in ["lock", "elect", "watch", "locks", "check"] {
            assert_eq!(args_of(&cmd, name), (0, true), "{name}");
        }
        let members = cmd.find_subcommand("group").unwrap();
        assert_eq!(args_of(members, "members"), (0, true));
        let m = cmd
            .clone()
            .try_get_matches_from(["toozctl", "lock", "x", "--", "true"])
            .unwrap();
        assert_eq!(m.subcommand_name(), Some("lock"));
        let mut built = Cli::command();
        built.build();
        assert!(args_of(&built, "locks").0 > 0);
        assert!(args_of(built.find_subcommand("group").unwrap(), "members").0 > 0);
    }

    #[test]
    fn a_name_after_a_first_double_dash() {
        let (n, c) = name_and_command(None, words(&["-x", "--", "true", "--"])).unwrap();
        assert_eq!((n.as_str(), c), ("-x", words(&["true", "--"])));
        let (n, c) = name_and_command(None, words(&["-x"])).unwrap();
        assert_eq!((n.as_str(), c.len()), ("-x", 0));
        assert!(name_and_command(None, words(&["-x", "true"])).is_err());
        assert!(name_and_command(None, vec![]).is_err());
        let (n, c) = name_and_command(Some("a".into()), words(&["--", "x"])).unwrap();
        assert_eq!((n.as_str(), c), ("a", words(&["--", "x"])));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Names as given on the command line: split, read back from the shown form and
        /// checked without panic, whatever the words.
        #[test]
        fn names_never_panic(ws in proptest::collection::vec(
            prop_oneof![Just("--".to_string()), "\\PC{0,12}", "[-\\\\u{}1b]{0,8}"], 0..5)
        ) {
            let ws: Vec<OsString> = ws.iter().map(OsString::from).collect();
            if let Ok((name, _)) = name_and_command(None, ws) {
                let shown = shown_name(&name).unwrap();
                let _ = crate::coordination::validate_name("lock", &shown);
                let _ = crate::backends::file::validate_lock_name(&shown);
            }
        }
    }
}
