"""File backend: `toozctl lock NAME -- true` against `flock FILE true` and Python tooz's
file driver doing the same (take the lock, run `true`, release), `--version` against
`flock --version` (the cost of starting the binary), the hand-off with 8 waiters queued, and
peak RSS while holding."""
import os
import subprocess
import time

from _handoff import handoff_rows, stamp_command

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


def run(b):
    d = os.path.join(b.tmp, "file")
    os.makedirs(d, exist_ok=True)
    url = f"file://{d}"
    g = "file"
    # Measured in turn, run by run, with their baselines: their ratios are close to 1, and
    # a shared machine drifts over the half minute a row takes.
    t = b.timeit_interleaved([
        ("flock --version", ["flock", "--version"]),
        ("toozctl --version", [b.toozctl, "--version"]),
    ])
    b.row(g, "flock --version", t["flock --version"])
    b.row(g, "toozctl --version", t["toozctl --version"], base="flock --version")
    t = b.timeit_interleaved([
        ("flock", ["flock", os.path.join(d, "bench"), "true"]),
        ("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]),
        ("toozctl -s", [b.toozctl, "-b", url, "lock", "-s", "bench", "--", "true"]),
        ("toozctl -l", [b.toozctl, "-b", url, "lock", "-l", "3", "sem", "--", "true"]),
    ])
    b.row(g, "flock FILE true", t["flock"])
    b.row(g, "toozctl lock NAME -- true", t["toozctl"], base="flock FILE true", target="ratio<=1.2")
    b.row(g, "toozctl lock -s NAME -- true", t["toozctl -s"], base="flock FILE true", target="ratio<=1.2")
    b.row(g, "toozctl lock -l 3 NAME -- true", t["toozctl -l"], base="flock FILE true", target="ratio<=1.2")
    b.row(g, "python tooz file driver, same job", b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)),
          base="toozctl lock NAME -- true")

    handoff_rows(b, g, [b.toozctl, "-b", url, "lock"], "handoff")
    # A hand-off row counts its COMMAND from the exec to the stamp and from the holder's
    # stamp to its exit: what a whole run of each COMMAND costs on this machine.
    stamp = stamp_command(b)
    if stamp:
        b.row(g, "stamp (hand-off COMMAND), spawn to exit", b.timeit("stamp", stamp))
    b.row(g, "date +%s%N, spawn to exit", b.timeit("date", ["date", "+%s%N"]))

    # Peak RSS while holding (target: at most 4 MiB): hold mode until SIGTERM, and running a
    # COMMAND (toozctl itself, not its guard or COMMAND), against flock holding `sleep`.
    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl lock NAME: peak RSS while holding (≤ 4 MiB)", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
    marker = os.path.join(d, "rss-started")
    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss", "--", "sh", "-c", f"touch {marker}; exec sleep 5"])
    while not os.path.exists(marker):
        time.sleep(0.01)
    time.sleep(0.1)
    b.value_row(g, "toozctl lock NAME -- sleep: peak RSS (≤ 4 MiB)", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
    f = b.spawn_owned(["flock", os.path.join(d, "rss2"), "sleep", "5"])
    time.sleep(0.2)
    b.value_row(g, "flock FILE sleep: peak RSS", f"{b.peak_rss_kib(f.pid) / 1024:.1f}MiB")
    f.kill()
