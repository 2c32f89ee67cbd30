"""Per-job Gemini keys as Prefect Secret blocks: the run gets the block's name, never the key.

The API saves the key under a random name before it starts the run; the flow's end hooks and
the retention sweep delete it. Prefect stores block values encrypted, and shows them masked.
"""

from __future__ import annotations

import uuid

KEY_BLOCK_PREFIX = "reelflow-gemini-key-"


def new_key_block_name() -> str:
    return f"{KEY_BLOCK_PREFIX}{uuid.uuid4().hex}"


async def save_key_block(key: str) -> str:
    from prefect.blocks.system import Secret

    name = new_key_block_name()
    await Secret(value=key).asave(name)
    return name


async def delete_key_block(name: str | None) -> int:
    """Delete the block if it exists; 1 when something was deleted."""
    if not name or not name.startswith(KEY_BLOCK_PREFIX):
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
        names.update(d.name for d in docs if (d.name or "").startswith(KEY_BLOCK_PREFIX))
        if len(docs) < page:
            return names
        offset += page


def delete_key_block_hook(flow, flow_run, state) -> None:
    """Flow-run end hook (completed, failed, cancelled, crashed): the key goes with the run.
    The runner calls cancellation hooks with keywords, so the names are Prefect's."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    request = (flow_run.parameters or {}).get("request") or {}
    if isinstance(request, dict):
        run_coro_as_sync(delete_key_block(request.get("gemini_key_block")))
