"""Request authentication, decided from the headers before the body is read.

Either credential that is configured is accepted:
- `Authorization: Bearer <token>` (what Alertmanager sends with `http_config.authorization`): checked
  from the headers alone; no byte of the body is read for a missing or wrong token.
- An HMAC-SHA256 signature (senders behind a proxy):
      X-Signature-Timestamp: <unix seconds>
      X-Signature-Nonce:     <16-128 characters of [A-Za-z0-9_-], new for every request>
      X-Signature:           sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<nonce>.<body>")>
  The headers are checked first (all present, timestamp within the window), then the body is read
  under the size cap, then the signature, then the nonce is recorded: the same signed request sent
  again within the window is refused, and outside it the timestamp is.
No credential -> 401; a wrong one, a stale timestamp or a replay -> 403. Every comparison is
constant-time (hmac.compare_digest); secrets are never logged or echoed.
"""
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
NONCE_HEADER = "X-Signature-Nonce"
NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
BEARER, SIGNED = "bearer", "signed"


class AuthError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signed_string(timestamp, nonce, body):
    """The bytes a sender signs: `<timestamp>.<nonce>.` followed by the raw body."""
    return ("%s.%s." % (timestamp, nonce)).encode() + body


def sign(secret, body, timestamp, nonce):
    """The X-Signature value for this body, timestamp and nonce."""
    return "sha256=" + hmac.new(secret.encode(), signed_string(timestamp, nonce, body), hashlib.sha256).hexdigest()


def signature_headers(secret, body, timestamp=None, nonce=None):
    """The three headers of a signed request (a fresh nonce and the current time unless given)."""
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: sign(secret, body, timestamp, nonce)}


def check_bearer(headers, token):
    """Raise AuthError unless `Authorization: Bearer <token>` matches (401 if absent)."""
    authz = headers.get("Authorization", "")
    if not authz:
        raise AuthError(401, "missing credentials: send Authorization: Bearer <token>")
    if not _bearer_matches(authz, token):
        raise AuthError(403, "invalid credentials")


def from_headers(headers, token=None, hmac_secret=None, window_s=300, now=None):
    """Which credential carries the request, from its headers alone: None (auth disabled), BEARER (a
    valid token: nothing more to check) or SIGNED (well-formed, fresh signature headers: call
    check_signature once the body is read). Raises AuthError for anything else."""
    if not token and not hmac_secret:
        return None
    authz = headers.get("Authorization", "") if token else ""
    if authz and _bearer_matches(authz, token):
        return BEARER
    signature = headers.get(SIGNATURE_HEADER, "") if hmac_secret else ""
    if signature:
        _check_signature_headers(headers, window_s, time.time() if now is None else now)
        return SIGNED
    if authz:
        raise AuthError(403, "invalid credentials")
    wanted = " or ".join(w for w, on in (("Authorization: Bearer <token>", token),
                                         ("a signature (%s, %s, %s)" % (SIGNATURE_HEADER, TIMESTAMP_HEADER,
                                                                        NONCE_HEADER), hmac_secret)) if on)
    raise AuthError(401, "missing credentials: send " + wanted)


def check_signature(headers, body, hmac_secret):
    """After from_headers returned SIGNED: raise AuthError(403) unless the signature covers this body."""
    expected = sign(hmac_secret, body, headers[TIMESTAMP_HEADER].strip(), headers[NONCE_HEADER].strip())
    if not hmac.compare_digest(headers.get(SIGNATURE_HEADER, "").strip().encode(), expected.encode()):
        raise AuthError(403, "invalid credentials")


def _bearer_matches(authz, token):
    scheme, _sep, value = authz.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _check_signature_headers(headers, window_s, now):
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    nonce = headers.get(NONCE_HEADER, "").strip()
    if not timestamp or not nonce:
        raise AuthError(401, "a signed request needs %s and %s (see docs/receiver.md)"
                        % (TIMESTAMP_HEADER, NONCE_HEADER))
    if not TIMESTAMP.fullmatch(timestamp):
        raise AuthError(403, "%s: expected unix seconds" % TIMESTAMP_HEADER)
    if not NONCE.fullmatch(nonce):
        raise AuthError(403, "%s: expected 16-128 characters of [A-Za-z0-9_-]" % NONCE_HEADER)
    if abs(now - int(timestamp)) > window_s:
        raise AuthError(403, "%s outside the %d s window (sign each request when it is sent)"
                        % (TIMESTAMP_HEADER, window_s))


class NonceCache:
    """Nonces of signed requests accepted within the window, in SQLite (state_dir/nonces.db) so that a
    replay is refused across a restart too. Used from the event loop only."""
    PRUNE_EVERY = 256

    def __init__(self, path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")    # survives a crash of the receiver, not a power cut
        self.db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)")
        self.claims = 0

    def claim(self, nonce, expires, now=None):
        """Record a nonce until `expires`; False if it is already recorded and not expired (a replay)."""
        now = time.time() if now is None else now
        if self.claims % self.PRUNE_EVERY == 0:
            self.db.execute("DELETE FROM nonces WHERE expires < ?", (now,))
        self.claims += 1
        cur = self.db.execute("INSERT INTO nonces (nonce, expires) VALUES (?, ?) ON CONFLICT(nonce) DO UPDATE "
                              "SET expires = excluded.expires WHERE nonces.expires < ?", (nonce, expires, now))
        return cur.rowcount == 1

    def release(self, nonce):
        """Forget a nonce whose request was not acknowledged (the sender may send it again)."""
        self.db.execute("DELETE FROM nonces WHERE nonce = ?", (nonce,))

    def close(self):
        self.db.close()
