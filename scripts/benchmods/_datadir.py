"""Where the benchmarked servers keep their data, and what that disk costs (a helper, not
a module).

etcd, ZooKeeper, MariaDB and PostgreSQL wait for one fsync of their log before they answer
a committed write, so on a disk whose fsync takes milliseconds every lock, release and
hand-off carries that disk's latency whatever the client does (a hand-off needs at least
one committed write). The benchmark measures the clients, so their data goes on tmpfs
(/dev/shm: fsync is a no-op there), in one directory per `scripts/bench` run that is
removed when the run ends. `fsync_row` puts the price of that choice on the page: the
median `fdatasync` latency of the disk the data would otherwise be on, against tmpfs. A
production server on a real disk adds about one such fsync per committed write (per
group of writes committed together) to every figure of its module.

The baselines (etcdctl, Python tooz) talk to the same servers, so ratios stay fair.
"""
import atexit
import os
import shutil
import statistics
import tempfile
import time

SHM = "/dev/shm"
# Four servers' data for one module at a time (a fresh MariaDB is ~100 MB, etcd's WAL
# preallocates 64 MB): refuse tmpfs below this and fall back to the disk, saying so.
MIN_FREE = 1 << 30

_run_dir = None


def _shm_run_dir():
    """This run's directory on tmpfs (made on first use, removed at exit), or None."""
    global _run_dir
    if _run_dir is None:
        try:
            st = os.statvfs(SHM)
            if st.f_bavail * st.f_frsize < MIN_FREE:
                _run_dir = ""
            else:
                _run_dir = tempfile.mkdtemp(prefix="toozctl-bench-", dir=SHM)
                # The PostgreSQL server runs as the postgres user: it must reach its
                # data directory inside.
                os.chmod(_run_dir, 0o755)
                atexit.register(shutil.rmtree, _run_dir, True)
        except OSError:
            _run_dir = ""
    return _run_dir or None


def data_dir(b, name):
    """A fresh directory for server `name`'s data for this module and round: on tmpfs when
    there is room, else under the run's temporary directory on disk."""
    base = _shm_run_dir()
    if base is None:
        d = os.path.join(b.tmp, name)
    else:
        d = os.path.join(base, f"{os.path.basename(b.tmp)}-{name}")
    os.makedirs(d, exist_ok=True)
    return d


def on_tmpfs():
    return _shm_run_dir() is not None


def fdatasync_ms(directory, n=50):
    """Median milliseconds of one 4 KiB write + fdatasync in `directory` (after warm-up)."""
    fd, path = tempfile.mkstemp(prefix="fsync-probe-", dir=directory)
    try:
        block = b"x" * 4096
        times = []
        for i in range(n + 5):
            os.pwrite(fd, block, (i % 16) * 4096)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            if i >= 5:
                times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000
    finally:
        os.close(fd)
        os.unlink(path)


def fsync_row(b, group, server):
    """A value row: where `server`'s data is, and the fdatasync latency of the disk it would
    otherwise be on (the run's temporary directory) against tmpfs, measured now."""
    disk_dir = os.path.dirname(b.tmp)
    disk = fdatasync_ms(disk_dir)
    shm = fdatasync_ms(_shm_run_dir()) if on_tmpfs() else None
    if shm is None:
        text = (f"{server} data on disk ({disk_dir}): fdatasync median {disk:.2f} ms "
                f"(no room on {SHM}); every committed write waits for one")
    else:
        text = (f"{server} data on tmpfs ({SHM}): fdatasync median {shm:.3f} ms there vs "
                f"{disk:.2f} ms on the disk of {disk_dir}, which a server on that disk adds per commit")
    b.value_row(group, "server data directory and fsync cost (see the page header)", text)
