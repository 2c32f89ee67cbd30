"""The REST API tests of test_api.py that lean on the database once more, with the Prefect
server on PostgreSQL (REELFLOW_DB=postgres: the stack starts a cluster in its data dir): a job
through to its clips, concurrency slots, cancelling, an API restart, retention's queries and
what the database keeps. The upload and Gemini jobs differ from the URL job only above the
database and run once, in test_api.py; the killed-worker case runs on PostgreSQL in
test_workers.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers.servers import needs_postgres, running_stack, stack_env, static_server
from tests.stack.test_api import (  # noqa: F401 (collected here as well)
    KEY,
    LIMIT,
    api,
    media,
    test_api_restart_keeps_jobs,
    test_cancel_running_job,
    test_concurrency_limit_holds,
    test_key_never_stored_or_shown,
    test_non_video_upload_fails_clearly,
    test_retention_expires_files,
    test_url_job_completes,
    url_job,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(media):  # noqa: F811 (the fixture of test_api.py, used here)
    from testkit.gemini import GeminiStandIn

    needs_postgres()
    # PostgreSQL runs as the 'postgres' user when the tests run as root: its folder must be
    # reachable by it, which pytest's own temporary folders (mode 0700) are not.
    home = Path(tempfile.mkdtemp(prefix="reelflow-pg-api-"))
    home.chmod(0o711)
    try:
        with static_server(media["folder"]) as files_url, GeminiStandIn() as gemini:
            env = stack_env(
                home, LIMIT, MAX_FILE_SIZE_MB="5", GEMINI_BASE_URL=gemini.url,
                GEMINI_RETRY_DELAY_S="0.2", REELFLOW_DB="postgres",
            )  # fmt: skip
            with running_stack(home, env) as running:
                assert running.postgres is not None, "not on PostgreSQL"
                running.files_url, running.gemini = files_url, gemini
                yield running
    finally:
        shutil.rmtree(home, ignore_errors=True)
