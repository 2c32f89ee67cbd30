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


def talk_with_pause(ffmpeg: str, out: Path, pause_s: float = 1.5) -> Path:
    """26 s of the sample's talk with `pause_s` of silence (the picture held) put into the
    pause after its second sentence, at 10.6 s: any 15 s clip of it holds that pause."""
    if out.exists():
        return out
    cut = 10.6
    graph = (
        f"[0:v]split[v1][v2];[v1]trim=0:{cut},setpts=PTS-STARTPTS[va];"
        f"[v2]trim={cut}:24.5,setpts=PTS-STARTPTS[vb];"
        f"[va]tpad=stop_mode=clone:stop_duration={pause_s}[vah];[vah][vb]concat=n=2:v=1:a=0[v];"
        f"[0:a]asplit[a1][a2];[a1]atrim=0:{cut},asetpts=PTS-STARTPTS[aa];"
        f"[a2]atrim={cut}:24.5,asetpts=PTS-STARTPTS[ab];"
        f"[aa]apad=pad_dur={pause_s}[aah];[aah][ab]concat=n=2:v=0:a=1[a]"
    )
    return make_media(ffmpeg, out, "-i", str(SAMPLE), "-filter_complex", graph,
                      "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
                      "-c:a", "aac")  # fmt: skip


def stream_lengths(path: Path) -> dict[str, float]:
    """Seconds of decoded video frames (count / rate) and of decoded audio, per stream type."""
    import av

    lengths = {}
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        lengths["video"] = frames / float(video.average_rate)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        lengths["audio"] = samples / audio.rate
    return lengths


def last_second_db(path: Path) -> float:
    """The RMS level of the file's last second of sound, in dBFS."""
    import numpy as np

    from reelflow.media import decode_audio

    audio = decode_audio(path, rate=16000)[-16000:]
    return float(20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12))
