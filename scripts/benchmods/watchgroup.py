"""`watch group` under churn: 1 000 joins and 1 000 leaves per second on Redis, ZooKeeper and
etcd while `toozctl -o json watch group G` runs; the events it printed are counted against
what was done, and its peak RSS (VmHWM) is read before it is stopped.

A helper writes the members directly in tooz's layout with the Python clients of the tooz
venv (the group itself is created through tooz): every 100 ms it joins 100 new members and
makes the 100 members joined 2 s earlier leave, for JOIN_SECONDS seconds of joins, so
while both run the rate is 1 000 joins + 1 000 leaves a second; at the end the last ones
leave at the same pace. Each member lives 2 s, so a watch that re-reads the state (Redis,
whose tooz writers publish nothing, polls once a second) can see every one; a member that
joined and left between two reads would be missed by such a watch and is not what this row
measures. The watch is known to be live when a sentinel member's join has been printed.
Rows: events reported / done (must be equal: `missed` otherwise), the rate achieved by the
helper, the time after the last change until the watch had reported everything, VmHWM.
"""
import json
import os
import subprocess
import time

import etcd as etcd_mod
import redis as redis_mod
import zookeeper as zk_mod

JOIN_SECONDS = 4
TICK = 0.1
PER_TICK = 100
LIFE_TICKS = 20

PACE = r"""
import json, sys, time
def pace(join, leave, flush, join_seconds, tick, per_tick, life_ticks):
    joins = round(join_seconds / tick)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    late = 0.0
    done_j = done_l = 0
    for k in range(joins + life_ticks):
        due = t0 + k * tick
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        if k < joins:
            join([f"m{k:04d}-{i:03d}" for i in range(per_tick)])
            done_j += per_tick
        if k >= life_ticks:
            leave([f"m{k - life_ticks:04d}-{i:03d}" for i in range(per_tick)])
            done_l += per_tick
        flush()
    elapsed = time.monotonic() - t0
    print(json.dumps({"joins": done_j, "leaves": done_l, "elapsed": elapsed, "late": late}), flush=True)
    sys.stdin.readline()
"""

ZK_HELPER = PACE + r"""
import msgpack, tooz.coordination as tc
from kazoo.client import KazooClient
url, hosts, ns = sys.argv[1], sys.argv[2], sys.argv[3]
c = tc.get_coordinator(url, b"creator")
c.start()
c.create_group(b"churn").get()
c.join_group(b"churn").get()  # a member through tooz, present all along
zk = KazooClient(hosts=hosts)
zk.start()
base = f"/{ns}/churn/"
pending = []
caps = msgpack.packb(None)
def join(ms):
    pending.extend(zk.create_async(base + m, caps, ephemeral=True) for m in ms)
def leave(ms):
    pending.extend(zk.delete_async(base + m) for m in ms)
def flush():
    for p in pending:
        p.get()
    pending.clear()
if sys.argv[4] == "sentinel":
    join(["sentinel"]); flush()
pace(join, leave, flush, *map(float, sys.argv[5:7]), *map(int, sys.argv[7:9]))
"""

REDIS_HELPER = PACE + r"""
import msgpack, redis, tooz.coordination as tc
url, port, ns = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = tc.get_coordinator(url, b"creator")
c.start()
c.create_group(b"churn").get()
r = redis.Redis(port=port)
p = r.pipeline(transaction=False)
caps = msgpack.packb(None)
def join(ms):
    for m in ms:
        p.hset(f"{ns}_group:churn", m, caps)
        p.set(f"{ns}_beats:{m}", b"Not dead!", px=600000)
def leave(ms):
    p.hdel(f"{ns}_group:churn", *ms)
    p.delete(*[f"{ns}_beats:{m}" for m in ms])
def flush():
    p.execute()
join(["sentinel"]); flush()
pace(join, leave, flush, *map(float, sys.argv[5:7]), *map(int, sys.argv[7:9]))
"""

ETCD_HELPER = PACE + r"""
import base64, urllib.request, msgpack, tooz.coordination as tc
url, port = sys.argv[1], int(sys.argv[2])
c = tc.get_coordinator(url, b"creator")
c.start()
c.create_group(b"churn").get()
api = f"http://127.0.0.1:{port}/v3"
def call(path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
b64 = lambda b: base64.b64encode(b).decode()
lease = call("/lease/grant", {"TTL": 600})["ID"]
ops = []
caps = b64(msgpack.packb(None))
def join(ms):
    ops.extend({"request_put": {"key": b64(f"tooz/groups/churn/{m}".encode()), "value": caps, "lease": lease}} for m in ms)
def leave(ms):
    ops.extend({"request_delete_range": {"key": b64(f"tooz/groups/churn/{m}".encode())}} for m in ms)
def flush():
    # etcd allows 128 operations per transaction by default.
    for k in range(0, len(ops), 100):
        call("/kv/txn", {"success": ops[k:k + 100]})
    ops.clear()
join(["sentinel"]); flush()
pace(join, leave, flush, *map(float, sys.argv[5:7]), *map(int, sys.argv[7:9]))
"""


def count(path):
    """(joins, leaves, other events) the watch printed, the sentinel left out."""
    j = set()
    l = set()
    other = 0
    dup = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return j, l, other, dup
    for line in lines:
        if not line.endswith("}"):
            continue  # a line still being written
        e = json.loads(line)
        m = e.get("member_id")
        if e["event"] == "join" and m and m.startswith("m"):
            dup += m in j
            j.add(m)
        elif e["event"] == "leave" and m and m.startswith("m"):
            dup += m in l
            l.add(m)
        elif e["event"] not in ("join", "leave"):
            other += 1
    return j, l, other, dup


def measure(b, g, url, helper):
    out = os.path.join(b.tmp, f"watch-{g.split()[-1]}.jsonl")
    args = [str(JOIN_SECONDS), str(TICK), str(PER_TICK), str(LIFE_TICKS)]
    h = b.spawn_owned([b.python, "-c"] + helper + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if h.stdout.readline().strip() != "ready":
        raise SystemExit(f"bench: {g}: the churn helper did not start")
    with open(out, "w") as f:
        w = b.spawn_owned([b.toozctl, "-b", url, "-o", "json", "watch", "--initial", "group", "churn"], stdout=f)
    # Live once the sentinel (joined before the watch) is printed as an initial join.
    deadline = time.monotonic() + 30
    while "sentinel" not in open(out).read():
        if time.monotonic() > deadline or w.poll() is not None:
            raise SystemExit(f"bench: {g}: the watch did not start")
        time.sleep(0.05)
    h.stdin.write("\n")
    h.stdin.flush()
    res = json.loads(h.stdout.readline())
    end = time.monotonic()
    # How long until the watch has printed everything (up to 15 s).
    while True:
        j, l, other, dup = count(out)
        if (len(j) >= res["joins"] and len(l) >= res["leaves"]) or time.monotonic() > end + 15:
            break
        time.sleep(0.02)
    caught_up = time.monotonic() - end
    time.sleep(1.0)  # anything late or doubled
    j, l, other, dup = count(out)
    rss = b.peak_rss_kib(w.pid)
    w.terminate()
    w.wait()
    h.stdin.write("\n")
    h.stdin.flush()
    h.wait()
    window = JOIN_SECONDS - LIFE_TICKS * TICK  # seconds during which joins and leaves both ran
    b.value_row(g, f"changes made ({PER_TICK} joins + {PER_TICK} leaves per {int(TICK * 1000)} ms for "
                   f"{window:g} s; joins {JOIN_SECONDS} s)",
                f"{res['joins']} joins + {res['leaves']} leaves in {res['elapsed']:.2f} s "
                f"(most late tick {res['late'] * 1000:.0f} ms)")
    ok = len(j) == res["joins"] and len(l) == res["leaves"] and dup == 0
    b.value_row(g, "events reported by watch group (target: every one, none twice)",
                f"{len(j)} joins + {len(l)} leaves, {dup} twice, {other} other: "
                + ("met" if ok else "**missed**"))
    b.value_row(g, "time after the last change until all were reported",
                f"{caught_up * 1000:.0f} ms" if ok else "–")
    b.value_row(g, "watch group peak RSS (VmHWM)", f"{rss / 1024:.1f}MiB" if rss else "?")


def run(b):
    only = os.environ.get("BENCH_WATCH_BACKENDS", "redis,zookeeper,etcd").split(",")
    if "redis" in only:
        port = redis_mod.start_server(b)
        url = f"redis://127.0.0.1:{port}?namespace=churn"
        measure(b, "watch group: redis", url, [REDIS_HELPER, url, str(port), "churn", "sentinel"])
    if "zookeeper" in only:
        port = zk_mod.start_server(b)
        ns = "churn"
        url = f"zookeeper://127.0.0.1:{port}?namespace={ns}"
        measure(b, "watch group: zookeeper", url, [ZK_HELPER, url, f"127.0.0.1:{port}", ns, "sentinel"])
    if "etcd" in only:
        port, _ = etcd_mod.start_etcd(b)
        url = f"etcd3+http://127.0.0.1:{port}"
        measure(b, "watch group: etcd", url, [ETCD_HELPER, url, str(port), "-", "sentinel"])
