"""Optional bearer-token access control for the REST API.

With REELFLOW_API_TOKEN set, every route but the public ones (`/health`) answers 401 unless the
request carries `Authorization: Bearer <token>`; the OpenAPI pages under `/docs` are
protected too (they are routes like any other). The web page's session cookie (api/sessions.py)
is accepted too, and then a request that changes something must carry the session's CSRF token
in `X-CSRF-Token` (else 403). Without the token the API is open, and the README says it must
then sit behind a trusted network. A token that is set but empty, short or unsendable stops the
API from starting (`ConfigError`): an empty one used to mean "open".

It is a Litestar guard, installed app-wide by `install_auth`:

    Litestar(route_handlers=[...], on_app_init=[functools.partial(install_auth, settings=s)])

or `install_auth(app_config, settings)` on an `AppConfig` you build yourself. A handler can
also be made public with `opt={"public": True}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.sessions import COOKIE, CSRF_HEADER, SAFE_METHODS, csrf_valid, session_valid
from reelflow.errors import ConfigError
from reelflow.settings import Settings, get_settings

PUBLIC_PATHS = frozenset({"/health"})
MIN_TOKEN_LENGTH = 32
_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

Guard = Callable[[ASGIConnection, BaseRouteHandler], None]


def bearer_guard(token: str, public_paths: Iterable[str] = PUBLIC_PATHS) -> Guard:
    """A guard that lets a request through with the right bearer token, a valid web session
    (plus its CSRF token when the request changes something), or on a public path."""
    expected = token.encode()
    public = frozenset(p.rstrip("/") or "/" for p in public_paths)

    def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        path = connection.scope["path"].rstrip("/") or "/"
        if path in public or handler.opt.get("public"):
            return
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken says nothing about how much of the token matched.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return
        if session_valid(token, connection.cookies.get(COOKIE)):
            _check_csrf(connection, token)
            return
        detail = "Missing bearer token" if not given else "Invalid bearer token"
        raise NotAuthorizedException(
            detail=f"{detail}: send 'Authorization: Bearer <REELFLOW_API_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="reelflow"'},
        )

    return guard


def _check_csrf(connection: ASGIConnection, token: str) -> None:
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    if not csrf_valid(token, connection.cookies[COOKIE], connection.headers.get(CSRF_HEADER)):
        raise PermissionDeniedException(detail="Missing or invalid CSRF token: reload the page")


def auth_guards(
    settings: Settings | None = None, public_paths: Iterable[str] = PUBLIC_PATHS
) -> list[Guard]:
    """[the bearer guard] when REELFLOW_API_TOKEN is set, else [] (an open API)."""
    token = api_token(settings or get_settings())
    return [] if token is None else [bearer_guard(token, public_paths)]


def api_token(settings: Settings) -> str | None:
    """REELFLOW_API_TOKEN, checked: None when it is unset (an open API). Raises ConfigError
    when it is set but empty, shorter than MIN_TOKEN_LENGTH, or holds characters a client
    cannot send in a header (spaces, control or non-ASCII characters); the message never
    contains the token."""
    if settings.api_token is None:
        return None
    token = settings.api_token.get_secret_value()
    fix = f"set at least {MIN_TOKEN_LENGTH} characters (e.g. from `{_MAKE_ONE}`) or unset it"
    if not token:
        raise ConfigError(f"REELFLOW_API_TOKEN is set but empty: {fix} for an open API")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"REELFLOW_API_TOKEN is {len(token)} characters long, too short to resist guessing: "
            f"{fix}"
        )
    if not all("!" <= c <= "~" for c in token):
        raise ConfigError(
            "REELFLOW_API_TOKEN holds spaces, control or non-ASCII characters, which a client "
            f"cannot send in an Authorization header: {fix}"
        )
    return token


def install_auth(
    app_config: AppConfig,
    settings: Settings | None = None,
    public_paths: Iterable[str] = PUBLIC_PATHS,
) -> AppConfig:
    """Add the app-wide guard to a Litestar AppConfig (usable as an `on_app_init` hook)."""
    app_config.guards = [*app_config.guards, *auth_guards(settings, public_paths)]
    return app_config


def auth_enabled(settings: Settings | None = None) -> bool:
    return bool(auth_guards(settings))
