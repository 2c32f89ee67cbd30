"""Build the test/demo fixture tests/data/sample.mp4 (+ sample.json with its ground truth).

A ~2.5 minute "talk": espeak-ng reads a scripted monologue one sentence at a time, with silent
pauses between sentences, over a 640x360 25 fps picture of 7 scenes with hard cuts at sentence
boundaries. A real face photo (scikit-image's astronaut, cut out of its backdrop) stands in a
different place in each scene; one scene shows two faces far apart, one (a title card) none.

Everything is deterministic (fixed seed, no network). Needs espeak-ng on PATH, numpy, OpenCV,
scikit-image and ffmpeg (ffmpeg from reelflow's settings/bundled binary, else PATH).

    .venv/bin/python scripts/make_sample_video.py [--out tests/data/sample.mp4]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SEED = 20240917
W, H, FPS = 640, 360, 25
VOICE, SPEED_WPM, PITCH, WORD_GAP = "en-us", 150, 50, 0
LEAD_IN_S, TAIL_S = 0.6, 1.2
PAUSE_RANGE_S = (0.4, 1.0)

# (text, kind, gain_db or None for a small random gain). Kinds are for the clip-scorer tests:
# intro / hook / question / number / emphatic / weak / normal / outro.
SENTENCES: list[tuple[str, str, float | None]] = [
    ("Welcome back to the show, I'm really glad you're here with me today.", "intro", None),
    (
        "If you have ever felt stuck trying to learn something new, this episode is for you.",
        "normal",
        None,
    ),
    (
        "Today we're talking about how to actually learn a new skill, and make it stick.",
        "normal",
        None,
    ),
    # scene 1
    ("Here's the secret nobody tells you: motivation is not the problem.", "hook", 4.0),
    ("Why do so many people quit after 3 weeks?", "question", 2.0),
    (
        "In 2019 I tracked every single study session for a full year, and the results shocked me.",
        "number",
        None,
    ),
    ("90 percent of my progress came from just 10 percent of the hours I put in.", "number", 2.0),
    ("And so, um, that was that.", "weak", -5.0),
    # scene 2
    ("The truth is, the number of hours was never what mattered.", "normal", None),
    ("What mattered was how hard I was thinking during those hours.", "normal", None),
    ("I know, it sounds crazy, but stay with me.", "emphatic", 1.0),
    # scene 3 (title card, no face)
    ("So I came up with 3 simple rules, and they completely changed my life.", "number", 3.0),
    ("Rule number one: never study for more than 25 minutes without a break.", "number", None),
    (
        "Rule number two: test yourself before you feel ready, because that is where the learning "
        "happens.",
        "normal",
        None,
    ),
    (
        "Rule number three: teach what you learned to someone else on the very same day.",
        "normal",
        None,
    ),
    # scene 4 (two faces)
    (
        "This is huge, and honestly, it is the most important thing I will say today.",
        "emphatic",
        4.0,
    ),
    ("But, you know, it's kind of like, well, anyway.", "weak", -5.0),
    (
        "Most people read the same page again and again, and it feels productive, but it's a trap.",
        "normal",
        None,
    ),
    ("Reading it twice gives you the feeling of knowing, not the real thing.", "normal", None),
    ("Stop doing it right now!", "emphatic", 5.0),
    # scene 5
    (
        "What would happen if you spent just 20 minutes a day practicing the hard parts?",
        "question",
        1.0,
    ),
    ("In six months you would be better than 80 percent of the people around you.", "number", 2.0),
    ("And then, so, yeah, we moved on to other stuff.", "weak", -5.0),
    (
        "I failed my first big test in 2015, and I was devastated, angry, and ready to give up.",
        "emphatic",
        3.0,
    ),
    # scene 6
    ("That failure was the best thing that ever happened to me.", "emphatic", 2.0),
    (
        "The lesson is simple: short, focused, difficult practice will always win over long, "
        "comfortable hours.",
        "normal",
        None,
    ),
    (
        "So here is my challenge for you this week: pick one skill and practice it for 20 minutes "
        "every day.",
        "number",
        None,
    ),
    (
        "Thanks for watching, and if this helped you, subscribe and share it with a friend.",
        "outro",
        None,
    ),
]


@dataclass
class Face:
    """One pasted person: face centre (frame px, at zero drift), scale of the cut-out, mirror."""

    cx: float
    cy: float
    scale: float
    mirror: bool = False
    drift_x: float = 8.0  # amplitude (px) of a slow side-to-side sway
    bob_y: float = 3.0  # amplitude (px) of a slow up-and-down bob
    label: str = "astronaut"


@dataclass
class Scene:
    first_sentence: int
    background: str
    layout: str  # centre / left / right / two / none
    faces: list[Face] = field(default_factory=list)


SCENES: list[Scene] = [
    Scene(0, "blue_gradient", "centre", [Face(320, 150, 0.90)]),
    Scene(3, "warm_stripes", "left", [Face(170, 155, 0.95, drift_x=10)]),
    Scene(8, "green_blocks", "right", [Face(475, 150, 0.85)]),
    Scene(11, "title_card", "none", []),
    Scene(
        15,
        "purple_radial",
        "two",
        [
            Face(95, 160, 0.80, drift_x=5, bob_y=2),
            Face(545, 160, 0.80, mirror=True, drift_x=5, bob_y=2, label="astronaut_mirrored"),
        ],
    ),
    Scene(20, "teal_noise", "left", [Face(185, 145, 1.00, drift_x=6)]),
    Scene(24, "bookshelf", "right", [Face(460, 155, 0.90, drift_x=9)]),
]


# ----------------------------------------------------------------------------------- tools


def find_ffmpeg() -> str:
    try:
        from reelflow.media import ffmpeg_path

        return ffmpeg_path()
    except Exception:
        found = shutil.which("ffmpeg")
        if not found:
            sys.exit("ffmpeg not found")
        return found


def find_espeak() -> str:
    for name in ("espeak-ng", "espeak"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("espeak-ng not found (apt-get install espeak-ng)")


# ----------------------------------------------------------------------------------- audio


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
        return data, w.getframerate()


def write_wav(path: Path, data: np.ndarray, sr: int) -> None:
    pcm = np.clip(np.round(data * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def trim_silence(x: np.ndarray, sr: int, thresh: float = 0.01) -> np.ndarray:
    """Cut espeak's leading/trailing silence so start/end times are the speech's own."""
    loud = np.flatnonzero(np.abs(x) > thresh)
    if loud.size == 0:
        return x
    pad = int(0.01 * sr)
    return x[max(0, loud[0] - pad) : loud[-1] + pad]


def synthesize(rng: np.random.Generator, tmp: Path) -> tuple[np.ndarray, int, list[dict]]:
    espeak = find_espeak()
    pieces: list[np.ndarray] = []
    sentences: list[dict] = []
    sr = 0
    for i, (text, kind, gain) in enumerate(SENTENCES):
        wav = tmp / f"s{i:02d}.wav"
        subprocess.run(
            [
                espeak,
                "-v",
                VOICE,
                "-s",
                str(SPEED_WPM),
                "-p",
                str(PITCH),
                "-g",
                str(WORD_GAP),
                "-w",
                str(wav),
                text,
            ],
            check=True,
            capture_output=True,
        )
        x, sr_i = read_wav(wav)
        sr = sr or sr_i
        assert sr_i == sr
        x = trim_silence(x, sr)
        gain_db = float(gain) if gain is not None else float(rng.uniform(-2.5, 1.0))
        rms = float(np.sqrt(np.mean(x**2))) or 1.0
        x = x * (10 ** ((-20.0 + gain_db) / 20) / rms)  # -20 dBFS RMS, then the sentence's gain
        peak = float(np.max(np.abs(x)))
        if peak > 0.97:
            x *= 0.97 / peak
        pieces.append(x)
        sentences.append({"index": i, "text": text, "kind": kind, "gain_db": round(gain_db, 2)})

    out: list[np.ndarray] = [np.zeros(int(LEAD_IN_S * sr), np.float32)]
    cursor = len(out[0])
    for i, x in enumerate(pieces):
        sentences[i]["start_s"] = round(cursor / sr, 3)
        sentences[i]["end_s"] = round((cursor + len(x)) / sr, 3)
        out.append(x.astype(np.float32))
        cursor += len(x)
        pause = TAIL_S if i == len(pieces) - 1 else float(rng.uniform(*PAUSE_RANGE_S))
        out.append(np.zeros(round(pause * sr), np.float32))
        cursor += len(out[-1])
    audio = np.concatenate(out)
    # pad to a whole number of video frames
    n_frames = math.ceil(len(audio) / sr * FPS)
    audio = np.concatenate([audio, np.zeros(round(n_frames * sr / FPS) - len(audio), np.float32)])
    return audio, sr, sentences


# ---------------------------------------------------------------------------------- person


def make_person() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """The astronaut's head and shoulders cut out of the studio backdrop.

    Returns (BGR image, alpha in [0, 1], face box x0, y0, x1, y1 in that image's pixels).
    """
    from skimage import data

    x0, x1, y1 = 40, 350, 340  # cols 40-350, rows 0-340 of the 512x512 photo
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:y1, x0:x1].copy()
    o = 100 - x0
    m = np.full(img.shape[:2], cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(m, (126 + o, 105), (80, 95), 0, 0, 360, cv2.GC_PR_FGD, -1)
    cv2.rectangle(m, (o - 20, 160), (o + 240, y1 - 1), cv2.GC_PR_FGD, -1)
    cv2.ellipse(m, (126 + o, 120), (38, 55), 0, 0, 360, cv2.GC_FGD, -1)
    cv2.rectangle(m, (o + 30, 270), (o + 190, y1 - 1), cv2.GC_FGD, -1)
    m[0:8, :] = cv2.GC_BGD
    m[0:140, o : o + 12] = cv2.GC_BGD
    m[0:140, o + 208 :] = cv2.GC_BGD
    m[0:190, 0:o] = cv2.GC_BGD  # the flag
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(img, m, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    fg = np.where((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    # keep the largest blob, fill its holes
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    biggest = max(contours, key=cv2.contourArea)
    fg = np.zeros_like(fg)
    cv2.drawContours(fg, [biggest], -1, 255, -1)
    alpha = cv2.GaussianBlur(fg.astype(np.float32) / 255, (5, 5), 0)
    # soften where the body runs into the photo's left/right edges
    ramp = np.clip(np.arange(img.shape[1], dtype=np.float32) / 14, 0, 1)
    alpha *= np.minimum(ramp, ramp[::-1])[None, :]
    # the photo stops at the chest: continue the suit downwards so the body leaves the frame
    pad = 90
    img = cv2.copyMakeBorder(img, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
    img[y1:] = cv2.GaussianBlur(img[y1 - 1 :], (0, 0), 3)[1:]
    alpha = cv2.copyMakeBorder(alpha, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
    # CenterFace's box on the full photo was x 181-270, y 58-178
    face = (181.5 - x0, 58.2, 269.9 - x0, 177.8)
    return img, alpha, face


class Sprite:
    def __init__(
        self,
        img: np.ndarray,
        alpha: np.ndarray,
        face: tuple,
        scale: float,
        mirror: bool,
        tint: float = 1.0,
    ):
        h, w = img.shape[:2]
        size = (round(w * scale), round(h * scale))
        im = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32) * tint
        al = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        fx0, fy0, fx1, fy1 = (v * scale for v in face)
        if mirror:
            im, al = im[:, ::-1], al[:, ::-1]
            fx0, fx1 = size[0] - fx1, size[0] - fx0
        self.img, self.alpha = np.ascontiguousarray(im), np.ascontiguousarray(al)[..., None]
        self.face = (fx0, fy0, fx1, fy1)

    @property
    def face_centre(self) -> tuple[float, float]:
        fx0, fy0, fx1, fy1 = self.face
        return (fx0 + fx1) / 2, (fy0 + fy1) / 2

    def paste(self, frame: np.ndarray, left: int, top: int) -> None:
        h, w = self.img.shape[:2]
        fx0, fy0 = max(0, left), max(0, top)
        fx1, fy1 = min(frame.shape[1], left + w), min(frame.shape[0], top + h)
        if fx0 >= fx1 or fy0 >= fy1:
            return
        sx0, sy0 = fx0 - left, fy0 - top
        sl = (slice(sy0, sy0 + fy1 - fy0), slice(sx0, sx0 + fx1 - fx0))
        a = self.alpha[sl]
        roi = frame[fy0:fy1, fx0:fx1].astype(np.float32)
        frame[fy0:fy1, fx0:fx1] = (roi * (1 - a) + self.img[sl] * a + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------- backgrounds


def gradient(c0, c1, vertical=True) -> np.ndarray:
    t = np.linspace(0, 1, H if vertical else W, dtype=np.float32)
    t = t[:, None, None] if vertical else t[None, :, None]
    img = np.asarray(c0, np.float32) * (1 - t) + np.asarray(c1, np.float32) * t
    return np.broadcast_to(img, (H, W, 3)).astype(np.uint8).copy()


class Background:
    def __init__(self, kind: str, rng: np.random.Generator):
        self.kind = kind
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        if kind == "blue_gradient":
            self.base = gradient((90, 40, 15), (210, 150, 70))
        elif kind == "warm_stripes":
            self.base = gradient((40, 90, 170), (90, 160, 230), vertical=False)
        elif kind == "green_blocks":
            self.base = np.full((H, W, 3), (60, 120, 40), np.uint8)
            for y in range(0, H, 60):
                for x in range(0, W, 80):
                    if (x // 80 + y // 60) % 2:
                        cv2.rectangle(self.base, (x, y), (x + 79, y + 59), (70, 140, 50), -1)
        elif kind == "title_card":
            self.base = np.full((H, W, 3), (45, 25, 20), np.uint8)
            for text, y, size, col in (
                ("3 SIMPLE RULES", 160, 1.8, (240, 240, 240)),
                ("to learn anything", 215, 0.9, (120, 200, 255)),
            ):
                (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, size, 2)
                cv2.putText(
                    self.base,
                    text,
                    ((W - tw) // 2, y),
                    cv2.FONT_HERSHEY_DUPLEX,
                    size,
                    col,
                    2,
                    cv2.LINE_AA,
                )
        elif kind == "purple_radial":
            r = np.sqrt((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / math.hypot(W / 2, H / 2)
            t = np.clip(r, 0, 1)[..., None]
            self.base = (
                np.array((150, 60, 120), np.float32) * (1 - t)
                + np.array((50, 15, 40), np.float32) * t
            ).astype(np.uint8)
        elif kind == "teal_noise":
            noise = rng.random((H // 20 + 2, W // 20 + 2), dtype=np.float32)
            noise = cv2.resize(noise, (W + 40, H + 40), interpolation=cv2.INTER_CUBIC)
            self.noise = np.clip(noise, 0, 1)
            self.base = np.full((H, W, 3), (120, 120, 20), np.uint8)
        elif kind == "bookshelf":
            self.base = np.full((H, W, 3), (40, 45, 60), np.uint8)
            x = 0
            for shelf_y in (20, 140, 260):
                x = int(rng.integers(0, 10))
                while x < W:
                    bw = int(rng.integers(14, 30))
                    bh = int(rng.integers(70, 105))
                    col = tuple(int(c) for c in rng.integers(40, 200, 3))
                    cv2.rectangle(
                        self.base, (x, shelf_y + 110 - bh), (x + bw - 2, shelf_y + 110), col, -1
                    )
                    x += bw
                cv2.rectangle(self.base, (0, shelf_y + 110), (W, shelf_y + 118), (30, 60, 90), -1)
        else:
            raise ValueError(kind)

    def render(self, t: float) -> np.ndarray:
        """The background at t seconds into the scene: the base plus a little slow motion."""
        f = self.base.copy()
        k = self.kind
        if k == "blue_gradient":
            cx = int(W * 0.5 + W * 0.35 * math.sin(t * 0.35))
            overlay = f.copy()
            cv2.circle(overlay, (cx, 70), 55, (230, 200, 150), -1, cv2.LINE_AA)
            cv2.addWeighted(overlay, 0.35, f, 0.65, 0, f)
        elif k == "warm_stripes":
            shift = int(t * 12) % 80
            for x in range(-H - 80, W + 80, 80):
                pts = np.array(
                    [
                        [x + shift, H],
                        [x + shift + 30, H],
                        [x + shift + 30 + H, 0],
                        [x + shift + H, 0],
                    ],
                    np.int32,
                )
                cv2.fillPoly(f, [pts], (60, 120, 200), cv2.LINE_AA)
        elif k == "green_blocks":
            x = int((W - 60) * (0.5 + 0.5 * math.sin(t * 0.5)))
            y = int((H - 40) * (0.5 + 0.5 * math.cos(t * 0.37)))
            cv2.rectangle(f, (x, y), (x + 60, y + 40), (90, 200, 230), -1)
        elif k == "title_card":
            cv2.rectangle(
                f, (120, 250), (120 + int(400 * min(1.0, t / 20)), 258), (120, 200, 255), -1
            )
        elif k == "purple_radial":
            ang = t * 0.4
            c = (W // 2, H // 2)
            end = (int(c[0] + 400 * math.cos(ang)), int(c[1] + 400 * math.sin(ang)))
            cv2.line(f, c, end, (180, 110, 170), 6, cv2.LINE_AA)
        elif k == "teal_noise":
            ox, oy = int(t * 3) % 40, int(t * 2) % 40
            n = self.noise[oy : oy + H, ox : ox + W, None]
            f = (f.astype(np.float32) * (0.75 + 0.5 * n)).clip(0, 255).astype(np.uint8)
        elif k == "bookshelf":
            overlay = np.zeros_like(f)
            cx = int(W * 0.5 + W * 0.4 * math.sin(t * 0.25))
            cv2.circle(overlay, (cx, H // 2), 120, (40, 50, 60), -1)
            overlay = cv2.GaussianBlur(overlay, (0, 0), 40)
            f = cv2.add(f, overlay)
        return f


# ---------------------------------------------------------------------------------- video


def face_offset(face: Face, t: float, phase: float) -> tuple[int, int]:
    dx = face.drift_x * math.sin(2 * math.pi * t / 9.0 + phase)
    dy = face.bob_y * math.sin(2 * math.pi * t / 2.7 + phase)
    return round(dx), round(dy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("tests/data/sample.mp4"))
    args = ap.parse_args()
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    ffmpeg = find_ffmpeg()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        audio, sr, sentences = synthesize(rng, tmp)
        wav = tmp / "speech.wav"
        write_wav(wav, audio, sr)
        n_frames = round(len(audio) / sr * FPS)
        duration = n_frames / FPS

        # scene cuts: the frame nearest the middle of the pause before each scene's first sentence
        cut_frames = []
        for sc in SCENES[1:]:
            prev_end = sentences[sc.first_sentence - 1]["end_s"]
            start = sentences[sc.first_sentence]["start_s"]
            cut_frames.append(round((prev_end + start) / 2 * FPS))
        bounds = [0, *cut_frames, n_frames]

        person, alpha, face_box = make_person()
        scene_meta = []
        plans = []
        for si, sc in enumerate(SCENES):
            bg = Background(sc.background, rng)
            sprites = []
            face_meta = []
            for fc in sc.faces:
                sp = Sprite(
                    person, alpha, face_box, fc.scale, fc.mirror, tint=0.85 if fc.mirror else 1.0
                )
                fcx, fcy = sp.face_centre
                left, top = round(fc.cx - fcx), round(fc.cy - fcy)
                phase = float(rng.uniform(0, 2 * math.pi))
                sprites.append((sp, left, top, fc, phase))
                fx0, fy0, fx1, fy1 = sp.face
                face_meta.append(
                    {
                        "label": fc.label,
                        "mirrored": fc.mirror,
                        "face_box_xywh": [
                            round(left + fx0, 1),
                            round(top + fy0, 1),
                            round(fx1 - fx0, 1),
                            round(fy1 - fy0, 1),
                        ],
                        "centre_xy": [round(left + fcx, 1), round(top + fcy, 1)],
                        "centre_x_range": [
                            round(left + fcx - fc.drift_x, 1),
                            round(left + fcx + fc.drift_x, 1),
                        ],
                        "centre_y_range": [
                            round(top + fcy - fc.bob_y, 1),
                            round(top + fcy + fc.bob_y, 1),
                        ],
                        "face_height_px": round(fy1 - fy0, 1),
                        "x_frac": round((left + fcx) / W, 3),
                    }
                )
            plans.append((bg, sprites))
            scene_meta.append(
                {
                    "index": si,
                    "start_s": round(bounds[si] / FPS, 3),
                    "end_s": round(bounds[si + 1] / FPS, 3),
                    "start_frame": bounds[si],
                    "end_frame": bounds[si + 1],
                    "background": sc.background,
                    "layout": sc.layout,
                    "face_count": len(sc.faces),
                    "faces": face_meta,
                    "sentences": [
                        s["index"]
                        for s in sentences
                        if bounds[si] / FPS <= s["start_s"] < bounds[si + 1] / FPS
                    ],
                }
            )

        cmd = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{W}x{H}",
            "-r",
            str(FPS),
            "-i",
            "pipe:0",
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "slow",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-threads",
            "2",
            "-x264-params",
            "keyint=250:min-keyint=25",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ar",
            "48000",
            "-ac",
            "1",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-movflags",
            "+faststart",
            "-shortest",
            str(out),
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for si, (bg, sprites) in enumerate(plans):
            for n in range(bounds[si], bounds[si + 1]):
                t = (n - bounds[si]) / FPS
                frame = bg.render(t)
                for sp, left, top, fc, phase in sprites:
                    dx, dy = face_offset(fc, t, phase)
                    sp.paste(frame, left + dx, top + dy)
                proc.stdin.write(frame.tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            sys.exit("ffmpeg failed")

    meta = {
        "video": out.name,
        "generator": "scripts/make_sample_video.py",
        "seed": SEED,
        "width": W,
        "height": H,
        "fps": FPS,
        "duration_s": round(duration, 3),
        "n_frames": n_frames,
        "tts": {
            "engine": "espeak-ng",
            "voice": VOICE,
            "speed_wpm": SPEED_WPM,
            "pitch": PITCH,
            "word_gap": WORD_GAP,
        },
        "note": "sentence times are the trimmed speech of each sentence; silence between them; "
        "face boxes are at zero drift, the centre moves within centre_x/y_range",
        "sentences": sentences,
        "scene_cuts_s": [round(f / FPS, 3) for f in cut_frames],
        "scene_cut_frames": cut_frames,
        "scenes": scene_meta,
    }
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {duration:.2f} s) and {json_path}")


if __name__ == "__main__":
    main()
