"""Bearer-token access control, on a tiny Litestar app built here (not the real API), and the
token rules the real API and `make up` enforce before they start."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from litestar import Litestar, get, post
from litestar.testing import TestClient

from api.security import MIN_TOKEN_LENGTH, auth_enabled, install_auth
from reelflow.errors import ConfigError
from reelflow.settings import Settings
from tests.helpers.servers import free_port

TOKEN = "correct-horse-battery-staple-4-u-and-me"
ROOT = Path(__file__).resolve().parents[2]


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
    settings = Settings()
    assert settings.api_token is None and not auth_enabled(settings)
    with _client(settings) as client:
        assert client.get("/jobs/latest").status_code == 200
        assert client.post("/jobs").status_code == 201
        assert client.get("/health").status_code == 200


BAD_TOKENS = {
    "empty": ("", "set but empty"),
    "short": ("s3cret-but-short", "16 characters long, too short"),
    "one-short": ("x" * (MIN_TOKEN_LENGTH - 1), "too short"),
    "spaces": ("correct horse battery staple and more", "spaces"),
    "non-ascii": ("ü" * MIN_TOKEN_LENGTH, "non-ASCII"),
}


@pytest.mark.parametrize(("token", "reason"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_stops_the_api_from_starting(token, reason):
    """An empty token used to mean "open"; now the app is never built, and the reason says
    how long a token must be without repeating the token."""
    from api.app import create_app

    with pytest.raises(ConfigError) as refused:
        create_app(Settings(REELFLOW_API_TOKEN=token))
    message = str(refused.value)
    assert reason in message and f"at least {MIN_TOKEN_LENGTH} characters" in message
    assert not token or token not in message
    assert auth_enabled(Settings(REELFLOW_API_TOKEN="x" * MIN_TOKEN_LENGTH))


@pytest.mark.parametrize("command", ["uvicorn", "make-up"])
def test_the_api_and_make_up_refuse_an_empty_token(command, tmp_path):
    """Both exit at once with a one-line reason; `make up` before it starts anything."""
    port, logs = str(free_port()), str(tmp_path / "logs")
    args = {"uvicorn": ["-m", "uvicorn", "api.app:app", "--port", port],
            "make-up": ["-m", "deployments.stack", "--api-port", port, "--logs", logs]}  # fmt: skip
    env = {**os.environ, "REELFLOW_API_TOKEN": "", "REELFLOW_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, *args[command]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert "reelflow: error: REELFLOW_API_TOKEN is set but empty" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "logs").exists()


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
