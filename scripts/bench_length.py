"""`make bench`, length part: the whole `reelflow process` command on 30 min, 1 h and 3 h inputs.

Each input is the committed sample (a 2.5-minute 640x360 talk) played over and over by stream
copy, so its cost is the part that grows with the video (decoding, transcription, scene
detection, moment scoring) and not the clips: every run asks for the same 5 clips. Prints per
length the command's wall time, its real-time factor, the transcription stage (with scene
detection beside it), CPU time, and peak memory: the largest resident set of the command or of
any process it ran (the local Prefect server, started once before, is shown apart). Cost per
hour of video should stay flat (linear growth) and peak memory under 1 GB.

It prints, it does not assert.   .venv/bin/python scripts/bench_length.py [--minutes 30,60,180]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import (
    ROOT,
    bench_env,
    run_cli,
    server_peak_mb,
    start_server,
    stop_server,
)

SAMPLE = ROOT / "tests" / "data" / "sample.mp4"
FOLDER = ROOT / "bench-data" / "long"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="30,60,180", help="input lengths, comma-separated")
    args = ap.parse_args()
    lengths = [float(m) for m in args.minutes.split(",")]
    home = Path(tempfile.mkdtemp(prefix="reelflow-bench-length-"))
    env = bench_env(home, MAX_VIDEO_MINUTES=str(max(lengths) + 10))
    try:
        start_server(env)  # up before the first command: start-up is bench.py's part
        rows = [_one(minutes, env, home) for minutes in lengths]
        server = server_peak_mb(env)
    finally:
        stop_server(env)
        shutil.rmtree(home, ignore_errors=True)
    _report(rows, server)
    return 0


def _input(minutes: float) -> Path:
    out = FOLDER / f"talk-{minutes:g}min.mp4"
    if not out.exists():
        from reelflow.media import ffmpeg_path

        FOLDER.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-stream_loop", "-1",
                        "-i", str(SAMPLE), "-t", f"{minutes * 60:.0f}", "-c", "copy",
                        "-movflags", "+faststart", str(out)], check=True)  # fmt: skip
    return out


def _one(minutes: float, env: dict[str, str], home: Path) -> dict:
    video = _input(minutes)
    out = home / f"out-{minutes:g}"
    run = run_cli(env, "process", str(video), "--clips", "5", "--out", str(out))
    if run.code != 0:
        raise SystemExit(f"{video.name}: {run.stderr.strip().splitlines()[-1]}")
    timings = json.loads((out / "manifest.json").read_text())["timings_s"]
    print(f"{minutes:g} min: {run.wall_s:.0f} s wall, peak {run.peak_mb:.0f} MB (Python "
          f"{run.own_peak_mb:.0f} MB)", flush=True)  # fmt: skip
    return {"minutes": minutes, "run": run, "timings": timings}


def _report(rows: list[dict], server_mb: float | None) -> None:
    print(f"\n{'input':>8}{'wall s':>9}{'x realtime':>12}{'s per hour':>12}{'transcribe s':>14}"
          f"{'CPU s':>8}{'peak MB':>9}{'Python':>9}")  # fmt: skip
    for row in rows:
        run, seconds = row["run"], row["minutes"] * 60
        print(f"{row['minutes']:>5g} min{run.wall_s:>9.0f}{run.wall_s / seconds:>12.3f}"
              f"{run.wall_s / seconds * 3600:>12.0f}{row['timings'].get('transcribe', 0):>14.0f}"
              f"{run.cpu_s:>8.0f}{run.peak_mb:>9.0f}{run.own_peak_mb:>9.0f}")  # fmt: skip
    first, last = rows[0], rows[-1]
    growth = last["run"].wall_s / first["run"].wall_s
    print(
        f"\n{last['minutes']:g} min against {first['minutes']:g} min: {growth:.2f}x the wall "
        f"time for {last['minutes'] / first['minutes']:g}x the length (linear: "
        f"{last['minutes'] / first['minutes']:g}x; the 5 clips cost the same in every run)"
    )
    peak = max(r["run"].peak_mb for r in rows)
    own = max(r["run"].own_peak_mb for r in rows)
    print(f"peak memory: {peak:.0f} MB in the largest process of the command (target < 1024 MB), "
          f"{own:.0f} MB in its Python process; the local Prefect server beside it peaked at "
          f"{server_mb or 0:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
