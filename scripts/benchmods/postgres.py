"""PostgreSQL backend (Debian's postgresql, run as the postgres user): `toozctl lock NAME
-- true` against Python tooz's postgresql driver (psycopg2) doing the same job on the same
server (pg_advisory_lock on md5(name)[0], [1] on a session of its own, run `true`,
unlock), and the hand-off latency between two toozctl processes (the waiter sits in the
server's lock queue).

The server's data directory is on tmpfs (see _datadir.py): the figures measure the
client, not the disk; the module's first row gives the fsync latency the server would
add per committed write on the disk of the run's temporary directory."""
import glob
import os
import pwd
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


def as_postgres():
    if os.getuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)


def psql(d, port, q):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-U", "postgres", "-h", d, "-p", str(port), "-d", "postgres",
                           "-c", q], capture_output=True, text=True)


def start_server(b):
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    d = os.path.join(b.tmp, "pg")
    os.makedirs(d, exist_ok=True)
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", d], check=True)
        # The postgres user must reach the data directory: through the run's own
        # temporary directory (made 0700 by tempfile) too.
        os.chmod(b.tmp, 0o755)
        os.chmod(os.path.dirname(b.tmp), 0o755)
    data = os.path.join(data_dir(b, "pg"), "data")
    if os.getuid() == 0:
        subprocess.run(["chown", "postgres:postgres", os.path.dirname(data)], check=True)
    subprocess.run([f"{bindir}/initdb", "-A", "trust", "-U", "postgres", "-D", data], check=True,
                   capture_output=True, preexec_fn=as_postgres)
    port = free_port()
    b.spawn_owned([f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", d,
                   "-c", "listen_addresses=127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  preexec_fn=as_postgres)
    for _ in range(300):
        if psql(d, port, "SELECT 1").returncode == 0:
            return port, d
        time.sleep(0.1)
    raise SystemExit("bench: postgres did not start")


def held(d, port):
    # tooz's key of "handoff": the first two bytes of its MD5.
    r = psql(d, port, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                      "AND classid = get_byte(decode(md5('handoff'), 'hex'), 0) "
                      "AND objid = get_byte(decode(md5('handoff'), 'hex'), 1)")
    return r.stdout.strip() == "1"


def hand_off(b, url, d, port, runs):
    lat = []
    for _ in range(runs):
        holder = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "sh", "-c", "sleep 0.3; exec date +%s%N"],
                                  stdout=subprocess.PIPE)
        while not held(d, port):
            time.sleep(0.01)
        waiter = subprocess.Popen([b.toozctl, "-b", url, "lock", "handoff", "--", "date", "+%s%N"], stdout=subprocess.PIPE)
        end = int(holder.communicate()[0])
        start = int(waiter.communicate()[0])
        if holder.returncode or waiter.returncode:
            raise SystemExit("bench: hand-off run failed")
        lat.append((start - end) / 1e6)
    return lat


def run(b):
    port, d = start_server(b)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    g = "postgres"
    fsync_row(b, g, "PostgreSQL")
    base = "toozctl lock NAME -- true"
    b.row(g, base, b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]))
    b.row(g, "python tooz postgresql driver, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)), base=base)
    lat = hand_off(b, url, d, port, min(b.runs, 15))
    b.value_row(g, "hand-off latency, median of %d" % len(lat), f"{statistics.median(lat):.2f}ms")
    b.value_row(g, "hand-off latency, max", f"{max(lat):.2f}ms")
    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff8")
    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
