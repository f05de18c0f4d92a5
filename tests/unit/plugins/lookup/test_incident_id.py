import os

import pytest
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


init_plugin_loader([os.path.join(REPO, "collections")])


def _lookup():
    """The lookup as Ansible loads it (with its documented options)."""
    return lookup_loader.get("incident.response.incident_id", loader=DataLoader())


def test_env_id_is_returned(monkeypatch):
    monkeypatch.setenv("INCIDENT_ID", "INC-2026-11-23-005")
    assert _lookup().run([], variables={}) == ["INC-2026-11-23-005"]


def test_invalid_env_id_fails(monkeypatch):
    monkeypatch.setenv("INCIDENT_ID", "../../etc")
    with pytest.raises(AnsibleLookupError, match="invalid incident id"):
        _lookup().run([], variables={})


def test_no_id_fails_unless_allocating(monkeypatch, tmp_path):
    monkeypatch.delenv("INCIDENT_ID", raising=False)
    with pytest.raises(AnsibleLookupError, match="no incident id"):
        _lookup().run([], variables={})
    first = _lookup().run([], variables={}, allocate=True, root=str(tmp_path))[0]
    second = _lookup().run([], variables={}, allocate=True, root=str(tmp_path))[0]
    assert first != second and (tmp_path / first).is_dir()
