"""A virtual camera operator for one axis of one shot, planned offline over the whole shot.

The camera rests while its subject stays within a dead zone around the window's centre (no
jitter from detection noise or a nodding head), and when the subject leaves it, pans towards
where the subject will be `lead_s` later (offline, so it can anticipate) with limited speed
and acceleration: every move eases in and out, and a steadily moving subject is followed at
its own pace. Once the subject and the camera have both come to rest, the camera rests again.
Shots never share a path: a cut or a change of subject jumps, as an editor would cut.

The result is a few keyframes (t, centre), linear between, that the render turns into one
crop expression.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraLimits:
    dead_zone: float  # px either side of the window's centre the subject may drift unseen
    max_speed: float  # px/s
    max_accel: float  # px/s^2
    lead_s: float = 0.3  # how far ahead the camera aims while it moves
    step_s: float = 0.04  # simulation step; keys are thinned afterwards
    tolerance: float = 0.5  # px: key thinning error


def smooth_target(times: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Running median: a single bad detection never moves the camera."""
    if len(values) < 3 or window_s <= 0:
        return values.astype(float)
    out = np.empty(len(values))
    half = window_s / 2
    lo = np.searchsorted(times, times - half, side="left")
    hi = np.searchsorted(times, times + half, side="right")
    for i in range(len(values)):
        out[i] = float(np.median(values[lo[i] : hi[i]]))
    return out


def plan_axis(
    times: np.ndarray,
    targets: np.ndarray,
    start_s: float,
    end_s: float,
    limits: CameraLimits,
    low: float,
    high: float,
) -> list[tuple[float, float]]:
    """Keys (t, centre) over [start_s, end_s] following `targets` (already smoothed) sampled
    at `times`; centres stay in [low, high] (the window inside the frame)."""
    if high < low:
        low = high = (low + high) / 2
    if len(times) == 0:
        return [(start_s, (low + high) / 2)]
    targets = np.clip(targets, low, high)
    n = max(1, int(np.ceil((end_s - start_s) / limits.step_s)))
    grid = start_s + np.arange(n + 1) * (end_s - start_s) / n
    dt = (end_s - start_s) / n
    ahead = np.interp(grid + limits.lead_s, times, targets)
    first = times <= min(start_s + 1.0, times[-1])
    x = float(np.clip(np.median(targets[first]), low, high))
    xs = _simulate(ahead, x, dt, limits, low, high)
    return _thin(list(zip(grid.tolist(), xs, strict=True)), limits.tolerance)


def _simulate(ahead: np.ndarray, x: float, dt: float, limits: CameraLimits, low, high) -> list:
    v, moving = 0.0, False
    settle = max(1.0, limits.dead_zone * 0.15)
    rest_speed = limits.max_accel * dt  # stopping from below this is one ordinary step
    out = []
    for goal in ahead:
        if not moving and abs(goal - x) > limits.dead_zone:
            moving = True
        if moving:
            err = goal - x
            want = np.sign(err) * min(limits.max_speed, (2 * limits.max_accel * abs(err)) ** 0.5)
            step = limits.max_accel * dt
            v += min(max(want - v, -step), step)
            x = min(max(x + v * dt, low), high)
            if abs(goal - x) < settle and abs(v) < rest_speed:
                moving, v = False, 0.0
        out.append(x)
    return out


def _thin(keys: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Ramer-Douglas-Peucker on the path: drop keys the lines between the others reproduce."""
    if len(keys) <= 2:
        return _collapse(keys)
    pts = np.asarray(keys)
    keep = np.zeros(len(pts), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        t0, x0 = pts[a]
        t1, x1 = pts[b]
        ts, xs = pts[a + 1 : b, 0], pts[a + 1 : b, 1]
        line = x0 + (x1 - x0) * (ts - t0) / max(t1 - t0, 1e-9)
        err = np.abs(xs - line)
        i = int(np.argmax(err))
        if err[i] > tolerance:
            keep[a + 1 + i] = True
            stack += [(a, a + 1 + i), (a + 1 + i, b)]
    return _collapse([(float(t), float(x)) for t, x in pts[keep]])


def _collapse(keys: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A path that never moves is one key."""
    if keys and all(abs(x - keys[0][1]) < 1e-6 for _, x in keys):
        return [keys[0]]
    return keys


def path_speeds(keys: list[tuple[float, float]], start_s: float, end_s: float):
    """(duration, speed px/s) pieces covering [start_s, end_s]: still before the first key and
    after the last."""
    pieces = []
    edges = [(start_s, keys[0][1]), *keys, (end_s, keys[-1][1])] if keys else []
    for (t0, x0), (t1, x1) in itertools.pairwise(edges):
        lo, hi = max(t0, start_s), min(t1, end_s)
        if hi - lo > 1e-9 and t1 > t0:
            pieces.append((hi - lo, abs(x1 - x0) / (t1 - t0)))
    return pieces


def value_at(keys: list[tuple[float, float]], t: float) -> float:
    ts = [k[0] for k in keys]
    xs = [k[1] for k in keys]
    return float(np.interp(t, ts, xs))
