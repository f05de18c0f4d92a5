import pytest

from ansible_collections.incident.response.plugins.module_utils.redact import (
    MASK, is_secret_key, redact, redact_text, secret_values)


@pytest.mark.parametrize("key", ["password", "login_password", "PGPASSWORD", "passwd", "client_secret", "token",
                                 "api_key", "X-Api-Key", "apikey", "Authorization", "cookie", "dsn", "private_key",
                                 "routing_key", "credentials"])
def test_secret_keys(key):
    assert is_secret_key(key)
    assert redact({key: "v4lue"}) == {key: MASK}


@pytest.mark.parametrize("key", ["user", "host", "status", "message", "changed"])
def test_plain_keys_kept(key):
    assert redact({key: "v4lue"}) == {key: "v4lue"}


def test_nested_and_non_string_values():
    data = {"a": [{"password": 1234, "b": "ok"}], "tokens": None, "secret_set": True}
    assert redact(data) == {"a": [{"password": MASK, "b": "ok"}], "tokens": None, "secret_set": True}


@pytest.mark.parametrize("text,secret", [
    ("postgresql://app:pw-123@db:5432/x", "pw-123"),
    ("redis://:r3dis-pass@127.0.0.1:6379/0", "r3dis-pass"),
    ("curl -H 'Authorization: Bearer abc.def-ghi' http://x", "abc.def-ghi"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("host=db port=5432 user=app password=s3cret dbname=x", "s3cret"),
    ("host=db password='with space' dbname=x", "with space"),
    ("PGPASSWORD=hunter22 pg_dump -h db", "hunter22"),
    ('{"api_key": "k-123456", "ok": 1}', "k-123456"),
    ("POSTGRES_PASSWORD=lab-only-pg-password", "lab-only-pg-password"),
    ("GET /x?token=tok123&page=2", "tok123"),
    ("routing_key: pd-routing-1234", "pd-routing-1234"),
    ("mytool --db-password s3cr3t-flag --verbose", "s3cr3t-flag"),
    ("client --api-token=tok-flag-1", "tok-flag-1"),
])
def test_text_rules(text, secret):
    out = redact_text(text)
    assert secret not in out
    assert MASK in out


def test_text_keeps_context():
    assert redact_text("postgresql://app:pw@db/x") == "postgresql://app:%s@db/x" % MASK
    assert redact_text("Bearer abcdefgh") == "Bearer %s" % MASK
    assert redact_text("nothing secret here: 42") == "nothing secret here: 42"
    assert redact_text("tool --password x1 --verbose") == "tool --password %s --verbose" % MASK


def test_known_values_masked_anywhere():
    values = secret_values({"vars": {"db_password": "hunter2-long", "user": "app"}, "api_token": "{{ lookup('env', 'X') }}"})
    assert values == ["hunter2-long"]
    assert redact({"msg": "connecting with hunter2-long"}, values) == {"msg": "connecting with %s" % MASK}


def test_short_values_not_collected():
    assert secret_values({"password": "abc"}) == []
