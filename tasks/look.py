"""What the render pass adds to one clip: its effects plan, captions and hook title.

`build_look` turns the clip's words, hook text, reframe plan and LookOptions into a ClipLook:
extra video filters for the reframed picture (effect pieces, then the `ass` filter burning
captions and title), extra audio filters (the silence cuts), the output length, and the
caption files' text. tasks/render.py puts those filters into its one ffmpeg command, so the
clip is still encoded exactly once, from the source.

Order in the graph: effects first (zoom, grade, cuts), then the ASS overlay, so text is never
zoomed or graded. With cuts, caption and title times move to the cut timeline (TimeMap).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from reelflow.ass import ass_filter, new_document, write_ass
from reelflow.caching import stable_hash
from reelflow.errors import GeminiError
from reelflow.files import write_json_atomic, write_text_atomic
from reelflow.models import MediaInfo, ReframePlan, Transcript, Word
from reelflow.styles import LookOptions
from tasks.captions import CaptionLine, add_captions, break_lines, caption_words, srt_text, vtt_text
from tasks.effects.dispatch import effects_task
from tasks.effects.filters import TimeMap, effect_filters
from tasks.effects.local import clip_loudness, clip_words
from tasks.effects.types import EffectsPlan
from tasks.hook_title import add_hook, layout_hook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipLook:
    video_filters: list[str] = field(default_factory=list)
    audio_filters: list[str] = field(default_factory=list)
    duration_s: float | None = None  # the output's length when cuts shorten it
    captions: list[CaptionLine] = field(default_factory=list)
    ass_path: Path | None = None
    effects: EffectsPlan | None = None
    hook_drawn: bool = False

    @property
    def key(self) -> str:
        """Part of the render cache key; empty for a plain clip, so plain renders keep theirs."""
        if not (self.video_filters or self.audio_filters):
            return ""
        return stable_hash(self.video_filters, self.audio_filters)


def look_for_clip(
    look: LookOptions,
    index: int,
    transcript: Transcript,
    start_s: float,
    end_s: float,
    hook_text: str,
    reframe: ReframePlan,
    media: MediaInfo,
    job_provider: str = "local",
    key_block: str | None = None,
    warn=log.warning,
) -> ClipLook:
    """Plan the clip's effects (a task: cached, and retried when Gemini plans) and build its
    look. A transcript without a loudness track (a restyle reads transcript.json) gives
    loudness-free emphasis: emphatic words only."""
    if look.plain:
        return ClipLook()
    words = clip_words(transcript, start_s, end_s)
    loudness = clip_loudness(transcript, start_s, end_s)
    duration = round(end_s - start_s, 3)
    effects = plan_clip_effects(look, index, words, loudness, transcript.loudness_hop_s,
                                duration, job_provider, key_block, warn)  # fmt: skip
    return build_look(look, words, hook_text, duration, reframe, media.fps, effects)


def plan_clip_effects(
    look: LookOptions,
    index: int,
    words: list[Word],
    loudness_db: list[float],
    hop_s: float,
    duration_s: float,
    job_provider: str,
    key_block: str | None,
    warn=log.warning,
) -> EffectsPlan | None:
    """The clip's effects plan, or None without effects. `auto` asks Gemini when the job has
    a key (it picked its moments with Gemini); when Gemini fails after its retries, the local
    rules plan instead and `warn` says so: effects are no reason to fail a job."""
    opts = look.effects
    if opts is None:
        return None
    provider = opts.provider
    if provider == "auto":
        provider = "gemini" if job_provider == "gemini" else "local"
    if provider == "gemini":
        try:
            return effects_task("gemini")(index, words, loudness_db, hop_s, duration_s, opts,
                                          "gemini", key_block)  # fmt: skip
        except GeminiError as exc:
            warn(f"Effects for clip {index} were planned locally: {exc}")
    return effects_task("local")(index, words, loudness_db, hop_s, duration_s, opts, "local")


def build_look(
    look: LookOptions,
    words: list[Word],
    hook_text: str,
    duration_s: float,
    reframe: ReframePlan,
    fps: float,
    effects: EffectsPlan | None = None,
    phrases: list[list[Word]] | None = None,
) -> ClipLook:
    """`words` are in seconds from the clip start (tasks.effects.local.clip_words). Captions
    come from `phrases` when given (a translation: each phrase's lines stay inside its span),
    else from `words`."""
    if look.plain:
        return ClipLook()
    video, audio = [], []
    time_map = TimeMap(((0.0, duration_s),))
    if effects is not None:
        video, audio, time_map = effect_filters(effects, reframe, fps or 30.0)
    out_duration = time_map.duration_s
    doc = new_document()
    lines: list[CaptionLine] = []
    if look.captions is not None:
        lines = _caption_lines(phrases if phrases is not None else [words], time_map,
                               look.captions)  # fmt: skip
        add_captions(doc, lines, look.captions)
    hook_drawn = False
    if look.hook is not None:
        layout = layout_hook(look.hook.text or hook_text, look.hook, out_duration)
        if layout is not None:
            add_hook(doc, layout, look.hook)
            hook_drawn = True
    ass_path = None
    if doc.events:
        ass_path = write_ass(doc)
        video.append(ass_filter(ass_path))
    return ClipLook(
        video_filters=video,
        audio_filters=audio,
        duration_s=round(out_duration, 3) if audio else None,
        captions=lines,
        ass_path=ass_path,
        effects=effects,
        hook_drawn=hook_drawn,
    )


def _caption_lines(groups: list[list[Word]], time_map: TimeMap, style) -> list[CaptionLine]:
    """Lines per group of words, never across groups, never overlapping the next line."""
    lines: list[CaptionLine] = []
    for group in groups:
        moved = [
            w.model_copy(update={"start_s": time_map.to_output(w.start_s),
                                 "end_s": time_map.to_output(w.end_s)})
            for w in group
        ]  # fmt: skip
        lines += break_lines(caption_words(moved, style), style)
    return [
        line if k + 1 == len(lines) or line.end_s <= lines[k + 1].start_s
        else replace(line, end_s=max(line.start_s, lines[k + 1].start_s))
        for k, line in enumerate(lines)
    ]  # fmt: skip


def look_entry(look: ClipLook, folder: Path, stem: str) -> dict:
    """Write `<stem>.srt`, `<stem>.vtt` (captions) and `<stem>.effects.json` beside the clip;
    return the manifest fields (reelflow.manifest.Rendering) that name them."""
    fields: dict = {}
    if look.captions:
        for ext, text in (("srt", srt_text(look.captions)), ("vtt", vtt_text(look.captions))):
            write_text_atomic(folder / f"{stem}.{ext}", text)
            fields[f"captions_{ext}"] = f"{stem}.{ext}"
    if look.effects is not None:
        write_json_atomic(folder / f"{stem}.effects.json", look.effects.model_dump(mode="json"))
        fields["effects"] = {
            "source": look.effects.source,
            "zooms": len([s for s in look.effects.segments if s.zoom > 1]),
            "cuts": len(look.effects.cuts),
            "plan": f"{stem}.effects.json",
        }
    if look.duration_s is not None:
        fields["duration_after_cuts"] = look.duration_s
    fields["hook_title"] = look.hook_drawn
    return fields
