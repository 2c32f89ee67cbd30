"""`make bench`: time the clip pipeline on a ~5-minute 1080p input and print the figures.

Prints per-stage wall time and real-time factor (stage time / video length), the total
real-time factor, render time against one bare ffmpeg encode of the same total clip length at
the same output settings, and the time of an identical second run (served from the caches).
It is a benchmark that prints, not a test that asserts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench-data"
INPUT = BENCH_DIR / "bench.mp4"


def main() -> int:
    run_root = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    # A cold start: fresh Prefect home (no cached results) and a fresh data dir.
    os.environ["PREFECT_HOME"] = str(run_root / "prefect")
    os.environ["REELFLOW_DATA_DIR"] = str(run_root / "data")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    try:
        _make_input()
        return _bench(run_root)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


def _make_input() -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_bench_video.py"), "--out", str(INPUT)],
        check=True,
    )


def _bench(run_root: Path) -> int:
    from prefect.testing.utilities import prefect_test_harness

    from reelflow.media import probe

    media = probe(INPUT)
    print(f"input: {INPUT.name}, {media.duration_s:.1f} s, {media.width}x{media.height} "
          f"@ {media.fps:.0f} fps, {os.cpu_count()} CPUs")  # fmt: skip
    with prefect_test_harness(server_startup_timeout=90):
        first, manifest = _timed_run(run_root / "out1")
        second, _ = _timed_run(run_root / "out2")
    _report(media.duration_s, first, second, manifest)
    _compare_bare_encode(manifest, run_root)
    _compare_look(manifest, run_root / "out1")
    return 0


def _timed_run(out: Path):
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest
    from reelflow.manifest import read_manifest

    began = time.perf_counter()
    state = clip_video(ClipRequest(source=str(INPUT), out_dir=str(out)), return_state=True)
    elapsed = time.perf_counter() - began
    if not state.is_completed():
        raise SystemExit(f"bench run failed: {state.message}")
    return elapsed, read_manifest(out)


def _report(duration: float, first: float, second: float, manifest) -> None:
    print(f"\n{'stage':<12}{'wall s':>9}{'x realtime':>12}")
    for stage, seconds in manifest.timings_s.items():
        print(f"{stage:<12}{seconds:>9.1f}{seconds / duration:>12.3f}")
    print(f"{'total':<12}{first:>9.1f}{first / duration:>12.3f}   (flow wall time, cold)")
    clips = manifest.clips
    print(f"\nclips: {len(clips)}, total {sum(c.duration for c in clips):.1f} s")
    print(f"second identical run: {second:.1f} s = {100 * second / first:.1f}% of the first "
          "(target < 10%)")  # fmt: skip


def _compare_bare_encode(manifest, run_root: Path) -> None:
    """One plain encode of the same total length at the same output settings."""
    from reelflow.media import ffmpeg_path
    from tasks.render import OUT_H, OUT_W, RenderOptions, encode_args

    total = sum(c.duration for c in manifest.clips)
    out = run_root / "bare.mp4"
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-i", str(INPUT), "-t", f"{total:.3f}"]
    args += ["-vf", f"scale={OUT_W}:{OUT_H}", *encode_args(RenderOptions.from_settings()), str(out)]
    began = time.perf_counter()
    subprocess.run(args, check=True)
    bare = time.perf_counter() - began
    render = manifest.timings_s.get("render", 0.0)
    print(f"render stage: {render:.1f} s for {total:.1f} s of clips; one bare encode of the same "
          f"length: {bare:.1f} s; ratio {render / bare:.2f}x (target <= 1.3x)")  # fmt: skip


def _compare_look(manifest, folder: Path) -> None:
    """The first clip rendered plain, then with captions, hook title and effects, twice each."""
    from reelflow.media import probe
    from reelflow.models import Transcript
    from reelflow.styles import LookOptions
    from tasks.look import look_for_clip
    from tasks.render import RenderOptions, render_clip

    clip, media = manifest.clips[0], probe(INPUT)
    plan = clip.reframe
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    look = look_for_clip(LookOptions(captions="bold", hook=True, effects=True), 1, transcript,
                         clip.start, clip.end, clip.hook, plan, media)  # fmt: skip
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "look": []}
    for name in ["plain", "look"] * 2:
        extra = (look.video_filters, look.audio_filters) if name == "look" else ([], [])
        began, cpu = time.perf_counter(), _child_cpu()
        render_clip(media, clip.start, clip.end, plan, folder / f"b_{name}.mp4",
                    folder / f"b_{name}.jpg", RenderOptions.from_settings(), *extra)  # fmt: skip
        times[name].append((time.perf_counter() - began, _child_cpu() - cpu))
    (plain, plain_cpu), (styled, styled_cpu) = min(times["plain"]), min(times["look"])
    print(f"captions+hook+effects: {styled:.1f} s against {plain:.1f} s plain for clip 1 "
          f"({clip.duration:.0f} s); ratio {styled / plain:.2f}x, CPU time "
          f"{styled_cpu / plain_cpu:.2f}x (target <= 1.15x)")  # fmt: skip


def _child_cpu() -> float:
    """CPU seconds of finished child processes (ffmpeg): steadier than wall time on a busy box."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
