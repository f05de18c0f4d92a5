import hashlib
import hmac
import os
import subprocess

import pytest

from incident_receiver import auth

BODY = b'{"alertname":"X"}'
NOW = 1_800_000_000


def kind(headers, token="tok", secret="sec", now=NOW):
    return auth.from_headers(headers, token, secret, 300, now)


def status_of(headers, **kw):
    with pytest.raises(auth.AuthError) as err:
        kind(headers, **kw)
    return err.value.status


def signed(body=BODY, secret="sec", timestamp=NOW, nonce="n" * 32):
    return auth.signature_headers(secret, body, timestamp, nonce)


def test_bearer_is_decided_from_the_headers_alone():
    assert kind({"Authorization": "Bearer tok"}) == auth.BEARER
    assert kind({"Authorization": "bearer tok"}) == auth.BEARER
    assert kind({}, token=None, secret=None) is None                     # auth disabled


def test_signed_request_headers_then_body():
    headers = signed()
    assert kind(headers) == auth.SIGNED
    assert kind(dict(headers, Authorization="Bearer wrong")) == auth.SIGNED   # the signature may still be good
    auth.check_signature(headers, BODY, "sec")
    for body, secret in ((BODY + b" ", "sec"), (BODY, "other")):
        with pytest.raises(auth.AuthError) as err:
            auth.check_signature(headers, body, secret)
        assert err.value.status == 403


def test_missing_credentials_is_401_wrong_is_403():
    assert status_of({}) == 401
    assert status_of({"Authorization": "Bearer tok2"}) == 403
    assert status_of({"Authorization": "Basic dG9rOg=="}) == 403
    assert status_of({auth.SIGNATURE_HEADER: signed()[auth.SIGNATURE_HEADER]}) == 401      # no timestamp, no nonce
    assert status_of(dict(signed(), **{auth.TIMESTAMP_HEADER: "yesterday"})) == 403
    assert status_of(dict(signed(), **{auth.NONCE_HEADER: "short"})) == 403


@pytest.mark.parametrize("skew, ok", [(0, True), (-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_window(skew, ok):
    headers = signed(timestamp=NOW + skew)
    if ok:
        assert kind(headers) == auth.SIGNED
    else:
        assert status_of(headers) == 403


def test_only_configured_methods_count():
    assert status_of(signed(), secret=None) == 401
    assert status_of({"Authorization": "Bearer tok"}, token=None) == 401


def test_read_token_check():
    auth.check_bearer({"Authorization": "Bearer r"}, "r")
    for headers, status in (({}, 401), ({"Authorization": "Bearer tok"}, 403)):
        with pytest.raises(auth.AuthError) as err:
            auth.check_bearer(headers, "r")
        assert err.value.status == status


def test_reason_never_contains_the_secret():
    for headers in ({"Authorization": "Bearer nope"}, {}, signed(secret="nope")):
        with pytest.raises(auth.AuthError) as err:
            kind(headers, token="tok-secret-value", secret="sec-secret-value")
            auth.check_signature(headers, BODY, "sec-secret-value")
        assert "secret-value" not in err.value.reason


def test_signature_is_hmac_sha256_of_timestamp_nonce_body():
    expected = hmac.new(b"Jefe", b"1800000000.abcdefghijklmnop." + BODY, hashlib.sha256).hexdigest()
    assert auth.sign("Jefe", BODY, "1800000000", "abcdefghijklmnop") == "sha256=" + expected


def test_the_documented_openssl_command_signs_the_same(tmp_path):
    """docs/receiver.md: how a proxy signs with a shell and openssl."""
    (tmp_path / "body.json").write_bytes(BODY)
    script = ('sig=$( { printf "%s.%s." "$ts" "$nonce"; cat body.json; } '
              '| openssl dgst -sha256 -hmac "$SECRET" -r | cut -d" " -f1 ); echo "sha256=$sig"')
    out = subprocess.run(["sh", "-c", script], cwd=str(tmp_path), capture_output=True, text=True, check=True,
                         env=dict(os.environ, ts=str(NOW), nonce="abcdefghijklmnop", SECRET="sec"))
    assert out.stdout.strip() == auth.sign("sec", BODY, str(NOW), "abcdefghijklmnop")


def test_nonce_cache_refuses_replays_until_expiry_and_survives_a_restart(tmp_path):
    path = str(tmp_path / "nonces.db")
    cache = auth.NonceCache(path)
    assert cache.claim("a" * 16, expires=NOW + 300, now=NOW)
    assert not cache.claim("a" * 16, expires=NOW + 300, now=NOW + 10)
    cache.close()
    cache = auth.NonceCache(path)                                      # a restarted receiver
    assert not cache.claim("a" * 16, expires=NOW + 310, now=NOW + 20)
    assert cache.claim("a" * 16, expires=NOW + 700, now=NOW + 301)     # expired: its timestamp is refused anyway
    cache.release("a" * 16)
    assert cache.claim("a" * 16, expires=NOW + 700, now=NOW + 302)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
