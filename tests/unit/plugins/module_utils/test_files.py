"""Unit tests of module_utils/files.py."""
import hashlib

from ansible_collections.incident.response.plugins.module_utils import files


def test_sha256_file_reads_past_one_chunk(tmp_path):
    data = bytes(range(256)) * (files.CHUNK // 256 * 2 + 3)
    path = tmp_path / "dump"
    path.write_bytes(data)
    assert files.sha256_file(str(path)) == (hashlib.sha256(data).hexdigest(), len(data))


def test_sha256_file_of_an_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert files.sha256_file(str(path)) == (hashlib.sha256(b"").hexdigest(), 0)
