"""Whether a run is alive, for dispatch.py and warm.py: the run lock (an exclusive flock on
runs/job-N/run.lock that the runner holds for its whole life) and the runner's pid + start time."""
import fcntl
import os

LOCK_FILE = "run.lock"


def lock_held(pdd):
    """True while some process holds the run's lock (a live runner)."""
    try:
        fd = os.open(os.path.join(pdd, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)         # closing releases a lock taken here
    return False


def process_start(pid):
    """Start time (clock ticks since boot) of a live process; None if gone or a zombie. With the pid it
    names one process for good: a recycled pid has another start time."""
    try:
        with open("/proc/%d/stat" % int(pid)) as fh:
            stat = fh.read()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])
