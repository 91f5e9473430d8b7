"""Hand-off latency with a queue of waiters, shared by the backend modules (files starting
with `_` are helpers, not modules).

One batch: a holder takes lock NAME running `sh -c 'sleep S; exec STAMP'` (its stamp is
taken as it exits); while it sleeps, WAITERS more toozctl processes queue for the same
lock, each running STAMP as COMMAND. Each waiter's stamp is taken as its COMMAND starts,
and its COMMAND then exits at once, handing the lock to the next: one batch gives WAITERS
hand-offs, the first with WAITERS queued, the last with one. A hand-off is the gap
between consecutive stamps (sorted).

STAMP is `stamp.c` next to this file, built here (statically) by the C compiler: it reads
the clock first thing in main() and prints it, so a hand-off is the previous COMMAND's
exit, everything toozctl does, and the exec of the next COMMAND, as the issue defines it.
Pages before 2026-12-03 used `date +%s%N`, which loads libc.so, locale files and the time
zone before it reads the clock (0.5-1 ms here): `handoff_rows` also gives that figure,
with `date` as COMMAND, for comparison. Without a C compiler both rows use `date`, and the
first one says so.
"""
import os
import subprocess
import time

DATE = ["date", "+%s%N"]


def stamp_command(b):
    """argv of the stamp program, built in this module's temporary directory, or None
    when it cannot be built (no C compiler or no static C library)."""
    exe = os.path.join(b.tmp, "stamp")
    if not os.path.exists(exe):
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stamp.c")
        r = subprocess.run(["cc", "-O2", "-static", "-o", exe, src], capture_output=True)
        if r.returncode != 0:
            return None
    return [exe]


def handoff_samples(b, lock_argv, name, batches=None, waiters=8, hold_s=1.0, stamp=DATE):
    """Seconds per hand-off over `batches` batches; `lock_argv` is toozctl's argv up to
    and including `lock` plus any options (the name and COMMAND are added); `stamp` is the
    COMMAND (prints the time in nanoseconds). By default enough batches for at least 100
    hand-offs (13 of 8), so that the nearest-rank p99 is the second-largest sample rather
    than the largest."""
    if batches is None:
        batches = max(-(-100 // waiters), b.runs // 3)
    out = []
    d = os.path.join(b.tmp, "handoff")
    os.makedirs(d, exist_ok=True)
    last = " ".join(stamp)
    for batch in range(batches):
        files = [os.path.join(d, f"{name}-{batch}-{i}") for i in range(waiters + 1)]
        procs = []
        with open(files[0], "w") as f:
            procs.append(subprocess.Popen(lock_argv + ["-w", "60s", name, "--", "sh", "-c",
                                                       f"sleep {hold_s}; exec {last}"], stdout=f))
        time.sleep(0.3)
        for i in range(1, waiters + 1):
            with open(files[i], "w") as f:
                procs.append(subprocess.Popen(lock_argv + ["-w", "60s", name, "--"] + stamp, stdout=f))
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


def handoff_rows(b, g, lock_argv, name):
    """The hand-off rows of group `g`: with the stamp program as COMMAND (the target's
    row), then with `date +%s%N` (as pages before 2026-12-03 measured it)."""
    stamp = stamp_command(b)
    label = "hand-off, 8 waiters queued" + ("" if stamp else " (no C compiler: `date` as COMMAND)")
    b.row(g, label, handoff_samples(b, lock_argv, name, stamp=stamp or DATE), target="p50<=3ms,p99<=10ms")
    b.row(g, "hand-off, 8 waiters queued, `date` as COMMAND", handoff_samples(b, lock_argv, name + "-date"))
