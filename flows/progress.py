"""What a running job tells the outside: a Prefect progress artifact, log lines per stage,
and the job's manifest (status "processing" with the clips done so far)."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from reelflow.jobs import ClipRequest
from reelflow.languages import name_of
from reelflow.manifest import (
    ClipEntry,
    DroppedEntry,
    LanguageRecord,
    Manifest,
    ManifestStatus,
    MomentsRecord,
    VideoSummary,
    write_manifest,
)
from reelflow.models import DroppedMoment, MediaInfo, MomentsUsage, Transcript

# Share of the whole job each stage usually takes; progress moves by these steps.
STAGE_WEIGHTS = {
    "ingest": 5,
    "transcribe": 35,
    "moments": 3,
    "boundaries": 2,
    "reframe": 15,
    "render": 35,
    "translate": 0,  # only when asked for; it happens after the clips exist
    "publish": 5,
}


class JobProgress:
    def __init__(self, job_id: str, folder: Path, request: ClipRequest):
        self.job_id = job_id
        self.folder = folder
        self.request = request
        self.stage = "queued"
        self.media: MediaInfo | None = None
        self.language: LanguageRecord | None = None
        self.dropped: list[DroppedMoment] = []
        self.moments: MomentsRecord | None = None
        self.warnings: list[str] = []
        self.clips: list[ClipEntry] = []
        self.planned: int | None = None
        self.timings: dict[str, float] = {}
        self._stage_began = time.perf_counter()
        self._artifact = create_progress_artifact(
            0.0, key=f"progress-{job_id}"[:64], description=f"Clipping {request.label()}"
        )

    @property
    def percent(self) -> float:
        done = 0.0
        for name, weight in STAGE_WEIGHTS.items():
            if name == self.stage:
                if name == "render" and self.planned:
                    done += weight * len(self.clips) / self.planned
                break
            done += weight
        return min(done, 100.0)

    def stage_started(self, stage: str, planned: int | None = None) -> None:
        now = time.perf_counter()
        if self.stage != "queued":
            self.timings[self.stage] = now - self._stage_began
            get_run_logger().info("%s done in %.1f s", self.stage, self.timings[self.stage])
        self.stage, self._stage_began = stage, now
        if planned is not None:
            self.planned = planned
        self._report()

    def clip_done(self, entry: ClipEntry) -> None:
        self.clips.append(entry)
        get_run_logger().info(
            "clip %d/%d ready: %s (%.0f-%.0f s, score %.0f)", len(self.clips), self.planned or 0,
            entry.file, entry.start, entry.end, entry.score,
        )  # fmt: skip
        self._report()

    def clip_translated(self, entry: ClipEntry) -> None:
        """The clip with its new language versions, in place of the one without."""
        self.clips = [entry if c.index == entry.index else c for c in self.clips]
        self._report()

    def moments_found(self, usage: MomentsUsage, cached: bool) -> None:
        """Record what the moment provider cost, for the manifest, the log and the UI."""
        self.moments = MomentsRecord(**usage.model_dump(), cached=cached)
        if usage.provider == "local":
            return
        cost = usage.estimated_cost_usd
        get_run_logger().info(
            "moments by %s (%s): %d requests, %d tokens in, %d out, estimated $%s%s",
            usage.provider, usage.model, usage.requests, usage.tokens_in, usage.tokens_out,
            "?" if cost is None else f"{cost:.4f}", " (cached: nothing paid this run)" * cached,
        )  # fmt: skip
        create_markdown_artifact(
            moments_usage_markdown(usage, cached),
            key=f"moments-{self.job_id}"[:64],
            description=f"Moment provider usage for {self.request.label()}",
        )

    def transcribed(self, transcript: Transcript) -> None:
        """Record the spoken language, and say in the log how it was found."""
        t = transcript
        self.language = LanguageRecord(
            code=t.language, name=name_of(t.language), detected=t.language_detected,
            probability=t.language_probability, model=t.model,
        )  # fmt: skip
        how = "detected" if t.language_detected else "as asked"
        get_run_logger().info("language: %s (%s), transcribed by %s", name_of(t.language), how,
                              t.model)  # fmt: skip
        if t.warning:
            self.warn(t.warning)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        get_run_logger().warning(message)

    def manifest(self, status: ManifestStatus = "processing", error: str | None = None) -> Manifest:
        """The job as it stands, for manifest.json."""
        self.timings[self.stage] = time.perf_counter() - self._stage_began
        return Manifest(
            job_id=self.job_id,
            status=status,
            stage=self.stage,
            progress=round(self.percent, 1),
            request=self.request.model_dump(mode="json", exclude={"gemini_key_block"}),
            video=_video_summary(self.media),
            language=self.language,
            clips_planned=self.planned,
            clips=sorted(self.clips, key=lambda c: c.index),
            dropped=[
                DroppedEntry(start=d.moment.start_s, end=d.moment.end_s, reason=d.reason)
                for d in self.dropped
            ],
            moments=self.moments,
            warnings=self.warnings,
            error=error,
            timings_s={k: round(v, 3) for k, v in self.timings.items()},
        )

    def completed(self, entries: list[ClipEntry]) -> None:
        self.stage = "done"
        update_progress_artifact(self._artifact, 100.0, description="Completed")
        get_run_logger().info("%d clips written to %s", len(entries), self.folder)
        create_markdown_artifact(
            clip_table_markdown(entries, self.folder),
            key=f"clips-{self.job_id}"[:64],
            description=f"Clips of {self.request.label()}",
        )

    def failed(self, reason: str) -> None:
        get_run_logger().error("Job failed during %s: %s", self.stage, reason)
        write_manifest(self.folder, self.manifest("failed", error=reason))

    def _report(self) -> None:
        update_progress_artifact(self._artifact, self.percent, description=f"Stage: {self.stage}")
        write_manifest(self.folder, self.manifest())


def _video_summary(media: MediaInfo | None) -> VideoSummary | None:
    if media is None:
        return None
    return VideoSummary.model_validate(media.model_dump(include=set(VideoSummary.model_fields)))


def clip_table_markdown(entries: list[ClipEntry], folder: Path) -> str:
    lines = [
        f"### {len(entries)} clips in `{folder}`",
        "",
        "| # | time | length | score | title | hook | file |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in sorted(entries, key=lambda e: e.score, reverse=True):
        cells = [
            str(e.index),
            f"{_clock(e.start)}-{_clock(e.end)}",
            f"{e.duration:.0f} s",
            f"{e.score:.0f}",
            _cell(e.title),
            _cell(e.hook),
            f"`{e.file}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def moments_usage_markdown(usage: MomentsUsage, cached: bool) -> str:
    cost = usage.estimated_cost_usd
    cells = [
        usage.provider,
        f"`{usage.model}`",
        str(usage.requests),
        f"{usage.tokens_in:,}",
        f"{usage.tokens_out:,}",
        "unknown" if cost is None else f"${cost:.4f}",
        "yes (nothing paid this run)" if cached else "no",
    ]
    return "\n".join([
        "### Moment provider",
        "",
        "| provider | model | requests | tokens in | tokens out | estimated cost | cached |",
        "|---|---|---|---|---|---|---|",
        "| " + " | ".join(cells) + " |",
        "",
        "The cost is an estimate from list prices (reelflow/gemini.py), not a bill.",
    ])  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
