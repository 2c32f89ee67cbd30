"""Serving clips and thumbnails with HTTP Range support, so browsers can play and seek them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Response, Stream

from api.remote import ClipFile

CHUNK = 256 * 1024
# At most 18 digits: a byte offset, never a number that Python's int() refuses to convert.
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".srt": "text/plain; charset=utf-8",
               ".vtt": "text/vtt; charset=utf-8", ".json": "application/json",
               ".csv": "text/csv"}  # fmt: skip


def serve_clip_file(request: Request, clip: ClipFile) -> Response | Stream | Redirect:
    """The local file (with Range support), or a redirect to its S3 copy when the job ran on
    another machine."""
    if clip.path is not None:
        return file_response(request, clip.path, clip.name)
    return Redirect(clip.url, status_code=307)


def file_response(request: Request, path: Path, download_name: str) -> Response | Stream:
    size = path.stat().st_size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{download_name}"',
        "Cache-Control": "private, max-age=3600",
    }
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    spec = request.headers.get("range")
    if not spec:
        headers["Content-Length"] = str(size)
        return Stream(_read(path, 0, size), media_type=media_type, headers=headers)
    start, end = parse_range(spec, size)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return Stream(
        _read(path, start, end + 1), status_code=206, media_type=media_type, headers=headers
    )


def parse_range(spec: str, size: int) -> tuple[int, int]:
    """One byte range (what browsers send); inclusive start and end. 416 when unsatisfiable."""
    match = _RANGE.match(spec.strip())
    if not match or match.groups() == ("", ""):
        raise _unsatisfiable(size)
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> HTTPException:
    return HTTPException(
        status_code=416,
        detail="Range not satisfiable",
        headers={"Content-Range": f"bytes */{size}"},
    )


async def _read(path: Path, start: int, stop: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        left = stop - start
        while left > 0:
            chunk = await fh.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
