//! `toozctl group leader GROUP`: who leads the group now, with what toozctl recorded about
//! it (host, pid, command, since, fencing token); exit 4 for a missing group.

use serde::Serialize;

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::coordination::Holder;
use crate::error::Result;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  toozctl group leader scheduler
  toozctl -o json group leader scheduler | jq -r .leader";

#[derive(Debug, clap::Args)]
#[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Args {
    /// Group name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub group: String,
}

#[derive(Serialize)]
struct Leader {
    group: String,
    leader: Option<String>,
    holder: Option<Holder>,
    fencing_token: Option<u64>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let g = args.group.clone();
    let holder = super::once(ctx, move |c| {
        Box::pin(async move {
            let leader = c.leader(&g).await?;
            if leader.is_none() {
                // Redis and etcd keep no trace of a group in its leader key: only the
                // member list tells a group without a leader from no group (exit 4).
                c.members(&g).await?;
            }
            Ok(leader)
        })
    })
    .await?;
    let v = Leader {
        group: args.group.clone(),
        leader: holder.as_ref().and_then(|h| h.member_id.clone()),
        fencing_token: holder.as_ref().and_then(|h| h.fencing_token),
        holder,
    };
    output::emit(ctx.output, &v, || match &v.holder {
        Some(h) => match v.fencing_token {
            Some(t) => format!("{h} (fencing token {t})"),
            None => h.to_string(),
        },
        None => format!("group '{}' has no leader", args.group),
    })
}
