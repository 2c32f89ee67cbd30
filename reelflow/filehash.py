"""Streamed content hashes of files, the key of every cached stage."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

_HASH_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Streamed content hash, memoised by (path, size, mtime) so stages don't re-read a video."""
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
