import pytest

from tests import lab as labmod


@pytest.fixture(scope="session")
def lab():
    """The running lab (brought up if needed; left up for the next test)."""
    res = labmod.lab("up")
    assert res.returncode == 0, res.stdout + res.stderr
    return labmod


@pytest.fixture
def healthy_lab(lab):
    """Wait for the whole lab to be healthy before and after the test."""
    assert lab.lab("wait").returncode == 0
    yield lab
    res = lab.lab("wait")
    assert res.returncode == 0, "lab not healthy after the test: " + res.stdout
