"""The detectors of module_utils/redact.py (true positives, false-positive guards), the streaming redactor,
clipping, known values and where they come from."""
import json
import os

import pytest

from ansible_collections.incident.response.plugins.module_utils import redact as R
from ansible_collections.incident.response.plugins.module_utils.redact import (
    MASK, PEM_MASK, RunSecrets, StreamRedactor, clip, redact, redact_bytes, redact_text, template_pieces)

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

DETECTED = [
    ("https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF1/abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("slack token xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"),
    ("https://events.pagerduty.com/integration/0123456789abcdef0123456789abcdef/enqueue", "0123456789abcdef0123456789abcdef"),
    ('{"routing_key": "R0123456789ABCDEF0123456789abcdef"}', "R0123456789ABCDEF0123456789abcdef"),
    ("the pagerduty integration key is e93facc04764012d7bfb002500d5d1a6", "e93facc04764012d7bfb002500d5d1a6"),
    ("aws_access_key_id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("temporary ASIAY34FZKBOKMUTVV7A in use", "ASIAY34FZKBOKMUTVV7A"),
    ("aws secret key %s" % AWS_SECRET, AWS_SECRET),
    ("aws_secret_access_key = %s" % AWS_SECRET, AWS_SECRET),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("oauth gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    ("github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJ", "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJ"),
    ("clone with glpat-abcdefghij0123456789", "glpat-abcdefghij0123456789"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("the password is Tr0ub4dor&3 now", "Tr0ub4dor&3"),
    ("password: hunter2-prose", "hunter2-prose"),
    ("admin password was Sommer2026!", "Sommer2026!"),
    ("mysql -u root -pS3cretPw -h db", "S3cretPw"),
    ("mysqldump --user=root -p'quoted pw' app", "quoted pw"),
    ("sshpass -p 'ssh pw 1' ssh host", "ssh pw 1"),
    ("sshpass -pAttached ssh host", "Attached"),
    ("curl -u admin:curlpass123 http://x", "curlpass123"),
    ("curl --user 'ops:quoted-pass' http://x", "quoted-pass"),
    ("postgresql://app:pgpw777@db:5432/x", "pgpw777"),
    ("redis://:r3dis-pass@127.0.0.1:6379/0", "r3dis-pass"),
    ("https://a.blob.core.windows.net/c/f?sv=2024-01-01&sig=AzSig%2Bvalue123", "AzSig%2Bvalue123"),
    ("https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIDEXAMPLE%2F2026&X-Amz-Date=1", "AKIDEXAMPLE%2F2026"),
    ("https://b.s3.amazonaws.com/o?X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027", "fe5f80f77d5fa3beca038a248ff027"),
    ("https://maps.example/api?key=AIzaSyKeyParam123&q=x", "AIzaSyKeyParam123"),
    ("GET /cb?token=tok123abc&page=2", "tok123abc"),
    ("GET /cb?code=1&access_token=acc-456-def", "acc-456-def"),
    ("MYSQL_PWD=mypwd123 mysql app", "mypwd123"),
    ("PGPASSWORD=hunter22 pg_dump -h db", "hunter22"),
    ("export PASSPHRASE=phrase456", "phrase456"),
    ("REDISCLI_AUTH=redisauth789 redis-cli ping", "redisauth789"),
    ("GITLAB_TOKEN=tok111 ./deploy", "tok111"),
    ("APP_SECRET=sec222", "sec222"),
    ("redis-server --requirepass reqpass333 --port 6379", "reqpass333"),
    ("redis-cli -a clipass444 ping", "clipass444"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ('{"password": "jsonpw555", "user": "x"}', "jsonpw555"),
    ('escaped {\\"api_token\\": \\"esc666\\"}', "esc666"),
    ("host=db password='with space' dbname=x", "with space"),
    ("mytool --db-password s3cr3t-flag --verbose", "s3cr3t-flag"),
    ("client --api-token=tok-flag-1", "tok-flag-1"),
]


@pytest.mark.parametrize("text,secret", DETECTED)
def test_detectors_mask_the_secret(text, secret):
    out = redact_text(text, values=())
    assert secret not in out, out
    assert MASK in out


@pytest.mark.parametrize("text,secret", DETECTED)
def test_detectors_in_a_long_text_and_as_bytes(text, secret):
    """Texts over LINE_SCAN_MIN take the line-scan path (triggers first): same result."""
    filler = "2026-11-30T21:00:00Z INFO GET /api/v1/items 200 12ms\n" * 200
    out = redact_text(filler + text + "\n" + filler, values=())
    assert secret not in out and out.startswith(filler) and out.endswith(filler)
    assert secret.encode() not in redact_bytes((filler + text).encode(), values=())


@pytest.mark.parametrize("text", [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b merged",
    "request 123e4567-e89b-12d3-a456-426614174000 done",
    "container 4f1c2a7e9b3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3 restarted",
    "The password policy was updated; tokens rotate daily.",
    "password is incorrect",
    "the token is not set",
    "author: John Smith",
    "primary key=id, sort key=created_at",
    "listening on 0.0.0.0:8080, --port 6379 --maxmemory 100mb",
    "psql -U postgres -h db -p 5432 app",
    "see https://example.com/docs/auth?page=2#tokens",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "base64 aGVsbG8gd29ybGQ= decoded",
    "eyes on the dashboard; key metrics are fine",
])
def test_ordinary_text_survives(text):
    assert redact_text(text, values=()) == text


def test_pem_blocks_multiline_escaped_and_unterminated():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\nABCDEFGH+/==\n-----END RSA PRIVATE KEY-----"
    assert redact_text("before\n%s\nafter" % block, values=()) == "before\n%s\nafter" % PEM_MASK
    escaped = json.dumps({"key": block + "\n"})
    assert "MIIEow" not in redact_text(escaped, values=()) and PEM_MASK in redact_text(escaped, values=())
    cut = "-----BEGIN PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\nnext log line"
    assert redact_text(cut, values=()) == PEM_MASK + "\nnext log line"


def test_stream_holds_a_key_block_across_chunks_and_prefixes():
    stream = StreamRedactor(values=())
    chunks = [b"t1 log\nt2 -----BEGIN OPENSSH PRIVATE KEY-----\n", b"t3 b3BlbnNzaC1rZXktdjEAAAAABG5vbmU\nt4 AAAA",
              b"AAtzc2gtZWQyNTUxOQ==\n", b"t5 -----END OPENSSH PRIVATE KEY-----\nt6 ordinary line\n"]
    out = b"".join(stream.feed(c) for c in chunks) + stream.flush()
    assert out == ("t1 log\nt2 %s\nt6 ordinary line\n" % PEM_MASK).encode()


def test_stream_split_at_every_byte_leaks_nothing():
    text = b"ok\nconnect postgresql://u:secret-pw-1@db/x and Bearer abcdefghijk and ghp_abcdefghijklmnopqrstuvwxyz0123456789\nend\n"
    for cut in range(1, len(text)):
        stream = StreamRedactor(values=())
        out = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
        assert b"secret-pw-1" not in out and b"abcdefghijk" not in out and b"ghp_" not in out, cut
        assert out.endswith(b"\nend\n")


def test_stream_long_line_without_newline_is_cut_at_a_blank():
    stream = StreamRedactor(values=(), max_line=1000, overlap=100)
    data = (b"word " * 400) + b"password=hunter2-long-line " + (b"word " * 10)
    out = b"".join(stream.feed(data[i:i + 300]) for i in range(0, len(data), 300)) + stream.flush()
    assert b"hunter2-long-line" not in out and len(out) > len(data) - 40


def test_undecodable_bytes_pass_through():
    data = b"\xff\xfe binary \x80 password=pw-in-binary \xc3\n"
    out = StreamRedactor(values=()).feed(data)
    assert out.startswith(b"\xff\xfe binary \x80 ") and b"pw-in-binary" not in out and out.endswith(b"\xc3\n")


@pytest.mark.parametrize("offset", range(380, 402))
def test_clip_never_leaves_a_piece_of_a_secret(offset):
    secret = "Qz7pKwClipSecret"
    text = "x" * offset + secret + " tail"
    out = clip(text, 400, values=[secret])
    assert "Qz" not in out and len(out) <= 400


def test_known_values_few_and_many_longest_first():
    assert redact_text("a hunter2-long and hunter2", values=["hunter2-long", "hunter2"]) == "a %s and %s" % (MASK, MASK)
    many = ["value-%03d.+*?" % n for n in range(100)] + ["value-007.+*?-longer"]
    many.sort(key=len, reverse=True)
    out = redact_text("x value-007.+*?-longer y value-099.+*? z", values=many)
    assert out == "x %s y %s z" % (MASK, MASK)
    assert redact_bytes(b"x value-050.+*? y", values=many) == ("x %s y" % MASK).encode()


def test_argv_lists_mask_the_value_after_a_secret_flag():
    out = redact({"Cmd": ["redis-server", "--requirepass", "listpw888", "--port", "6379"],
                  "Env": ["A=1", "PGPASSWORD=envpw999"], "login_password": "x"}, values=())
    assert out == {"Cmd": ["redis-server", "--requirepass", MASK, "--port", "6379"], "Env": ["A=1", "PGPASSWORD=" + MASK],
                   "login_password": MASK}


def test_run_values_come_from_the_callbacks_file(tmp_path, monkeypatch):
    path = tmp_path / "values.json"
    path.write_text(json.dumps(["from-the-callback-1"]))
    monkeypatch.setenv(R.ENV_VALUES_FILE, str(path))
    assert redact_text("x from-the-callback-1 y") == "x %s y" % MASK
    os.utime(str(path), ns=(1, 1))
    path.write_text(json.dumps(["from-the-callback-1", "learned-later-22"]))
    assert redact({"msg": "learned-later-22"}) == {"msg": MASK}


def test_a_module_masks_its_own_secret_named_arguments(monkeypatch):
    from ansible.module_utils import basic
    monkeypatch.delenv(R.ENV_VALUES_FILE, raising=False)
    args = {"ANSIBLE_MODULE_ARGS": {"login_password": "OptionValue-77", "login_user": "app", "headers": {"X-Api-Key": "hdr-key-88"}}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(args).encode())
    assert redact_text("OPTION_COPY=OptionValue-77 app hdr-key-88") == "OPTION_COPY=%s app %s" % (MASK, MASK)


def test_template_pieces():
    assert template_pieces("echo {{ pw }} | passwd", "echo s3cr3t-x | passwd") == ["s3cr3t-x"]
    assert template_pieces("rotate {{ a }} and {{ b }}", "rotate one-1 and two-2") == ["one-1", "two-2"]
    assert template_pieces("{{ whole }}", "whole-value") == ["whole-value"]
    assert template_pieces("no template", "no template") == []


def test_run_secrets_learns_and_shares(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    secrets = RunSecrets(export=True)
    try:
        secrets.learn({"vars": {"db_password": "hunter2-long", "user": "app"}, "api_token": "{{ lookup('env', 'X') }}"})
        secrets.learn_all({"stdout": "registered-value-1", "rc": 0, "changed": True, "_ansible_no_log": True})
        assert secrets.ordered == ["registered-value-1", "hunter2-long"]
        path = os.environ[R.ENV_VALUES_FILE]
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert json.load(open(path)) == secrets.ordered
        assert redact_text("x hunter2-long") == "x " + MASK  # a module of the run reads the same values
    finally:
        secrets.close()
    assert R.ENV_VALUES_FILE not in os.environ and not os.path.exists(path)


def test_a_capture_that_starts_inside_a_key_block():
    tail = "MIIEowIBAAKCAQEA1234567890abcdef\nABCDEFGH+/==\n-----END RSA PRIVATE KEY-----\nnext line"
    assert redact_text(tail, values=()) == PEM_MASK + "\nnext line"
    assert redact_text("log line\n" + tail, values=()) == "log line\n" + PEM_MASK + "\nnext line"


def test_values_files_of_killed_runs_are_removed(tmp_path):
    dead = tmp_path / ("incident-redact-%d-x" % 2 ** 22)  # above pid_max: no such process
    alive = tmp_path / ("incident-redact-%d-y" % os.getpid())
    for directory in (dead, alive):
        directory.mkdir()
        (directory / "values.json").write_text("[]")
    R._remove_stale(str(tmp_path))
    assert not dead.exists() and alive.exists()
