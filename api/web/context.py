"""What every page knows: whether a login is on, the session's CSRF token, and the warning an
open API deserves."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from api.sessions import COOKIE, csrf_token, session_valid
from api.web.extensions import CLIP_ACTIONS, JOB_ACTIONS
from reelflow.settings import Settings

# The README's words (Security), so the page and the docs say the same.
OPEN_WARNING = (
    "Without REELFLOW_API_TOKEN the API is open to anyone who can reach it: run it only "
    "behind a trusted network (or a reverse proxy that authenticates), never on a public "
    "address."
)


def api_token(settings: Settings) -> str:
    """The configured token, or "" when the API is open."""
    return settings.api_token.get_secret_value() if settings.api_token is not None else ""


def page_context(request: Request, state: State, **extra: Any) -> dict[str, Any]:
    token = api_token(state.settings)
    session = request.cookies.get(COOKIE) or ""
    logged_in = bool(token) and session_valid(token, session)
    return {
        "login_on": bool(token),
        "logged_in": logged_in,
        "csrf": csrf_token(token, session) if logged_in else "",
        "open_warning": None if token else OPEN_WARNING,
        "path": request.url.path,
        "clip_actions": CLIP_ACTIONS,
        "job_actions": JOB_ACTIONS,
        **extra,
    }
