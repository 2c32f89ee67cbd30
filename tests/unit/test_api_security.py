"""Bearer-token access control, on a tiny Litestar app built here (not the real API)."""

from __future__ import annotations

from functools import partial

import pytest
from litestar import Litestar, get, post
from litestar.testing import TestClient

from api.security import auth_enabled, install_auth
from reelflow.settings import Settings

TOKEN = "correct-horse-battery-staple"


@get("/health")
async def health() -> dict:
    return {"status": "ok"}


@get("/jobs/latest")
async def job() -> dict:
    return {"id": "j0"}


@post("/jobs")
async def submit() -> dict:
    return {"id": "j1"}


@get("/status", opt={"public": True})
async def status() -> dict:
    return {"up": True}


def _client(settings: Settings) -> TestClient:
    app = Litestar(
        [health, job, submit, status], on_app_init=[partial(install_auth, settings=settings)]
    )
    return TestClient(app)


PROTECTED = [("GET", "/jobs/latest"), ("POST", "/jobs"), ("GET", "/schema/openapi.json")]


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[p for _, p in PROTECTED])
def test_token_required_when_set(method, path):
    with _client(Settings(REELFLOW_API_TOKEN=TOKEN)) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
            {"X-Token": TOKEN},
        ):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "bearer token" in response.json()["detail"]
            assert TOKEN not in response.text
        ok = client.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code in (200, 201)
        assert client.request(method, path, headers={"authorization": f"bearer {TOKEN}"}).is_success


def test_health_and_public_handlers_stay_open():
    with _client(Settings(REELFLOW_API_TOKEN=TOKEN)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/health/").status_code == 200
        assert client.get("/status").status_code == 200


def test_open_without_a_token():
    for settings in (Settings(), Settings(REELFLOW_API_TOKEN="")):
        assert not auth_enabled(settings)
        with _client(settings) as client:
            assert client.get("/jobs/latest").status_code == 200
            assert client.post("/jobs").status_code == 201
            assert client.get("/health").status_code == 200


def test_token_from_the_environment(monkeypatch):
    from reelflow.settings import get_settings

    monkeypatch.setenv("REELFLOW_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert auth_enabled(settings)
        assert TOKEN not in repr(settings)  # a SecretStr: never printed in logs
        with _client(settings) as client:
            assert client.get("/jobs/latest").status_code == 401
    finally:
        get_settings.cache_clear()
