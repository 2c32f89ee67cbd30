"""A clip job: what was asked (ClipRequest), where its files live, and its manifest on disk.

The manifest is the contract between the flow and everything that reads a job (CLI, API,
batch reports): written atomically, with a `status` that only says "completed" once every
clip is in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reelflow.redact import redact_url
from reelflow.settings import get_settings
from reelflow.styles import CaptionsOption, EffectsOption, HookOption, LookOptions

MANIFEST = "manifest.json"


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
    captions: CaptionsOption = Field(
        None,
        description="Burned-in captions: a preset name (bold, classic, karaoke, pop, "
        "boxed) or a style; empty: none.",
    )
    hook: HookOption = Field(None, description="Hook title card (true: the default style).")
    effects: EffectsOption = Field(
        None, description="Punch-in zooms, colour grade, silence cuts (true: the defaults)."
    )

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


def job_dir(job_id: str, out_dir: str | None = None) -> Path:
    return Path(out_dir) if out_dir else get_settings().jobs_dir / job_id


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers never see half a file: write a temporary sibling, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def link_or_copy(src: Path, dst: Path) -> None:
    """Place a file without copying it when the file system allows (a hard link), through a
    temporary name unique to this writer, so readers and concurrent writers never see half."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def update_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> dict | None:
    """Read, change and write a finished job's manifest under a lock, so two writers (a
    restyle adding a version, the S3 upload recording its files) never lose each other's
    update. None when the job has no manifest (deleted or expired meanwhile)."""
    with locked(folder, ".manifest.lock"):
        manifest = read_manifest(folder)
        if manifest is None:
            return None
        change(manifest)
        write_json_atomic(folder / MANIFEST, manifest)
        return manifest


@contextmanager
def locked(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock on `folder/name` for writers in any process on this machine."""
    with open(folder / name, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


EXPIRED_MARKER = "expired.json"


def expire_job_files(folder: Path) -> bool:
    """Delete a finished job's files, leaving a marker so readers can say they expired."""
    import shutil
    from datetime import UTC, datetime

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
    """An uploaded source file lives under uploads/<id>/; remove that folder, nothing else."""
    import shutil

    uploads = get_settings().uploads_dir.resolve()
    path = Path(source).resolve()
    if uploads in path.parents and path.parent != uploads:
        shutil.rmtree(path.parent, ignore_errors=True)
