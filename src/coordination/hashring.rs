//! tooz's consistent hash ring (`tooz.hashring.HashRing`) and the weights its
//! `Partitioner` reads, re-implemented from the wire format's §10 so that toozctl and tooz
//! workers map every item to the same members. Pure computation: no backend, no I/O.
//!
//! The ring: for a node with weight *w*, its id's bytes (`key`) are fed into one running
//! MD5 state `partitions × w` times after a first feed, and after each feed the hex digest
//! read as a 128-bit big-endian integer is one point owned by the node (the *r*-th point is
//! `md5(key repeated r+2 times)`). A lookup hashes the item's bytes the same way, finds the
//! first point above it (bisect-right, wrapping to the first point), and walks on until
//! `replicas` distinct nodes are collected.
//!
//! Two deliberate differences, both where tooz would fail rather than answer: a walk stops
//! after one turn of the ring (tooz loops forever when `replicas` counts a node that has no
//! points, a weight of 0 or less), and the ring's size is bounded ([`MAX_POINTS`]; tooz
//! would try to allocate whatever the weights ask for).

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::{Capabilities, Error, Result};

/// tooz's default number of points per unit of weight (`DEFAULT_PARTITION_NUMBER`).
pub const DEFAULT_PARTITIONS: u32 = 32;

/// The most points a ring may have (16 bytes each, plus the owner's index): far above any
/// real group (1 000 members of weight 100 at 32 partitions is 3.2 million).
pub const MAX_POINTS: u64 = 1 << 24;

/// A consistent hash ring over node ids.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    partitions: u32,
    /// Node ids with their weights, in the order added.
    nodes: Vec<(String, i64)>,
    /// Point → index into `nodes`; a later equal point overwrites (as tooz's dict does).
    ring: BTreeMap<u128, usize>,
    /// The ring's points in ascending order, with their owner (index into `nodes`).
    points: Vec<(u128, usize)>,
}

fn hash(data: &[u8]) -> u128 {
    u128::from_be_bytes(Md5::digest(data).into())
}

impl HashRing {
    /// An empty ring with `partitions` points per unit of weight (tooz's default: 32).
    pub fn new(partitions: u32) -> HashRing {
        HashRing {
            partitions,
            ..HashRing::default()
        }
    }

    /// Add `node` with `weight` (tooz's `add_node`). A weight of 0 or less adds the node
    /// without points, as tooz does: it is counted by `replicas` but never chosen.
    pub fn add_node(&mut self, node: &str, weight: i64) -> Result<()> {
        let count = (self.partitions as i64).saturating_mul(weight.max(0)) as u64;
        if count + self.points.len() as u64 > MAX_POINTS {
            return Err(Error::InvalidInput(format!(
                "the hash ring would have more than {MAX_POINTS} points (member '{node}' has weight {weight} at {} partitions)",
                self.partitions
            )));
        }
        let index = self.nodes.len();
        self.nodes.push((node.to_string(), weight));
        let key = node.as_bytes();
        let mut state = Md5::new();
        state.update(key);
        for _ in 0..count {
            state.update(key);
            let p = u128::from_be_bytes(state.clone().finalize().into());
            self.ring.insert(p, index);
        }
        self.points = self.ring.iter().map(|(p, i)| (*p, *i)).collect();
        Ok(())
    }

    /// The nodes `data` maps onto (tooz's `get_nodes` without `ignore_nodes`): up to
    /// `replicas` distinct nodes (at most the number of nodes), the ring's first owner
    /// first. tooz returns them as an unordered set; the order here is the walk's.
    pub fn get_nodes(&self, data: &[u8], replicas: usize) -> Vec<&str> {
        let want = replicas.min(self.nodes.len());
        let mut out: Vec<&str> = Vec::with_capacity(want);
        if self.points.is_empty() || want == 0 {
            return out;
        }
        let h = hash(data);
        let mut i = self.points.partition_point(|(p, _)| *p <= h);
        if i == self.points.len() {
            i = 0;
        }
        // One turn at most: a node without points can never be collected.
        for step in 0..self.points.len() {
            if out.len() >= want {
                break;
            }
            let (_, owner) = self.points[(i + step) % self.points.len()];
            let node = self.nodes[owner].0.as_str();
            if !out.contains(&node) {
                out.push(node);
            }
        }
        out
    }

    /// How many points the ring has.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The weight tooz's `Partitioner` gives a member with these capabilities:
/// `caps.get("weight", 1) if isinstance(caps, dict) else 1`. Only a text key `weight`
/// counts (a bin key is a different dict key in Python); the last one wins, as in a dict.
/// A bool counts as 0 or 1 (Python's bool is an int). Any other value (a float, text,
/// nil) makes tooz's ring fail with a `TypeError`, so it is an error here too.
pub fn weight_of(member: &str, caps: &Capabilities) -> Result<i64> {
    let rmpv::Value::Map(entries) = caps.value() else {
        return Ok(1);
    };
    let Some((_, v)) = entries
        .iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some("weight"))
    else {
        return Ok(1);
    };
    match v {
        rmpv::Value::Integer(i) => i.as_i64().ok_or_else(|| {
            Error::InvalidInput(format!("member '{member}' has weight {i}, too large"))
        }),
        rmpv::Value::Boolean(b) => Ok(*b as i64),
        other => Err(Error::InvalidInput(format!(
            "member '{member}' has weight {}, not an integer (tooz's Partitioner cannot use it either)",
            caps_json_of(other)
        ))),
    }
}

fn caps_json_of(v: &rmpv::Value) -> String {
    let mut bytes = Vec::new();
    let _ = rmpv::encode::write_value(&mut bytes, v);
    Capabilities::from_msgpack(&bytes)
        .map(|c| c.to_json().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    //! The worked examples of the wire format's §10.3, computed with tooz 9.1.0.
    use super::*;

    fn ring(nodes: &[(&str, i64)], partitions: u32) -> HashRing {
        let mut r = HashRing::new(partitions);
        for (n, w) in nodes {
            r.add_node(n, *w).unwrap();
        }
        r
    }

    fn owner(r: &HashRing, data: &str) -> String {
        r.get_nodes(data.as_bytes(), 1)[0].to_string()
    }

    fn set(r: &HashRing, data: &str, replicas: usize) -> Vec<String> {
        let mut v: Vec<String> = r
            .get_nodes(data.as_bytes(), replicas)
            .into_iter()
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn points_are_md5_of_the_key_repeated() {
        assert_eq!(
            hash(b"node-anode-a"),
            0xfcca8aa1a4f92ad47f187d4dba82c076u128
        );
        let r = ring(&[("node-a", 1)], 3);
        let mut want = vec![
            0xfcca8aa1a4f92ad47f187d4dba82c076u128,
            0xce02829c6d2357104e5f3100b1a70fd9,
            0x5543b28abce445670a46be001d948b8b,
        ];
        want.sort();
        assert_eq!(r.points.iter().map(|p| p.0).collect::<Vec<_>>(), want);
        assert_eq!(hash(b"obj-0"), 0x0734f20cd4ced1e96e2f06644edda4ae);
        assert_eq!(hash(b"m1m1"), 0xa7fb79750993e7512e30b1124da6563c);
    }

    #[test]
    fn example_a_three_nodes() {
        let r = ring(&[("node-a", 1), ("node-b", 1), ("node-c", 1)], 32);
        assert_eq!(r.len(), 96);
        let owners: Vec<String> = (0..8).map(|i| owner(&r, &format!("obj-{i}"))).collect();
        assert_eq!(
            owners,
            ["node-c", "node-b", "node-c", "node-c", "node-c", "node-c", "node-c", "node-c"]
        );
        assert_eq!(set(&r, "obj-0", 2), ["node-a", "node-c"]);
        assert_eq!(set(&r, "obj-1", 2), ["node-a", "node-b"]);
        assert_eq!(set(&r, "obj-2", 2), ["node-b", "node-c"]);
        assert_eq!(set(&r, "obj-3", 2), ["node-a", "node-c"]);
        assert_eq!(owner(&r, ""), "node-a");
        assert_eq!(owner(&r, "instance-42"), "node-b");
        assert_eq!(owner(&r, "unicode-é"), "node-c");
    }

    #[test]
    fn example_b_weights() {
        let r = ring(&[("node-a", 1), ("node-b", 2), ("node-c", 3)], 32);
        assert_eq!(r.len(), 192);
        let owners: Vec<String> = (0..8).map(|i| owner(&r, &format!("obj-{i}"))).collect();
        assert_eq!(
            owners,
            ["node-c", "node-b", "node-c", "node-c", "node-c", "node-c", "node-c", "node-c"]
        );
        assert_eq!(owner(&r, ""), "node-b");
        assert_eq!(owner(&r, "instance-42"), "node-b");
        assert_eq!(owner(&r, "unicode-é"), "node-c");
    }

    #[test]
    fn example_c_eight_partitions_and_wrapping() {
        let r = ring(&[("m1", 1), ("m2", 1), ("m3", 1), ("m4", 1)], 8);
        assert_eq!(r.len(), 32);
        let first: Vec<&str> = r.points[..6]
            .iter()
            .map(|(_, i)| r.nodes[*i].0.as_str())
            .collect();
        assert_eq!(first, ["m2", "m1", "m4", "m3", "m4", "m1"]);
        assert_eq!(r.points[31].0, 0xf94f4895e7f022be56af5f61a3548e14);
        let want = [
            ("obj-0", "m2", ["m1", "m2", "m4"]),
            ("obj-1", "m1", ["m1", "m3", "m4"]),
            ("obj-2", "m4", ["m1", "m3", "m4"]),
            ("obj-3", "m2", ["m1", "m2", "m4"]),
            ("obj-4", "m2", ["m1", "m2", "m3"]),
            ("obj-5", "m4", ["m1", "m2", "m4"]),
            ("obj-6", "m1", ["m1", "m3", "m4"]),
            ("obj-7", "m1", ["m1", "m3", "m4"]),
            ("", "m1", ["m1", "m3", "m4"]),
            ("instance-42", "m1", ["m1", "m3", "m4"]),
            ("unicode-é", "m4", ["m1", "m3", "m4"]),
        ];
        for (data, one, three) in want {
            assert_eq!(owner(&r, data), one, "{data}");
            assert_eq!(set(&r, data, 3), three, "{data}");
        }
        // md5("w83") is above the last point: the lookup wraps to the first.
        assert!(hash(b"w83") > r.points[31].0);
        assert_eq!(owner(&r, "w83"), "m2");
    }

    #[test]
    fn example_d_partitioner_weights() {
        let r = ring(&[("worker-1", 1), ("worker-2", 2), ("worker-3", 1)], 32);
        assert_eq!(r.len(), 128);
        assert_eq!(owner(&r, "vm-0001"), "worker-2");
        assert_eq!(set(&r, "vm-0001", 2), ["worker-2", "worker-3"]);
        assert_eq!(owner(&r, "vm-0002"), "worker-2");
        assert_eq!(owner(&r, "vm-0003"), "worker-1");
        assert_eq!(set(&r, "vm-0003", 2), ["worker-1", "worker-2"]);
        assert_eq!(owner(&r, "instance-42"), "worker-1");
        // tooz hashes str(obj): b"vm-0001" is the text "b'vm-0001'", 42 is "42".
        assert_eq!(owner(&r, "b'vm-0001'"), "worker-3");
        assert_eq!(set(&r, "b'vm-0001'", 2), ["worker-1", "worker-3"]);
        assert_eq!(owner(&r, "42"), "worker-1");
        let mut count = std::collections::BTreeMap::<String, u32>::new();
        for i in 0..1000 {
            *count.entry(owner(&r, &format!("obj-{i}"))).or_default() += 1;
        }
        assert_eq!(
            count.into_iter().collect::<Vec<_>>(),
            [
                ("worker-1".to_string(), 288),
                ("worker-2".to_string(), 456),
                ("worker-3".to_string(), 256)
            ]
        );
    }

    #[test]
    fn nodes_without_points_end_the_walk_instead_of_looping() {
        let r = ring(&[("a", 1), ("zero", 0), ("neg", -3)], 32);
        assert_eq!(r.len(), 32);
        assert_eq!(r.get_nodes(b"x", 3), ["a"]);
        let empty = ring(&[("zero", 0)], 32);
        assert!(empty.get_nodes(b"x", 1).is_empty());
        assert!(HashRing::new(32).get_nodes(b"x", 1).is_empty());
    }

    #[test]
    fn weights_as_tooz_reads_them() {
        let caps = |j: &str| Capabilities::from_json_text(j).unwrap();
        assert_eq!(weight_of("m", &Capabilities::default()).unwrap(), 1);
        assert_eq!(weight_of("m", &caps(r#"{"role": "api"}"#)).unwrap(), 1);
        assert_eq!(weight_of("m", &caps(r#"{"weight": 3}"#)).unwrap(), 3);
        assert_eq!(weight_of("m", &caps(r#"[1, 2]"#)).unwrap(), 1);
        assert_eq!(weight_of("m", &caps(r#"{"weight": true}"#)).unwrap(), 1);
        assert_eq!(weight_of("m", &caps(r#"{"weight": -2}"#)).unwrap(), -2);
        // tooz stores {"weight": 1} as 81 a6 "weight" 01.
        let stored =
            Capabilities::from_msgpack(&[0x81, 0xa6, b'w', b'e', b'i', b'g', b'h', b't', 0x02])
                .unwrap();
        assert_eq!(weight_of("m", &stored).unwrap(), 2);
        for bad in [
            r#"{"weight": 1.5}"#,
            r#"{"weight": "2"}"#,
            r#"{"weight": null}"#,
        ] {
            let e = weight_of("m", &caps(bad)).unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{bad}");
            assert!(e.message().contains("member 'm'"), "{e}");
        }
        let mut huge = HashRing::new(32);
        assert!(huge.add_node("h", 1 << 40).is_err());
    }
}
