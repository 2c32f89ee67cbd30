"""What the OpenAPI document says beyond the handlers' signatures: the request bodies that the
handlers read by hand (a streamed upload, a size-checked JSON object), the headers they read,
and every answer they give besides 200, so that clients, and the fuzz test that holds the API to
its document (tests/unit/test_api_fuzz.py), know them all.

    @post("/api/process", responses=errors(400, 413, 503), operation_class=SubmitOperation)
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from pydantic import BaseModel, Field, create_model

from reelflow.jobs import ClipRequest
from reelflow.netguard import MAX_URL_LENGTH
from reelflow.posting import PublishRequest
from reelflow.styles import RestyleRequest
from reelflow.translate_request import TranslateRequest

MAX_KEY_LENGTH = 256  # a Gemini key is 39 characters


class ErrorOut(BaseModel):
    """Every error answer: the status again and a one-line reason."""

    status_code: int
    detail: str = Field(description="What was wrong, in one line.")
    extra: dict[str, Any] | list[Any] | None = Field(
        None, description="Which parameters were invalid (Litestar's own validation only)."
    )


WHY = {
    400: "The request is malformed or asks for something impossible; `detail` says what.",
    401: "REELFLOW_API_TOKEN is set and the request has no valid `Authorization: Bearer` token.",
    404: "No such job or clip, or its files expired.",
    409: "The job has not finished yet.",
    413: "The body or the upload is over its limit (MAX_FILE_SIZE_MB for uploads).",
    416: "The Range header asks for bytes the file does not have.",
    503: "The worker has not registered its deployments, or Prefect or S3 is unreachable.",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """Error answers for a route: those named, and 401 (with a token set)."""
    return {
        code: ResponseSpec(ErrorOut, description=WHY[code], generate_examples=False)
        for code in sorted({*codes, 401})
    }


def binary(media_type: str, what: str) -> dict[int, ResponseSpec]:
    """A file answer, whole (200) or a byte range of it (206)."""
    return {
        200: ResponseSpec(bytes, description=what, media_type=media_type, generate_examples=False),
        206: ResponseSpec(
            bytes,
            description=f"The byte range the Range header asked for, of: {what}",
            media_type=media_type,
            generate_examples=False,
        ),
    }


def documented(
    *, body: dict | None = None, headers: tuple[dict, ...] = (), answers: dict | None = None
) -> type[Operation]:
    """An Operation that adds a request body, header parameters and answers (raw OpenAPI, for
    what a ResponseSpec cannot say, such as one status in two media types) to what Litestar
    found."""

    class DocumentedOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            schema = super().to_schema()
            if body is not None:
                schema["requestBody"] = body
            if headers:
                schema["parameters"] = [*schema.get("parameters", []), *headers]
            if answers:
                schema["responses"] = {**schema.get("responses", {}), **answers}
            return schema

    return DocumentedOperation


def _inline(schema: dict) -> dict:
    """A pydantic JSON schema with its `$defs` put in place: the document has none of its own."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**defs[node["$ref"].rsplit("/", 1)[-1]], **rest})
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _fields_of(model: type[BaseModel], names: tuple[str, ...], **changed: Any) -> dict:
    return {
        n: changed.get(n, (model.model_fields[n].annotation, model.model_fields[n])) for n in names
    }


OPTIONS = ("clips", "min_seconds", "max_seconds", "provider", "captions", "hook", "effects")
SubmitJson = create_model(
    "SubmitJson",
    __doc__="A video by URL, and the job's options.",
    url=(str, Field(min_length=1, max_length=MAX_URL_LENGTH, description="The video's http(s) "
                    "URL.", examples=["https://www.youtube.com/watch?v=dQw4w9WgXcQ"],
                    json_schema_extra={"format": "uri"})),
    **_fields_of(
        ClipRequest,
        OPTIONS,
        provider=(ClipRequest.model_fields["provider"].annotation, Field(
            "gemini", description="Who picks the moments: Gemini (the default) or the offline "
            "scorer (`local`, no key needed).")),
    ),
)  # fmt: skip
RestyleJson = create_model(
    "RestyleJson",
    __doc__="A new look for one clip, and corrections to its framing.",
    **_fields_of(RestyleRequest, ("captions", "hook", "effects", "reframe")),
)


TranslateJson = create_model(
    "TranslateJson",
    __doc__="The languages to make a clip in, and how.",
    **_fields_of(TranslateRequest, ("languages", "provider", "dub")),
)
PublishJson = create_model(
    "PublishJson",
    __doc__="Where and when to post a clip, and with which texts.",
    **_fields_of(PublishRequest, ("platforms", "at", "texts", "profile", "webhook_url", "version")),
)


def _json_body(model: type[BaseModel], required: bool) -> dict:
    return {
        "required": required,
        "content": {"application/json": {"schema": _inline(model.model_json_schema())}},
    }


def _form_schema() -> dict:
    """The multipart form: a `file` (or a `url`) and the options, each as text; the looks as
    JSON text or a preset name."""
    json_schema = _inline(SubmitJson.model_json_schema())
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "The video file."},
        "url": json_schema["properties"]["url"],
    }
    for name in OPTIONS:
        field = json_schema["properties"][name]
        if name in ("captions", "hook", "effects"):
            field = {"type": "string", "description": f"{name}: JSON text or a preset name."}
        properties[name] = field
    return {"type": "object", "properties": properties}


SUBMIT_BODY = {
    "required": True,
    "description": "JSON with `url`, or multipart/form-data with `file` (or `url`): exactly one.",
    "content": {
        "application/json": {"schema": _inline(SubmitJson.model_json_schema())},
        "multipart/form-data": {"schema": _form_schema()},
    },
}
RESTYLE_BODY = _json_body(RestyleJson, required=False)


def key_header(required: bool, name: str = "X-Gemini-Key", service: str = "Gemini") -> dict:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": f"Your {service} API key; kept in a per-run Prefect Secret block, never "
        "logged.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                   "pattern": "^[!-~]+$"},
    }  # fmt: skip


RANGE_HEADER = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "One byte range, `bytes=START-END`, `bytes=START-` or `bytes=-LAST`.",
    "schema": {"type": "string"},
}

_TEXT = {"schema": {"type": "string"}}
SubmitOperation = documented(body=SUBMIT_BODY, headers=(key_header(True),))
RestyleOperation = documented(body=RESTYLE_BODY, headers=(key_header(False),))
TranslateOperation = documented(
    body=_json_body(TranslateJson, required=True),
    headers=(key_header(False), key_header(False, "X-ElevenLabs-Key", "ElevenLabs")),
)
PublishOperation = documented(
    body=_json_body(PublishJson, required=True),
    headers=(key_header(False, "X-Upload-Post-Key", "Upload-Post"),),
)
FileOperation = documented(headers=(RANGE_HEADER,))
CaptionsOperation = documented(
    headers=(RANGE_HEADER,),
    answers={
        code: {"description": what, "content": {"text/plain": _TEXT, "text/vtt": _TEXT}}
        for code, what in (("200", "The captions: SubRip (srt) or WebVTT (vtt)"),
                           ("206", "The byte range the Range header asked for"))
    },
)  # fmt: skip
