//! `toozctl group leave GROUP [--member ID]`: leave, or remove another member (e.g. one
//! whose process died) by hand. A running toozctl member removed this way notices at once,
//! stops its COMMAND as `--on-lost` says and exits 3.

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::error::Result;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  # from inside 'toozctl group join workers -- sh', TOOZCTL_MEMBER_ID names us
  toozctl group leave workers
  # remove a member left behind by a crashed tooz client
  toozctl group leave workers --member compute-7";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {
    /// Group name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub group: String,
    /// The member to remove [default: our member id (-m, TOOZCTL_MEMBER_ID)]
    #[arg(long, value_name = "ID", value_parser = crate::commands::shown_name)]
    pub member: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let member = args.member.clone().unwrap_or_else(|| ctx.member_id.clone());
    let (g, m) = (args.group.clone(), member.clone());
    super::once(ctx, move |c| {
        Box::pin(async move { Ok(c.leave(&g, &m).await?) })
    })
    .await?;
    let v = serde_json::json!({ "event": "leave", "group": args.group, "member_id": member });
    output::emit(ctx.output, &v, || {
        format!("member '{member}' left group '{}'", args.group)
    })
}
