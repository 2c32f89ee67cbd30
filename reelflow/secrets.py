"""Per-job API keys (Gemini, ElevenLabs) as Prefect Secret blocks: the run gets the block's
name, never the key.

The API saves a key (Gemini's for a job, Upload-Post's for a post) under a random name before
it starts the run; the flow's end hooks and the retention sweep delete it. Prefect stores block
values encrypted, and shows them masked. Only blocks named with one of our prefixes are ever
deleted, so a flow parameter can never name an operator's own block for deletion.
"""

from __future__ import annotations

import uuid

from pydantic import SecretStr

KEY_BLOCK_PREFIX = "reelflow-gemini-key-"
ELEVENLABS_BLOCK_PREFIX = "reelflow-elevenlabs-key-"
POST_KEY_BLOCK_PREFIX = "reelflow-upload-post-key-"
_PREFIXES = (KEY_BLOCK_PREFIX, ELEVENLABS_BLOCK_PREFIX, POST_KEY_BLOCK_PREFIX)
# Request fields that may name a key block; the end hook deletes each.
KEY_BLOCK_FIELDS = ("gemini_key_block", "elevenlabs_key_block", "key_block")


def new_key_block_name(prefix: str = KEY_BLOCK_PREFIX) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


async def save_key_block(key: str, prefix: str = KEY_BLOCK_PREFIX) -> str:
    from prefect.blocks.system import Secret

    name = new_key_block_name(prefix)
    await Secret(value=key).asave(name)
    return name


def load_secret_block(name: str) -> str | None:
    """The value of a Secret block; None when there is no such block."""
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(name).get() or "")
    except ValueError:  # Prefect's "Unable to find block document named ..."
        return None


def secret_key(
    key_block: str | None, fallback: SecretStr | None, error: type[Exception], no_key: str
) -> str:
    """The key in the run's Secret block when one is named, else the operator's setting;
    `error(no_key)` when there is none (or the block is gone)."""
    if key_block:
        value = load_secret_block(key_block)
        if value is None:
            raise error(f"{no_key} (the job's key block is gone)")
    else:
        value = fallback.get_secret_value() if fallback else ""
    if not value.strip():
        raise error(no_key)
    return value.strip()


async def delete_key_block(name: str | None) -> int:
    """Delete the block if it exists; 1 when something was deleted."""
    if not name or not name.startswith(_PREFIXES):
        return 0
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            await client.delete_block_document(
                (await client.read_block_document_by_name(name, block_type_slug="secret")).id
            )
        except ObjectNotFound:
            return 0
    return 1


async def key_block_names(client, page: int = 200) -> set[str]:
    """The names of every per-job key block there is, in a few calls: the retention sweep
    checks runs against this set instead of asking the server about each run's block."""
    from prefect.exceptions import ObjectNotFound

    names: set[str] = set()
    offset = 0
    while True:
        try:
            docs = await client.read_block_documents_by_type(
                "secret", offset=offset, limit=page, include_secrets=False
            )
        except ObjectNotFound:  # no Secret block was ever saved on this server
            return names
        names.update(d.name for d in docs if (d.name or "").startswith(_PREFIXES))
        if len(docs) < page:
            return names
        offset += page


def delete_key_block_hook(flow, flow_run, state) -> None:
    """Flow-run end hook (completed, failed, cancelled, crashed): the key goes with the run.
    The runner calls cancellation hooks with keywords, so the names are Prefect's."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    request = (flow_run.parameters or {}).get("request") or {}
    if isinstance(request, dict):
        for field in KEY_BLOCK_FIELDS:
            run_coro_as_sync(delete_key_block(request.get(field)))
