"""Small media files for tests: the committed sample and what ffmpeg makes from lavfi inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "sample.mp4"


def make_media(ffmpeg: str, out: Path, *args: str) -> Path:
    """Run ffmpeg (lavfi inputs, or cuts of the sample) to make a small test file."""
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", *args, str(out)], check=True, timeout=120
    )
    return out
