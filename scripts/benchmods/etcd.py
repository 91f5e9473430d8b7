"""etcd backend: `toozctl lock NAME -- true` against `etcdctl lock NAME true` and Python
tooz (etcd3+http, etcd3gw) doing the same job on the same server; the hand-off latency
with 8 waiters queued (holder's COMMAND exits -> the next waiter's COMMAND starts; see
_handoff.py); peak RSS while holding.

The server's data directory is on tmpfs (see _datadir.py): the figures measure the
client, not the disk; the module's first row gives the fsync latency the server would
add per committed write on the disk of the run's temporary directory."""
import os
import socket
import subprocess
import time

from _datadir import data_dir, fsync_row
from _handoff import handoff_rows

TOOZ_LOCK_RUN = r"""
import subprocess, sys, tooz.coordination as tc
c = tc.get_coordinator(sys.argv[1], b"bench")
c.start()
l = c.get_lock(b"bench-tooz")
l.acquire()
subprocess.run(["true"])
l.release()
c.stop()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_etcd(b):
    port, peer = free_port(), free_port()
    d = data_dir(b, "etcd")
    client, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    b.spawn_owned(
        ["etcd", "--data-dir", d, "--name", "b", "--listen-client-urls", client, "--advertise-client-urls", client,
         "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
         "--initial-cluster", f"b={peer_url}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = ["etcdctl", "--endpoints", f"127.0.0.1:{port}"]
    env = dict(os.environ, ETCDCTL_API="3")
    for _ in range(200):
        if subprocess.run(ctl + ["endpoint", "health"], env=env, capture_output=True).returncode == 0:
            return port, ctl
        time.sleep(0.05)
    raise SystemExit("bench: etcd did not start")


def run(b):
    port, ctl = start_etcd(b)
    url = f"etcd3+http://127.0.0.1:{port}"
    g = "etcd"
    fsync_row(b, g, "etcd")
    ctl_env = {"ETCDCTL_API": "3"}
    b.row(g, "etcdctl lock NAME true", b.timeit("etcdctl", ctl + ["lock", "bench-ctl", "true"], env=ctl_env))
    b.row(g, "toozctl lock NAME -- true", b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]),
          base="etcdctl lock NAME true")
    b.row(g, "toozctl lock -s NAME -- true",
          b.timeit("toozctl -s", [b.toozctl, "-b", url, "lock", "-s", "bench-shared", "--", "true"]),
          base="etcdctl lock NAME true")
    b.row(g, "toozctl lock -l 3 NAME -- true",
          b.timeit("toozctl -l", [b.toozctl, "-b", url, "lock", "-l", "3", "bench-sem", "--", "true"]),
          base="etcdctl lock NAME true")
    b.row(g, "python tooz etcd3+http, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)),
          base="toozctl lock NAME -- true")

    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff")

    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
    e = b.spawn_owned(ctl + ["lock", "rss-ctl"], env=dict(os.environ, **ctl_env), stdout=subprocess.PIPE)
    e.stdout.readline()
    b.value_row(g, "etcdctl lock peak RSS while holding", f"{b.peak_rss_kib(e.pid) / 1024:.1f}MiB")
    e.kill()
    e.wait()
