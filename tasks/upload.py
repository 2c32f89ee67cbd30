"""Upload: copy a finished job's files to S3 in the background, without ever failing the job.

With S3_BUCKET set, `clip_video` calls `start_uploads` as its last step. Uploading then runs
as its own flow run, `upload_job` ("upload <job id>" in the UI), in a thread of the process
that rendered the clips, and the job is reported completed at once. Why this shape:

- A task submitted from `clip_video` would belong to the job: Prefect's thread-pool runner
  cancels futures still queued when the flow returns, and a failure there would be tied to the
  job's run. A separate flow run has its own state, logs, retries and artifact, and its
  failure is never the job's.
- A deployment run (`run_deployment(..., timeout=0)`) could start on another machine, but the
  files are on this one: uploads belong to the process that has them.
- The thread is not a daemon: Python waits for it before the process exits, so a worker's
  flow-run process stays until the files are up, while the job's state is already final on
  the server and its concurrency slot already free. A process must not leave its main code
  while the thread runs, though: once Python is shutting down it starts no new threads, which
  the upload's task runner needs ("can't register atexit after shutdown"). The CLI waits for
  its uploads before it returns (reelflow/cli/uploads.py).

Each file is a task run, retried with exponential backoff on transient errors only
(S3_RETRIES, S3_RETRY_DELAY_S; boto3 makes its own quick retries first). What happened to every
file is recorded in the manifest's `uploads` section (`s3_key`, `uploaded`, `error` per file),
written under the manifest's lock since a restyle may add a version meanwhile. `manifest.json`
goes last, and only after every other file landed, so an S3 reader that sees a manifest can
trust the files it lists. A markdown artifact shows the same table in the UI. Running
`upload_job` again (`python -m tasks.upload <job id>`, or the retention sweep, which retries
failed uploads and ones whose process died) sends only what is missing or changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import SettingsContext
from prefect.exceptions import MissingContextError
from prefect.futures import as_completed
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from reelflow.caching import retry_transient_only
from reelflow.jobs import EXPIRED_MARKER, job_dir
from reelflow.manifest import (
    MANIFEST,
    Manifest,
    UploadedFile,
    Uploads,
    now_iso,
    read_manifest,
    update_manifest,
)
from reelflow.settings import get_settings
from reelflow.storage import S3Storage, content_type, get_storage, job_prefix

_NOT_UPLOADED = {EXPIRED_MARKER}
# An upload in progress refreshes its record this often; one silent for STALE_AFTER_S died
# with its process (a killed worker) and is started again by the retention sweep.
HEARTBEAT_S = 30
STALE_AFTER_S = 4 * HEARTBEAT_S
_log = logging.getLogger(__name__)
_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


def job_files(folder: Path) -> list[Path]:
    """Every file of the job (clips, thumbnails, transcript, CSV, later edits), manifest last."""
    files = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name not in _NOT_UPLOADED
    ]
    return sorted(files, key=lambda p: p.name == MANIFEST)


def read_uploads(folder: Path) -> Uploads | None:
    """The manifest's `uploads` section: the bucket, a status and each file's outcome."""
    manifest = read_manifest(folder)
    return manifest.uploads if manifest else None


def start_uploads(job_id: str, folder: Path) -> threading.Thread | None:
    """Start uploading the job's files in the background; None when S3 is not configured.

    Never raises: a job whose clips exist is done, whatever happens to its uploads."""
    with _threads_lock:
        running = [t for t in _threads if t.name == f"upload-{job_id}" and t.is_alive()]
    if running:
        return running[0]  # one upload run per job at a time
    try:
        if not get_storage().remote:
            return None
        _write(folder, _pending_record(job_id, folder))
        settings = SettingsContext.get()  # a new thread starts without the caller's context
        thread = threading.Thread(
            target=_upload_in_background,
            args=(job_id, str(folder), settings),
            name=f"upload-{job_id}",
            daemon=False,
        )
        thread.start()
    except Exception as exc:
        _logger().warning("Could not start uploading job %s: %s", job_id, exc)
        return None
    with _threads_lock:
        _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
    _logger().info("uploading the job's files to S3 in the background (flow run 'upload %s')",
                   job_id)  # fmt: skip
    return thread


def wait_for_uploads(timeout_s: float | None = None) -> bool:
    """Wait for background uploads started by this process; True when none is left running."""
    with _threads_lock:
        threads = list(_threads)
    for thread in threads:
        thread.join(timeout_s)
    return not any(t.is_alive() for t in threads)


def _upload_in_background(job_id: str, folder: str, settings: SettingsContext | None) -> None:
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(Path(folder), stop), daemon=True).start()
    try:
        if settings is None:
            upload_job(job_id, folder, return_state=True)
        else:
            with SettingsContext(profile=settings.profile, settings=settings.settings):
                upload_job(job_id, folder, return_state=True)
    except Exception as exc:  # the flow run itself could not run (Prefect API gone...)
        _log.warning("Uploading job %s stopped: %s", job_id, exc)
        record = read_uploads(Path(folder)) or Uploads(job_id=job_id)
        error = f"{type(exc).__name__}: {exc}"[:300]
        _write(Path(folder), record.model_copy(update={"status": "failed", "error": error}))
    finally:
        stop.set()


def _heartbeat(folder: Path, stop: threading.Event) -> None:
    """Say the upload is alive, so the sweep restarts only uploads whose process is gone."""
    while not stop.wait(HEARTBEAT_S):
        try:
            update_manifest(folder, _touch)
        except OSError as exc:  # the job was deleted meanwhile
            _log.info("upload heartbeat stopped: %s", exc)
            return


def _touch(manifest: Manifest) -> Manifest:
    if manifest.uploads is None:
        return manifest
    return manifest.model_copy(
        update={"uploads": manifest.uploads.model_copy(update={"updated_at": now_iso()})}
    )


def _upload_run_name() -> str:
    from prefect.runtime import task_run

    return f"upload {Path(str(task_run.parameters.get('path', ''))).name}"


@task(name="upload-file", task_run_name=_upload_run_name, retry_condition_fn=retry_transient_only)
def upload_file(path: str, key: str) -> dict:
    """Put one file at `key`; raises StorageUnavailable (retried) or StorageRefused."""
    storage = get_storage()
    storage.put_file(Path(path), key)
    return {"s3_key": key, "size": Path(path).stat().st_size}


@flow(
    name="upload_job",
    flow_run_name="upload {job_id}",
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    description="Copy a finished job's files to S3; failures are recorded, never the job's.",
)
def upload_job(job_id: str, folder: str | None = None):
    """Upload what is missing or changed since the last run; record every file's outcome."""
    path = Path(folder) if folder else job_dir(job_id)
    storage = get_storage()
    if not isinstance(storage, S3Storage):
        return {"job_id": job_id, "skipped": "S3_BUCKET is not set"}
    if not path.is_dir():
        return Failed(message=f"The files of job {job_id} are gone (deleted or expired)")
    record = _fresh_record(job_id, path, storage, read_uploads(path))
    todo = [f for f in job_files(path) if not record.files[f.name].uploaded]
    record = record.model_copy(update={"status": "uploading"})
    _write(path, record)

    send = _file_task()
    manifest = [f for f in todo if f.name == MANIFEST]
    futures = {send.submit(str(f), record.files[f.name].s3_key): f
               for f in todo if f.name != MANIFEST}  # fmt: skip
    for future in as_completed(list(futures)):
        future.wait()  # sets the final state in memory; `state` alone may ask the API too early
        record = _noted(record, futures[future].name, future.state)
        _write(path, record)
    for f in manifest:
        if any(not e.uploaded for n, e in record.files.items() if n != MANIFEST):
            error = "Not uploaded: waits until every other file is up"
            record = _with_file(record, f.name, error=error)
            continue
        # The copy on S3 is the one that says it is uploaded; a failure below says otherwise.
        record = _with_file(record, f.name, uploaded=True, error=None, uploaded_at=now_iso())
        _write(path, record)
        state = send(str(f), record.files[f.name].s3_key, return_state=True)
        record = _noted(record, f.name, state)

    failed = {n: e for n, e in record.files.items() if not e.uploaded}
    record = record.model_copy(update={"status": "failed" if failed else "uploaded"})
    _write(path, record)
    _report(record, storage)
    if failed:
        first = next(iter(failed.values())).error
        return Failed(message=f"{len(failed)} of {len(record.files)} files not uploaded: {first}")
    return {"job_id": job_id, "uploaded": len(todo), "files": len(record.files)}


def _file_task():
    s = get_settings()
    return upload_file.with_options(
        retries=s.s3_retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=s.s3_retry_delay_s),
        retry_jitter_factor=0.5 if s.s3_retry_delay_s else None,
    )


def _pending_record(job_id: str, folder: Path) -> Uploads:
    record = read_uploads(folder) or Uploads(job_id=job_id)
    return record.model_copy(update={"status": "pending", "updated_at": now_iso()})


def _fresh_record(job_id: str, folder: Path, storage: S3Storage, old: Uploads | None) -> Uploads:
    """Every current file gets an entry; entries of files uploaded before are kept."""
    old_files = old.files if old is not None and old.bucket == storage.bucket else {}
    prefix = job_prefix(storage, job_id)
    files = {}
    for f in job_files(folder):
        entry = old_files.get(f.name) or UploadedFile(s3_key=prefix + f.name)
        version = _version(f)
        files[f.name] = UploadedFile(
            s3_key=prefix + f.name,
            uploaded=entry.uploaded and entry.version == version,
            error=None if entry.uploaded else entry.error,
            size=f.stat().st_size,
            version=version,
            content_type=content_type(f),
            uploaded_at=entry.uploaded_at,
        )
    return Uploads(job_id=job_id, bucket=storage.bucket, status="pending", files=files,
                   updated_at=now_iso())  # fmt: skip


def _version(f: Path) -> str:
    """What tells a changed file: size and mtime, but for the manifest its content less the
    upload record, which changes with every upload and is no reason to send it again."""
    if f.name != MANIFEST:
        stat = f.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    manifest = json.loads(f.read_text())
    manifest.pop("uploads", None)
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _with_file(record: Uploads, name: str, **changes) -> Uploads:
    files = {**record.files, name: record.files[name].model_copy(update=changes)}
    return record.model_copy(update={"files": files})


def _noted(record: Uploads, name: str, state) -> Uploads:
    if state.is_completed():
        return _with_file(record, name, uploaded=True, error=None, uploaded_at=now_iso())
    exc = state.result(raise_on_failure=False)
    reason = str(exc) if isinstance(exc, BaseException) else (state.message or state.name)
    return _with_file(record, name, uploaded=False, error=reason)


def _report(record: Uploads, storage: S3Storage) -> None:
    files = record.files
    done = sum(e.uploaded for e in files.values())
    lines = [
        f"### Uploads of job `{record.job_id}`: {done} of {len(files)} files in "
        f"`s3://{storage.bucket}`",
        "",
        "| file | key | size | uploaded | error |",
        "|---|---|---|---|---|",
    ]
    for name, e in files.items():
        error = (e.error or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | `{e.s3_key}` | {e.size:,} | "
                     f"{'yes' if e.uploaded else 'no'} | {error} |")  # fmt: skip
    create_markdown_artifact(
        "\n".join(lines),
        key=f"uploads-{record.job_id}"[:64],
        description=f"S3 uploads of job {record.job_id}",
    )
    logger = get_run_logger()
    if done == len(files):
        logger.info("%d files of job %s are on S3", done, record.job_id)
    else:
        logger.warning("%d of %d files of job %s are not on S3; the retention sweep retries",
                       len(files) - done, len(files), record.job_id)  # fmt: skip


def _write(folder: Path, record: Uploads) -> None:
    """Record the upload in the manifest (a job deleted meanwhile gets no new folder)."""
    stamped = record.model_copy(update={"updated_at": now_iso()})
    update_manifest(folder, lambda m: m.model_copy(update={"uploads": stamped}))


def _logger():
    try:
        return get_run_logger()
    except MissingContextError:
        return _log


def retry_failed_uploads(jobs_root: Path | None = None) -> int:
    """Start uploads again for local jobs whose last upload run failed or died with its
    process; how many were started.

    Runs from the retention sweep, so an S3 outage or a killed worker heals by itself."""
    if not get_storage().remote:
        return 0
    root = jobs_root or get_settings().jobs_dir
    started = 0
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        record = read_uploads(folder)
        if record and (record.status == "failed" or _abandoned(record)):
            started += start_uploads(record.job_id or folder.name, folder) is not None
    return started


def _abandoned(record: Uploads) -> bool:
    if record.status not in {"pending", "uploading"}:
        return False
    try:
        updated = datetime.fromisoformat(record.updated_at or "")
    except ValueError:
        return True
    return datetime.now(UTC) - updated > timedelta(seconds=STALE_AFTER_S)


if __name__ == "__main__":
    import sys

    # Each argument: a job id (under the data dir's jobs/), or a job folder (`--out DIR`).
    for job in sys.argv[1:]:
        folder = Path(job)
        if folder.is_dir() and (manifest := read_manifest(folder)) is not None:
            state = upload_job(manifest.job_id, str(folder.resolve()), return_state=True)
        else:
            state = upload_job(job, return_state=True)
        print(f"{job}: {state.name} {state.message or ''}".rstrip())
