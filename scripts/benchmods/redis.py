"""Redis backend: `toozctl lock NAME -- true` against Python tooz's redis driver doing the
same job on the same server (take the lock, run `true`, release), a `--limit` semaphore, and
the hand-off latency with 8 waiters queued (holder's COMMAND exits -> next waiter's
COMMAND starts; see _handoff.py)."""
import os
import socket
import subprocess
import time

from _handoff import handoff_rows

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_server(b):
    d = os.path.join(b.tmp, "redis")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    b.spawn_owned(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if ping(port):
            return port
        time.sleep(0.05)
    raise SystemExit("bench: redis-server did not start")


def run(b):
    port = start_server(b)
    url = f"redis://127.0.0.1:{port}?namespace=bench"
    g = "redis"
    b.row(g, "toozctl lock NAME -- true", b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]))
    b.row(g, "toozctl lock -l 3 NAME -- true",
          b.timeit("toozctl -l", [b.toozctl, "-b", url, "lock", "-l", "3", "sem", "--", "true"]),
          base="toozctl lock NAME -- true")
    b.row(g, "python tooz redis driver, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)), base="toozctl lock NAME -- true")
    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff")

    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
