"""The stand-in Gemini server (testkit/gemini.py) pointed at by reelflow's settings for a test."""

from __future__ import annotations

from contextlib import contextmanager

from testkit.gemini import GeminiStandIn

__all__ = ["GeminiStandIn", "gemini_stand_in"]


@contextmanager
def gemini_stand_in(monkeypatch, key: str, **env: str):
    """The stand-in Gemini server on 127.0.0.1, with GEMINI_* settings pointing at it, the
    key in GEMINI_API_KEY and fast retries; `env` adds or overrides settings."""
    from reelflow.settings import get_settings

    settings = {"GEMINI_API_KEY": key, "GEMINI_RETRY_DELAY_S": "0.05", **env}
    with GeminiStandIn() as server:
        for name, value in {**settings, "GEMINI_BASE_URL": server.url}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()
