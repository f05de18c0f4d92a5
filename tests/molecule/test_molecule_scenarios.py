"""Runs every molecule scenario (create = lab up ... destroy = lab down). Collected last by `make test`,
because destroy takes the lab down."""
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = sorted(d for d in os.listdir(os.path.join(REPO, "molecule"))
                   if os.path.isfile(os.path.join(REPO, "molecule", d, "molecule.yml")))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"], NO_COLOR="1")
    res = subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "failed=0" in out and "successful=" in out
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=incident-lab"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == [], "molecule destroy left containers behind: %s" % left
