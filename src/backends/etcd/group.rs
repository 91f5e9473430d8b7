//! etcd groups in tooz's layout, and leader elections in etcd's own layout.
//!
//! Groups: `tooz/groups/<g>/` (value: the key itself) and one key per member under it
//! with the msgpack capabilities, on the member's own lease; our holder record sits at
//! `/toozctl/holders/tooz/groups/<g>/<member>` on the same lease. `list` shows only real
//! group keys (a key ending in `/` whose value is itself), not tooz's junk entries.
//!
//! Elections (tooz has none on etcd): etcd's `concurrency.Election` layout under the
//! prefix `toozctl/elections/<enc group>`: each candidate puts `<prefix>/<lease hex>` with
//! its member id as value; the lowest create revision leads; a candidate waits for the
//! deletion of the key just before its own. `etcdctl elect -l toozctl/elections/<enc group>`
//! shows the leader, and `etcdctl elect` candidates take part in the same election.

use etcd_client::{Compare, CompareOp, GetOptions, KeyValue, SortOrder, SortTarget, Txn, TxnOp};

use super::follow::wait_for_delete;
use super::held::EtcdLock;
use super::lease::{self, Lease};
use super::{
    decode_component, encode_component, holder_json, holder_key, parse_holder, EtcdCoordinator,
    ELECTION_PREFIX, GROUP_PREFIX,
};
use crate::coordination::{
    validate_name, Capabilities, Error, GroupInfo, Held, Holder, Member, Result, Wait,
};

fn group_key(g: &str) -> Vec<u8> {
    format!("{GROUP_PREFIX}{g}/").into_bytes()
}

pub fn election_prefix(g: &str) -> Vec<u8> {
    format!("{ELECTION_PREFIX}{}/", encode_component(g)).into_bytes()
}

fn prefix() -> Option<GetOptions> {
    Some(GetOptions::new().with_prefix())
}

fn rev_of(h: Option<&etcd_client::ResponseHeader>) -> i64 {
    h.map(|h| h.revision()).unwrap_or(0)
}

/// A group key as tooz writes it: ends in `/`, value = key.
fn is_group_key(kv: &KeyValue) -> bool {
    kv.key().ends_with(b"/") && kv.key() == kv.value()
}

pub(super) async fn create(c: &EtcdCoordinator, g: &str) -> Result<()> {
    validate_name("group", g)?;
    let key = group_key(g);
    let txn = Txn::new()
        .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key.clone(), key, None)]);
    let mut client = c.client();
    let resp = c
        .rpc(&format!("creating group '{g}'"), client.txn(txn))
        .await?;
    if resp.succeeded() {
        Ok(())
    } else {
        Err(Error::AlreadyExists(format!("group '{g}' already exists")))
    }
}

pub(super) async fn delete(c: &EtcdCoordinator, g: &str) -> Result<()> {
    validate_name("group", g)?;
    let key = group_key(g);
    let mut client = c.client();
    let resp = c
        .rpc(
            &format!("reading group '{g}'"),
            client.get(
                key.clone(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            ),
        )
        .await?;
    if !resp.kvs().iter().any(|kv| kv.key() == key.as_slice()) {
        return Err(Error::NotFound(format!("group '{g}' does not exist")));
    }
    if resp.kvs().len() > 1 {
        return Err(Error::NotEmpty(format!("group '{g}' still has members")));
    }
    let txn = Txn::new()
        .when([Compare::version(key.clone(), CompareOp::NotEqual, 0)])
        .and_then([TxnOp::delete(key, None)]);
    let resp = c
        .rpc(&format!("deleting group '{g}'"), client.txn(txn))
        .await?;
    if resp.succeeded() {
        Ok(())
    } else {
        Err(Error::NotFound(format!("group '{g}' does not exist")))
    }
}

/// Leaders of every election, by group name.
async fn all_leaders(c: &EtcdCoordinator) -> Result<std::collections::BTreeMap<String, String>> {
    let mut client = c.client();
    let opts = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend);
    let resp = c
        .rpc("reading elections", client.get(ELECTION_PREFIX, Some(opts)))
        .await?;
    let mut out = std::collections::BTreeMap::new();
    for kv in resp.kvs() {
        let rest = String::from_utf8_lossy(&kv.key()[ELECTION_PREFIX.len()..]).into_owned();
        if let Some((enc, _)) = rest.rsplit_once('/') {
            out.entry(decode_component(enc))
                .or_insert_with(|| String::from_utf8_lossy(kv.value()).into_owned());
        }
    }
    Ok(out)
}

pub(super) async fn list(c: &EtcdCoordinator) -> Result<Vec<GroupInfo>> {
    let mut client = c.client();
    let resp = c
        .rpc("listing groups", client.get(GROUP_PREFIX, prefix()))
        .await?;
    let leaders = all_leaders(c).await?;
    let groups: Vec<&KeyValue> = resp.kvs().iter().filter(|kv| is_group_key(kv)).collect();
    let mut out = Vec::new();
    for gkv in &groups {
        let name = String::from_utf8_lossy(&gkv.key()[GROUP_PREFIX.len()..gkv.key().len() - 1])
            .into_owned();
        let members = resp
            .kvs()
            .iter()
            .filter(|kv| {
                kv.key().starts_with(gkv.key()) && kv.key() != gkv.key() && !is_group_key(kv)
            })
            .count();
        out.push(GroupInfo {
            leader: leaders.get(&name).cloned(),
            name,
            members,
        });
    }
    Ok(out)
}

/// Members of `g` (id, capabilities bytes) and the revision read at.
pub(super) async fn member_keys(
    c: &EtcdCoordinator,
    g: &str,
) -> Result<(Vec<(String, Vec<u8>)>, i64)> {
    validate_name("group", g)?;
    let key = group_key(g);
    let mut client = c.client();
    let resp = c
        .rpc(
            &format!("reading group '{g}'"),
            client.get(key.clone(), prefix()),
        )
        .await?;
    if !resp.kvs().iter().any(|kv| kv.key() == key.as_slice()) {
        return Err(Error::NotFound(format!("group '{g}' does not exist")));
    }
    let members = resp
        .kvs()
        .iter()
        .filter(|kv| kv.key() != key.as_slice() && !is_group_key(kv))
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key()[key.len()..]).into_owned(),
                kv.value().to_vec(),
            )
        })
        .collect();
    Ok((members, rev_of(resp.header())))
}

pub(super) async fn members(c: &EtcdCoordinator, g: &str) -> Result<Vec<Member>> {
    let (keys, _) = member_keys(c, g).await?;
    let leader = leader_at(c, g).await?.0.and_then(|(h, _)| h.member_id);
    Ok(keys
        .into_iter()
        .map(|(id, caps)| Member {
            leader: leader.as_deref() == Some(id.as_str()),
            capabilities: Capabilities::from_msgpack(&caps).unwrap_or_default(),
            member_id: id,
        })
        .collect())
}

pub(super) async fn join(
    c: &EtcdCoordinator,
    g: &str,
    caps: &Capabilities,
    create_missing: bool,
) -> Result<Held> {
    validate_name("group", g)?;
    let me = c.identity.member_id.clone();
    let gkey = group_key(g);
    let mkey = [gkey.clone(), me.clone().into_bytes()].concat();
    let hkey = holder_key(&mkey);
    let value = caps.to_msgpack();
    let record = holder_json(&c.identity.holder(None, None));
    let lease = Lease::grant(c, c.membership_ttl).await?;
    loop {
        let mut client = c.client();
        let resp = c
            .rpc(
                &format!("reading group '{g}'"),
                client.get(gkey.clone(), prefix()),
            )
            .await?;
        let Some(version) = resp
            .kvs()
            .iter()
            .find(|kv| kv.key() == gkey.as_slice())
            .map(|kv| kv.version())
        else {
            if create_missing {
                match create(c, g).await {
                    Ok(()) | Err(Error::AlreadyExists(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            lease.revoke(c).await?;
            return Err(Error::NotFound(format!(
                "group '{g}' does not exist (use --create)"
            )));
        };
        if resp.kvs().iter().any(|kv| kv.key() == mkey.as_slice()) {
            lease.revoke(c).await?;
            return Err(Error::AlreadyExists(format!(
                "member '{me}' is already in group '{g}'"
            )));
        }
        let txn = Txn::new()
            .when([Compare::version(gkey.clone(), CompareOp::Equal, version)])
            .and_then([
                TxnOp::put(
                    mkey.clone(),
                    value.clone(),
                    Some(etcd_client::PutOptions::new().with_lease(lease.id)),
                ),
                TxnOp::put(
                    hkey.clone(),
                    record.clone(),
                    Some(etcd_client::PutOptions::new().with_lease(lease.id)),
                ),
            ]);
        let resp = c
            .rpc(&format!("joining group '{g}'"), client.txn(txn))
            .await?;
        if !resp.succeeded() {
            continue;
        }
        let rev = rev_of(resp.header());
        let watcher = lease::watch_loss(c, mkey.clone(), value.clone(), rev, lease.sender());
        let (health, ttl) = (lease.health(), lease.ttl);
        let held = EtcdLock {
            c: c.shallow(),
            key: mkey,
            hkey,
            value: Some(value),
            lease: Some(lease),
            watcher,
            waiters: None,
        };
        return Ok(Held::new(
            format!("membership of group '{g}'"),
            rev as u64,
            Some(ttl),
            health,
            Box::new(held),
        ));
    }
}

pub(super) async fn leave(c: &EtcdCoordinator, g: &str, member: &str) -> Result<()> {
    let (members, _) = member_keys(c, g).await?;
    if !members.iter().any(|(m, _)| m == member) {
        return Err(Error::NotFound(format!(
            "member '{member}' is not in group '{g}'"
        )));
    }
    let mkey = [group_key(g), member.as_bytes().to_vec()].concat();
    let txn = Txn::new().and_then([
        TxnOp::delete(mkey.clone(), None),
        TxnOp::delete(holder_key(&mkey), None),
    ]);
    let mut client = c.client();
    c.rpc(
        &format!("removing '{member}' from group '{g}'"),
        client.txn(txn),
    )
    .await?;
    Ok(())
}

pub(super) async fn campaign(c: &EtcdCoordinator, g: &str, wait: Wait) -> Result<Option<Held>> {
    validate_name("group", g)?;
    let pfx = election_prefix(g);
    let lease = Lease::grant(c, c.membership_ttl).await?;
    let mine = [pfx.clone(), format!("{:x}", lease.id).into_bytes()].concat();
    let hkey = holder_key(&mine);
    let value = c.identity.member_id.clone().into_bytes();
    let record = holder_json(&c.identity.holder(None, None));
    let put = |k: &Vec<u8>, v: &Vec<u8>| {
        TxnOp::put(
            k.clone(),
            v.clone(),
            Some(etcd_client::PutOptions::new().with_lease(lease.id)),
        )
    };
    let txn = Txn::new()
        .when([Compare::create_revision(mine.clone(), CompareOp::Equal, 0)])
        .and_then([put(&mine, &value), put(&hkey, &record)]);
    let mut client = c.client();
    let resp = c
        .rpc(&format!("campaigning in group '{g}'"), client.txn(txn))
        .await?;
    let my_rev = rev_of(resp.header());
    loop {
        let opts = GetOptions::new()
            .with_prefix()
            .with_max_create_revision(my_rev - 1)
            .with_sort(SortTarget::Create, SortOrder::Descend)
            .with_limit(1);
        let resp = c
            .rpc(
                &format!("reading the election of group '{g}'"),
                client.get(pfx.clone(), Some(opts)),
            )
            .await?;
        let Some(before) = resp.kvs().first() else {
            let watcher = lease::watch_loss(c, mine.clone(), value.clone(), my_rev, lease.sender());
            let (health, ttl) = (lease.health(), lease.ttl);
            let held = EtcdLock {
                c: c.shallow(),
                key: mine,
                hkey,
                value: Some(value),
                lease: Some(lease),
                watcher,
                waiters: None,
            };
            return Ok(Some(Held::new(
                format!("leadership of group '{g}'"),
                my_rev as u64,
                Some(ttl),
                health,
                Box::new(held),
            )));
        };
        if wait == Wait::NoWait
            || !wait_for_delete(c, before.key(), false, rev_of(resp.header()) + 1, wait).await?
        {
            lease.revoke(c).await?;
            return Ok(None);
        }
    }
}

/// The leader of `g` with its fencing token (create revision), and the revision read at.
pub(super) async fn leader_at(
    c: &EtcdCoordinator,
    g: &str,
) -> Result<(Option<(Holder, u64)>, i64)> {
    validate_name("group", g)?;
    let opts = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let mut client = c.client();
    let resp = c
        .rpc(
            &format!("reading the leader of group '{g}'"),
            client.get(election_prefix(g), Some(opts)),
        )
        .await?;
    let rev = rev_of(resp.header());
    let Some(kv) = resp.kvs().first() else {
        return Ok((None, rev));
    };
    let record = c
        .rpc(
            "reading a holder record",
            client.get(holder_key(kv.key()), None),
        )
        .await?;
    let mut h = parse_holder(
        record.kvs().first().map(|r| r.value()),
        "elected with etcdctl elect",
    );
    h.member_id = Some(String::from_utf8_lossy(kv.value()).into_owned());
    h.fencing_token = Some(kv.create_revision() as u64);
    Ok((Some((h, kv.create_revision() as u64)), rev))
}

pub(super) async fn leader(c: &EtcdCoordinator, g: &str) -> Result<Option<Holder>> {
    Ok(leader_at(c, g).await?.0.map(|(h, _)| h))
}
