"""Build the ~5-minute 1920x1080 30 fps benchmark input from the committed tests/data/sample.mp4.

The sample is upscaled (lanczos) and re-encoded once (H.264 crf 23 veryfast, AAC), then that
encode is played twice into the output by stream copy, so the slow part runs over half the
length. Skipped when the output exists and is newer than the sample (and this script).

    .venv/bin/python scripts/make_bench_video.py [--out bench-data/bench.mp4] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "sample.mp4"
LOOPS = 2


def find_ffmpeg() -> str:
    try:
        sys.path.insert(0, str(ROOT))
        from reelflow.media import ffmpeg_path

        return ffmpeg_path()
    except Exception:
        found = shutil.which("ffmpeg")
        if not found:
            sys.exit("ffmpeg not found")
        return found


def up_to_date(out: Path) -> bool:
    if not out.exists():
        return False
    newest_input = max(SAMPLE.stat().st_mtime, Path(__file__).stat().st_mtime)
    return out.stat().st_mtime > newest_input


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench-data" / "bench.mp4")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = ap.parse_args()
    out: Path = args.out
    if not SAMPLE.exists():
        sys.exit(f"{SAMPLE} is missing: run scripts/make_sample_video.py first")
    if not args.force and up_to_date(out):
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = find_ffmpeg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmpdir:
        once = Path(tmpdir) / "once.mp4"
        subprocess.run(
            [
                ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(SAMPLE),
                "-vf", "scale=1920:1080:flags=lanczos,fps=30",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
                str(once),
            ],
            check=True,
        )  # fmt: skip
        partial = Path(tmpdir) / "looped.mp4"
        subprocess.run(
            [
                ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-stream_loop", str(LOOPS - 1), "-i", str(once),
                "-c", "copy", "-movflags", "+faststart", str(partial),
            ],
            check=True,
        )  # fmt: skip
        partial.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
