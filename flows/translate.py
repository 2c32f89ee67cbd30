"""The `translate_clip` flow: one clip of a finished job in other languages.

    job manifest -> same video, transcript, reframe plan -> per language: translate (or dub)
    -> one render from the source -> clip_NN.<lang>.* beside the original

Like a restyle, a run is a job of its own (its folder holds a manifest with its status and the
new files, so the API reports and serves it), and the job's manifest lists each new version
under the clip's `versions` with its language and translated texts (flows/translating.py).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.names import TRANSLATE_FLOW
from flows.restyle import finished_clip, run_as_job
from flows.translating import (
    ClipSource,
    Providers,
    check_languages,
    dubbed_version,
    translated_version,
)
from reelflow.files import link_or_copy
from reelflow.languages import name_of
from reelflow.manifest import ClipEntry, ClipVersion
from reelflow.secrets import delete_key_block_hook
from reelflow.styles import LookOptions
from reelflow.translate_request import TranslateRequest
from tasks.upload import start_uploads


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    if isinstance(request, dict):
        request = TranslateRequest.model_validate(request)
    return request.label()


@flow(
    name=TRANSLATE_FLOW,
    flow_run_name=_run_name,
    description="Make one clip of a finished job in other languages: captions and texts "
    "translated, or the voice dubbed.",
    on_completion=[delete_key_block_hook],
    on_failure=[delete_key_block_hook],
    on_cancellation=[delete_key_block_hook],
    on_crashed=[delete_key_block_hook],
)
def translate_clip(request: TranslateRequest):
    return run_as_job(request, "translation", partial(_translate, request),
                      lambda entry: {"files": [v.file for v in entry.versions]})  # fmt: skip


def _translate(request: TranslateRequest, run_id: str, status: Path) -> ClipEntry:
    source = clip_source(request.job, request.index, run_id)
    check_languages(source, request.languages)
    providers = Providers(request.provider, request.gemini_key_block,
                          request.elevenlabs_key_block)  # fmt: skip
    make = dubbed_version if request.dub else translated_version
    log = get_run_logger()
    versions: list[ClipVersion] = []
    for language in request.languages:
        version = make(source, language, providers, log.warning)
        log.info("clip %d in %s: %s", request.index, name_of(language), version.file)
        versions.append(version)
    start_uploads(source.folder.name, source.folder)  # S3: the new files too, in the background
    for version in versions:  # the run's own folder serves them under the run's id
        for name in version.files():
            link_or_copy(source.folder / name, status / name)
    first = versions[0]
    return ClipEntry.model_validate({
        **source.clip.model_dump(exclude={"versions", "reframe"}),
        **first.model_dump(include={"file", "thumbnail", "captions_srt", "captions_vtt"}),
        "versions": versions,
    })  # fmt: skip


def clip_source(job: str, index: int, run_id: str | None) -> ClipSource:
    """Everything a language version of clip `index` of a finished job is made from."""
    found = finished_clip(job, index, "translate")
    request = found.manifest.request
    look = LookOptions.model_validate({k: request.get(k) for k in LookOptions.model_fields})
    return ClipSource(found.folder, found.clip, found.media, found.transcript, found.plan, look,
                      request.get("provider", "local"), run_id)  # fmt: skip
