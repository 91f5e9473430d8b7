//! `toozctl group list`: every group with its member count and leader.

use serde::Serialize;

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::error::Result;
use crate::output::table::{self, Row};

const EXAMPLES: &str = "\
Examples:
  toozctl group list
  toozctl -o json group list | jq -r '.[].name'";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {}

#[derive(Serialize)]
struct GroupRow {
    name: String,
    members: usize,
    leader: Option<String>,
}

impl Row for GroupRow {
    const HEADERS: &'static [&'static str] = &["GROUP", "MEMBERS", "LEADER"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.members.to_string(),
            self.leader.clone().unwrap_or_else(|| "-".into()),
        ]
    }
}

pub async fn run(ctx: &Context, _args: Args) -> Result<()> {
    let groups = super::once(ctx, |c| Box::pin(async move { Ok(c.groups().await?) })).await?;
    let rows: Vec<GroupRow> = groups
        .into_iter()
        .map(|g| GroupRow {
            name: g.name,
            members: g.members,
            leader: g.leader,
        })
        .collect();
    table::print_list(ctx.output, ctx.stdout_tty, &rows, "no groups")
}
