"""Logging in to the web page when REELFLOW_API_TOKEN is set, and being sent there.

The login form trades the token for the session cookie of api/sessions.py (HttpOnly, so no
script reads it; SameSite=Strict; Secure over https); the API's guard accepts that cookie. Both
routes are public; the pages behind the guard send a visitor without a session here.
"""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template

from api.sessions import (
    COOKIE,
    SESSION_SECONDS,
    csrf_valid,
    new_session,
    session_valid,
    token_matches,
)
from api.web.context import api_token, page_context

PUBLIC = {"public": True}


@get("/login", opt=PUBLIC, include_in_schema=False)
async def login_page(request: Request, state: State, next: FromQuery[str] = "/") -> Response:
    if not api_token(state.settings):
        return Redirect("/")
    context = page_context(request, state, next=safe_next(next), error=None)
    return Template("login.html", context=context)


@post("/login", opt=PUBLIC, include_in_schema=False, status_code=303)
async def login(request: Request, state: State) -> Response:
    token = api_token(state.settings)
    form = await request.form()
    target = safe_next(form.get("next"))
    if not token:
        return Redirect("/", status_code=303)
    if not token_matches(token, form.get("token")):
        error = "That is not the token set in REELFLOW_API_TOKEN."
        context = page_context(request, state, next=target, error=error)
        return Template("login.html", context=context, status_code=401)
    response = Redirect(target, status_code=303)
    response.set_cookie(
        COOKIE, new_session(token), max_age=SESSION_SECONDS, path="/", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@post("/logout", opt=PUBLIC, include_in_schema=False, status_code=303)
async def logout(request: Request, state: State) -> Response:
    token = api_token(state.settings)
    session = request.cookies.get(COOKIE)
    form = await request.form()
    # A live session is only ended by its own page: no other site can log a person out.
    if token and session_valid(token, session) and not csrf_valid(token, session, form.get("csrf")):
        raise PermissionDeniedException(detail="Missing or invalid CSRF token: reload the page")
    response = Redirect("/login" if token else "/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def to_login(request: Request, _: NotAuthorizedException) -> Response:
    """A page asked for without a session: the login form, coming back here afterwards. htmx
    requests (a poll whose session expired) get the same as HX-Redirect, so the whole page
    goes, not the fragment."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/login?" + urlencode({"next": here})
    if request.headers.get("hx-request"):
        return Response(b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def safe_next(value: object) -> str:
    """Only a path on this site: a login must never send anyone elsewhere."""
    text = value if isinstance(value, str) else ""
    if not text.startswith("/") or text.startswith(("//", "/\\")) or any(c < " " for c in text):
        return "/"
    return text
