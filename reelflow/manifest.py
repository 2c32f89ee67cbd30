"""manifest.json: the contract between the pipeline, the API, storage and batch reports.

One typed model, read and written only here. The flow writes it as a job runs (status
"processing", clips as they land), "completed" only once every clip is in place, "failed" with
the reason; a restyle adds versions of a clip and the S3 upload its per-file record, each
through `update_manifest` under the folder's lock so two writers never lose each other's change.

`schema_version` says which shape a file has. Files from before it existed (0.1.0, version 0)
load unchanged: every field added since has a default. A file from a newer release loads too
(unknown fields are ignored), so a rolled-back worker can still read its jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reelflow.files import locked, write_text_atomic
from reelflow.models import BoundaryFacts, MomentsUsage, ReframePlan
from reelflow.posting import PostRecord

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
_LOCK = ".manifest.lock"

ManifestStatus = Literal["processing", "completed", "failed"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EffectsSummary(_Record):
    """What the effects plan did; the plan itself is in `plan` (a JSON file beside the clip)."""

    source: Literal["local", "gemini"] = "local"
    zooms: int = 0
    cuts: int = 0
    plan: str | None = None


class Rendering(_Record):
    """One rendering of a clip: its files and what the look added."""

    file: str
    thumbnail: str
    width: int = 1080
    height: int = 1920
    captions_srt: str | None = None
    captions_vtt: str | None = None
    effects: EffectsSummary | None = None
    duration_after_cuts: float | None = Field(
        None, description="The file's length when silence cuts shortened it."
    )
    hook_title: bool = False

    def files(self) -> list[str]:
        """Every file of this rendering, in the job folder."""
        names = [self.file, self.thumbnail, self.captions_srt, self.captions_vtt]
        names.append(self.effects.plan if self.effects else None)
        return [n for n in names if n]


class ClipTexts(_Record):
    """A clip's words for the platforms, in one language."""

    title: str = ""
    hook: str = ""
    description_tiktok: str = ""
    description_instagram: str = ""
    hashtags: list[str] = Field(default_factory=list)


class ClipVersion(Rendering):
    """A later rendering of a clip, made again from the source: a new look (`clip_NN_vK.*`),
    or the clip in another language (`clip_NN.<lang>.*`, `clip_NN.<lang>.dub.*`)."""

    version: int
    kind: Literal["restyle", "translation", "dub"] = "restyle"
    language: str | None = Field(
        None, description="The language of its captions and texts (and of its voice, dubbed)."
    )
    texts: ClipTexts | None = Field(None, description="Title, hook, descriptions translated.")
    look: dict[str, Any] | None = Field(None, description="The look options it was made with.")
    reframe: ReframePlan | None = Field(
        None, description="The corrected framing, when the request corrected it."
    )
    restyle_job_id: str | None = None
    created_at: str | None = None


class ClipEntry(Rendering):
    """A clip: the moment (source times, texts, score), its boundary facts, its files, the
    reframe plan a restyle renders from, and its later versions."""

    index: int
    start: float = Field(description="Start in the source video, seconds.")
    end: float = Field(description="End in the source video, seconds.")
    duration: float
    title: str = ""
    hook: str = ""
    description_tiktok: str = ""
    description_instagram: str = ""
    hashtags: list[str] = Field(default_factory=list)
    score: float = 0
    reason: str = ""
    source: Literal["local", "gemini"] = "local"
    boundaries: BoundaryFacts | None = None
    reframe: ReframePlan | None = None
    versions: list[ClipVersion] = Field(default_factory=list)
    posts: list[PostRecord] = Field(
        default_factory=list, description="Posts to social platforms, scheduled or done."
    )
    # Set in a restyle run's own manifest, whose one clip is the new version.
    version: int | None = None
    look: dict[str, Any] | None = None
    restyle_job_id: str | None = None
    created_at: str | None = None

    def with_version(self, version: ClipVersion) -> ClipEntry:
        return self.model_copy(update={"versions": [*self.versions, version]})

    def post(self, post_id: str) -> PostRecord | None:
        return next((p for p in self.posts if p.post_id == post_id), None)

    def with_post(self, record: PostRecord) -> ClipEntry:
        """The clip with `record` in place of its post of the same id, or added."""
        posts = [p for p in self.posts if p.post_id != record.post_id]
        at = next((i for i, p in enumerate(self.posts) if p.post_id == record.post_id), None)
        posts.insert(len(posts) if at is None else at, record)
        return self.model_copy(update={"posts": posts})


class VideoSummary(_Record):
    source: str = ""
    title: str | None = None
    sha256: str | None = None
    duration_s: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    has_audio: bool = True


class LanguageRecord(_Record):
    """The video's spoken language and how it was found."""

    code: str
    name: str = ""
    detected: bool = Field(False, description="Detected from the speech, not given by the job.")
    probability: float | None = Field(None, description="How sure the detection was, 0-1.")
    model: str = Field("", description="The whisper model that transcribed it.")


class DroppedEntry(_Record):
    start: float
    end: float
    reason: str


class MomentsRecord(MomentsUsage):
    cached: bool = False


class UploadedFile(_Record):
    s3_key: str
    uploaded: bool = False
    error: str | None = None
    size: int = 0
    version: str = Field("", description="What tells a changed file (size:mtime, or a hash).")
    content_type: str = "application/octet-stream"
    uploaded_at: str | None = None


UploadStatus = Literal["pending", "uploading", "uploaded", "failed"]


class Uploads(_Record):
    """The S3 copy of a job's files: the bucket, where the upload stands, each file's outcome."""

    job_id: str
    bucket: str | None = None
    status: UploadStatus = "pending"
    files: dict[str, UploadedFile] = Field(default_factory=dict)
    error: str | None = None
    updated_at: str | None = None


class Manifest(_Record):
    schema_version: int = SCHEMA_VERSION
    job_id: str
    status: ManifestStatus
    stage: str | None = None
    progress: float = 0
    updated_at: str = Field(default_factory=lambda: now_iso())
    request: dict[str, Any] = Field(
        default_factory=dict, description="What was asked (a ClipRequest or a RestyleRequest)."
    )
    video: VideoSummary | None = None
    language: LanguageRecord | None = None
    clips_planned: int | None = None
    clips: list[ClipEntry] = Field(default_factory=list)
    dropped: list[DroppedEntry] = Field(default_factory=list)
    moments: MomentsRecord | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    timings_s: dict[str, float] = Field(default_factory=dict)
    uploads: Uploads | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_files(cls, data: Any) -> Any:
        """Before `schema_version` existed (0.1.0) a file had none: it is version 0."""
        if isinstance(data, dict) and "schema_version" not in data:
            data = {**data, "schema_version": 0}
        return data

    def clip(self, index: int) -> ClipEntry | None:
        return next((c for c in self.clips if c.index == index), None)

    def with_clip(self, clip: ClipEntry) -> Manifest:
        """The manifest with `clip` in place of the clip of the same index."""
        clips = [clip if c.index == clip.index else c for c in self.clips]
        return self.model_copy(update={"clips": clips})

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ManifestError(ValueError):
    """A manifest.json that is not one (a damaged or foreign file)."""


def read_manifest(folder: Path) -> Manifest | None:
    """The job's manifest; None when there is none (not started, deleted, expired)."""
    try:
        text = (folder / MANIFEST).read_text()
    except FileNotFoundError:
        return None
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        raise ManifestError(f"{folder / MANIFEST} is not a reelflow manifest: {exc}") from exc


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Write atomically, in the current schema version. `updated_at` is the writer's: the
    flow sets it with each progress step, and a change to the upload record alone is no news
    about the job."""
    manifest = manifest.model_copy(update={"schema_version": SCHEMA_VERSION})
    write_text_atomic(folder / MANIFEST, manifest.to_json())
    return manifest


def update_manifest(folder: Path, change: Callable[[Manifest], Manifest]) -> Manifest | None:
    """Read, change and write a job's manifest under the folder's lock, so two writers (a
    restyle adding a version, the S3 upload recording its files) never lose each other's
    update. None when the job has no manifest (deleted or expired meanwhile)."""
    if not folder.is_dir():
        return None
    with locked(folder, _LOCK):
        manifest = read_manifest(folder)
        if manifest is None:
            return None
        return write_manifest(folder, change(manifest))
