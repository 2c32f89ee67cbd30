"""What the API answers, as typed models: they document themselves in the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from reelflow.manifest import ClipEntry
from reelflow.posting import PostRecord
from reelflow.status import JobStatus
from reelflow.webhooks import Delivery


class Submitted(BaseModel):
    job_id: str = Field(description="The job's id: use it with /api/status/{job_id}.")
    status: str = Field("queued", description="Always 'queued' for a new job.")


class RestyleSubmitted(Submitted):
    restyle_of: str = Field(description="The job whose clip is rendered again.")
    index: int = Field(description="The clip's number.")


class JobSummary(BaseModel):
    job_id: str
    status: JobStatus
    run_id: str | None = Field(
        None,
        description="The Prefect flow run doing the job (its page in the UI); empty "
        "until the run is created, a moment after the job is accepted.",
    )
    state: str | None = Field(None, description="The Prefect state name behind the status.")
    name: str | None = Field(None, description="The run's name in the Prefect UI.")
    source: str = Field("", description="The URL, or an uploaded file's name.")
    created_at: str | None = None
    updated_at: str | None = None
    error: str | None = Field(None, description="Why a failed job failed.")
    video_title: str | None = Field(None, description="The video's title, once known.")
    clip_count: int = Field(0, description="Clips finished so far.")
    files_expired: bool = Field(False, description="Its files were deleted or expired.")


# A clip's fields as the manifest records them, less its file names (the links replace them).
_ClipFields = create_model(
    "_ClipFields",
    __config__=ConfigDict(extra="ignore"),
    **{n: (f.annotation, f) for n, f in ClipEntry.model_fields.items()
       if n not in ("file", "thumbnail")},
)  # fmt: skip


class ClipOut(_ClipFields):
    """A clip as the manifest records it, with links, and the reference service's names."""

    video_url: str
    thumbnail_url: str
    captions_srt_url: str | None = Field(None, description="The captions as .srt, if any.")
    captions_vtt_url: str | None = Field(None, description="The captions as .vtt, if any.")
    s3_url: str | None = Field(None, description="A presigned S3 link, once uploaded.")
    thumbnail_s3_url: str | None = None
    video_title_for_youtube_short: str = ""
    video_description_for_tiktok: str = ""
    video_description_for_instagram: str = ""
    viral_hook_text: str = ""


class ClipsResult(BaseModel):
    clips: list[ClipOut] = Field(default_factory=list)


class UploadedFileOut(BaseModel):
    s3_key: str
    uploaded: bool
    error: str | None = None


class UploadsOut(BaseModel):
    status: str | None = None
    files: dict[str, UploadedFileOut] = Field(default_factory=dict)


class JobStatusOut(JobSummary):
    stage: str = Field(description="queued, a pipeline stage (ingest ... publish), or done.")
    progress: int = Field(ge=0, le=100)
    logs: list[str] = Field(default_factory=list, description="The run's last log lines.")
    result: ClipsResult = Field(default_factory=ClipsResult)
    uploads: UploadsOut | None = Field(None, description="The S3 copy, with S3 configured.")
    warnings: list[str] = Field(default_factory=list)


class JobList(BaseModel):
    jobs: list[JobSummary]
    limit: int
    offset: int


class Deleted(BaseModel):
    job_id: str
    status: str = Field(description="cancelled, cancelling, or the finished job's status.")
    files_deleted: bool


class Health(BaseModel):
    api: str = "ok"
    prefect: str = Field(description="ok or unreachable")
    deployments: str = Field("unknown", description="ok, or which are not registered yet")
    worker: str = Field("unknown", description="ok, or why no worker is known to be polling")
    dispatcher: str = Field(
        "ok", description="ok, or why the process that turns accepted jobs into runs is not running"
    )
    ready: bool = Field(False, description="True when a job submitted now can start")


class Alive(BaseModel):
    api: str = "ok"


class PostOut(BaseModel):
    job_id: str
    index: int = Field(description="The clip's number.")
    post: PostRecord = Field(description="The post: scheduled, then posted or failed.")


class WebhookDeliveries(BaseModel):
    job_id: str
    deliveries: list[Delivery] = Field(
        default_factory=list, description="Each state change told, with every attempt."
    )
