"""A clip job: what was asked (ClipRequest), where its files live, and how they expire.

Its manifest.json, the contract with everything that reads a job, is reelflow.manifest.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reelflow.files import write_json_atomic
from reelflow.languages import AUTO, spoken_language, target_languages
from reelflow.redact import redact_url
from reelflow.settings import get_settings
from reelflow.styles import CaptionsOption, EffectsOption, HookOption, LookOptions

UPLOAD_ID = r"^[0-9a-f]{32}$"


class ClipRequest(BaseModel):
    """One video to clip. The Prefect UI shows these fields as the run form."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(
        description="A local file path, an http(s) URL (YouTube or direct), or an s3:// key."
    )
    clips: int | None = Field(
        None, ge=1, le=15, description="How many clips; empty: as many good ones as found (3-15)."
    )
    min_seconds: float = Field(15, ge=5, le=180, description="Shortest clip, in seconds.")
    max_seconds: float = Field(60, ge=5, le=180, description="Longest clip, in seconds.")
    provider: Literal["local", "gemini"] = Field(
        "local", description="Who picks the moments: the offline scorer, or Gemini."
    )
    gemini_key_block: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding the Gemini key (never the key).",
    )
    out_dir: str | None = Field(
        None, description="Where to write the clips; empty: <data dir>/jobs/<job id>."
    )
    upload: str | None = Field(
        None,
        pattern=UPLOAD_ID,
        description="Set by the API alone: the id of the upload this job reads "
        "(uploads/<id>/), deleted with the job's files.",
    )
    job_id: str | None = Field(
        None,
        description="The job's id when the API accepted it (its folder and S3 keys use it); "
        "empty: the run's own id.",
    )
    captions: CaptionsOption = Field(
        None,
        description="Burned-in captions: a preset name (bold, classic, karaoke, pop, "
        "boxed) or a style; empty: none.",
    )
    hook: HookOption = Field(None, description="Hook title card (true: the default style).")
    effects: EffectsOption = Field(
        None, description="Punch-in zooms, colour grade, silence cuts (true: the defaults)."
    )
    webhook_url: str | None = Field(
        None,
        description="Told (a signed POST) when the job completes, fails or is cancelled, and "
        "when one of its clips is posted.",
    )
    language: str = Field(
        AUTO,
        description="Spoken language: auto (detected from the first 30 s of speech) or a code "
        "such as en, de, es, fr. Titles, hooks and descriptions are written in it.",
    )
    translate: list[str] = Field(
        default_factory=list,
        description="Also make each clip with captions and texts in these languages (codes "
        "such as es, de); needs Gemini (provider gemini or GEMINI_API_KEY).",
    )

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        return spoken_language(value) if isinstance(value, str) else value

    @field_validator("translate", mode="before")
    @classmethod
    def _targets(cls, value: object) -> object:
        return target_languages(value) if isinstance(value, (str, list)) else value

    @model_validator(mode="after")
    def _range(self) -> ClipRequest:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("min_seconds must be below max_seconds")
        return self

    def look(self) -> LookOptions:
        return LookOptions(captions=self.captions, hook=self.hook, effects=self.effects)

    def label(self) -> str:
        """A short name of the video for run names and logs: never a URL's query string, user
        name or password (see `reelflow.redact`)."""
        src = redact_url(self.source.rstrip("/"))
        if src.startswith("s3://"):  # an upload: its file name says more than the bucket
            return src.rsplit("/", 1)[-1][:80]
        if "://" in src:
            return src.split("://", 1)[1][:80]
        return Path(src).name[:80] or src[:80]


def run_job_id(run) -> str:
    """The job id behind a clip run: the id the API gave when it accepted the job (its run is
    created later, with an id of its own), else the run's id (batch, UI and older runs)."""
    request = (getattr(run, "parameters", None) or {}).get("request") or {}
    job_id = request.get("job_id") if isinstance(request, dict) else None
    return str(job_id or run.id)


def job_dir(job_id: str, out_dir: str | None = None) -> Path:
    return Path(out_dir) if out_dir else get_settings().jobs_dir / job_id


EXPIRED_MARKER = "expired.json"


def expire_job_files(folder: Path) -> bool:
    """Delete a finished job's files, leaving a marker so readers can say they expired."""
    if not folder.exists() or (folder / EXPIRED_MARKER).exists():
        return False
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    write_json_atomic(folder / EXPIRED_MARKER, {"expired_at": datetime.now(UTC).isoformat()})
    return True


def is_expired(folder: Path) -> bool:
    return (folder / EXPIRED_MARKER).exists()


def remove_upload(source: str) -> None:
    """Remove an API upload's folder, given its file's path: only a path that is literally
    <uploads dir>/<32 hex>/<name> (no `..`); anything else is left alone."""
    upload = _upload_of_path(source)
    if upload is not None:
        shutil.rmtree(get_settings().uploads_dir / upload, ignore_errors=True)


def remove_job_upload(request: Mapping) -> None:
    """Remove the upload a finished job read, decided from what the job recorded (see
    `job_upload`), never from a URL's text."""
    upload = job_upload(request)
    if upload is not None:
        shutil.rmtree(get_settings().uploads_dir / upload, ignore_errors=True)


def job_upload(request: Mapping) -> str | None:
    """The id of the API upload a job's request (its run parameters) says it read, else None.

    The API records it in `upload` (the 32-hex folder name under uploads/); no client can set
    that field. Runs from before that field lack the key, and their source is then the upload's
    plain local path (a client's URL never is one: the API only takes http(s) URLs)."""
    if "upload" in request:
        upload = request["upload"]
        return upload if isinstance(upload, str) and re.fullmatch(UPLOAD_ID, upload) else None
    source = request.get("source")
    return _upload_of_path(source) if isinstance(source, str) else None


def stored_upload_source(request: Mapping) -> str:
    """The S3 address of the upload a job read ("" when there is none): the request's source,
    only when the job recorded an upload and the address is that upload's."""
    upload, source = job_upload(request), request.get("source")
    if upload is None or not isinstance(source, str) or "://" not in source:
        return ""
    parts = source.split("/")
    return source if parts[-3:-1] == ["uploads", upload] and parts[-1] else ""


def _upload_of_path(source: str) -> str | None:
    """`<id>` when `source` is literally <uploads dir>/<id>/<name>, else None."""
    if "://" in source:
        return None
    path = Path(source)
    uploads = get_settings().uploads_dir
    if ".." in path.parts or path.parent.parent not in (uploads, uploads.absolute()):
        return None
    return path.parent.name if re.fullmatch(UPLOAD_ID, path.parent.name) else None
