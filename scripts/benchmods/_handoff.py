"""Hand-off latency with a queue of waiters, shared by the backend modules (files starting
with `_` are helpers, not modules).

One batch: a holder takes lock NAME running `sh -c 'sleep S; exec date +%s%N'` (its stamp
is taken as it exits); while it sleeps, WAITERS more toozctl processes queue for the same
lock, each running `date +%s%N` as COMMAND. Each waiter's stamp is taken as its COMMAND
starts, and its COMMAND then exits at once, handing the lock to the next: one batch gives
WAITERS hand-offs, the first with WAITERS queued, the last with one. A hand-off is the gap
between consecutive stamps (sorted): the previous COMMAND's exit to the next COMMAND's
start, plus one start of `date` (a fraction of a millisecond), which counts against us.
"""
import os
import subprocess
import time


def handoff_samples(b, lock_argv, name, batches=None, waiters=8, hold_s=1.0):
    """Seconds per hand-off over `batches` batches; `lock_argv` is toozctl's argv up to
    and including `lock` plus any options (the name and COMMAND are added). By default
    enough batches for at least 100 hand-offs (13 of 8), so that the nearest-rank p99 is
    the second-largest sample rather than the largest."""
    if batches is None:
        batches = max(-(-100 // waiters), b.runs // 3)
    out = []
    d = os.path.join(b.tmp, "handoff")
    os.makedirs(d, exist_ok=True)
    for batch in range(batches):
        files = [os.path.join(d, f"{name}-{batch}-{i}") for i in range(waiters + 1)]
        procs = []
        with open(files[0], "w") as f:
            procs.append(subprocess.Popen(lock_argv + ["-w", "60s", name, "--", "sh", "-c",
                                                       f"sleep {hold_s}; exec date +%s%N"], stdout=f))
        time.sleep(0.3)
        for i in range(1, waiters + 1):
            with open(files[i], "w") as f:
                procs.append(subprocess.Popen(lock_argv + ["-w", "60s", name, "--", "date", "+%s%N"], stdout=f))
        for p in procs:
            if p.wait() != 0:
                raise SystemExit(f"bench: hand-off batch on {lock_argv[2]}: toozctl exited {p.returncode}")
        stamps = [int(open(f).read()) for f in files]
        if min(stamps) != stamps[0]:
            raise SystemExit("bench: hand-off: a waiter ran before the holder ended (machine too slow "
                             "for the holder's sleep?)")
        stamps.sort()
        out += [(stamps[i + 1] - stamps[i]) / 1e9 for i in range(waiters)]
    return out
