"""MySQL backend (MariaDB from Debian): `toozctl lock NAME -- true` against Python tooz's
mysql driver (PyMySQL) doing the same job on the same server (take GET_LOCK on a
connection of its own, run `true`, RELEASE_LOCK), and the hand-off latency between two
toozctl processes (holder's COMMAND exits -> waiter's COMMAND starts; the waiter sits in
the server's GET_LOCK wait, so no poll interval is involved).

The server's data directory is on tmpfs (see _datadir.py): the figures measure the
client, not the disk; the module's first row gives the fsync latency the server would
add per committed write on the disk of the run's temporary directory."""
import os
import socket
import statistics
import subprocess
import time

from _datadir import data_dir, fsync_row
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


def sql(sock, q):
    return subprocess.run(["mariadb", "--no-defaults", "-uroot", "-N", "-B", f"--socket={sock}", "-e", q],
                          capture_output=True, text=True)


def start_server(b):
    d = os.path.join(b.tmp, "mariadb")
    os.makedirs(d, exist_ok=True)
    data, sock = data_dir(b, "mariadb"), os.path.join(d, "sock")
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=8M"],
                   check=True, capture_output=True)
    port = free_port()
    b.spawn_owned(["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
                   "--bind-address=127.0.0.1", "--user=root", f"--pid-file={d}/pid", f"--log-error={d}/err.log",
                   "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-name-resolve"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if sql(sock, "CREATE DATABASE IF NOT EXISTS bench").returncode == 0:
            return port, sock
        time.sleep(0.1)
    raise SystemExit("bench: mariadbd did not start")


def held(sock, name):
    r = sql(sock, f"SELECT IS_USED_LOCK('{name}')")
    return r.stdout.strip() not in ("", "NULL")


def hand_off(b, url, sock, runs):
    lat = []
    for _ in range(runs):
        holder = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "sh", "-c", "sleep 0.3; exec date +%s%N"],
                                  stdout=subprocess.PIPE)
        while not held(sock, "handoff"):
            time.sleep(0.01)
        waiter = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "date", "+%s%N"], stdout=subprocess.PIPE)
        end = int(holder.communicate()[0])
        start = int(waiter.communicate()[0])
        if holder.returncode or waiter.returncode:
            raise SystemExit("bench: hand-off run failed")
        lat.append((start - end) / 1e6)
    return lat


def run(b):
    port, sock = start_server(b)
    url = f"mysql://root@127.0.0.1:{port}/bench"
    g = "mysql"
    fsync_row(b, g, "MariaDB")
    base = "toozctl lock NAME -- true"
    b.row(g, base, b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]))
    b.row(g, "python tooz mysql driver, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)), base=base)
    lat = hand_off(b, url, sock, min(b.runs, 15))
    b.value_row(g, "hand-off latency, median of %d" % len(lat), f"{statistics.median(lat):.2f}ms")
    b.value_row(g, "hand-off latency, max", f"{max(lat):.2f}ms")
    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff8")
    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
