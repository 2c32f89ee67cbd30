"""Streaming multipart parsing for POST /api/process.

The file part is written straight to its final place under uploads/<id>/ as it arrives, in
constant memory, and counted: past MAX_FILE_SIZE_MB the request is refused with 413 and the
partial file removed. Text parts (url, clips, ...) are small and kept in memory. Whatever is
wrong with the body (framing, limits, charsets, bytes that are not text) is a 400 with a
one-line reason, never a 500.
"""

from __future__ import annotations

import codecs
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser

from reelflow.errors import InvalidRequest, TooLarge
from reelflow.safe_names import safe_filename

MAX_TEXT_FIELD = 64 * 1024
MAX_PARTS = 20
# What a browser or an HTTP library sends a text field in; anything else is refused by name.
TEXT_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})


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
        with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
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
                                raise InvalidRequest(f"Form field {_name(segment)} is too long")
                    elif segment is not None:
                        if out is None:
                            form.fields[segment.name] = _text(segment, text)
                        else:
                            out.close()
                            out = None
                        segment = None
            if not parser.closed:
                raise InvalidRequest("The multipart body ended early (upload interrupted?)")
    except ParserLimitReached as exc:
        raise InvalidRequest(
            f"Invalid multipart/form-data: {_reason(exc)} (at most {MAX_PARTS} parts, each with "
            "a few short headers)"
        ) from exc
    except MultipartError as exc:
        raise InvalidRequest(f"Invalid multipart/form-data: {_reason(exc)}") from exc
    finally:
        if out is not None:
            out.close()


def _text(segment: MultipartSegment, data: bytearray) -> str:
    """A text field's value, in the charset its part names (UTF-8 when none)."""
    charset = segment.charset or "utf-8"
    try:
        known = codecs.lookup(charset).name in TEXT_CHARSETS
    except LookupError:
        known = False
    if not known:
        raise InvalidRequest(
            f"Form field {_name(segment)} is in charset {charset[:40]!r}, which is not "
            "supported: send UTF-8"
        )
    try:
        return data.decode(charset)
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"Form field {_name(segment)} is not valid {charset} text") from exc


def _name(segment: MultipartSegment) -> str:
    return repr(segment.name[:40])


def _reason(exc: MultipartError) -> str:
    """The parser's reason alone (some errors carry the undecodable header as a second
    argument, which says nothing more and may be long)."""
    if any(isinstance(arg, UnicodeDecodeError) for arg in exc.args):
        return "a part's headers are not valid UTF-8"
    reason = exc.args[0] if exc.args else ""
    return str(reason)[:120] if reason else type(exc).__name__


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
