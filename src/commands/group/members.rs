//! `toozctl group members GROUP`: live members with capabilities (as JSON) and the leader
//! mark; exit 4 for a missing group.

use serde::Serialize;

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::error::Result;
use crate::output::table::{self, Row};

const EXAMPLES: &str = "\
Examples:
  toozctl group members workers
  toozctl -o json group members workers | jq -r '.[] | select(.capabilities.role == \"api\") | .member_id'";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {
    /// Group name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub group: String,
}

#[derive(Serialize)]
struct MemberRow {
    group: String,
    member_id: String,
    capabilities: serde_json::Value,
    leader: bool,
}

impl Row for MemberRow {
    const HEADERS: &'static [&'static str] = &["MEMBER", "CAPABILITIES", "LEADER"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.member_id.clone(),
            table::json_cell(&self.capabilities),
            if self.leader { "*" } else { "" }.into(),
        ]
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let g = args.group.clone();
    let members = super::once(ctx, move |c| {
        Box::pin(async move { Ok(c.members(&g).await?) })
    })
    .await?;
    let rows: Vec<MemberRow> = members
        .into_iter()
        .map(|m| MemberRow {
            group: args.group.clone(),
            member_id: m.member_id,
            capabilities: m.capabilities.to_json(),
            leader: m.leader,
        })
        .collect();
    table::print_list(
        ctx.output,
        ctx.stdout_tty,
        &rows,
        &format!("group '{}' has no members", args.group),
    )
}
