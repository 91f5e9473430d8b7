//! Groups and leader election on ZooKeeper, in tooz's layout (`/NS/<group>`).
//!
//! A member is the ephemeral node `/NS/<group>/<member id>` with msgpack capabilities. The
//! leader is the lowest contender of the kazoo `Lock` at `/NS/<group>/leader` (data = the
//! member id), exactly what tooz's election and `get_leader` use, so either side sees the
//! other's leader. tooz keeps that `leader` node inside the group, where tooz clients list
//! it as a member; we hide it from member listings (and `locks` from group listings), and
//! `delete_group` removes an empty `leader` node with the group in one transaction, which
//! tooz itself never manages (its groups with an election can never be deleted).

use zookeeper_client as zk;

use super::lock::{self, contender, NodeKind};
use super::{validate_znode_name, zk_error, ZkCoordinator};
use crate::coordination::{Capabilities, Error, GroupInfo, Held, Holder, Member, Result, Wait};

/// tooz's leader directory inside each group.
const LEADER: &str = "leader";

fn missing(group: &str) -> Error {
    Error::NotFound(format!("group '{group}' does not exist"))
}

pub(super) async fn create(c: &ZkCoordinator, group: &str) -> Result<()> {
    let dir = c.group_dir(group)?;
    let client = c.client()?;
    let mut r = client.create(&dir, &[], &c.persistent()).await;
    if r == Err(zk::Error::NoNode) {
        c.ensure_path(&c.root).await?;
        r = client.create(&dir, &[], &c.persistent()).await;
    }
    match r {
        Ok(_) => Ok(()),
        Err(zk::Error::NodeExists) => Err(Error::AlreadyExists(format!(
            "group '{group}' already exists"
        ))),
        Err(e) => Err(zk_error(&format!("creating group '{group}'"), e)),
    }
}

pub(super) async fn delete(c: &ZkCoordinator, group: &str) -> Result<()> {
    let dir = c.group_dir(group)?;
    let client = c.client()?;
    let not_empty = || Error::NotEmpty(format!("group '{group}' still has members"));
    match client.delete(&dir, None).await {
        Ok(()) => return Ok(()),
        Err(zk::Error::NoNode) => return Err(missing(group)),
        Err(zk::Error::NotEmpty) => {}
        Err(e) => return Err(zk_error(&format!("deleting group '{group}'"), e)),
    }
    // Only tooz's persistent leader directory left, with no contender in it: both go.
    let children = client
        .list_children(&dir)
        .await
        .map_err(|e| zk_error(&format!("listing {dir}"), e))?;
    if children != [LEADER] {
        return Err(not_empty());
    }
    let mut txn = client.new_multi_writer();
    let leader = format!("{dir}/{LEADER}");
    txn.add_delete(&leader, None)
        .map_err(|e| zk_error("deleting group", e))?;
    txn.add_delete(&dir, None)
        .map_err(|e| zk_error("deleting group", e))?;
    match txn.commit().await.map_err(zk::Error::from) {
        Ok(_) => Ok(()),
        Err(zk::Error::NotEmpty) => Err(not_empty()),
        Err(zk::Error::NoNode) => Err(missing(group)),
        Err(e) => Err(zk_error(&format!("deleting group '{group}'"), e)),
    }
}

/// Members' node names (without `leader`), or NotFound.
async fn member_names(c: &ZkCoordinator, group: &str) -> Result<Vec<String>> {
    let dir = c.group_dir(group)?;
    let client = c.client()?;
    match client.list_children(&dir).await {
        Ok(mut ch) => {
            ch.retain(|m| m != LEADER);
            ch.sort();
            Ok(ch)
        }
        Err(zk::Error::NoNode) => Err(missing(group)),
        Err(e) => Err(zk_error(&format!("listing group '{group}'"), e)),
    }
}

/// One `multiRead` request per [`crate::backends::WINDOW`] paths (ZooKeeper 3.6+), all
/// sent before the first answer is awaited: 10 000 reads in 20 requests, and far less work
/// for the server than 10 000 single requests. `None` when the server refuses multiRead
/// (before 3.6): the caller then pipelines single reads.
async fn multi_read(
    client: &zk::Client,
    paths: &[String],
    children: bool,
) -> Result<Option<Vec<zk::MultiReadResult>>> {
    let mut pending = Vec::new();
    for chunk in paths.chunks(crate::backends::WINDOW) {
        let mut reader = client.new_multi_reader();
        for p in chunk {
            let added = if children {
                reader.add_get_children(p)
            } else {
                reader.add_get_data(p)
            };
            added.map_err(|e| zk_error(&format!("reading {p}"), e))?;
        }
        pending.push(reader.commit());
    }
    let mut out = Vec::with_capacity(paths.len());
    for answer in pending {
        match answer.await {
            Ok(results) => out.extend(results),
            Err(zk::Error::Unimplemented) => return Ok(None),
            Err(e) => return Err(zk_error("reading a group", e)),
        }
    }
    Ok(Some(out))
}

/// `group list` with [`multi_read`]: every group's children, then every leader directory's.
async fn list_by_multi_read(
    c: &ZkCoordinator,
    client: &zk::Client,
    names: &[String],
) -> Result<Option<Vec<GroupInfo>>> {
    let dirs: Vec<String> = names
        .iter()
        .map(|n| c.group_dir(n))
        .collect::<Result<_>>()?;
    let Some(listings) = multi_read(client, &dirs, true).await? else {
        return Ok(None);
    };
    let leader_dirs: Vec<String> = dirs.iter().map(|d| format!("{d}/{LEADER}")).collect();
    let Some(leaders) = multi_read(client, &leader_dirs, true).await? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (((name, listing), leader_dir), leader) in
        names.iter().zip(listings).zip(&leader_dirs).zip(leaders)
    {
        let members = match listing {
            zk::MultiReadResult::Children { children } => {
                children.iter().filter(|m| *m != LEADER).count()
            }
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode,
            } => continue,
            zk::MultiReadResult::Error { err } => {
                return Err(zk_error(&format!("listing group '{name}'"), err))
            }
            _ => continue,
        };
        let leader = match leader {
            zk::MultiReadResult::Children { children } if !children.is_empty() => {
                leader_in(c, leader_dir, &children).await.ok().flatten()
            }
            _ => None,
        };
        out.push(GroupInfo {
            name: name.clone(),
            members,
            leader: leader.and_then(|h| h.member_id),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(out))
}

pub(super) async fn list(c: &ZkCoordinator) -> Result<Vec<GroupInfo>> {
    let client = c.client()?;
    let names = match client.list_children(&c.root).await {
        Ok(ch) => ch,
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(zk_error(&format!("listing {}", c.root), e)),
    };
    let names: Vec<String> = names.into_iter().filter(|n| n != "locks").collect();
    if let Some(out) = list_by_multi_read(c, &client, &names).await? {
        return Ok(out);
    }
    let mut out = Vec::new();
    // A window of groups at a time: their member listings and leaders read concurrently,
    // not two round trips per group one after the other.
    for chunk in names.chunks(crate::backends::WINDOW) {
        let counts: Vec<Result<Vec<String>>> = crate::backends::concurrently(
            chunk
                .iter()
                .map(|n| Box::pin(member_names(c, n)) as crate::backends::Pending<'_, _>)
                .collect(),
        )
        .await;
        let leaders: Vec<Result<Option<Holder>>> = crate::backends::concurrently(
            chunk
                .iter()
                .map(|n| Box::pin(leader(c, n)) as crate::backends::Pending<'_, _>)
                .collect(),
        )
        .await;
        for ((name, members), leader) in chunk.iter().zip(counts).zip(leaders) {
            let members = match members {
                Ok(m) => m.len(),
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            out.push(GroupInfo {
                name: name.clone(),
                members,
                leader: leader.ok().flatten().and_then(|h| h.member_id),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn members(c: &ZkCoordinator, group: &str) -> Result<Vec<Member>> {
    let dir = c.group_dir(group)?;
    let client = c.client()?;
    let (leader, names) = tokio::join!(leader(c, group), member_names(c, group));
    let leader = leader?.and_then(|h| h.member_id);
    let names = names?;
    let mut out = Vec::with_capacity(names.len());
    let paths: Vec<String> = names.iter().map(|m| format!("{dir}/{m}")).collect();
    if let Some(results) = multi_read(&client, &paths, false).await? {
        for (m, r) in names.iter().zip(results) {
            let data = match r {
                zk::MultiReadResult::Data { data, .. } => data,
                zk::MultiReadResult::Error {
                    err: zk::Error::NoNode,
                } => continue,
                zk::MultiReadResult::Error { err } => {
                    return Err(zk_error(&format!("reading member '{m}'"), err))
                }
                _ => continue,
            };
            out.push(member(m, data, leader.as_deref()));
        }
        return Ok(out);
    }
    // Pipelined: each read is sent when made and answers come in order, so a window of
    // them costs about one round trip, not one per member.
    for chunk in names.chunks(crate::backends::WINDOW) {
        let reads: Vec<_> = chunk
            .iter()
            .map(|m| client.get_data(&format!("{dir}/{m}")))
            .collect();
        for (m, read) in chunk.iter().zip(reads) {
            let data = match read.await {
                Ok((d, _)) => d,
                Err(zk::Error::NoNode) => continue,
                Err(e) => return Err(zk_error(&format!("reading member '{m}'"), e)),
            };
            out.push(member(m, data, leader.as_deref()));
        }
    }
    Ok(out)
}

/// A member from its node's data: tooz reads empty data as None; anything unreadable is
/// shown as no capabilities.
fn member(id: &str, data: Vec<u8>, leader: Option<&str>) -> Member {
    let capabilities = if data.is_empty() {
        Capabilities::default()
    } else {
        Capabilities::from_msgpack(&data).unwrap_or_default()
    };
    Member {
        leader: leader == Some(id),
        member_id: id.to_string(),
        capabilities,
    }
}

fn validate_member(member: &str) -> Result<()> {
    validate_znode_name("member", member, false)?;
    if member == LEADER {
        return Err(Error::InvalidName(
            "member id \"leader\" collides with tooz's leader node on ZooKeeper".into(),
        ));
    }
    Ok(())
}

pub(super) async fn join(
    c: &ZkCoordinator,
    group: &str,
    capabilities: &Capabilities,
    create_group: bool,
) -> Result<Held> {
    let dir = c.group_dir(group)?;
    let member = c.identity.member_id.clone();
    validate_member(&member)?;
    let client = c.client()?;
    let path = format!("{dir}/{member}");
    let data = capabilities.to_msgpack();
    c.record_session();
    let mut r = client.create(&path, &data, &c.ephemeral()).await;
    if r == Err(zk::Error::NoNode) && create_group {
        match create(c, group).await {
            Ok(()) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        r = client.create(&path, &data, &c.ephemeral()).await;
    }
    let stat = match r {
        Ok((stat, _)) => stat,
        Err(zk::Error::NoNode) => return Err(missing(group)),
        Err(zk::Error::NodeExists) => {
            return Err(Error::AlreadyExists(format!(
                "member '{member}' is already in group '{group}'"
            )))
        }
        Err(e) => return Err(zk_error(&format!("joining group '{group}'"), e)),
    };
    let (health, watcher) = c.session.held(client.clone(), path.clone(), None, "member");
    let guard = lock::ZkHeld::new(c, client, path, watcher, health.clone());
    Ok(Held::new(
        format!("membership of group '{group}'"),
        stat.czxid as u64,
        Some(c.session_timeout),
        health,
        Box::new(guard),
    ))
}

pub(super) async fn leave(c: &ZkCoordinator, group: &str, member: &str) -> Result<()> {
    let dir = c.group_dir(group)?;
    validate_member(member)?;
    let client = c.client()?;
    match client.delete(&format!("{dir}/{member}"), None).await {
        Ok(()) => Ok(()),
        Err(zk::Error::NoNode) => {
            member_names(c, group).await?;
            Err(Error::NotFound(format!(
                "member '{member}' is not in group '{group}'"
            )))
        }
        Err(e) => Err(zk_error(&format!("leaving group '{group}'"), e)),
    }
}

pub(super) async fn campaign(c: &ZkCoordinator, group: &str, wait: Wait) -> Result<Option<Held>> {
    let dir = format!("{}/{LEADER}", c.group_dir(group)?);
    member_names(c, group).await?;
    let Some(turn) = lock::queue(c, &dir, NodeKind::Write, wait, &|_: &[String]| Ok(())).await?
    else {
        return Ok(None);
    };
    Ok(Some(lock::held(
        c,
        format!("leadership of group '{group}'"),
        turn.entry,
        turn.stat,
        turn.watch,
        "leader contender",
    )?))
}

pub(super) async fn leader(c: &ZkCoordinator, group: &str) -> Result<Option<Holder>> {
    let gdir = c.group_dir(group)?;
    let dir = format!("{gdir}/{LEADER}");
    let client = c.client()?;
    let children = match client.list_children(&dir).await {
        Ok(ch) => ch,
        Err(zk::Error::NoNode) => {
            return match client.check_stat(&gdir).await {
                Ok(Some(_)) => Ok(None),
                Ok(None) => Err(missing(group)),
                Err(e) => Err(zk_error(&format!("reading group '{group}'"), e)),
            }
        }
        Err(e) => return Err(zk_error(&format!("listing {dir}"), e)),
    };
    leader_in(c, &dir, &children).await
}

/// The leader among `children` of the leader directory `dir`.
pub(super) async fn leader_in(
    c: &ZkCoordinator,
    dir: &str,
    children: &[String],
) -> Result<Option<Holder>> {
    let client = c.client()?;
    let mut sorted: Vec<&String> = children
        .iter()
        .filter(|ch| contender(ch).is_some())
        .collect();
    sorted.sort_by(|a, b| contender(a).map(|x| x.1).cmp(&contender(b).map(|x| x.1)));
    // The first contender may vanish between the listing and the read: take the next.
    for ch in sorted {
        match client.get_data(&format!("{dir}/{ch}")).await {
            Ok((data, stat)) => return Ok(Some(c.holder_of(&data, &stat).await)),
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(zk_error(&format!("reading {dir}/{ch}"), e)),
        }
    }
    Ok(None)
}
