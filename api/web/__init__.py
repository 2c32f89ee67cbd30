"""The web page at `/`: submit a video, watch the job, play, restyle and download its clips.

Server-rendered Jinja templates (api/web/templates/) with htmx (vendored in api/web/static/,
no Node build step, works offline) for the live parts, and one small script (static/app.js)
for what htmx does not do: the upload with its progress bar and the Gemini key as a header,
JSON requests to the API, copy buttons. Pages read through the same JobService as the JSON
API; every change goes through the JSON API itself.

With REELFLOW_API_TOKEN the pages need a login (api/web/auth.py, api/sessions.py); without it
they show the same warning as the README. `create_app` registers it all:

    Litestar(route_handlers=[..., web_router(), web_static()], template_config=web_templates())
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Response, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.errors import status_of
from api.jobs import clip_path
from api.web.auth import login, login_page, logout, to_login
from api.web.context import page_context
from api.web.pages import (
    caption_preview_image,
    job_live,
    job_page,
    jobs_page,
    jobs_rows,
    submit_page,
    version_card,
)
from reelflow.errors import ReelflowError

HERE = Path(__file__).parent
# Nothing inline and nothing from elsewhere: an injected <script> or style would not run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
]


ROUTES = [submit_page, jobs_page, jobs_rows, job_page, job_live, version_card,
          caption_preview_image, login_page, login, logout]  # fmt: skip


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=ROUTES,
        exception_handlers={NotAuthorizedException: to_login, ReelflowError: error_page},
        response_headers=HEADERS,
    )


def web_static() -> Router:
    """htmx, the script and the style sheet: public, so the login page has its style."""
    return create_static_files_router(
        path="/static/web", directories=[HERE / "static"], opt={"public": True},
        include_in_schema=False, cache_control=CacheControlHeader(max_age=3600),
    )  # fmt: skip


def web_templates() -> TemplateConfig:
    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_helpers
    )


def error_page(request: Request, exc: ReelflowError) -> Response:
    """A job that is not there (or a bad request) as a page, not as JSON."""
    status = status_of(exc)
    context = page_context(request, request.app.state, message=str(exc), status=status)
    return Template("error.html", context=context, status_code=status)


def _helpers(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.globals["clip_path"] = clip_path
    env.filters["seconds"] = _seconds
    env.filters["when"] = _when
    env.filters["look_label"] = _look_label


def _seconds(value: float | None) -> str:
    """1:39.4 for 99.4 s."""
    if value is None:
        return ""
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)}:{seconds:04.1f}"


def _when(value: str | None) -> str:
    """An ISO time as `2025-06-01 14:03 UTC`."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def _look_label(look: dict | None) -> str:
    """What a version added, in words: `bold captions, hook title`."""
    if not look:
        return "plain"
    parts = []
    if captions := look.get("captions"):
        parts.append(f"{captions.get('preset') or 'custom'} captions")
    if look.get("hook"):
        parts.append("hook title")
    if look.get("effects"):
        parts.append("effects")
    return ", ".join(parts) or "plain"
