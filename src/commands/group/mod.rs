//! `toozctl group ...`: list, inspect, join, leave, create and delete groups. One file per
//! subcommand; this module holds the enum, the plain dispatch and the little they share.

pub mod create;
pub mod delete;
pub mod join;
pub mod leader;
pub mod leave;
pub mod list;
pub mod members;

use clap::Subcommand;

use crate::backends;
use crate::cli::EXIT_CODES;
use crate::commands::Deferred;
use crate::context::Context;
use crate::coordination::{Capabilities, Coordinator};
use crate::error::Result;

const EXAMPLES: &str = "\
Examples:
  toozctl group list
  toozctl -o json group members workers
  # be a member of 'workers' while the worker runs (creating the group if needed)
  toozctl group join --create --capabilities '{\"role\": \"api\", \"n\": 3}' workers -- ./worker
  toozctl group leave workers --member web-1-4242   # remove a dead member by hand";

#[derive(Debug, clap::Args)]
#[command(
    about = "Inspect, join and manage groups (tooz's layout: tooz clients see the same groups)",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    #[command(about = "List groups: name, member count, leader")]
    List(Deferred<list::Args>),
    #[command(about = "List a group's members: id, capabilities, leader mark")]
    Members(Deferred<members::Args>),
    #[command(about = "Be a member of a group while COMMAND runs")]
    Join(Deferred<join::Args>),
    #[command(about = "Leave a group, or remove another member by hand")]
    Leave(Deferred<leave::Args>),
    #[command(about = "Create a group")]
    Create(Deferred<create::Args>),
    #[command(about = "Delete an empty group")]
    Delete(Deferred<delete::Args>),
    #[command(about = "Print a group's current leader")]
    Leader(Deferred<leader::Args>),
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    match args.command {
        GroupCommand::List(Deferred(a)) => list::run(ctx, a).await,
        GroupCommand::Members(Deferred(a)) => members::run(ctx, a).await,
        GroupCommand::Join(Deferred(a)) => join::run(ctx, a).await,
        GroupCommand::Leave(Deferred(a)) => leave::run(ctx, a).await,
        GroupCommand::Create(Deferred(a)) => create::run(ctx, a).await,
        GroupCommand::Delete(Deferred(a)) => delete::run(ctx, a).await,
        GroupCommand::Leader(Deferred(a)) => leader::run(ctx, a).await,
    }
}

/// clap value parser for `--capabilities JSON`: bad JSON is a usage error before connecting.
pub fn parse_capabilities(text: &str) -> std::result::Result<Capabilities, String> {
    Capabilities::from_json_text(text).map_err(|e| e.to_string())
}

/// Connect, run one short operation, close: for the commands that hold nothing.
pub async fn once<T, F>(ctx: &Context, op: F) -> Result<T>
where
    F: for<'c> FnOnce(
        &'c dyn Coordinator,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + 'c>>,
{
    let coord = backends::connect(&ctx.url, ctx.identity(&[], false)).await?;
    let result = op(coord.as_ref()).await;
    let _ = coord.close().await;
    result
}
