//! One module per subcommand: an `Args` struct (clap) and its `run()`. This is the only
//! layer that joins the coordination API, the backends, supervision and output.

pub mod completions;
pub mod elect;
pub mod group;
pub mod hold;
pub mod lock;
pub mod locks;
pub mod unlock;
pub mod watch;

use crate::cli::Command;
use crate::context::Context;
use crate::error::Result;

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
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
