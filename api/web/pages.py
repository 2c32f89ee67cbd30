"""The web page's routes: the pages (submit, jobs, a job) and the fragments htmx polls.

Every route here only reads: it calls one JobService method (api/service.py), as the JSON API
does, and renders a template. What changes something (submit, restyle, cancel, delete) the
page's script sends to the JSON API itself, with the session's CSRF token, so the page and
curl users go through the same checks.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import File, Template

from api.jobs import clip_path
from api.schemas import JobStatusOut
from api.web.context import page_context
from api.web.previews import caption_preview
from reelflow.status import TERMINAL
from reelflow.styles import CAPTION_PRESETS

PAGE_SIZE = 50
# What each preset looks like, in words (the README's table), beside its picture.
PRESET_NOTES = {
    "bold": "Anton capitals, 3 words, the spoken word in yellow",
    "classic": "Rubik, sentence case, 6 words, no animation",
    "karaoke": "each word fills with colour while it is spoken",
    "pop": "words pop in one by one, centre screen",
    "boxed": "white text on a translucent dark box",
}
Offset = Annotated[int, Parameter(ge=0, le=100_000)]


@get("/", include_in_schema=False)
async def submit_page(request: Request, state: State) -> Template:
    limit = state.settings.max_file_size_mb
    context = page_context(request, state, max_mb=limit, **_look_choices())
    return Template("submit.html", context=context)


@get("/jobs", include_in_schema=False)
async def jobs_page(request: Request, state: State, offset: Offset = 0) -> Template:
    return Template("jobs.html", context=await _jobs_context(request, state, offset))


@get("/fragments/jobs", include_in_schema=False)
async def jobs_rows(request: Request, state: State, offset: Offset = 0) -> Template:
    return Template("fragments/job_rows.html", context=await _jobs_context(request, state, offset))


@get("/jobs/{job_id:str}", include_in_schema=False)
async def job_page(job_id: FromPath[str], request: Request, state: State) -> Template:
    job = await _job(state, job_id)
    return Template("job.html", context=page_context(request, state, job=job, **_look_choices()))


@get("/fragments/jobs/{job_id:str}/live", include_in_schema=False)
async def job_live(
    job_id: FromPath[str],
    request: Request,
    state: State,
    shown: FromQuery[str] = "",
    was: FromQuery[str] = "",
) -> Template:
    """The job's state, log and any clips the page does not show yet (`shown`: their numbers);
    the answer that sees the job end (`was`: the status the page last saw) also switches on
    the restyle forms of the clips already shown."""
    job = await _job(state, job_id)
    seen = {int(n) for n in shown.split(",") if n.isdigit()}
    new = [c for c in job.result.clips if c.index not in seen]
    ended = was not in TERMINAL and job.status in TERMINAL
    context = page_context(
        request, state, job=job, new_clips=new, was=was, **_look_choices(),
        ended_clips=[c for c in job.result.clips if c.index in seen] if ended else [],
    )  # fmt: skip
    return Template("fragments/live.html", context=context)


@get("/fragments/versions/{job_id:str}", include_in_schema=False)
async def version_card(job_id: FromPath[str], request: Request, state: State) -> Template:
    """A re-render (restyle job) as one player beside the clip: pending, done, or failed."""
    job = await _job(state, job_id)
    clip = job.result.clips[0] if job.result.clips else None
    context = page_context(request, state, job=job, version=clip)
    return Template("fragments/version.html", context=context)


@get("/previews/captions/{preset:str}", include_in_schema=False)
async def caption_preview_image(preset: FromPath[str]) -> File:
    path = await anyio.to_thread.run_sync(caption_preview, preset)
    return File(path, media_type="image/jpeg", content_disposition_type="inline",
                headers={"Cache-Control": "private, max-age=86400"})  # fmt: skip


async def _job(state: State, job_id: str) -> JobStatusOut:
    # Paths, not absolute URLs: the page works behind any proxy that keeps the path.
    return await state.jobs.status(job_id, clip_path)


async def _jobs_context(request: Request, state: State, offset: int) -> dict:
    jobs = await state.jobs.list(None, PAGE_SIZE + 1, offset)
    return page_context(
        request, state, jobs=jobs[:PAGE_SIZE], offset=offset, page_size=PAGE_SIZE,
        more=len(jobs) > PAGE_SIZE,
    )  # fmt: skip


def _look_choices() -> dict:
    return {"presets": [(name, PRESET_NOTES.get(name, "")) for name in CAPTION_PRESETS]}
