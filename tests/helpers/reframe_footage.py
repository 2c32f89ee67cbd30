"""Generated footage for the reframe tests and scripts/bench_reframe.py, with ground truth.

Real face photos (scikit-image's astronaut, cut out the way scripts/make_sample_video.py
does) on a textured backdrop, 1280x720 at 25 fps, H.264 with B-frames:

- `two_people`: two people side by side (the second mirrored and tinted) taking turns with
  synthetic speech (espeak-ng, a different voice each); the speaker's mouth opens with the
  loudness of their own voice, both heads sway a little. Two long turns, then quick
  alternation, then a long turn; after a hard cut, a close-up of one of them talking.
- `pan`: one face that rests, crosses the frame at 45 px/s, and rests again (no speech).

Ground truth: every frame's face boxes and who speaks when. `measure_*` check a rendered clip
against it by matching output frames back into the source, never reading the plan.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import subprocess
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from reelflow.faces import get_face_detector
from reelflow.media import ffmpeg_path, iter_frames

W, H, FPS = 1280, 720, 25
SR = 22050
ROOT = Path(__file__).resolve().parents[2]

# (speaker, text): the two-shot's turns in order. Long turns first, then quick exchanges.
TURNS = [
    (0, "Welcome back everyone, today we talk about sleep and why it matters so much."),
    (1, "Thanks for having me, I have studied sleep for more than twenty years now."),
    (0, "So how much do we need?"),
    (1, "Seven hours, at least."),
    (0, "Every single night?"),
    (1, "Yes, every night."),
    (0, "That is far more than most people get, and I think that surprises a lot of them."),
]
CLOSE_UP = (1, "Here is the one habit that helps the most: the same bedtime, every day.")
PAUSE_S = 0.55


@dataclass
class Footage:
    path: Path
    duration_s: float
    cuts: list[float]
    # per person: (frames, 4) array of face boxes cx, cy, w, h in source pixels (NaN: absent)
    boxes: list[np.ndarray]
    speech: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, person

    def box(self, person: int, t: float) -> np.ndarray | None:
        i = min(max(round(t * FPS), 0), len(self.boxes[person]) - 1)
        b = self.boxes[person][i]
        return None if np.isnan(b[0]) else b


# ------------------------------------------------------------------------------ building


def _sample_script():
    spec = importlib.util.spec_from_file_location(
        "make_sample_video", ROOT / "scripts" / "make_sample_video.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_sample_video", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return sys.modules["make_sample_video"]


def _backdrop(seed: int) -> np.ndarray:
    """Texture at several scales, so any window of it matches back to one place."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.float32)
    for cells, weight in ((8, 70), (40, 40), (160, 18)):
        noise = rng.random((cells * H // W + 1, cells, 3)).astype(np.float32)
        img += cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC) * weight
    return np.clip(img + 40, 0, 255).astype(np.uint8)


def _speak(text: str, person: int, tmp: Path, index: int) -> np.ndarray:
    espeak = shutil.which("espeak-ng") or "/usr/bin/espeak-ng"
    wav = tmp / f"turn{index}.wav"
    voice = ["-v", "en-us", "-p", "35"] if person == 0 else ["-v", "en-us+f3", "-p", "60"]
    subprocess.run([espeak, *voice, "-s", "165", "-w", str(wav), text], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    if rate != SR:
        x = np.interp(np.arange(0, len(x), rate / SR), np.arange(len(x)), x).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0] : loud[-1] + 1] * 0.8 if loud.size else x


def _envelope(x: np.ndarray) -> np.ndarray:
    """Mouth opening per video frame (0-1) from a voice's loudness."""
    hop = SR // FPS
    n = int(np.ceil(len(x) / hop))
    rms = np.array([np.sqrt(np.mean(x[i * hop : (i + 1) * hop] ** 2) + 1e-12) for i in range(n)])
    return np.clip(rms / (np.percentile(rms, 90) + 1e-9), 0, 1)


class _Person:
    def __init__(self, sprite, face_cx: float, face_cy: float):
        self.sprite = sprite
        fx0, fy0, fx1, fy1 = sprite.face
        self.fw, self.fh = fx1 - fx0, fy1 - fy0
        scx, scy = sprite.face_centre
        self.left0, self.top0 = face_cx - scx, face_cy - scy

    def draw(self, frame, dx: float, dy: float, opening: float) -> np.ndarray:
        left, top = round(self.left0 + dx), round(self.top0 + dy)
        self.sprite.paste(frame, left, top)
        fx0, fy0, _, _ = self.sprite.face
        cx, cy = left + fx0 + self.fw / 2, top + fy0 + self.fh / 2
        if opening > 0.08:
            mouth = (round(cx + 0.01 * self.fw), round(top + fy0 + 0.74 * self.fh))
            axes = (round(0.22 * self.fw), max(1, round(opening * 0.08 * self.fh)))
            cv2.ellipse(frame, mouth, axes, 0, 0, 360, (40, 30, 110), -1, cv2.LINE_AA)
        return np.array([cx, cy, self.fw, self.fh])


def _write(path: Path, frames, audio: np.ndarray | None, duration: float, tmp: Path) -> None:
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt",
            "bgr24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-"]  # fmt: skip
    if audio is not None:
        wav = tmp / "speech.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SR)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
        args += ["-i", str(wav)]
    else:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SR}:cl=mono"]
    args += ["-t", f"{duration:.3f}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
             "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
             str(path)]  # fmt: skip
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    for frame in frames:
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait(timeout=300) != 0:
        raise RuntimeError("ffmpeg could not write the footage")


def make_two_people(out: Path) -> Footage:
    """Two people taking turns, then a close-up (see the module docstring)."""
    tmp = out.parent / f".{out.stem}-parts"
    tmp.mkdir(parents=True, exist_ok=True)
    script = _sample_script()
    img, alpha, face = script.make_person()
    a = _Person(script.Sprite(img, alpha, face, 1.2, False), 330, 300)
    b = _Person(script.Sprite(img, alpha, face, 1.2, True, tint=0.85), 950, 300)
    close = _Person(script.Sprite(img, alpha, face, 2.6, True, tint=0.85), 700, 330)

    pieces, speech, t = [np.zeros(int(0.6 * SR), np.float32)], [], 0.6
    envelopes = []  # (start frame, person, envelope)
    for i, (who, text) in enumerate([*TURNS, CLOSE_UP]):
        if i == len(TURNS):  # the cut to the close-up falls in a pause
            cut = t - PAUSE_S / 2
        x = _speak(text, who, tmp, i)
        speech.append((round(t, 3), round(t + len(x) / SR, 3), who))
        envelopes.append((round(t * FPS), who, _envelope(x)))
        pieces += [x, np.zeros(int(PAUSE_S * SR), np.float32)]
        t += len(x) / SR + PAUSE_S
    audio = np.concatenate(pieces)
    duration = len(audio) / SR
    n = int(duration * FPS)
    opening = np.zeros((2, n))
    for first, who, env in envelopes:
        opening[who, first : first + len(env)] = env[: max(0, n - first)]
    backdrop = _backdrop(7)
    boxes = [np.full((n, 4), np.nan), np.full((n, 4), np.nan)]

    def frames():
        for i in range(n):
            ts = i / FPS
            frame = backdrop.copy()
            if ts < cut:
                boxes[0][i] = a.draw(
                    frame, 3 * np.sin(ts * 0.9), 2 * np.sin(ts * 1.3), opening[0, i]
                )
                boxes[1][i] = b.draw(frame, 3 * np.sin(ts * 0.7 + 1), 2 * np.sin(ts * 1.1 + 2),
                                     opening[1, i])  # fmt: skip
            else:
                boxes[1][i] = close.draw(frame, 4 * np.sin(ts * 0.6), 2 * np.sin(ts), opening[1, i])
            yield frame

    _write(out, frames(), audio, duration, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    return Footage(out, n / FPS, [round(cut, 3)], boxes, speech)


def make_pan(out: Path, rest_s: float = 3.0, move_s: float = 16.0, speed: float = 45.0) -> Footage:
    """One face resting, crossing the frame at `speed` px/s, resting again."""
    out.parent.mkdir(parents=True, exist_ok=True)
    script = _sample_script()
    img, alpha, face = script.make_person()
    person = _Person(script.Sprite(img, alpha, face, 1.2, False), 250, 300)
    duration = 2 * rest_s + move_s
    n = int(duration * FPS)
    backdrop = _backdrop(11)
    boxes = [np.full((n, 4), np.nan)]
    syllables = np.clip(np.sin(np.arange(n) / FPS * 2 * np.pi * 3.0), 0, 1)

    def frames():
        for i in range(n):
            ts = i / FPS
            dx = speed * min(max(ts - rest_s, 0.0), move_s)
            frame = backdrop.copy()
            boxes[0][i] = person.draw(frame, dx, 0, syllables[i])
            yield frame

    _write(out, frames(), None, duration, out.parent)
    return Footage(out, n / FPS, [], boxes, [])


# ---------------------------------------------------------------------------- measuring


def _pairs(footage: Footage, clip: Path, start_s: float, duration_s: float, fps: float,
           out_size: tuple[int, int]):  # fmt: skip
    """(clip time, source frame at half size, output frame) at `fps`, decoded at the same
    instants."""
    src = iter_frames(footage.path, width=W // 2, height=H // 2, fps=fps, start_s=start_s,
                      duration_s=duration_s, gray=True)  # fmt: skip
    out = iter_frames(clip, width=out_size[0], height=out_size[1], fps=fps, gray=False)
    for k, (s, o) in enumerate(zip(src, out, strict=False)):
        yield k / fps, s, o


def crop_offsets(footage: Footage, clip: Path, start_s: float, duration_s: float, fps=5.0):
    """Where each output frame's window sits in the source: (t, left x in source pixels,
    match score), matched at half size (so x is even). A split or fit frame matches poorly
    (score < 0.8)."""
    crop_w = round(H / 2 * 1080 / 1920)
    out = []
    for t, src, frame in _pairs(footage, clip, start_s, duration_s, fps, (crop_w, H // 2)):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        res = cv2.matchTemplate(src, gray, cv2.TM_CCOEFF_NORMED)
        _, score, _, loc = cv2.minMaxLoc(res)
        out.append((t, 2 * loc[0], score))
    return out


def output_faces(footage: Footage, clip: Path, start_s: float, duration_s: float, fps=3.0):
    """Per sampled output frame: (t, [(person or None, scale)]): each face found in the
    output, traced back to the source person it shows (by matching the face into the
    source frame), and how much larger it is shown than in the source."""
    ow, oh = 360, 640
    detector = get_face_detector()
    rows = []
    for t, src, frame in _pairs(footage, clip, start_s, duration_s, fps, (ow, oh)):
        found = []
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        for f in detector.detect(frame):
            found.append(_trace(footage, start_s + t, src, gray, f, 1920 / oh))
        rows.append((t, found))
    return rows


def _trace(footage, t_src, src, gray, f, out_scale):
    """(person, scale) for one face found in an output frame; `src` is at half size."""
    truth = [footage.box(p, t_src) for p in range(len(footage.boxes))]
    heights = [b[3] for b in truth if b is not None]
    if not heights:
        return None, 0.0
    scale = f.h * out_scale / float(np.median(heights))  # output px (1920 high) per source px
    k = heights[0] / 2 / f.h  # half-size source px per analysed output px
    x0, y0 = max(0, int(f.x)), max(0, int(f.y))
    patch = gray[y0 : int(f.y + f.h), x0 : int(f.x + f.w)]
    size = (max(8, round(patch.shape[1] * k)), max(8, round(patch.shape[0] * k)))
    if patch.size == 0 or size[0] >= src.shape[1] or size[1] >= src.shape[0]:
        return None, scale
    patch = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
    res = cv2.matchTemplate(src, patch, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    if score < 0.5:
        return None, scale
    cx, cy = 2 * (loc[0] + size[0] / 2), 2 * (loc[1] + size[1] / 2)
    best, dist = None, float("inf")
    for p, b in enumerate(truth):
        if b is not None:
            d = abs(complex(b[0] - cx, b[1] - cy))
            if d < dist and d < b[2]:
                best, dist = p, d
    return best, scale


def speaker_in_frame(footage: Footage, rows, start_s: float) -> tuple[float, int]:
    """Share of the sampled frames during speech that show the speaker's face, and how many
    sampled frames show faces letterboxed (smaller than 1.3x their source size)."""
    speaking = shown = small = 0
    for t, found in rows:
        ts = start_s + t
        small += any(scale < 1.3 for _, scale in found)
        who = next((p for a, b, p in footage.speech if a <= ts < b), None)
        if who is None:
            continue
        speaking += 1
        shown += any(p == who for p, _ in found)
    return (shown / speaking if speaking else 0.0), small


def face_inside_share(footage: Footage, offsets, start_s: float) -> float:
    """Share of sampled frames whose window (matched back into the source) holds the whole
    true face box."""
    crop_w = round(H * 9 / 16 / 2 + 0.5) * 2
    inside = 0
    for t, left, _score in offsets:
        b = footage.box(0, start_s + t)
        inside += b is not None and left <= b[0] - b[2] / 2 and b[0] + b[2] / 2 <= left + crop_w
    return inside / len(offsets) if offsets else 0.0


def crop_speeds(offsets, min_score: float = 0.8) -> list[float]:
    """Window speed (source px/s) between consecutive well-matched samples."""
    speeds = []
    for (t0, x0, s0), (t1, x1, s1) in itertools.pairwise(offsets):
        if s0 >= min_score and s1 >= min_score:
            speeds.append(abs(x1 - x0) / (t1 - t0))
    return speeds
