"""Request authentication: a bearer token and/or an HMAC-SHA256 signature over the raw body.

Either credential that is configured is accepted (Alertmanager can send a bearer token; other
senders sign). No credential at all -> 401; a credential that does not match -> 403. Every
comparison is constant-time (hmac.compare_digest); secrets are never logged or echoed.
"""
import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"


class AuthError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(secret, body):
    """The header value a sender puts in X-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check(headers, body, token=None, hmac_secret=None):
    """Raise AuthError unless the request carries a valid bearer token or body signature."""
    if not token and not hmac_secret:
        return
    authz = headers.get("Authorization", "") if token else ""
    signature = headers.get(SIGNATURE_HEADER, "") if hmac_secret and body is not None else ""
    if authz:
        scheme, _sep, value = authz.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return
    if signature and hmac.compare_digest(signature.strip().encode(), sign(hmac_secret, body).encode()):
        return
    presented = bool(authz or signature)     # only credentials of a configured kind count
    if not presented:
        wanted = " or ".join(w for w, on in (("Authorization: Bearer <token>", token),
                                             (SIGNATURE_HEADER + ": sha256=<hex>", hmac_secret)) if on)
        raise AuthError(401, "missing credentials: send " + wanted)
    raise AuthError(403, "invalid credentials")
