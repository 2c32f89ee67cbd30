"""`make bench`: the clip command's speed on a ~5-minute 1080p input, as ratios from one run.

Timed as a user runs it: `reelflow process` as a command (scripts/bench_cli.py), with a fresh
Prefect home and data dir, so the first command also starts the local Prefect server.

- refusal: a missing file, refused before Prefect is imported (target < 2 s);
- cold command: whole wall time, time from its start to the flow's start (target < 15 s
  cold: a fresh Prefect home, so a new local server, whose database is copied from the
  template `make sync` prepares), and per-stage times from its manifest;
- the very first cold start of a machine, without that template (the server migrates a new
  database and saves the template): to the flow's start only, the command stopped there;
- repeat: the identical command again, whole (target < 5% of the cold one), and its time to
  the flow's start with the server running (target < 5 s);
- render: the render stage against one bare encode of the same spans at the same output
  settings (H.264 preset and CRF, stereo AAC; target <= 1.15x), then the same renders and the
  same bare encode back to back, wall and CPU, twice (best of each), for the ratio without
  the rest of the pipeline around it;
- reframe: the faces pass and the plans against the clips' duration (target < 0.05x);
- end to end: the cold command against the bare encode of the clips it made (target <= 1.8x);
- one clip with captions, hook title and effects against the same clip plain.

On a machine shared with other work wall times swing; CPU ratios are printed beside them.
It prints, it does not assert.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import BENCH_VIDEO, ROOT, CliRun, bench_env, bench_video, run_cli, stop_server
from bench_startup import Start, time_to_flow

sys.path.insert(0, str(ROOT))
INPUT = BENCH_VIDEO


def main() -> int:
    bench_video()
    # The database template a cold start copies (`make sync` prepares it; made here if not).
    subprocess.run([sys.executable, "-m", "reelflow.prefect_db"], check=True, cwd=ROOT)
    home = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    env = bench_env(home)
    try:
        return _bench(home, env)
    finally:
        stop_server(env)
        shutil.rmtree(home, ignore_errors=True)


def _bench(home: Path, env: dict[str, str]) -> int:
    from reelflow.media import probe

    media = probe(INPUT)
    print(f"input: {INPUT.name}, {media.duration_s:.1f} s, {media.width}x{media.height} "
          f"@ {media.fps:.0f} fps; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start\n")  # fmt: skip
    _refusal(env)
    first = _first_cold_start(home)
    cold = _command(env, home / "out1", "cold command")
    _use_server(env)  # before this process imports Prefect (tasks.render does)
    repeat = _command(env, home / "out2", "identical repeat")
    manifest = json.loads((home / "out1" / "manifest.json").read_text())
    _stages(manifest, media.duration_s)
    clips = manifest["clips"]
    bare_wall, bare_cpu = _bare_encode(clips, home / "bare.mp4")
    _startup(cold, repeat, first)
    _render(manifest, clips, bare_wall, media, home)
    _end_to_end(cold, clips, bare_wall, bare_cpu)
    _compare_look(clips[0], home / "out1", media)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


def _refusal(env: dict[str, str]) -> None:
    runs = [run_cli(env, "process", "no-such-video.mp4") for _ in range(3)]
    best = min(runs, key=lambda r: r.wall_s)
    said = best.stderr.strip().splitlines()[-1]
    print(f"refusal of a missing file: {best.wall_s:.2f} s wall, {best.cpu_s:.2f} s CPU (best of "
          f"3; target < 2 s), exit {best.code}: {said}")  # fmt: skip


def _command(env: dict[str, str], out: Path, name: str) -> CliRun:
    run = run_cli(env, "process", str(INPUT), "--out", str(out))
    if run.code != 0:
        raise SystemExit(f"{name} failed: {run.stderr[-2000:]}")
    to_flow = f"{run.to_flow_s:.1f} s" if run.to_flow_s is not None else "?"
    print(f"{name}: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU (command and its ffmpeg runs), "
          f"{to_flow} to the flow's start, peak memory {run.peak_mb:.0f} MB")  # fmt: skip
    return run


def _stages(manifest: dict, duration: float) -> None:
    print(f"\n{'stage':<12}{'wall s':>9}{'x realtime':>12}")
    for stage, seconds in manifest["timings_s"].items():
        print(f"{stage:<12}{seconds:>9.1f}{seconds / duration:>12.3f}")
    clips = manifest["clips"]
    print(f"clips: {len(clips)}, {sum(c['duration'] for c in clips):.1f} s in all\n")


def _first_cold_start(home: Path) -> Start:
    """A cold start with no template in the cache (one of its own, emptied): the first
    command of a machine that never ran `make sync`. Stopped once its flow starts."""
    env = bench_env(home / "first", XDG_CACHE_HOME=str(home / "first" / "cache"))
    try:
        return time_to_flow(env, INPUT, home / "first" / "out")
    finally:
        stop_server(env)


def _startup(cold: CliRun, repeat: CliRun, first: Start) -> None:
    print(f"start-up, command start to flow start: {cold.to_flow_s:.1f} s cold (a fresh "
          f"Prefect home: a new local server, its database copied from the template `make sync` "
          f"prepares; target < 15 s), {repeat.to_flow_s:.1f} s with it running "
          f"(target < 5 s)")  # fmt: skip
    print(f"very first cold start, no template yet (the server migrates a new database and "
          f"saves the template): {first.wall_s:.1f} s to the flow's start; CPU until then "
          f"{first.cli_cpu_s:.1f} s command + {first.server_cpu_s:.1f} s server")  # fmt: skip
    print(f"identical repeat, whole command: {repeat.wall_s:.1f} s = "
          f"{100 * repeat.wall_s / cold.wall_s:.1f}% of the cold command's wall time "
          f"(target < 5%); CPU {100 * repeat.cpu_s / cold.cpu_s:.1f}%")  # fmt: skip


def _bare_encode(clips: list[dict], out: Path) -> tuple[float, float]:
    """One plain encode of the clips' spans: concatenated, scaled to 1080x1920, the clips'
    output settings (preset, CRF, stereo AAC at 48 kHz). (wall s, CPU s)"""
    from reelflow.media import ffmpeg_path, file_input
    from tasks.render import OUT_H, OUT_W, RenderOptions, encode_args

    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y"]
    for c in clips:
        args += ["-ss", f"{c['start']:.3f}", "-t", f"{c['duration']:.3f}", *file_input(INPUT)]
    n = len(clips)
    graph = "".join(f"[{i}:v:0][{i}:a:0]" for i in range(n)) + (
        f"concat=n={n}:v=1:a=1[v][a];[v]scale={OUT_W}:{OUT_H},setsar=1[vo];"
        "[a]aresample=48000,aformat=channel_layouts=stereo[ao]"
    )
    args += ["-filter_complex", graph, "-map", "[vo]", "-map", "[ao]"]
    args += [*encode_args(RenderOptions.from_settings()), str(out)]
    began, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(args, check=True)
    return time.perf_counter() - began, _children_cpu() - cpu


def _render(manifest: dict, clips: list[dict], bare: float, media, home: Path) -> None:
    total = sum(c["duration"] for c in clips)
    stage = manifest["timings_s"].get("render", 0.0)
    print(f"\nrender stage: {stage:.1f} s for {total:.1f} s of clips; one bare encode of the same "
          f"spans: {bare:.1f} s; ratio {stage / bare:.2f}x (target <= 1.15x)")  # fmt: skip
    renders, bares = [], []
    for _ in range(2):
        renders.append(_render_again(clips, media, home / "again"))
        bares.append(_bare_encode(clips, home / "bare.mp4"))
    (r_wall, r_cpu), (b_wall, b_cpu) = min(renders), min(bares)
    print(f"renders alone, back to back with the bare encode (best of 2): {r_wall:.1f} s against "
          f"{b_wall:.1f} s wall = {r_wall / b_wall:.2f}x, CPU {r_cpu:.1f} s against "
          f"{b_cpu:.1f} s = {r_cpu / b_cpu:.2f}x")  # fmt: skip
    reframe = manifest["timings_s"].get("reframe", 0.0)
    print(f"reframe stage (faces pass and plans): {reframe:.1f} s = {reframe / total:.3f}x the "
          f"clips' duration (target < 0.05x)")  # fmt: skip


def _render_again(clips: list[dict], media, folder: Path) -> tuple[float, float]:
    """The cold run's clips rendered again as the flow renders them (RENDER_WORKERS at once)."""
    from reelflow.models import ReframePlan
    from reelflow.settings import get_settings
    from tasks.render import RenderOptions, render_clip

    folder.mkdir(parents=True, exist_ok=True)
    opts = RenderOptions.from_settings()

    def one(c: dict) -> None:
        plan = ReframePlan.model_validate(c["reframe"])
        out = folder / c["file"]
        render_clip(media, c["start"], c["end"], plan, out, out.with_suffix(".jpg"), opts)

    began, cpu = time.perf_counter(), _children_cpu()
    with ThreadPoolExecutor(get_settings().render_workers) as pool:
        list(pool.map(one, clips))
    return time.perf_counter() - began, _children_cpu() - cpu


def _end_to_end(cold: CliRun, clips: list[dict], bare: float, bare_cpu: float) -> None:
    print(f"\nend to end: the cold command took {cold.wall_s:.1f} s, one bare encode of its "
          f"{len(clips)} clips {bare:.1f} s: {cold.wall_s / bare:.2f}x (target <= 1.8x); CPU "
          f"{cold.cpu_s:.0f} s against {bare_cpu:.0f} s = "
          f"{cold.cpu_s / bare_cpu:.2f}x")  # fmt: skip


def _use_server(env: dict[str, str]) -> None:
    """This process's own Prefect calls (planning effects is a task) go to the server the
    commands keep, in the benchmark's Prefect home."""
    record = json.loads((Path(env["PREFECT_HOME"]) / "reelflow-server" / "server.json").read_text())
    os.environ.update(
        PREFECT_API_URL=record["api_url"],
        PREFECT_HOME=env["PREFECT_HOME"],
        REELFLOW_DATA_DIR=env["REELFLOW_DATA_DIR"],
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    from reelflow.settings import get_settings

    get_settings.cache_clear()


def _compare_look(clip: dict, folder: Path, media) -> None:
    """The first clip rendered plain, then with captions, hook title and effects, twice each."""
    from reelflow.models import ReframePlan, Transcript
    from reelflow.styles import LookOptions
    from tasks.look import look_for_clip
    from tasks.render import RenderOptions, render_clip

    plan = ReframePlan.model_validate(clip["reframe"])
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    look = look_for_clip(LookOptions(captions="bold", hook=True, effects=True), 1, transcript,
                         clip["start"], clip["end"], clip["hook"], plan, media)  # fmt: skip
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "look": []}
    for name in ["plain", "look"] * 2:
        extra = (look.video_filters, look.audio_filters, look.duration_s) if name == "look" else ()
        began, cpu = time.perf_counter(), _children_cpu()
        render_clip(media, clip["start"], clip["end"], plan, folder / f"b_{name}.mp4",
                    folder / f"b_{name}.jpg", RenderOptions.from_settings(), *extra)  # fmt: skip
        times[name].append((time.perf_counter() - began, _children_cpu() - cpu))
    (plain, plain_cpu), (styled, styled_cpu) = min(times["plain"]), min(times["look"])
    print(f"\ncaptions+hook+effects: {styled:.1f} s against {plain:.1f} s plain for clip 1 "
          f"({clip['duration']:.0f} s); ratio {styled / plain:.2f}x, CPU time "
          f"{styled_cpu / plain_cpu:.2f}x (target <= 1.15x)")  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds of finished child processes (ffmpeg): steadier than wall time on a busy box."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
