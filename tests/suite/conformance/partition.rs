//! `toozctl partition` and `group join --weight` on every backend with groups: toozctl
//! members (weighted and not) and a tooz member (`join_partitioned_group`) in one live
//! group; tooz's `Partitioner` and `toozctl partition` name the same owners for 200 items,
//! with one and two replicas; `--mine` answers for the member id a `group join` COMMAND
//! gets in its environment.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::helpers::{json, run};
use crate::support::fixture::{Fx, Kind};
use crate::support::{self, tooz_python};

crate::on_every_backend!(
    tooz_and_toozctl_agree_on_the_owners_of_200_items,
    mine_answers_for_the_member_id_of_a_group_join_command,
);

/// A tooz member: joins with `join_partitioned_group(weight)`, reads a JSON list of items
/// on stdin, prints {replicas: {item: sorted owners}} from its Partitioner, then stays a
/// member until its stdin gives another line.
const TOOZ_PARTITIONER: &str = r#"
import sys, json
from tooz import coordination
url, group, me, weight = sys.argv[1:5]
items = json.loads(sys.stdin.readline())
c = coordination.get_coordinator(url, me.encode())
c.start(start_heart=True)
p = c.join_partitioned_group(group.encode(), weight=int(weight))
out = {}
for r in (1, 2):
    out[str(r)] = {i: sorted(m.decode() for m in p.members_for_object(i, replicas=r)) for i in items}
print(json.dumps(out), flush=True)
sys.stdin.readline()
p.stop()
c.leave_group(group.encode()).get()
c.stop()
"#;

fn items() -> Vec<String> {
    let mut v: Vec<String> = (0..196).map(|i| format!("item-{i:04}")).collect();
    v.extend([
        "unicode-é".into(),
        "with space".into(),
        "42".into(),
        "".into(),
    ]);
    v
}

/// `toozctl -o json partition -r R GROUP ITEMS...` → item → sorted owners.
fn toozctl_owners(fx: &Fx, group: &str, replicas: u32, items: &[String]) -> Value {
    let r = replicas.to_string();
    let mut args = vec!["-o", "json", "partition", "-r", &r, group, "--"];
    args.extend(items.iter().map(String::as_str));
    let (code, out, err) = run(fx.cmd(&args));
    assert_eq!(code, 0, "{err}");
    let mut map = serde_json::Map::new();
    for row in json(&out).as_array().unwrap() {
        assert_eq!(row["group"], group);
        let mut owners: Vec<String> = row["owners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        assert_eq!(owners.len(), replicas as usize, "{row}");
        owners.sort();
        map.insert(row["item"].as_str().unwrap().to_string(), owners.into());
    }
    Value::Object(map)
}

fn tooz_and_toozctl_agree_on_the_owners_of_200_items(kind: Kind) {
    if !kind.has_groups() {
        // No groups: `group join` (and so partition) answers exit 2 naming the backend,
        // which conformance::groups checks.
        return;
    }
    let fx = Fx::shared(kind, "partition");
    let g = fx.name("workers");
    let _a = fx.hold(&["-m", "tz-a", "group", "join", "--weight", "1", &g]);
    let _b = fx.hold(&["-m", "tz-b", "group", "join", "--weight", "3", &g]);
    let _c = fx.hold(&["-m", "tz-c", "group", "join", &g]);
    let items = items();
    let mut py = Command::new(tooz_python())
        .args(["-c", TOOZ_PARTITIONER, &fx.url(), &g, "tooz-d", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = py.stdin.take().unwrap();
    writeln!(stdin, "{}", serde_json::to_string(&items).unwrap()).unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.is_empty() {
        drop(stdin);
        let out = py.wait_with_output().unwrap();
        panic!("tooz failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tooz = json(&line);
    // The tooz member is alive while toozctl reads the same group.
    let (code, out, err) = run(fx.cmd(&["-o", "json", "group", "members", &g]));
    assert_eq!(code, 0, "{err}");
    let caps: Vec<(String, Value)> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member_id"].as_str().unwrap().to_string(),
                m["capabilities"].clone(),
            )
        })
        .collect();
    for (m, w) in [("tz-a", 1), ("tz-b", 3), ("tooz-d", 2)] {
        assert!(
            caps.contains(&(m.to_string(), serde_json::json!({ "weight": w }))),
            "{m} has {{\"weight\": {w}}}, as join_partitioned_group stores it: {caps:?}"
        );
    }
    assert!(
        caps.contains(&("tz-c".to_string(), Value::Null)),
        "{caps:?}"
    );
    for r in [1u32, 2] {
        let ours = toozctl_owners(&fx, &g, r, &items);
        let theirs = &tooz[r.to_string()];
        for i in &items {
            assert_eq!(
                ours[i], theirs[i],
                "item {i:?} with {r} replicas: toozctl vs tooz"
            );
        }
    }
    // The weights matter: tz-b (3) owns more than tz-a (1), and all four own something.
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for i in &items {
        *count
            .entry(tooz["1"][i][0].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(count.len(), 4, "{count:?}");
    assert!(count["tz-b"] > count["tz-a"], "{count:?}");
    // --mine agrees for tz-b, item by item.
    for i in items.iter().take(12) {
        let (code, _, err) = run(fx.cmd(&["-m", "tz-b", "partition", "--mine", &g, "--", i]));
        let tooz_says = tooz["1"][i][0] == "tz-b";
        assert_eq!(code, if tooz_says { 0 } else { 1 }, "{i:?}: {err}");
        assert!(err.is_empty(), "{err}");
    }
    writeln!(stdin).unwrap();
    drop(stdin);
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mine_answers_for_the_member_id_of_a_group_join_command(kind: Kind) {
    if !kind.has_groups() {
        return;
    }
    let fx = Fx::shared(kind, "mine");
    let g = fx.name("workers");
    let _other = fx.hold(&["-m", "other", "group", "join", "--weight", "2", &g]);
    let out_file = fx.home.path().join("mine.txt");
    let bin = support::bin();
    // The COMMAND of a member: TOOZCTL_MEMBER_ID and TOOZCTL_BACKEND come from group join.
    let script = format!(
        "for i in a b c d e f g h i j; do if {bin} partition --mine {g} job-$i; then echo \"job-$i yes\"; else echo \"job-$i $?\"; fi; done > {out}; \
         {bin} -o json partition {g} job-a job-b job-c job-d job-e job-f job-g job-h job-i job-j > {out}.json",
        bin = bin.display(),
        out = out_file.display()
    );
    let (code, _, err) = run(fx.cmd(&[
        "-m", "me", "group", "join", "--weight", "1", &g, "--", "sh", "-c", &script,
    ]));
    assert_eq!(code, 0, "{err}");
    let mine = std::fs::read_to_string(&out_file).unwrap();
    let all = json(&std::fs::read_to_string(format!("{}.json", out_file.display())).unwrap());
    let mut yes = 0;
    for row in all.as_array().unwrap() {
        let item = row["item"].as_str().unwrap();
        let ours = row["owners"][0] == "me";
        let want = format!("{item} {}", if ours { "yes" } else { "1" });
        assert!(mine.lines().any(|l| l == want), "{want} in {mine}");
        yes += ours as usize;
    }
    assert!(yes > 0 && yes < 10, "both answers seen: {mine}");
    // Without a member of that id: not ours, and a warning says why.
    let (code, _, err) = run(fx.cmd(&["-m", "stranger", "partition", "--mine", &g, "job-a"]));
    assert_eq!(code, 1);
    assert!(err.contains("not a member"), "{err}");
    // A missing group is exit 4, a non-UTF-8 item exit 2.
    let (code, _, _) = run(fx.cmd(&["partition", &fx.name("nothing"), "x"]));
    assert_eq!(code, 4);
    let mut c = fx.cmd(&["partition", &g]);
    c.arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
}
