//! `toozctl group create GROUP`: create an empty group (exit 1 if it exists).

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::error::Result;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  toozctl group create workers
  toozctl group create workers || true   # exit 1 when it already exists";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {
    /// Group name
    pub group: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let g = args.group.clone();
    super::once(ctx, move |c| {
        Box::pin(async move { Ok(c.create_group(&g).await?) })
    })
    .await?;
    let v = serde_json::json!({ "event": "created", "group": args.group });
    output::emit(ctx.output, &v, || format!("created group '{}'", args.group))
}
