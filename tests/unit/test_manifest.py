"""manifest.json as a typed model: files written by the previous release (0.1.0, made by its own
`reelflow process`, `restyle` and S3 upload) still load, lose nothing when written again, and
two writers never lose each other's change."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from reelflow.manifest import (
    SCHEMA_VERSION,
    ClipEntry,
    ClipVersion,
    Manifest,
    ManifestError,
    read_manifest,
    update_manifest,
    write_manifest,
)
from tests.helpers.media import DATA

OLD = sorted((DATA / "manifests").glob("*-0.1.0.json"))


def _same(old, new, where="") -> None:
    """Every value of the old file is in the new one, unchanged (new fields may be added)."""
    if isinstance(old, dict):
        for key, value in old.items():
            assert key in new, f"{where}.{key} was lost"
            _same(value, new[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert len(old) == len(new), where
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert old == new, f"{where}: {old!r} became {new!r}"


@pytest.mark.parametrize("path", OLD, ids=[p.stem for p in OLD])
def test_a_manifest_from_the_previous_release_loads_and_keeps_everything(path, tmp_path):
    raw = json.loads(path.read_text())
    (tmp_path / "manifest.json").write_text(path.read_text())
    manifest = read_manifest(tmp_path)
    assert manifest.schema_version == 0, "files from before the version field are version 0"
    assert manifest.job_id == raw["job_id"] and manifest.status == raw["status"]
    write_manifest(tmp_path, manifest)
    again = json.loads((tmp_path / "manifest.json").read_text())
    assert again["schema_version"] == SCHEMA_VERSION
    _same(raw, again)
    assert read_manifest(tmp_path) == manifest.model_copy(update={"schema_version": 1})


def test_the_typed_fields_of_an_old_job():
    (tmp,) = [p for p in OLD if p.name.startswith("completed")]
    manifest = Manifest.model_validate_json(tmp.read_text())
    first = manifest.clip(1)
    assert first.boundaries.starts_on_sentence_start and first.reframe.segments
    assert first.effects.plan == "clip_01.effects.json" and first.captions_srt == "clip_01.srt"
    (version,) = first.versions
    assert version.version == 2 and version.look["captions"]["preset"] == "karaoke"
    assert version.files() == ["clip_01_v2.mp4", "clip_01_v2.jpg", "clip_01_v2.srt",
                               "clip_01_v2.vtt"]  # fmt: skip
    assert manifest.uploads.status == "uploaded"
    assert all(f.uploaded for f in manifest.uploads.files.values())
    assert manifest.moments.provider == "local" and not manifest.moments.cached


def test_a_manifest_from_a_newer_release_still_loads(tmp_path):
    newer = {"schema_version": 9, "job_id": "j", "status": "completed", "posts": [{"x": 1}],
             "clips": [{"index": 1, "start": 0, "end": 20, "duration": 20, "file": "a.mp4",
                        "thumbnail": "a.jpg", "layout_report": {"shots": 2}}]}  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(newer))
    assert read_manifest(tmp_path).clip(1).file == "a.mp4"


def test_no_manifest_is_none_and_a_damaged_one_says_so(tmp_path):
    assert read_manifest(tmp_path) is None
    assert update_manifest(tmp_path / "gone", lambda m: m) is None
    (tmp_path / "manifest.json").write_text('{"status": "completed"}')
    with pytest.raises(ManifestError, match="not a reelflow manifest"):
        read_manifest(tmp_path)


def test_two_writers_never_lose_each_others_change(tmp_path):
    clips = [ClipEntry(index=i, start=0, end=20, duration=20, file=f"clip_{i:02d}.mp4",
                       thumbnail=f"clip_{i:02d}.jpg") for i in (1, 2)]  # fmt: skip
    write_manifest(tmp_path, Manifest(job_id="j", status="completed", clips=clips))

    def add_versions(index: int) -> None:
        for n in range(2, 12):
            version = ClipVersion(version=n, file=f"clip_{index:02d}_v{n}.mp4",
                                  thumbnail=f"clip_{index:02d}_v{n}.jpg")  # fmt: skip
            update_manifest(tmp_path, lambda m, v=version: m.with_clip(
                m.clip(index).with_version(v)))  # fmt: skip

    writers = [threading.Thread(target=add_versions, args=(i,)) for i in (1, 2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    manifest = read_manifest(tmp_path)
    for clip in manifest.clips:
        assert [v.version for v in clip.versions] == list(range(2, 12))


def test_written_atomically(tmp_path: Path):
    write_manifest(tmp_path, Manifest(job_id="j", status="processing"))
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"], "no temporary file left"
