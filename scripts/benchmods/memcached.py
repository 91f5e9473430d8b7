"""memcached backend: `toozctl lock NAME -- true` against Python tooz's memcached driver
(pymemcache) doing the same job on the same server (take the lock, run `true`, release), a
`--limit` semaphore, and the hand-off latency between two toozctl processes (holder's
COMMAND exits -> waiter's COMMAND starts; both ends are `date +%s%N` stamps, so one exec of
`date` is included). memcached pushes nothing: a queued waiter tries every 2 ms by default (jittered, one round
trip per try) or every `poll_interval` when the URL sets it, so a
hand-off is about half of that on average; it is measured at the default and at
`poll_interval=0.1` (the default before) and `0.02`."""
import os
import socket
import statistics
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


def mg(port, key):
    """Whether `key` exists (meta get)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"mg " + key.encode() + b"\r\n")
            return s.recv(16).startswith(b"HD")
    except OSError:
        return False


def start_server(b):
    port = free_port()
    b.spawn_owned(["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "root"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"version\r\n")
                if s.recv(16).startswith(b"VERSION"):
                    return port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("bench: memcached did not start")


def hand_off(b, url, port, runs):
    """Milliseconds from the holder's COMMAND stamping its end to the waiter's stamping its start."""
    lat = []
    for _ in range(runs):
        holder = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "sh", "-c", "sleep 0.3; exec date +%s%N"],
                                  stdout=subprocess.PIPE)
        while not mg(port, "__TOOZ_LOCK_handoff"):
            time.sleep(0.01)
        waiter = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "date", "+%s%N"], stdout=subprocess.PIPE)
        end = int(holder.communicate()[0])
        start = int(waiter.communicate()[0])
        if holder.returncode or waiter.returncode:
            raise SystemExit("bench: hand-off run failed")
        lat.append((start - end) / 1e6)
    return lat


def run(b):
    port = start_server(b)
    url = f"memcached://127.0.0.1:{port}"
    g = "memcached"
    b.row(g, "toozctl lock NAME -- true", b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]))
    b.row(g, "toozctl lock -l 3 NAME -- true",
          b.timeit("toozctl -l", [b.toozctl, "-b", url, "lock", "-l", "3", "sem", "--", "true"]),
          base="toozctl lock NAME -- true")
    b.row(g, "python tooz memcached driver, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)), base="toozctl lock NAME -- true")
    for label, u in [("default poll (2 ms, jittered)", url), ("poll_interval=0.1", url + "?poll_interval=0.1"),
                     ("poll_interval=0.02", url + "?poll_interval=0.02")]:
        lat = hand_off(b, u, port, min(b.runs, 15))
        b.value_row(g, f"hand-off, {label}, median of {len(lat)}", f"{statistics.median(lat):.2f}ms")
        b.value_row(g, f"hand-off, {label}, max", f"{max(lat):.2f}ms")
    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff8")

    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
