"""The run lock: an exclusive flock on runs/job-N/run.lock that the runner holds for its whole life,
so a held lock means a live run (dispatch.py and warm.py both read it)."""
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
