"""A new Prefect server's database, copied from a template instead of built from nothing.

In a fresh PREFECT_HOME a server (the CLI's kept one, reelflow/cli/local_server.py, and the
one `make up` starts, deployments/prefect_server.py) finds no database, and Prefect's
start-up runs all its alembic migrations (over a hundred for SQLite) and registers its block
types: about 12 s of CPU, most of a cold command's start. Every home gets the same database
from one Prefect install, so it is built once and kept in the user's cache folder
($XDG_CACHE_HOME, else ~/.cache, then reelflow/prefect-db/): `make sync` prepares it
(`python -m reelflow.prefect_db`), and a server that had to build its database without
one saves it there. A fresh home's server copies it in before Prefect's start-up, which then
finds the database at the head revision (nothing to migrate) and, from the memo entry written
for the home as Prefect writes it, its block types registered (nothing to register).

The template's name holds what it must match: the Prefect version, this install's SQLite
migrations and its block registry (Prefect's own hash of the block classes and collection data
it registers), so another install's template is never picked. A copy is checked before it is
put in place: SQLite's quick_check, this install's head revision, block types registered, and
no rows that belong to one home (the configuration table holds the key block documents are
encrypted with). Anything wrong, and the server builds its database as Prefect always did.
Templates are written to a temporary file and renamed into place: commands at once cannot leave
a half-written one. A database URL other than Prefect's default SQLite file in PREFECT_HOME (a
PostgreSQL server, another file), or a home that has a database already, is left alone.

The server's part runs with Prefect imported and its app created, before the app starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KEEP_UNUSED_S = 30 * 86400  # templates of other installs are deleted after a month unused
_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*['\"]([\w-]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", re.M)
# Rows that belong to one home and must not be copied to another: the configuration table
# holds the block documents' encryption key once one is made.
_PER_HOME_TABLES = ("configuration", "block_document")


def template_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "reelflow" / "prefect-db"


@dataclass(frozen=True)
class Install:
    """What a template must match: this Prefect install's migrations and block registry."""

    version: str
    head: str  # the SQLite migrations' head revision
    revisions: frozenset[str]
    registry_hash: str  # Prefect's hash of its block registry and collection data
    memo_hash: str  # the same with the database URL: Prefect's memo entry for this home

    @property
    def template(self) -> Path:
        key = json.dumps([self.version, self.head, sorted(self.revisions), self.registry_hash])
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return template_dir() / f"prefect-{self.version}-{self.head}-{digest}.db"


async def prepare_database() -> str:
    """Before the kept server's app starts: give a fresh home its database from the template,
    or build it here (Prefect's own migrations and block registration) and save it as the
    template. What happened, in a few words; never raises (Prefect's start-up then does what
    it always did)."""
    try:
        return await _prepare()
    except Exception as exc:  # a template is only ever a shortcut
        return f"no database template ({type(exc).__name__}: {exc})"


async def _prepare() -> str:
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    db = settings.server.database
    path = Path(settings.home) / "prefect.db"
    if db.connection_url.get_secret_value() != f"sqlite+aiosqlite:///{path}":
        return "database URL of its own: left alone"
    if any(Path(f"{path}{end}").exists() for end in ("", "-wal", "-shm", "-journal")):
        return f"{path} exists: used as it is"
    if not (db.migrate_on_start and settings.server.register_blocks_on_start):
        return "migrations or block registration at start-up are off: left alone"
    install = await _this_install(db.connection_url.get_secret_value())
    memo = settings.server.memo_store_path if settings.server.memoize_block_auto_registration \
        else None  # fmt: skip
    problem = "none in the cache"
    if install.template.exists():
        problem = copy_template(install, path)
        if problem is None:
            _write_memo(memo, install)
            return f"database copied from the template {install.template}"
    await _build(path)
    _write_memo(memo, install)
    try:
        save_template(path, install)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        return f"database migrated (template: {problem}); not saved as one: {exc}"
    return f"database migrated (template: {problem}); saved as {install.template}"


async def _this_install(url: str) -> Install:
    """Prefect's block registry as its start-up hashes it (collections loaded), and its
    migrations' revisions."""
    from hashlib import sha256

    import prefect
    import prefect.plugins
    from prefect.blocks.core import Block
    from prefect.server.database import provide_database_interface
    from prefect.server.models.block_registration import _load_collection_blocks_data
    from prefect.utilities.dispatch import get_registry_for_type
    from prefect.utilities.hashing import hash_objects

    prefect.plugins.load_prefect_collections()
    registry = get_registry_for_type(Block)
    collections = await _load_collection_blocks_data()
    registry_hash = hash_objects(registry, collections, hash_algo=sha256)
    memo_hash = hash_objects(registry, collections, url, hash_algo=sha256)
    if registry_hash is None or memo_hash is None:
        raise RuntimeError("Prefect's block registry could not be hashed")
    head, revisions = migration_head(Path(provide_database_interface().orm.versions_dir))
    return Install(prefect.__version__, head, revisions, registry_hash, memo_hash)


def migration_head(folder: Path) -> tuple[str, frozenset[str]]:
    """The head revision of the alembic migrations in `folder`, and all their revisions."""
    revisions, downs = set(), set()
    for script in folder.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        if found := _REVISION.search(text):
            revisions.add(found.group(1))
        if found := _DOWN.search(text):
            downs.update(re.findall(r"['\"]([\w-]+)['\"]", found.group(1)))
    heads = revisions - downs
    if len(heads) != 1:
        raise RuntimeError(f"{len(heads)} migration heads in {folder}")
    return heads.pop(), frozenset(revisions)


async def _build(path: Path) -> None:
    """What Prefect's start-up does to a new database (run_migrations, add_block_types)."""
    from prefect.server.database import provide_database_interface
    from prefect.server.models.block_registration import run_block_auto_registration

    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)


def check(path: Path, install: Install) -> str | None:
    """What is wrong with the database at `path` as a copy of the template, or None."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as db:  # fmt: skip
            if (result := db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                return f"damaged ({result})"
            revisions = [row[0] for row in db.execute("SELECT version_num FROM alembic_version")]
            if revisions != [install.head]:
                return f"at revision {revisions}, not {install.head}"
            if not db.execute("SELECT count(*) FROM block_type").fetchone()[0]:
                return "no block types registered"
            for table in _PER_HOME_TABLES:
                if db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
                    return f"has rows in {table}"
    except sqlite3.Error as exc:
        return f"unreadable ({exc})"
    return None


def copy_template(install: Install, path: Path) -> str | None:
    """The template copied to `path` once the copy checks out; else what is wrong with it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(install.template, tmp)
        if problem := check(tmp, install):
            return problem
        os.replace(tmp, path)
    except OSError as exc:
        return f"not copied ({exc})"
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        os.utime(install.template)  # in use: not pruned
    return None


def _write_memo(memo: Path | None, install: Install) -> None:
    """Prefect's memo entry for this home's block registration (as its start-up writes it),
    so that it sees the block types registered and does not register them again."""
    if memo is None:
        return
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
    tmp.write_text(f'block_auto_registration = "{install.memo_hash}"\n', encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, memo)


def save_template(path: Path, install: Install) -> None:
    """A consistent copy of the fresh database at `path` (SQLite's backup, in rollback-journal
    mode: one file), checked, then renamed into place as the template."""
    folder = install.template.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{install.template.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        with contextlib.closing(sqlite3.connect(path)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:  # fmt: skip
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        if problem := check(tmp, install):
            raise RuntimeError(f"the new database is {problem}")
        os.replace(tmp, install.template)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(folder, keep=install.template)


def _prune(folder: Path, keep: Path) -> None:
    """Templates unused for a month (other Prefect installs), and leftovers of crashed saves."""
    now = time.time()
    for old in folder.glob("*"):
        with contextlib.suppress(OSError):
            age = now - old.stat().st_mtime
            if old != keep and (age > KEEP_UNUSED_S or (old.suffix == ".tmp" and age > 86400)):
                old.unlink()


def main() -> int:
    """`make sync`'s step: the template for this install, made in a temporary Prefect home
    with Prefect's defaults (no settings of the user's, so it is the one a home gets)."""
    with tempfile.TemporaryDirectory(prefix="reelflow-prefect-db-") as tmp:
        for name in [n for n in os.environ if n.startswith("PREFECT_")]:
            del os.environ[name]
        os.environ.update(PREFECT_HOME=str(Path(tmp) / "prefect"), PREFECT_UI_ENABLED="0",
                          PREFECT__SERVER_EPHEMERAL="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                          DO_NOT_TRACK="1")  # fmt: skip
        os.chdir(tmp)  # no prefect.toml, .env or pyproject.toml settings of a project
        from prefect.server.api.server import create_app

        create_app()  # the block classes the server's app imports, as a server has them
        said = asyncio.run(prepare_and_close())
    print(f"Prefect database template: {said}")
    return 0


async def prepare_and_close() -> str:
    """`prepare_database` in a process whose server starts after this event loop ends: the
    engine made on this loop is closed with it."""
    from prefect.server.database import provide_database_interface

    try:
        return await prepare_database()
    finally:
        await (await provide_database_interface().engine()).dispose()


if __name__ == "__main__":
    sys.exit(main())
