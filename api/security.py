"""Optional bearer-token access control for the REST API.

With REELFLOW_API_TOKEN set, every route but the public ones (`/health`) answers 401 unless the
request carries `Authorization: Bearer <token>`; the OpenAPI pages under `/docs` are
protected too (they are routes like any other). The web page's session cookie (api/sessions.py)
is accepted too, and then a request that changes something must carry the session's CSRF token
in `X-CSRF-Token` (else 403). Without the token the API is open, and the README says it must
then sit behind a trusted network.

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
from reelflow.settings import Settings, get_settings

PUBLIC_PATHS = frozenset({"/health"})

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
    token = (settings or get_settings()).api_token
    if token is None or not token.get_secret_value():
        return []
    return [bearer_guard(token.get_secret_value(), public_paths)]


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
