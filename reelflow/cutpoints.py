"""Where to cut between two words: the quietest point of the gap, found on the audio itself.

Whisper's word times are commonly 50-200 ms early or late, so a cut placed by padding word
times can land in a word's first or last sound. The search looks at the 10 ms envelope
(reelflow.envelope) in a window around the gap, widened by that error: the point whose
neighbourhood (+-SMOOTH_S) is quietest, and of the points nearly as quiet, the one nearest
where an editor would cut (a little before the first word, a little after the last). A cut
whose neighbourhood is within VOICED_DB of the speech level around it is voiced: the search
never hides that, it reports it (Cut.in_pause).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelflow.envelope import FLOOR_DB, Envelope

SMOOTH_S = 0.04  # a cut must be quiet this far on both sides: a 50 ms stop closure inside a
#                  word is not a pause, and the fade at the clip's edge needs a few ms
SLACK_DB = 3.0  # points this close to the quietest are as good: the one nearest the ideal wins
VOICED_DB = 25.0  # a neighbourhood within this many dB of the speech level around it is voiced
SPEECH_WINDOW_S = 2.0  # the speech level is measured this far on both sides of a cut
SPEECH_PERCENTILE = 95.0  # of the frames there: the level of the loud part of speech
PAUSE_LIMIT_S = 2.0  # pauses are measured up to this far on each side of a cut


@dataclass(frozen=True)
class Cut:
    t: float  # seconds
    level_db: float  # the 10 ms frame at the cut
    quiet_db: float  # the loudest frame within +-SMOOTH_S of it: what the search minimises
    speech_db: float  # the speech level around the cut
    pause_s: float = 0.0  # length of the pause the cut lies in (0: none), up to 2 * PAUSE_LIMIT_S

    @property
    def in_pause(self) -> bool:
        # With no speech around (digital silence everywhere) any point is a pause.
        return self.quiet_db <= max(self.speech_db - VOICED_DB, FLOOR_DB + 1)


def speech_level(env: Envelope, t: float) -> float:
    a = env.frame(t - SPEECH_WINDOW_S)
    b = env.frame(t + SPEECH_WINDOW_S)
    return float(np.percentile(env.db[a : b + 1], SPEECH_PERCENTILE))


def pause_length(env: Envelope, t: float, speech_db: float) -> float:
    """Seconds of unbroken quiet (VOICED_DB below the speech) around t; 0 when t is voiced."""
    i = env.frame(t)
    r = round(PAUSE_LIMIT_S / env.hop_s)
    lo = max(0, i - r)
    quiet = env.db[lo : i + r + 1] <= max(speech_db - VOICED_DB, FLOOR_DB + 1)
    k = i - lo
    if not quiet[k]:
        return 0.0
    loud = np.flatnonzero(~quiet)
    left = loud[loud < k]
    right = loud[loud > k]
    first = left[-1] + 1 if left.size else 0
    last = right[0] - 1 if right.size else quiet.size - 1
    return (last - first + 1) * env.hop_s


def _smoothed(env: Envelope, a: int, b: int) -> np.ndarray:
    """Max level within +-SMOOTH_S of each frame a..b (edges of the track repeat)."""
    r = max(0, round(SMOOTH_S / env.hop_s))
    lo, hi = max(0, a - r), min(len(env.db), b + r + 1)
    padded = np.pad(env.db[lo:hi], (lo - (a - r), b + r + 1 - hi), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1).max(axis=1)


def cut_at(env: Envelope, t: float) -> Cut:
    """What a cut at t (a scene cut, a padded word time) sounds like."""
    i = env.frame(t)
    quiet = float(_smoothed(env, i, i)[0])
    speech = speech_level(env, t)
    return Cut(t, env.level_at(t), quiet, speech, pause_length(env, t, speech))


def quietest_cut(env: Envelope, lo: float, hi: float, ideal: float) -> Cut | None:
    """The quietest point in [lo, hi] (frame centres), nearest `ideal` among the nearly
    quietest; None when the window holds no frame of the envelope."""
    if len(env.db) == 0 or hi < lo:
        return None
    hop = env.hop_s
    a = max(0, math.ceil(lo / hop - 0.5))
    b = min(len(env.db) - 1, math.floor(hi / hop - 0.5))
    if b < a:
        return None
    quiet = _smoothed(env, a, b)
    centres = (np.arange(a, b + 1) + 0.5) * hop
    near = np.flatnonzero(quiet <= quiet.min() + SLACK_DB)
    # Nearest the ideal; between equals, the quieter, then the earlier.
    k = min(near, key=lambda j: (round(abs(centres[j] - ideal), 6), quiet[j], j))
    t = float(centres[k])
    speech = speech_level(env, t)
    return Cut(t, float(env.db[a + k]), float(quiet[k]), speech, pause_length(env, t, speech))
