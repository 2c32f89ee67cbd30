"""Reading a small JSON object from a request body, with a size limit and clear 4xx errors."""

from __future__ import annotations

import json

from litestar import Request

from reelflow.errors import InvalidRequest, TooLarge


async def read_json_object(request: Request, limit: int, example: str) -> dict:
    """The body as a JSON object; 413 past `limit` bytes (checked while reading, so a missing
    or lying Content-Length changes nothing), 400 when it is not JSON or not an object."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise TooLarge("JSON body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise TooLarge("JSON body too large")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Malformed JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"The JSON body must be an object like {example}")
    return data
