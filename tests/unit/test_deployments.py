"""Deployments are defined once (deployments/definitions.py): the worker builds them from there
with this machine's settings, and the committed prefect.yaml is exactly what it generates."""

from __future__ import annotations

from pathlib import Path

import yaml

from deployments.definitions import SERVED_DEPLOYMENT_PATHS, SPECS, build_deployments, prefect_yaml
from reelflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_is_generated_from_the_definitions():
    assert (ROOT / "prefect.yaml").read_text() == prefect_yaml(), (
        "run: python -m deployments.definitions > prefect.yaml"
    )
    declared = yaml.safe_load(prefect_yaml())["deployments"]
    assert [(d["name"], d["entrypoint"]) for d in declared] == [
        (s.name, s.entrypoint) for s in SPECS
    ]
    for entry in declared:
        module, _, function = entry["entrypoint"].partition(":")
        assert (ROOT / module).is_file() and function


def test_flow_names_come_from_one_place():
    for spec in SPECS:
        assert spec.flow().name == spec.path.split("/")[0]
        assert spec.path.split("/")[1] == spec.name
    assert len(set(SERVED_DEPLOYMENT_PATHS)) == len(SPECS)


def test_the_worker_takes_its_limits_from_settings():
    settings = Settings(
        MAX_CONCURRENT_JOBS=3, MAX_CONCURRENT_BATCHES=2, RESTYLE_CONCURRENCY=4,
        RETENTION_SWEEP_SECONDS=120,
    )  # fmt: skip
    built = {d.name: d for d in build_deployments(settings)}
    assert built["clip-video"].concurrency_limit == 3
    assert built["batch-urls"].concurrency_limit == 2
    assert built["restyle-clip"].concurrency_limit == 4
    (schedule,) = built["retention"].schedules
    assert schedule.schedule.interval.total_seconds() == 120


def test_prefect_yaml_has_a_process_pool_and_a_docker_example():
    definitions = yaml.safe_load(prefect_yaml())
    pools = definitions["definitions"]["work_pools"]
    assert pools["reelflow_pool"]["name"] == "reelflow"
    docker = pools["docker_pool"]
    assert docker["name"] == "reelflow-docker" and docker["job_variables"]["image"]
    # Containers share nothing but the server and S3: their data dir is a volume of their own.
    assert docker["job_variables"]["env"]["REELFLOW_DATA_DIR"] == "/data"
    assert all(d["work_pool"]["name"] == "reelflow" for d in definitions["deployments"])


def test_a_worker_can_be_limited_on_its_own():
    assert Settings(WORKER_CONCURRENCY=1).worker_concurrency == 1
    assert Settings().worker_concurrency is None  # the default: room for every slot
