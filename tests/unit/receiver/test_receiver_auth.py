import pytest

from incident_receiver import auth

BODY = b'{"alertname":"X"}'


def check(headers, token="tok", secret="sec", body=BODY):
    auth.check(headers, body, token, secret)


def status_of(headers, **kw):
    with pytest.raises(auth.AuthError) as err:
        check(headers, **kw)
    return err.value.status


def test_valid_bearer_or_signature_passes():
    check({"Authorization": "Bearer tok"})
    check({"Authorization": "bearer tok"})
    check({auth.SIGNATURE_HEADER: auth.sign("sec", BODY)})
    check({"Authorization": "Bearer wrong", auth.SIGNATURE_HEADER: auth.sign("sec", BODY)})


def test_missing_credentials_is_401_wrong_is_403():
    assert status_of({}) == 401
    assert status_of({"Authorization": "Bearer tok2"}) == 403
    assert status_of({"Authorization": "Basic dG9rOg=="}) == 403
    assert status_of({auth.SIGNATURE_HEADER: auth.sign("other", BODY)}) == 403
    assert status_of({auth.SIGNATURE_HEADER: auth.sign("sec", BODY + b" ")}) == 403   # body changed
    assert status_of({auth.SIGNATURE_HEADER: "sha256="}) == 403


def test_only_configured_methods_count():
    assert status_of({auth.SIGNATURE_HEADER: auth.sign("sec", BODY)}, secret=None) == 401
    assert status_of({"Authorization": "Bearer tok"}, token=None) == 401


def test_reason_never_contains_the_secret():
    with pytest.raises(auth.AuthError) as err:
        check({"Authorization": "Bearer nope"})
    assert "tok" not in err.value.reason and "sec" not in err.value.reason


def test_signature_is_hmac_sha256_hex():
    # RFC 4231 test case 2
    assert auth.sign("Jefe", b"what do ya want for nothing?") == \
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
