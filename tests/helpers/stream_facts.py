"""What the tests check in a rendered file, read with PyAV (reelflow ships no ffprobe)."""

from __future__ import annotations

from pathlib import Path

import av


def streams(path: Path) -> list[dict]:
    """One dict per stream, with ffprobe's field names: codec_type, codec_name, duration
    (seconds), and width, height, pix_fmt for video."""
    found = []
    with av.open(str(path)) as container:
        for stream in container.streams:
            context = stream.codec_context
            facts = {"codec_type": stream.type, "codec_name": context.name if context else None}
            if stream.duration is not None and stream.time_base is not None:
                facts["duration"] = float(stream.duration * stream.time_base)
            if stream.type == "video":
                facts |= {"width": context.width, "height": context.height}
                facts["pix_fmt"] = context.pix_fmt
            found.append(facts)
    return found


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base
