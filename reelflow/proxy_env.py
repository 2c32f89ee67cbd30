"""Child processes that may fetch get no way around the guarding proxy.

A download's requests must all pass `reelflow.guard_proxy`. yt-dlp hands some streams to ffmpeg
(HLS it cannot download itself, for example) and gives it the proxy in `http_proxy`; but ffmpeg,
like curl and most HTTP clients, also honours `no_proxy`, so `no_proxy=localhost,10.0.0.0/8` in
a worker's environment lets a playlist's key and segment URLs reach those hosts directly. The
children get an environment without such variables: with `http_proxy` set and no bypass, every
request goes through the guard, which refuses what it must.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Compared lower-case: no_proxy / NO_PROXY (curl, wget, ffmpeg, Python, Go), and gRPC's own.
PROXY_BYPASS_VARIABLES = frozenset({"no_proxy", "no_grpc_proxy"})


def without_proxy_bypass(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the variables that exempt hosts from a proxy."""
    return {k: v for k, v in env.items() if k.lower() not in PROXY_BYPASS_VARIABLES}


def guard_ytdlp_children() -> None:
    """Make every process yt-dlp starts (ffmpeg above all) start without a proxy bypass.

    yt-dlp starts all of them through `yt_dlp.utils.Popen`, which copies `os.environ` when given
    no environment; wrapping its constructor once covers every place that does, without
    touching this process's own environment (Prefect's client may need its no_proxy)."""
    from yt_dlp.utils import Popen

    if getattr(Popen, "_reelflow_guarded", False):
        return
    original = Popen.__init__

    def __init__(self, args, *remaining, env=None, **kwargs):
        env = without_proxy_bypass(os.environ if env is None else env)
        original(self, args, *remaining, env=env, **kwargs)

    Popen.__init__ = __init__
    Popen._reelflow_guarded = True
