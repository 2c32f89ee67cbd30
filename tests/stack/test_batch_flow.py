"""Batch runs against the real stack (Prefect server, the worker serving the deployments, the
API), all on 127.0.0.1: a served list of direct links with good videos, a 404, a text file named
.mp4, a duplicate and a malformed line; a second run of the same list through the CLI; and the
batch deployment's schedule registered from prefect.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest
import yaml

from flows.names import BATCH_DEPLOYMENT_PATH, CLIP_DEPLOYMENT_PATH
from tests.helpers.media import SAMPLE, make_media
from tests.helpers.servers import running_stack, stack_env, static_server

pytestmark = pytest.mark.slow

LIMIT = 2
JOB = {"clips": 1, "min_seconds": 15, "max_seconds": 20, "provider": "local"}
CLI_JOB = ["--clips", "1", "--min-seconds", "15", "--max-seconds", "20", "--provider", "local"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ffmpeg):
    media = tmp_path_factory.mktemp("media")
    for name, start in (("talk_a.mp4", "0"), ("talk_b.mp4", "60")):
        make_media(ffmpeg, media / name, "-ss", start, "-i", str(SAMPLE), "-t", "25",
                   "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip
    (media / "notes.mp4").write_text("this is a text file, not a video\n")
    home = tmp_path_factory.mktemp("stack")
    with static_server(media) as files_url:
        (media / "urls.txt").write_text(
            "# fixture videos, served as direct links\n"
            f"{files_url}/talk_a.mp4\n"
            f"{files_url}/talk_b.mp4\n"
            f"{files_url}/missing.mp4\n"
            f"{files_url}/notes.mp4\n"
            "\n"
            "not a url at all\n"
            f"HTTP://127.0.0.1:{files_url.rsplit(':', 1)[1]}/talk_a.mp4#again\n"
        )
        env = stack_env(home, LIMIT, PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS="2")
        with running_stack(home, env) as running:
            running.files_url, running.media = files_url, media
            yield running


@pytest.fixture(scope="module")
def client(stack):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: stack.prefect_url}),
        get_client(sync_client=True) as prefect_client,
    ):
        yield prefect_client


@pytest.fixture(scope="module")
def first_batch(stack, client):
    """Run the batch deployment on the served list; watch the clip runs while it works."""
    from prefect.deployments import run_deployment

    request = {"url_list": f"{stack.files_url}/urls.txt", **JOB}
    batch = run_deployment(BATCH_DEPLOYMENT_PATH, parameters={"request": request}, timeout=0)
    most_running, seen = 0, set()
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        jobs = _clip_runs(client, tag=f"batch-{batch.id}")
        running = [j for j in jobs if j.state_type.value == "RUNNING"]
        assert len(running) <= LIMIT, [j.name for j in running]
        most_running = max(most_running, len(running))
        seen |= {str(j.id) for j in jobs}
        batch = client.read_flow_run(batch.id)
        if batch.state.is_final():
            break
        time.sleep(0.5)
    assert batch.state.is_completed(), f"{batch.state_name}: {batch.state.message}"
    folder = stack.home / "data" / "batches" / str(batch.id)
    report = pd.read_csv(folder / "report.csv")
    return {"run": batch, "report": report, "folder": folder, "seen": seen,
            "most_running": most_running}  # fmt: skip


def test_batch_report_matches_the_jobs(stack, client, first_batch):
    report = first_batch["report"].set_index("url")
    base = stack.files_url
    for name in ("talk_a.mp4", "talk_b.mp4"):
        row = report.loc[f"{base}/{name}"]
        assert row["status"] == "completed", row.to_dict()
        assert row["clips"] == 1 and 0 <= row["best_score"] <= 100 and row["duration_s"] > 0

    missing = report.loc[f"{base}/missing.mp4"]
    assert missing["status"] == "failed" and "404" in missing["error"], missing["error"]
    notes = report.loc[f"{base}/notes.mp4"]
    assert notes["status"] == "failed"
    assert "not a readable video" in notes["error"] or "no video stream" in notes["error"]
    bad = report.loc["not a url at all"]
    assert bad["status"] == "rejected" and "Refused URL" in bad["error"] and pd.isna(bad["job_id"])
    again = report.loc[f"HTTP://127.0.0.1:{base.rsplit(':', 1)[1]}/talk_a.mp4#again"]
    assert again["status"] == "duplicate"
    assert again["job_id"] == report.loc[f"{base}/talk_a.mp4"]["job_id"]
    assert list(first_batch["report"]["row"]) == [2, 3, 4, 5, 7, 8], "rows are list lines"

    # Every started job is a run of the clip deployment, in the state the report gives.
    jobs = {str(j.id): j for j in _clip_runs(client, tag=f"batch-{first_batch['run'].id}")}
    started = report[report["status"].isin(["completed", "failed"])]
    assert set(started["job_id"]) == set(jobs) == first_batch["seen"]
    with httpx.Client(base_url=stack.api_url, timeout=30) as api:
        for job_id, status in zip(started["job_id"], started["status"], strict=True):
            assert jobs[job_id].state_type.value == status.upper()
            assert api.get(f"/api/status/{job_id}").json()["status"] == status

    parquet = pd.read_parquet(first_batch["folder"] / "report.parquet")
    assert list(parquet["job_id"].fillna("")) == list(first_batch["report"]["job_id"].fillna(""))
    table = _report_artifact(client, first_batch["run"].id)
    assert [r["status"] for r in table] == list(first_batch["report"]["status"])


def test_concurrency_limit_holds_while_the_batch_waits(first_batch):
    # The batch ran the whole time (its own deployment, no job slot), 4 jobs with a limit of 2.
    assert 1 <= first_batch["most_running"] <= LIMIT
    assert len(first_batch["seen"]) == 4


def test_second_run_skips_what_was_processed(stack, client, first_batch, tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text((stack.media / "urls.txt").read_text())
    before = {str(j.id) for j in _clip_runs(client)}
    done = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "batch", str(listing), "--wait", *CLI_JOB],
        env=stack.environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "skipped (already processed)" in done.stdout and "rows:" in done.stdout

    first = first_batch["report"].set_index("url")
    batch_id = re.search(r"reelflow: batch (\S+) started", done.stderr).group(1)
    second = pd.read_csv(stack.home / "data" / "batches" / batch_id / "report.csv")
    second = second.set_index("url")
    for name in ("talk_a.mp4", "talk_b.mp4"):
        url = f"{stack.files_url}/{name}"
        assert second.loc[url, "status"] == "skipped (already processed)"
        assert second.loc[url, "job_id"] == first.loc[url, "job_id"], "points at the earlier job"
        assert second.loc[url, "clips"] == 1
    # Only the failed URLs ran again (failures are retried by the next run: a video can
    # come back); the completed ones started nothing new.
    new = {str(j.id) for j in _clip_runs(client)} - before
    retried = second[second["status"] == "failed"]
    assert new == set(retried["job_id"])
    assert {u.rsplit("/", 1)[1] for u in retried.index} == {"missing.mp4", "notes.mp4"}


def test_cancelling_a_batch_cancels_its_jobs(stack, client, first_batch):
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    # Whole-sample jobs: short ones could all finish before the cancel arrives.
    (stack.media / "long.mp4").symlink_to(SAMPLE)
    (stack.media / "long.txt").write_text(
        f"{stack.files_url}/long.mp4\n{stack.files_url}/missing.mp4\n"
    )
    request = {"url_list": f"{stack.files_url}/long.txt", "force": True, "provider": "local"}
    batch = run_deployment(BATCH_DEPLOYMENT_PATH, parameters={"request": request}, timeout=0)
    jobs = _wait_until(lambda: len(_clip_runs(client, tag=f"batch-{batch.id}")) == 2, 120)
    client.set_flow_run_state(batch.id, Cancelling(message="test"), force=True)

    def all_ended():
        jobs = _clip_runs(client, tag=f"batch-{batch.id}")
        return all(j.state.is_final() for j in jobs) and jobs

    jobs = _wait_until(all_ended, 120)
    assert client.read_flow_run(batch.id).state_type.value == "CANCELLED"
    assert "CANCELLED" in {j.state_type.value for j in jobs}, [j.state_name for j in jobs]
    # Jobs that had already ended (the 404 fails in a second) keep their state.
    assert {j.state_type.value for j in jobs} <= {"CANCELLED", "FAILED", "COMPLETED"}


def test_schedule_from_prefect_yaml_has_a_next_run(stack, client, tmp_path):
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    from deployments.stack import ROOT

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (batch,) = [d for d in config["deployments"] if d["name"] == "batch-urls"]
    assert [s["active"] for s in batch["schedules"]] == [False], "the example ships switched off"
    batch["schedules"][0]["active"] = True
    batch["name"] = "batch-urls-scheduled"  # leave the served batch-urls deployment alone
    copy = tmp_path / "prefect.yaml"
    copy.write_text(yaml.safe_dump(config))

    client.create_work_pool(WorkPoolCreate(name="reelflow", type="process"))
    deploy = subprocess.run(
        [str(ROOT / ".venv/bin/prefect"), "--no-prompt", "deploy", "--prefect-file", str(copy),
         "--name", "batch-urls-scheduled"],
        cwd=ROOT, env=stack.environment(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    deployment = client.read_deployment_by_name("batch_urls/batch-urls-scheduled")
    assert [(s.schedule.cron, s.active) for s in deployment.schedules] == [("0 6 * * *", True)]
    assert deployment.parameters["request"]["url_list"] == "data/lists/urls.txt"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        scheduled = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
        if scheduled:
            break
        time.sleep(1)
    assert scheduled, "the scheduler made no run for the deployment"
    next_run = min(r.expected_start_time for r in scheduled).astimezone(UTC)
    assert next_run > datetime.now(UTC)
    assert (next_run.hour, next_run.minute) == (6, 0)


def _clip_runs(client, tag: str | None = None):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterTags,
    )

    name = CLIP_DEPLOYMENT_PATH.split("/")[1]
    tags = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])) if tag else None
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
        flow_run_filter=tags,
        limit=200,
    )


def _report_artifact(client, run_id) -> list[dict]:
    import json

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    (artifact,) = [
        a
        for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        if a.type == "table"
    ]
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


def _wait_until(check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"still not so after {timeout_s:.0f} s")
