"""Streaming multipart parsing for POST /api/process.

The file part is written straight to its final place under uploads/<id>/ as it arrives, in
constant memory, and counted: past MAX_FILE_SIZE_MB the request is refused with 413 and the
partial file removed. Text parts (url, clips, ...) are small and kept in memory.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from multipart import MultipartSegment, ParserError, PushMultipartParser

from reelflow.errors import InvalidRequest, TooLarge
from reelflow.safe_names import safe_filename

MAX_TEXT_FIELD = 64 * 1024


@dataclass
class ParsedForm:
    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    file_size: int = 0


def too_large(limit_mb: int) -> TooLarge:
    return TooLarge(f"File exceeds {limit_mb} MB limit")


async def parse_upload(
    stream: AsyncIterator[bytes], boundary: bytes, uploads_dir: Path, limit_mb: int
) -> ParsedForm:
    folder = uploads_dir / uuid.uuid4().hex
    form = ParsedForm()
    try:
        await _parse(stream, boundary, folder, limit_mb * 1024 * 1024, form)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return form


async def _parse(
    stream: AsyncIterator[bytes], boundary: bytes, folder: Path, limit: int, form: ParsedForm
) -> None:
    segment: MultipartSegment | None = None
    text = bytearray()
    out = None
    try:
        with PushMultipartParser(boundary, max_segment_count=20) as parser:
            async for chunk in _with_eof(stream):
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment, text = part, bytearray()
                        out = _open_file(part, folder, form) if part.filename is not None else None
                    elif part:
                        if out is not None:
                            form.file_size += len(part)
                            if form.file_size > limit:
                                raise too_large(limit // (1024 * 1024))
                            out.write(part)
                        else:
                            text.extend(part)
                            if len(text) > MAX_TEXT_FIELD:
                                raise InvalidRequest(f"Form field '{segment.name}' is too long")
                    elif segment is not None:
                        if out is None:
                            form.fields[segment.name] = text.decode(segment.charset or "utf-8")
                        else:
                            out.close()
                            out = None
                        segment = None
            if not parser.closed:
                raise InvalidRequest("The multipart body ended early (upload interrupted?)")
    except ParserError as exc:
        raise InvalidRequest(f"Invalid multipart/form-data: {exc}") from exc
    finally:
        if out is not None:
            out.close()


async def _with_eof(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The parser learns the body ended from one empty chunk."""
    async for chunk in stream:
        if chunk:
            yield chunk
    yield b""


def _open_file(segment: MultipartSegment, folder: Path, form: ParsedForm):
    if segment.name != "file":
        raise InvalidRequest(f"Unexpected file field '{segment.name}': send the video as 'file'")
    if form.file_path is not None:
        raise InvalidRequest("Send one file per request")
    folder.mkdir(parents=True, exist_ok=True)
    form.file_path = folder / safe_filename(segment.filename)
    return form.file_path.open("wb")
