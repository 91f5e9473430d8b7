"""IPC backend: `toozctl -b ipc:// lock NAME -- true` against `flock FILE true` and Python
tooz's ipc driver doing the same job (take the System V semaphore, run `true`, release).
toozctl starts a holder process per lock (it owns the semaphore's SEM_UNDO, so a killed
toozctl frees the lock only after COMMAND's tree is dead): that process is in the numbers."""
import os

from _handoff import handoff_rows

TOOZ_LOCK_RUN = r"""
import subprocess, sys, tooz.coordination as tc
c = tc.get_coordinator("ipc://", b"bench")
c.start()
l = c.get_lock(sys.argv[1].encode())
l.acquire()
subprocess.run(["true"])
l.release()
c.stop()
"""


def run(b):
    g = "ipc"
    name = f"toozctl-bench-{os.getpid()}"
    flock_file = os.path.join(b.tmp, "ipc-flock")
    b.row(g, "flock FILE true", b.timeit("flock", ["flock", flock_file, "true"]))
    b.row(g, "toozctl -b ipc:// lock NAME -- true",
          b.timeit("toozctl", [b.toozctl, "-b", "ipc://", "lock", name, "--", "true"]), base="flock FILE true")
    b.row(g, "toozctl -b ipc:// lock -l 3 NAME -- true",
          b.timeit("toozctl -l", [b.toozctl, "-b", "ipc://", "lock", "-l", "3", name + "-sem", "--", "true"]),
          base="flock FILE true")
    b.row(g, "python tooz ipc driver, same job",
          b.timeit("tooz", [b.python, "-c", TOOZ_LOCK_RUN, name], runs=min(b.runs, 10)),
          base="toozctl -b ipc:// lock NAME -- true")
    handoff_rows(b, g, [b.toozctl, "-b", "ipc://", "lock"], name + "-handoff")
