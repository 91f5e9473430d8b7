"""ZooKeeper backend: `toozctl lock NAME -- true` against Python tooz (kazoo) doing the same
job on the same server, and the hand-off latency of a queued waiter (from SIGTERM to the
holder until the waiter prints that it holds the lock), for toozctl and for tooz.
The server is warmed first, as a long-running one is: lock runs before every row,
unmeasured hand-offs before the hand-off rows (the JVM's JIT; see `run`).

The server's data directory is on tmpfs (see _datadir.py): the figures measure the
client, not the disk; the module's first row gives the fsync latency the server would
add per committed write on the disk of the run's temporary directory."""
import glob
import os
import socket
import statistics
import subprocess
import time

from _datadir import data_dir, fsync_row
from _handoff import handoff_rows, handoff_samples

# Lock runs that warm a fresh server's JIT before anything is measured (see `run`).
SERVER_WARMUP = 400
# Unmeasured 8-waiter hand-off batches before the hand-off rows (see `run`).
HANDOFF_WARMUP_BATCHES = 39

TOOZ_LOCK_RUN = r"""
import subprocess, sys, tooz.coordination as tc
c = tc.get_coordinator(sys.argv[1], b"bench")
c.start()
l = c.get_lock(b"bench")
l.acquire()
subprocess.run(["true"])
l.release()
c.stop()
"""

# A tooz holder for the hand-off test: prints when it holds the lock, releases on a line.
TOOZ_HOLDER = r"""
import sys, tooz.coordination as tc
c = tc.get_coordinator(sys.argv[1], sys.argv[2].encode())
c.start()
print("ready", flush=True)
l = c.get_lock(b"handoff")
l.acquire()
print("acquired", flush=True)
sys.stdin.readline()
l.release()
c.stop()
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            return b"Mode:" in s.recv(4096)
    except OSError:
        return False


def start_server(b):
    return _start(b)[0]


def _start(b):
    """The server's port and the JVM's pid."""
    d = os.path.join(b.tmp, "zk")
    os.makedirs(d, exist_ok=True)
    data = data_dir(b, "zk")
    port = free_port()
    with open(os.path.join(d, "zoo.cfg"), "w") as f:
        f.write(f"tickTime=2000\ndataDir={data}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat\nmaxClientCnxns=0\n")
    jvm = b.spawn_owned(["java", "-Xmx256m", "-cp", "/usr/share/java/*:/etc/zookeeper/conf_example",
                         f"-Dzookeeper.log.dir={d}", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                         os.path.join(d, "zoo.cfg")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 60
    while not ready(port):
        if time.time() > end:
            raise SystemExit("bench: zookeeper did not start")
        time.sleep(0.1)
    return port, jvm.pid


def jit_ms(pid):
    """CPU milliseconds the JVM's JIT compiler threads have used so far (their schedstat)."""
    total = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(os.path.join(task, "comm")) as f:
                if "CompilerThre" not in f.read():
                    continue
            with open(os.path.join(task, "schedstat")) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def handoff_toozctl(b, url, rounds):
    """SIGTERM the holder, time until the queued waiter prints its 'acquired' line."""
    argv = [b.toozctl, "-b", url, "lock", "handoff"]
    holder = b.spawn_owned(argv, stdout=subprocess.PIPE)
    holder.stdout.readline()
    times = []
    for _ in range(rounds):
        waiter = b.spawn_owned(argv, stdout=subprocess.PIPE)
        time.sleep(0.3)  # queued behind the holder
        t0 = time.perf_counter()
        holder.terminate()
        waiter.stdout.readline()
        times.append(time.perf_counter() - t0)
        holder.wait()
        holder = waiter
    holder.terminate()
    holder.wait()
    return times


def handoff_tooz(b, url, rounds):
    """The same with tooz holders: a line on stdin releases, the waiter prints 'acquired'."""
    def start():
        p = b.spawn_owned([b.python, "-c", TOOZ_HOLDER, url, f"m{time.monotonic_ns()}"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
        return p
    holder = start()
    holder.stdout.readline()
    times = []
    for _ in range(rounds):
        waiter = start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        holder.stdin.write("\n")
        holder.stdin.flush()
        waiter.stdout.readline()
        times.append(time.perf_counter() - t0)
        holder.wait()
        holder = waiter
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait()
    return times


def run(b):
    port, jvm = _start(b)
    url = f"zookeeper://127.0.0.1:{port}?namespace=bench"
    g = "zookeeper"
    fsync_row(b, g, "ZooKeeper")
    # --kill-after must fit in the 10 s session (the default grace is 10 s).
    lock = [b.toozctl, "-b", url, "lock", "--kill-after", "5s"]
    # A fresh ZooKeeper serves its first few hundred sessions while its JIT still compiles
    # the request path: toozctl's `lock -- true` measured about 11 ms for the first 80
    # runs on a new server and about 5.5 ms after 250 (2026-12-01, bench-fast build). Every
    # row below (toozctl's and tooz's alike) is measured on a server warmed by the same
    # lock runs first, as a production server is; the row says what the warm-up saw.
    warm = b.timeit("server warm-up", lock + ["warm-up", "--", "true"], runs=SERVER_WARMUP, warmup=0)
    b.value_row(g, f"server warm-up before the rows below: {SERVER_WARMUP} runs of toozctl lock NAME -- true",
                f"median of the first 40 {statistics.median(warm[:40]) * 1e3:.2f} ms, "
                f"of the last 40 {statistics.median(warm[-40:]) * 1e3:.2f} ms")
    ours = "toozctl lock NAME -- true"
    b.row(g, ours, b.timeit("toozctl", lock + ["bench", "--", "true"]))
    b.row(g, "toozctl lock -s NAME -- true", b.timeit("toozctl -s", lock + ["-s", "bench-s", "--", "true"]),
          base=ours)
    b.row(g, "toozctl lock -l 3 NAME -- true", b.timeit("toozctl -l", lock + ["-l", "3", "bench-l", "--", "true"]),
          base=ours)
    b.row(g, "python tooz (kazoo), same job", b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)),
          base=ours, target="ratio>=25")
    # The lock runs above never queue a waiter, so the server's watch, notification and
    # listing paths are still compiling when the hand-offs start: in a trace (perf sched,
    # 2026-12-03) the JIT's compiler threads took 0.9 s of CPU during the first 104
    # hand-offs after the 400 lock runs, 0.8 and 0.3 s during the next two hundred, then
    # 0.02-0.3 s per 104; every hand-off over 6 ms had the compiler running on one of the
    # two CPUs for most of it (a thread woken there waits for the scheduler's tick). So the
    # hand-off rows, toozctl's and tooz's alike, come after unmeasured hand-offs too, and a
    # row gives the compiler's CPU time during the warm-up and during the rows.
    jit0 = jit_ms(jvm)
    handoff_samples(b, lock, "warm-handoff", batches=HANDOFF_WARMUP_BATCHES)
    jit1 = jit_ms(jvm)
    rounds = max(5, min(b.runs, 20))
    handoff = "hand-off: toozctl SIGTERM -> waiter holds"
    b.row(g, handoff, handoff_toozctl(b, url, rounds))
    b.row(g, "hand-off: tooz release -> tooz waiter holds", handoff_tooz(b, url, min(rounds, 10)), base=handoff)
    handoff_rows(b, g, lock, "handoff8")
    b.value_row(g, f"server JIT compiler CPU during the warm-up ({HANDOFF_WARMUP_BATCHES * 8} unmeasured "
                "8-waiter hand-offs) and during the hand-off rows above",
                f"warm-up {jit1 - jit0:.0f} ms, rows {jit_ms(jvm) - jit1:.0f} ms")

    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
