"""Property-based fuzzing of the whole OpenAPI surface with schemathesis: every operation the
document lists gets generated requests (valid and invalid: bodies, form fields, headers, path
and query parameters), and every answer must be a documented status with a body that matches
the documented schema and media type. No 500, no schema violation.

In this process: the real app over ASGI (schemathesis' own client, which runs its lifespan),
the session's real Prefect server, the deployments registered as the worker would, no worker,
so accepted jobs stay queued and nothing is ever downloaded. A tripwire on the socket layer
fails the test if anything resolves or connects to a host other than loopback: generated URLs
go through the API's precheck, which must not resolve names.

Bounded: FUZZ_EXAMPLES generated cases per operation and mode, valid and invalid
(REELFLOW_FUZZ_EXAMPLES, 25 by default), derandomized so `make test` sees the same cases each
run; REELFLOW_FUZZ_RANDOM=1 draws new ones. (Hypothesis is driven here directly: schemathesis'
lazy pytest loader does not run under pytest 9.)
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.api import register_deployments

FUZZ_EXAMPLES = int(os.environ.get("REELFLOW_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
LOOPBACK_NAMES = {"localhost", "testserver"}


class OffLoopback(AssertionError):
    pass


@pytest.fixture(scope="module")
def loopback_only():
    """Fail on any name lookup or connection that is not loopback (a generated URL resolved
    or fetched by the API would show here). The Prefect client's own calls go to 127.0.0.1."""
    seen: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not _is_loopback(name):
            seen.append(f"lookup {name}")
            raise OffLoopback(f"the API tried to resolve {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            seen.append(f"connect {address[0]}")
            raise OffLoopback(f"the API tried to connect to {address[0]!r}")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setattr(socket.socket, "connect", connect)
        yield seen


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def fuzz_app(prefect_server, tmp_path_factory, loopback_only):
    """The real app on a data dir of its own."""
    register_deployments()
    with pytest.MonkeyPatch.context() as mp:
        data = tmp_path_factory.mktemp("fuzz")
        mp.setenv("REELFLOW_DATA_DIR", str(data))
        mp.setenv("MAX_FILE_SIZE_MB", "1")
        mp.delenv("ALLOWED_URL_HOSTS", raising=False)  # any public host: accepted unresolved
        mp.delenv("REELFLOW_API_TOKEN", raising=False)
        from reelflow.settings import get_settings

        get_settings.cache_clear()
        from api.app import create_app

        yield create_app(get_settings())
        # schemathesis keeps an app's lifespan (our Prefect client) running until exit.
        from schemathesis.python.asgi import shutdown_lifespans

        shutdown_lifespans()
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def finished_job(fuzz_app) -> str:
    """One finished job whose clip and thumbnail exist, so the file routes answer 200/206 and
    the render route starts restyle runs."""
    return _finished_job()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The document as the app serves it, loaded over ASGI (this also starts its lifespan)."""
    from schemathesis.config import SchemathesisConfig
    from schemathesis.config._checks import NegativeDataRejectionConfig

    # A body past an endpoint's limit is rejected as too large (413) before it is read.
    rejected = [*NegativeDataRejectionConfig._DEFAULT_EXPECTED_STATUSES, "413"]
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": rejected}}}
    )
    return schemathesis.openapi.from_asgi("/docs/openapi.json", fuzz_app, config=config)


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every (method, path) of the document, read from an app built here (no server needed),
    so a new route is fuzzed without anyone listing it; with invalid data too where the
    operation takes anything that can be invalid (a bare string path parameter cannot)."""
    from api.app import create_app
    from reelflow.settings import Settings

    paths = create_app(Settings(REELFLOW_API_TOKEN=None)).openapi_schema.to_schema()["paths"]
    cases = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            if _can_be_invalid(operation):
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


def _can_be_invalid(operation: dict) -> bool:
    params = operation.get("parameters", [])
    plain = all(p["in"] == "path" and p["schema"] == {"type": "string"} for p in params)
    return "requestBody" in operation or not plain


OPERATIONS = _operations()


@pytest.mark.parametrize(
    ("method", "path", "mode"), OPERATIONS, ids=[f"{m} {p} {g.value}" for m, p, g in OPERATIONS]
)
def test_the_api_keeps_to_its_document(api_schema, finished_job, loopback_only, method, path, mode):
    operation = api_schema[path][method]
    strategies = [operation.as_strategy(generation_mode=mode)]
    if "{job_id}" in path:
        # Random ids only ever find nothing: half the cases go to a job (and clip) that exists;
        # DELETE to one of its own, which it may delete.
        known = {"job_id": _finished_job() if method == "DELETE" else finished_job}
        if "{index}" in path and mode is GenerationMode.POSITIVE:
            known["index"] = 1
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=known))
    checks = CHECKS
    if path == "/health":  # readiness is a documented 503 here: no worker polls in this test
        checks = [check for check in CHECKS if check is not not_a_server_error]
    for strategy in strategies:
        _fuzz(strategy, len(strategies), loopback_only, checks)


def _fuzz(strategy, shares: int, loopback_only: list[str], checks: list) -> None:
    @settings(
        max_examples=max(1, FUZZ_EXAMPLES // shares),
        deadline=None,
        derandomize=os.environ.get("REELFLOW_FUZZ_RANDOM") != "1",
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as it came
    )
    @given(case=strategy)
    def fuzz(case) -> None:
        # A request that creates runs waits on the Prefect server; with the suite's other
        # processes on the same cores one took over schemathesis's default 10 s once.
        case.call_and_validate(checks=checks, timeout=60)
        assert not loopback_only, loopback_only

    fuzz()


def _finished_job() -> str:
    """A clip-video run marked completed, with the files its manifest names."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    from flows.names import CLIP_DEPLOYMENT_PATH
    from reelflow.jobs import job_dir
    from reelflow.manifest import ClipEntry, Manifest, write_manifest

    async def create() -> str:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(CLIP_DEPLOYMENT_PATH)
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters={"request": {"source": "https://example.org/v.mp4"}}
            )
            await client.set_flow_run_state(run.id, Completed(), force=True)
        return str(run.id)

    job_id = asyncio.run(create())
    folder = job_dir(job_id)
    clip = ClipEntry(index=1, start=0, end=20, duration=20, file="clip_01.mp4",
                     thumbnail="clip_01.jpg", title="A clip", hook="Hook",
                     captions_srt="clip_01.srt", captions_vtt="clip_01.vtt")  # fmt: skip
    write_manifest(folder, Manifest(job_id=job_id, status="completed", clips=[clip],
                                    request={"source": "https://example.org/v.mp4"}))  # fmt: skip
    (folder / "clip_01.mp4").write_bytes(uuid.uuid4().bytes * 64)
    (folder / "clip_01.jpg").write_bytes(uuid.uuid4().bytes * 8)
    (folder / "clip_01.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    (folder / "clip_01.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n")
    return job_id


def test_the_tripwire_catches_lookups_and_connections(loopback_only):
    """The guard above would see a generated URL being resolved or fetched."""
    with pytest.raises(OffLoopback):
        socket.getaddrinfo("example.org", 80)
    with pytest.raises(OffLoopback), socket.socket() as sock:
        sock.connect(("192.0.2.1", 80))
    assert loopback_only == ["lookup example.org", "connect 192.0.2.1"]
    assert socket.getaddrinfo("127.0.0.1", 80) and socket.getaddrinfo("localhost", 80)
    loopback_only.clear()
