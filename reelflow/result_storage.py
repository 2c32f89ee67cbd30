"""Prefect's result storage on S3, so workers on several machines share task results and
cache records (S3_PREFECT_RESULTS with S3_BUCKET).

The block holds where, never who: its `AwsCredentials` has no keys, so every process that
loads it gets boto3's default chain (AWS_ACCESS_KEY_ID..., a profile, an instance role) and no
secret is stored in Prefect.
"""

from __future__ import annotations

import logging

from reelflow.settings import Settings, get_settings

BLOCK_NAME = "reelflow-results"
BLOCK_SLUG = f"s3-bucket/{BLOCK_NAME}"


def result_folder(settings: Settings) -> str:
    """<S3_PREFIX>/prefect-results, the prefix normalised as `S3Storage.key` does."""
    return "/".join(p.strip("/") for p in (settings.s3_prefix, "prefect-results") if p.strip("/"))


def ensure_result_storage(settings: Settings | None = None) -> str | None:
    """Save (or update) the `reelflow-results` S3Bucket block and return its slug for
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK; None when results stay on local disk."""
    settings = settings or get_settings()
    if not settings.s3_prefect_results:
        return None
    if not settings.s3_bucket:
        logging.getLogger(__name__).warning(
            "S3_PREFECT_RESULTS is set but S3_BUCKET is not: Prefect results stay on local disk"
        )
        return None
    from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

    timeout = settings.s3_timeout_s
    config: dict = {"connect_timeout": timeout, "read_timeout": timeout}
    if settings.s3_endpoint_url:
        # Like reelflow's own client (storage.s3_client): other stores want path-style
        # addressing and some reject the CRC checksums boto3 adds by default.
        config |= {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    credentials = AwsCredentials(
        region_name=settings.s3_region,
        aws_client_parameters=AwsClientParameters(
            endpoint_url=settings.s3_endpoint_url, config=config
        ),
    )
    bucket = S3Bucket(
        bucket_name=settings.s3_bucket,
        bucket_folder=result_folder(settings),
        credentials=credentials,
    )
    bucket.save(BLOCK_NAME, overwrite=True)
    return BLOCK_SLUG
