"""File backend: `toozctl lock NAME -- true` against `flock FILE true` and Python tooz's
file driver doing the same (take the lock, run `true`, release), plus peak RSS while holding."""
import os
import subprocess
import time

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
    b.row(g, "flock FILE true", b.timeit("flock", ["flock", os.path.join(d, "bench"), "true"]))
    b.row(g, "toozctl lock NAME -- true", b.timeit("toozctl", [b.toozctl, "-b", url, "lock", "bench", "--", "true"]),
          base="flock FILE true")
    b.row(g, "toozctl lock -s NAME -- true", b.timeit("toozctl -s", [b.toozctl, "-b", url, "lock", "-s", "bench", "--", "true"]),
          base="flock FILE true")
    b.row(g, "toozctl lock -l 3 NAME -- true",
          b.timeit("toozctl -l", [b.toozctl, "-b", url, "lock", "-l", "3", "sem", "--", "true"]), base="flock FILE true")
    b.row(g, "python tooz file driver, same job", b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, url], runs=min(b.runs, 10)),
          base="toozctl lock NAME -- true")

    # Peak RSS while holding: hold mode until SIGTERM, against flock holding `sleep`.
    p = b.spawn_owned([b.toozctl, "-b", url, "lock", "rss"], stdout=subprocess.PIPE)
    p.stdout.readline()
    b.value_row(g, "toozctl peak RSS while holding", f"{b.peak_rss_kib(p.pid) / 1024:.1f}MiB")
    p.terminate()
    p.wait()
    f = b.spawn_owned(["flock", os.path.join(d, "rss2"), "sleep", "5"])
    time.sleep(0.2)
    b.value_row(g, "flock peak RSS while holding", f"{b.peak_rss_kib(f.pid) / 1024:.1f}MiB")
    f.kill()
