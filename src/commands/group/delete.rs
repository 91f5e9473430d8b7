//! `toozctl group delete GROUP`: delete an empty group; a group with members is refused
//! (exit 1) with their names, a missing one is exit 4.

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::error::Result;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  toozctl group delete workers
  # a dead tooz member's record blocks deletion: remove it first
  toozctl group leave workers --member old-host-1 && toozctl group delete workers";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {
    /// Group name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub group: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let g = args.group.clone();
    super::once(ctx, move |c| {
        Box::pin(async move { Ok(c.delete_group(&g).await?) })
    })
    .await?;
    let v = serde_json::json!({ "event": "deleted", "group": args.group });
    output::emit(ctx.output, &v, || format!("deleted group '{}'", args.group))
}
