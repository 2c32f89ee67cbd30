"""S3 uploads that a command's run started end before the command does.

The flows upload in a background thread (tasks/upload.py), so a job is done as soon as its
clips exist. A command that returned then would exit while the thread runs, and Python starts
no new threads once it is shutting down: every file failed with "can't register atexit after
shutdown" and nothing reached the bucket. So the command waits and says how it went; Ctrl-C
hands the rest over: the manifest's `uploads` records what is not on S3 yet, and
`python -m tasks.upload <folder>` sends it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def finish_uploads(folder: Path) -> None:
    """Wait for the uploads of the job in `folder` (none without S3_BUCKET) and report them."""
    if "tasks.upload" not in sys.modules:  # no flow ran here, so no upload either
        return
    from tasks.upload import read_uploads, wait_for_uploads

    record = read_uploads(folder) if folder.is_dir() else None
    if record is None:
        return
    print(f"reelflow: uploading the job's files to s3://{record.bucket} ...", file=sys.stderr)
    try:
        while not wait_for_uploads(0.5):  # short joins: Ctrl-C gets through
            pass
    except KeyboardInterrupt:
        print(f"reelflow: upload stopped; the files not on S3 yet are listed under `uploads` "
              f"in {folder / 'manifest.json'}; `python -m tasks.upload {folder}` sends them",
              file=sys.stderr)  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # the upload thread is not a daemon: a plain exit would wait for it
    print(upload_summary(read_uploads(folder), folder), file=sys.stderr)


def upload_summary(record, folder: Path) -> str:
    if record is None or not record.files:
        error = record.error if record else "no upload record"
        return f"reelflow: warning: nothing was uploaded to S3: {error}"
    files = record.files
    done = [e for e in files.values() if e.uploaded]
    where = f"s3://{record.bucket}/{next(iter(files.values())).s3_key.rsplit('/', 1)[0]}/"
    if len(done) == len(files):
        return f"reelflow: {len(files)} files uploaded to {where}"
    first = next(e.error for e in files.values() if not e.uploaded)
    return (
        f"reelflow: warning: {len(files) - len(done)} of {len(files)} files not uploaded to "
        f"{where} ({first}); `python -m tasks.upload {folder}` tries again"
    )
