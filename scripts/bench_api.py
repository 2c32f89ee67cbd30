"""`make bench`, API part: POST /api/process latency under 50 concurrent submitters, and the
API's peak memory while a 2 GB upload streams in. Everything runs on 127.0.0.1.

The worker is started only to register the deployment and then stopped, so the submitted
jobs stay queued and no clip work competes with the API for the CPU.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBMITTERS = 50
REQUESTS_EACH = 4
UPLOAD_BYTES = 2 * 1024**3
CHUNK = 1024 * 1024


def main() -> int:
    from deployments.stack import loopback_env, running_stack

    home = Path(tempfile.mkdtemp(prefix="reelflow-bench-api-"))
    # Jobs point at a closed port of 127.0.0.1: the worker is stopped before any runs, and the
    # API's URL check must not send even a DNS query off this machine.
    env = loopback_env(home, 5, MAX_FILE_SIZE_MB="2100")
    try:
        with running_stack(home, env) as stack:
            stack.stop_process("worker")
            asyncio.run(_latency(stack.api_url))
            if "--no-upload" not in sys.argv:
                _upload_memory(stack)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


async def _latency(api: str) -> None:
    body = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}
    headers = {"X-Gemini-Key": "bench-key"}
    times: list[float] = []
    limits = httpx.Limits(max_connections=SUBMITTERS)
    async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:

        async def submitter() -> None:
            for _ in range(REQUESTS_EACH):
                began = time.perf_counter()
                r = await client.post("/api/process", json=body, headers=headers)
                times.append(time.perf_counter() - began)
                r.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
        wall = time.perf_counter() - began
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"POST /api/process, {SUBMITTERS} concurrent submitters, {len(times)} requests: "
          f"p50 {1000 * statistics.median(times):.0f} ms, p99 {1000 * p99:.0f} ms, "
          f"{len(times) / wall:.0f} req/s")  # fmt: skip


def _upload_memory(stack) -> None:
    pid = stack.processes["api"].pid
    before = _rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    r = httpx.post(f"{stack.api_url}/api/process", content=_form(), timeout=600, headers={
        "X-Gemini-Key": "bench-key", "Content-Type": "multipart/form-data; boundary=benchb",
        "Content-Length": str(_form_length())})  # fmt: skip
    elapsed = time.perf_counter() - began
    done.set()
    sampler.join()
    print(f"2 GB upload: HTTP {r.status_code} in {elapsed:.1f} s "
          f"({UPLOAD_BYTES / 1024**2 / elapsed:.0f} MB/s); API memory {before:.0f} MB before, "
          f"peak {peak[0]:.0f} MB, growth {peak[0] - before:.0f} MB (target < 50 MB)")  # fmt: skip


_HEAD = (b'--benchb\r\nContent-Disposition: form-data; name="provider"\r\n\r\nlocal\r\n'
         b'--benchb\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
         b"Content-Type: video/mp4\r\n\r\n")  # fmt: skip
_TAIL = b"\r\n--benchb--\r\n"


def _form_length() -> int:
    return len(_HEAD) + UPLOAD_BYTES + len(_TAIL)


def _form():
    yield _HEAD
    block = os.urandom(CHUNK)
    for _ in range(UPLOAD_BYTES // CHUNK):
        yield block
    yield _TAIL


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    sys.exit(main())
