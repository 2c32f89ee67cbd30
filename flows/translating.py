"""One clip of a finished job in another language, as a new version beside the original.

    translation: phrases -> provider -> translated phrases on the source phrases' times
                 -> captions, hook title and texts in the language -> one render from source
    dub:         the clip's audio -> ElevenLabs -> dubbed audio -> whisper (its words time the
                 captions) -> one render from source, the dub muxed in place of the voice

Files are `clip_NN.<lang>.*` (`clip_NN.<lang>.dub.*`; a second one of the same kind
`clip_NN_vK.<lang>.*`), listed under the clip's `versions` in the job's manifest with their
language and texts. Used by the `translate_clip` flow and by `clip_video`'s `translate`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flows.rendering import render_args
from flows.restyle import _locked, _next_version
from reelflow.errors import InvalidRequest
from reelflow.files import link_or_copy
from reelflow.languages import name_of
from reelflow.manifest import ClipEntry, ClipTexts, ClipVersion, now_iso, update_manifest
from reelflow.media import ffmpeg_path, file_input, file_sha256, run_tool
from reelflow.models import ClipFile, MediaInfo, ReframePlan, Transcript, Word
from reelflow.settings import get_settings
from reelflow.styles import LookOptions
from tasks.dub import dub
from tasks.effects.local import clip_loudness, clip_words
from tasks.look import ClipLook, build_look, look_entry, plan_clip_effects
from tasks.publish import place_clip
from tasks.transcribe import model_tag, transcribe
from tasks.translate.dispatch import translate_task
from tasks.translate.phrases import clip_phrases, timed_words
from tasks.translate.types import Translation, TranslationJob


@dataclass(frozen=True)
class ClipSource:
    """What every language version of one clip is made from."""

    folder: Path  # the job's folder
    clip: ClipEntry
    media: MediaInfo
    transcript: Transcript
    plan: ReframePlan
    look: LookOptions  # the job's look; captions are always on in another language
    job_provider: str = "local"  # who picked the moments (decides who plans effects)
    run_id: str | None = None


@dataclass(frozen=True)
class Providers:
    translation: str = "gemini"
    gemini_key_block: str | None = None
    elevenlabs_key_block: str | None = None


def check_languages(source: ClipSource, languages: list[str]) -> None:
    spoken = source.transcript.language
    if spoken in languages:
        raise InvalidRequest(f"Clip {source.clip.index} is already in {name_of(spoken)} ({spoken})")


def translated_version(source: ClipSource, language: str, providers: Providers,
                       warn: Callable[[str], None]) -> ClipVersion:  # fmt: skip
    """Captions and texts in `language`, timed phrase by phrase against the spoken words."""
    words = _words(source)
    phrases = clip_phrases(words)
    translation = _translate(source, language, phrases, providers)
    groups = [timed_words(p, t) for p, t in zip(phrases, translation.phrases, strict=True)]
    look = _look(source, providers, words, translation.texts.hook, warn, phrases=groups)
    rendered = _render(source, look)
    return _place(source, rendered, look, language, "translation", translation.texts)


def dubbed_version(source: ClipSource, language: str, providers: Providers,
                   warn: Callable[[str], None]) -> ClipVersion:  # fmt: skip
    """The voice dubbed into `language`, captions from a transcription of the dub."""
    clip = source.clip
    with tempfile.TemporaryDirectory(prefix="reelflow-dub-") as tmp:
        audio = _clip_audio(source, Path(tmp) / f"clip_{clip.index:02d}.m4a")
        dubbed = Path(dub(str(audio), source.transcript.language, language,
                          providers.elevenlabs_key_block))  # fmt: skip
    heard = transcribe(_audio_media(dubbed, clip.duration), model_tag(), language)
    texts = _dub_texts(source, language, providers, warn)
    look = _look(source, providers, heard.words, texts.hook if texts else clip.hook, warn,
                 dubbed=True)  # fmt: skip
    rendered = _with_audio(_render(source, look), dubbed, clip.duration)
    return _place(source, rendered, look, language, "dub", texts)


def _words(source: ClipSource) -> list[Word]:
    return clip_words(source.transcript, source.clip.start, source.clip.end)


def clip_texts(clip: ClipEntry) -> ClipTexts:
    return ClipTexts.model_validate(clip.model_dump(include=set(ClipTexts.model_fields)))


def _translate(source: ClipSource, language: str, phrases, providers: Providers) -> Translation:
    job = TranslationJob(source_language=source.transcript.language, target_language=language,
                         phrases=phrases, texts=clip_texts(source.clip))  # fmt: skip
    provider = providers.translation
    return translate_task(provider)(job, provider, providers.gemini_key_block)


def _dub_texts(source: ClipSource, language: str, providers: Providers,
               warn: Callable[[str], None]) -> ClipTexts | None:  # fmt: skip
    """The texts translated too, when a translation provider can; the dub stands without."""
    from reelflow.errors import ReelflowError

    try:
        return _translate(source, language, clip_phrases(_words(source)), providers).texts
    except ReelflowError as exc:
        warn(f"Clip {source.clip.index} dubbed into {name_of(language)} keeps its original "
             f"title and texts: {exc}")  # fmt: skip
        return None


def _look(source: ClipSource, providers: Providers, words: list[Word], hook: str,
          warn: Callable[[str], None], phrases: list[list[Word]] | None = None,
          dubbed: bool = False) -> ClipLook:  # fmt: skip
    """The job's look with captions on; a dub cuts no silences (its timing is the dub's)."""
    look, clip, t = source.look, source.clip, source.transcript
    captions = look.captions if look.captions is not None else True
    effects = look.effects
    if dubbed and effects is not None:
        effects = effects.model_copy(update={"cut_silences": False})
    look = LookOptions(captions=captions, hook=look.hook, effects=effects)
    duration = round(clip.end - clip.start, 3)
    loudness = clip_loudness(t, clip.start, clip.end)
    plan = plan_clip_effects(look, clip.index, _words(source), loudness, t.loudness_hop_s,
                             duration, source.job_provider, providers.gemini_key_block,
                             warn)  # fmt: skip
    return build_look(look, words, hook, duration, source.plan, source.media.fps, plan, phrases)


def _render(source: ClipSource, look: ClipLook) -> ClipFile:
    clip = source.clip
    task, args = render_args(source.media, clip.index, clip.start, clip.end, source.plan, look)
    return task(*args)


def _place(source: ClipSource, rendered: ClipFile, look: ClipLook, language: str, kind: str,
           texts: ClipTexts | None) -> ClipVersion:  # fmt: skip
    folder, index = source.folder, source.clip.index
    with _locked(folder):
        number = _next_version(folder, index)
        stem = version_stem(folder, index, language, kind, number)
        names = place_clip(rendered, folder, stem)
        version = ClipVersion.model_validate({
            "file": names[0], "thumbnail": names[1], "width": rendered.width,
            "height": rendered.height, **look_entry(look, folder, stem), "version": number,
            "kind": kind, "language": language, "texts": texts, "restyle_job_id": source.run_id,
            "created_at": now_iso(),
        })  # fmt: skip
        update_manifest(folder, lambda m: m.with_clip(m.clip(index).with_version(version)))
    return version


def version_stem(folder: Path, index: int, language: str, kind: str, number: int) -> str:
    suffix = f".{language}" + (".dub" if kind == "dub" else "")
    stem = f"clip_{index:02d}{suffix}"
    if (folder / f"{stem}.mp4").exists():
        stem = f"clip_{index:02d}_v{number}{suffix}"
    return stem


def _clip_audio(source: ClipSource, out: Path) -> Path:
    """The clip's stretch of the source's audio, as AAC: what the dubbing service hears."""
    clip = source.clip
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-ss", f"{clip.start:.3f}",
            *file_input(source.media.path), "-t", f"{clip.end - clip.start:.3f}",
            "-map", "0:a:0", "-vn", "-c:a", "aac", "-b:a", "128k", str(out)]  # fmt: skip
    run_tool(args, timeout_s=300, what="clip audio for dubbing")
    return out


def _audio_media(path: Path, duration_s: float) -> MediaInfo:
    """The dub as transcribe's input: audio only (probing wants a picture)."""
    return MediaInfo(path=str(path), sha256=file_sha256(path), size_bytes=path.stat().st_size,
                     duration_s=duration_s, has_video=False, has_audio=True)  # fmt: skip


def _with_audio(rendered: ClipFile, dubbed: Path, duration_s: float) -> ClipFile:
    """The rendered picture (copied, not encoded again) with the dub as its sound, at the
    render's loudness, cut or padded to the clip's length."""
    out = get_settings().cache_dir / "renders" / f"{Path(rendered.path).stem}.dub-{dubbed.stem}.mp4"
    if not out.exists():
        tmp = out.with_name(f".{out.name}.tmp.mp4")
        args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-i", rendered.path,
                *file_input(dubbed), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                "-af", "loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000,"
                f"aformat=channel_layouts=stereo,apad=whole_dur={duration_s:.3f}",
                "-c:a", "aac", "-b:a", "160k", "-t", f"{duration_s:.3f}",
                "-movflags", "+faststart", str(tmp)]  # fmt: skip
        run_tool(args, timeout_s=get_settings().subprocess_timeout_s, what="dub mux")
        tmp.replace(out)
    thumb = Path(rendered.thumbnail)
    link_or_copy(thumb, out.with_suffix(".jpg"))
    return rendered.model_copy(update={"path": str(out), "thumbnail": str(out.with_suffix(".jpg"))})


def translate_clips(entries: list[ClipEntry], request, media: MediaInfo, transcript: Transcript,
                    plans: list[ReframePlan], progress) -> list[ClipEntry]:  # fmt: skip
    """clip_video's `translate`: every clip in every language asked for, before the job is
    published. A clip that cannot be translated keeps its original and the job warns: the
    clips already made are never lost to a translation."""
    from reelflow.errors import ReelflowError

    providers = Providers("gemini", request.gemini_key_block)
    done = []
    for entry, plan in zip(sorted(entries, key=lambda e: e.index), plans, strict=True):
        source = ClipSource(progress.folder, entry, media, transcript, plan, request.look(),
                            request.provider)  # fmt: skip
        for language in request.translate:
            if language == transcript.language:
                progress.warn(f"Not translated into {name_of(language)}: the video speaks it")
                continue
            try:
                entry = entry.with_version(translated_version(source, language, providers,
                                                              progress.warn))  # fmt: skip
            except ReelflowError as exc:
                progress.warn(f"Clip {entry.index} was not translated into "
                              f"{name_of(language)}: {exc}")  # fmt: skip
        progress.clip_translated(entry)
        done.append(entry)
    return done
