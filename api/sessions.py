"""Browser sessions for the web page, when REELFLOW_API_TOKEN is set.

The login form trades the token for a session cookie (HttpOnly, SameSite=Strict) that the API's
guard (api/security.py) accepts like the bearer token. The cookie holds no token: it is an
expiry and a random nonce, signed with a key derived from the token, so a leaked cookie never
reveals the token, and changing the token ends every session.

A browser sends cookies on its own, so a request that changes something and rides on the
cookie must also show the session's CSRF token in the X-CSRF-Token header, which only the
page's own script knows (it is in the page). SameSite=Strict alone is not enough: another
port of the same host (the Prefect UI on :4200) is the same site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

COOKIE = "reelflow_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_session(token: str, now: float | None = None) -> str:
    """A signed cookie value: `<expires>.<nonce>.<signature>`."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    body = f"{expires}.{secrets.token_urlsafe(18)}"
    return f"{body}.{_sign(token, 'session', body)}"


def session_valid(token: str, value: str | None, now: float | None = None) -> bool:
    """Signed with this token and not expired."""
    if not value:
        return False
    body, _, signature = value.rpartition(".")
    expires = body.partition(".")[0]
    if not expires.isdigit() or not _same(signature, _sign(token, "session", body)):
        return False
    return int(expires) > (time.time() if now is None else now)


def csrf_token(token: str, session: str) -> str:
    """The CSRF token of one session: bound to it, so it cannot be replayed with another."""
    return _sign(token, "csrf", session)


def csrf_valid(token: str, session: str, given: str | None) -> bool:
    return bool(given) and _same(given, csrf_token(token, session))


def token_matches(token: str, given: str | None) -> bool:
    return bool(given) and _same(given.strip(), token)


def _sign(token: str, purpose: str, message: str) -> str:
    key = hashlib.sha256(b"reelflow-web-session\0" + token.encode()).digest()
    return hmac.new(key, f"{purpose}\0{message}".encode(), hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    # compare_digest: the time taken says nothing about how much matched.
    return hmac.compare_digest(a.encode(), b.encode())
