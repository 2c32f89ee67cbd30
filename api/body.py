"""Reading a small JSON object from a request body, with a size limit and clear 4xx errors.

Python's json module turns some hostile bodies into errors that are not JSONDecodeError
(100k-digit numbers hit the int conversion limit, deep nesting a RecursionError) or into values
nothing downstream can store (NaN, Infinity). Each is refused here with a one-line reason.
"""

from __future__ import annotations

import json
import math
from typing import Any

from litestar import Request

from reelflow.errors import InvalidRequest, TooLarge

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40


async def read_json_object(request: Request, limit: int, example: str) -> dict:
    """The body as a JSON object; 413 past `limit` bytes (checked while reading, so a missing
    or lying Content-Length changes nothing), 400 when it is not JSON or not an object."""
    if content_length(request) > limit:
        raise TooLarge("JSON body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise TooLarge("JSON body too large")
    try:
        data = parse_json(bytes(body or b"{}"))
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"Malformed JSON body: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest("Malformed JSON body: it is not UTF-8 text") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"The JSON body must be an object like {example}")
    return data


def parse_json(text: bytes | str) -> Any:
    """json.loads, held to what a request may carry: InvalidRequest for NaN or Infinity,
    numbers of more than MAX_NUMBER_CHARS characters or out of float range, and nesting deeper
    than MAX_DEPTH. Plain syntax errors stay json.JSONDecodeError (callers word them)."""
    try:
        data = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_no_constant)
    except RecursionError as exc:
        raise InvalidRequest(f"JSON nested more than {MAX_DEPTH} levels deep") from exc
    if _depth(data) > MAX_DEPTH:
        raise InvalidRequest(f"JSON nested more than {MAX_DEPTH} levels deep")
    return data


def form_json(text: str) -> Any:
    """A form field that may hold JSON (`{"preset": "pop"}`, `true`) or plain text (a preset
    name): the parsed value, or the stripped text when it is not JSON at all."""
    try:
        return parse_json(text)
    except json.JSONDecodeError:
        return text.strip()


def content_length(request: Request) -> int:
    """The declared body length (0 when there is none); 400 when it is not a number."""
    value = request.headers.get("content-length") or "0"
    if not value.isascii() or not value.strip().isdigit() or len(value) > 20:
        raise InvalidRequest("Content-Length must be a number of bytes")
    return int(value)


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidRequest(f"A number in the JSON has {len(text)} digits; at most "
                             f"{MAX_NUMBER_CHARS} are accepted")  # fmt: skip
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidRequest(f"A number in the JSON has {len(text)} characters; at most "
                             f"{MAX_NUMBER_CHARS} are accepted")  # fmt: skip
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"A number in the JSON is out of range: {text}")
    return value


def _no_constant(name: str) -> float:
    raise InvalidRequest(f"{name} is not a JSON number: send a finite number")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest (a scalar is 0), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest
