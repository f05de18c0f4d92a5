"""Tests that use the lab hold one machine-wide lock, so parallel runs never break each other's lab."""
import fcntl
import os

import pytest

LOCK = os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock")


@pytest.fixture(scope="session", autouse=True)
def _lab_lock(request):
    paths = {str(item.fspath) for item in request.session.items}
    if all(os.sep + "unit" + os.sep in p for p in paths):
        yield
        return
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
