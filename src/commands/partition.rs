//! `toozctl partition [--replicas N] [--mine] GROUP ITEM...`: which members own each item,
//! computed as tooz's `Partitioner` computes it (`coordination::hashring`) from the group's
//! live members and their `weight` capability, so toozctl and tooz workers split work the
//! same way. Reads the members once; writes nothing.
//!
//! An item is hashed as the UTF-8 of its text, which is what tooz hashes for a `str` (a
//! Python program's `sys.argv` item): the bytes of a word that is not UTF-8 cannot be given
//! to tooz as text, so such an item is refused rather than mapped differently.

use std::ffi::OsString;

use serde::Serialize;

use crate::cli::EXIT_CODES;
use crate::context::Context;
use crate::coordination::hashring::{self, HashRing};
use crate::coordination::Member;
use crate::error::{Error, Result};
use crate::output::table::{self, Row};
use crate::output::Log;

const EXAMPLES: &str = "\
Examples:
  toozctl partition workers vm-0001 vm-0002 vm-0003
  # inside the COMMAND of `group join --weight 2 workers -- ./worker.sh`: only our share
  for f in /srv/queue/*; do toozctl partition --mine workers \"$f\" && process \"$f\"; done
  # two owners per item, as JSON
  toozctl -o json partition --replicas 2 workers vm-0001";

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Print the owner of each ITEM among the live members of GROUP, computed exactly as \
tooz's Partitioner computes it: a consistent hash ring (MD5, --partitions points per unit of weight) \
over the member ids, each weighted by its `weight` capability (1 when it has none; `group join --weight N` \
sets it, as tooz's join_partitioned_group does). An item is hashed as the UTF-8 of its text, as tooz \
hashes a str, so toozctl and tooz workers agree item for item. Text output: one line per item, the item \
then its owners (the ring's first owner first).\n\n\
--mine prints nothing and exits 0 when the member id in use (-m, or TOOZCTL_MEMBER_ID, which `group join` \
gives its COMMAND) owns every ITEM, 1 when not. The answer holds for the membership as read at that \
moment: members joining or leaving move some items (about 1/N of them) to other owners.\n\n\
Exit 4 when GROUP does not exist, 1 when it has no member with a weight above 0 (nobody owns \
anything), 2 for an item that is not UTF-8 or a member whose weight is not an integer (tooz's \
Partitioner fails on it too).",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Args {
    /// Group name, as text output prints it (escapes such as \u{1b} are read back)
    #[arg(value_parser = crate::commands::shown_name)]
    pub group: String,
    /// The items: names of work units, hashed as their UTF-8 text
    #[arg(required = true, value_name = "ITEM")]
    pub items: Vec<OsString>,
    /// Owners per item (at most the number of members)
    #[arg(short = 'r', long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub replicas: u32,
    /// Points per unit of weight on the ring: tooz's `partitions` argument (default 32, as tooz's)
    #[arg(long, value_name = "N", default_value_t = hashring::DEFAULT_PARTITIONS, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub partitions: u32,
    /// Exit 0 when our member id owns every ITEM (one of --replicas owners), 1 when not; print nothing (but with -o json/yaml)
    #[arg(long)]
    pub mine: bool,
}

#[derive(Serialize)]
struct ItemRow {
    group: String,
    item: String,
    owners: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mine: Option<bool>,
}

impl Row for ItemRow {
    const HEADERS: &'static [&'static str] = &["ITEM", "OWNERS"];
    fn cells(&self) -> Vec<String> {
        vec![self.item.clone(), self.owners.join(" ")]
    }
}

/// The items as text; a word that is not UTF-8 is a usage error (see the module doc).
fn items_as_text(items: Vec<OsString>) -> Result<Vec<String>> {
    items
        .into_iter()
        .map(|i| {
            i.into_string().map_err(|raw| {
                Error::Usage(format!(
                    "item '{}' is not valid UTF-8: tooz hashes the UTF-8 of an item's text, so it cannot be placed",
                    raw.to_string_lossy()
                ))
            })
        })
        .collect()
}

/// The ring tooz's Partitioner builds from these members.
pub fn ring_of(members: &[Member], partitions: u32) -> Result<HashRing> {
    let mut ring = HashRing::new(partitions);
    for m in members {
        let w = hashring::weight_of(&m.member_id, &m.capabilities)?;
        ring.add_node(&m.member_id, w)?;
    }
    Ok(ring)
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let items = items_as_text(args.items)?;
    let g = args.group.clone();
    let members = super::group::once(ctx, move |c| {
        Box::pin(async move { Ok(c.members(&g).await?) })
    })
    .await?;
    let ring = ring_of(&members, args.partitions)?;
    if ring.is_empty() {
        return Err(Error::NotAcquired {
            message: format!(
                "group '{}' has no members with a weight above 0: no item has an owner",
                args.group
            ),
            code: 1,
        });
    }
    let me = ctx.member_id.as_str();
    if args.mine && !members.iter().any(|m| m.member_id == me) {
        Log::new(ctx.verbosity).warn(&format!(
            "member id '{me}' is not a member of group '{}': nothing is ours (run inside `group join`, or give -m)",
            args.group
        ));
    }
    let rows: Vec<ItemRow> = items
        .into_iter()
        .map(|item| {
            let owners: Vec<String> = ring
                .get_nodes(item.as_bytes(), args.replicas as usize)
                .into_iter()
                .map(String::from)
                .collect();
            let mine = args.mine.then(|| owners.iter().any(|o| o == me));
            ItemRow {
                group: args.group.clone(),
                item,
                owners,
                mine,
            }
        })
        .collect();
    let all_mine = rows.iter().all(|r| r.mine == Some(true));
    if !args.mine || ctx.output != crate::cli::OutputFormat::Text {
        table::print_list(ctx.output, ctx.stdout_tty, &rows, "no items")?;
    }
    if args.mine && !all_mine {
        return Err(Error::NotAcquired {
            message: String::new(),
            code: 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::Capabilities;

    fn member(id: &str, caps: &str) -> Member {
        Member {
            member_id: id.into(),
            capabilities: Capabilities::from_json_text(caps).unwrap(),
            leader: false,
        }
    }

    #[test]
    fn the_ring_uses_each_members_weight() {
        // The wire format's example D: worker-2 has weight 2.
        let ms = [
            member("worker-1", r#"{"weight": 1}"#),
            member("worker-2", r#"{"weight": 2}"#),
            member("worker-3", "null"),
        ];
        let r = ring_of(&ms, 32).unwrap();
        assert_eq!(r.len(), 128);
        assert_eq!(r.get_nodes(b"vm-0003", 1), ["worker-1"]);
        assert_eq!(r.get_nodes(b"vm-0001", 1), ["worker-2"]);
        let bad = [member("w", r#"{"weight": "x"}"#)];
        assert!(ring_of(&bad, 32).is_err());
    }

    #[test]
    fn items_must_be_text() {
        use std::os::unix::ffi::OsStringExt;
        assert_eq!(
            items_as_text(vec!["a".into(), "é".into()]).unwrap(),
            ["a", "é"]
        );
        let e = items_as_text(vec![OsString::from_vec(vec![b'x', 0xff])]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
