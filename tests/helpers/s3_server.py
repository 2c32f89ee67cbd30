"""A real S3-compatible server on 127.0.0.1 for tests (moto's standalone server, which speaks
the S3 wire protocol), and the environment that points reelflow and boto3 at it."""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from pathlib import Path

from deployments.stack import free_port

# Distinctive fake credentials: tests assert they never show up in logs or job files.
ACCESS_KEY = "TESTKEYID-4c1"
SECRET_KEY = "TESTSECRET-9f2"
PREFIX = "rf-test"


@contextmanager
def moto_server(port: int | None = None):
    """Start moto's S3 server on 127.0.0.1 (a free port unless given); yields its URL.

    Buckets live in moto's in-process backend, so they survive a stop and a restart on the
    same port: that is how a test takes S3 "down" and brings it back."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs each request line, presigned query strings (key id) included.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_env(endpoint: str, bucket: str, **settings: str) -> dict[str, str]:
    """reelflow's S3 settings for `endpoint`/`bucket` with the fake credentials, and no
    profile, config file or instance metadata of the machine running the tests."""
    return {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "us-east-1",
        "S3_PREFIX": PREFIX,
        "S3_RETRIES": "1",
        "S3_RETRY_DELAY_S": "0",
        "S3_TIMEOUT_S": "10",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        **settings,
    }


def use_s3(monkeypatch, endpoint: str, bucket: str, **settings: str) -> None:
    """Point reelflow at `endpoint`/`bucket` with the fake credentials, and nothing else:
    no profile, config file or instance metadata of the machine running the tests."""
    from reelflow.settings import get_settings
    from reelflow.storage import s3_client

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_env(endpoint, bucket, **settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    s3_client.cache_clear()


def make_bucket(endpoint: str, bucket: str):
    """A plain boto3 client for the test's own checks; creates the bucket."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=bucket)
    return client


def sha256(data: bytes | Path) -> str:
    return hashlib.sha256(data.read_bytes() if isinstance(data, Path) else data).hexdigest()


def object_hashes(client, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> sha256 of every object under prefix."""
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {
        o["Key"]: sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in answer.get("Contents", [])
    }


def stored_job(client, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> digest of a job's objects on S3, comparable with `local_job`."""
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {
        o["Key"]: _digest(o["Key"], client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in answer.get("Contents", [])
    }


def local_job(folder: Path, prefix: str) -> dict[str, str]:
    """Key -> digest of what a job folder should have put on S3 (dot files are locks)."""
    return {
        f"{prefix}{p.name}": _digest(p.name, p.read_bytes())
        for p in folder.iterdir()
        if not p.name.startswith(".")
    }


def _digest(name: str, data: bytes) -> str:
    """The manifest's upload record keeps changing after its upload; the rest must match."""
    if name.endswith("manifest.json"):
        manifest = json.loads(data)
        manifest.pop("uploads", None)
        data = json.dumps(manifest, sort_keys=True).encode()
    return sha256(data)
