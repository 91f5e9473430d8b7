//! One module per subcommand: an `Args` struct (clap) and its `run()`. This is the only
//! layer that joins the coordination API, the backends, supervision and output.

pub mod completions;
pub mod elect;
pub mod group;
pub mod hold;
pub mod lock;
pub mod locks;
pub mod take;
pub mod unlock;
pub mod watch;

use std::ffi::OsString;

use crate::backends;
use crate::cli::Command;
use crate::context::Context;
use crate::coordination::Coordinator;
use crate::error::{Error, Result};
use crate::output::Log;
use crate::supervise::Signals;

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let verbosity = ctx.verbosity;
    crate::coordination::set_note_sink(Box::new(move |m| Log::new(verbosity).info(m)));
    match command {
        Command::Lock(args) => lock::run(ctx, args).await,
        Command::Elect(args) => elect::run(ctx, args).await,
        Command::Group(args) => group::run(ctx, args).await,
        Command::Watch(args) => watch::run(ctx, args).await,
        Command::Locks(args) => locks::run(ctx, args).await,
        Command::Unlock(args) => unlock::run(ctx, args).await,
        Command::Completions(args) => completions::run(args),
    }
}

/// The frame of every command that waits or holds: signal handlers installed before
/// anything is taken (a signal while connecting or waiting cancels cleanly), an
/// interruptible connect as the identity running `command`, then `body`, and the backend
/// closed whatever `body` returned (withdrawing queue entries, ending the session).
pub async fn with_backend<F>(ctx: &Context, log: &Log, command: &[OsString], body: F) -> Result<()>
where
    F: AsyncFnOnce(&dyn Coordinator, &mut Signals) -> Result<()>,
{
    let mut signals = Signals::install()
        .map_err(|e| Error::Internal(format!("cannot install signal handlers: {e}")))?;
    let coord = hold::interruptible(
        &mut signals,
        backends::connect(&ctx.url, ctx.identity(command)),
    )
    .await??;
    let result = body(coord.as_ref(), &mut signals).await;
    if let Err(e) = coord.close().await {
        log.debug(&format!("closing the backend connection: {e}"));
    }
    result
}
