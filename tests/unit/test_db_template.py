"""The kept local Prefect server's database template (reelflow/prefect_db.py): a fresh
Prefect home starts from a migrated, block-registered copy; a template that is damaged or of
another install is ignored; a database URL of the user's own is left alone.

Real servers, each started as a command starts it (`acquire`), in a Prefect home and a cache
folder (XDG_CACHE_HOME) of the test's own; every server a test starts, the test stops."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reelflow.cli.local_server import stop
from reelflow.prefect_db import Install, check, migration_head

_HOLDER = """
import sys
from reelflow.cli.local_server import acquire
lease = acquire(60)
lease.wait_ready()
print(lease.api_url, flush=True)
"""


def _env(tmp_path: Path, cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PREFECT_") or k == "PREFECT_SERVER_ANALYTICS_ENABLED"}  # fmt: skip
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), XDG_CACHE_HOME=str(cache))
    # Prefect says in its log when it skips block registration because its memo matches.
    env.update(PREFECT_DEBUG_MODE="1", PREFECT_LOGGING_SERVER_LEVEL="DEBUG")
    env.update(extra)
    return env


def _start(env: dict[str, str]) -> str:
    """A kept server started as a command starts it; its API URL once it answers."""
    held = subprocess.run([sys.executable, "-c", _HOLDER], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert held.returncode == 0, held.stderr[-3000:]
    url = held.stdout.strip()
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    return url


def _start_and_stop(env: dict[str, str]) -> str:
    """Start a kept server as a command does, stop it; its log."""
    try:
        _start(env)
        return _log(env)
    finally:
        stop(Path(env["PREFECT_HOME"]) / "reelflow-server")


def _log(env: dict[str, str]) -> str:
    return (Path(env["PREFECT_HOME"]) / "reelflow-server" / "server.log").read_text()


def _revision(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


@pytest.fixture(scope="module")
def prefect_head() -> str:
    """The head revision as alembic itself finds it from Prefect's migration scripts."""
    from alembic.script import ScriptDirectory
    from prefect.server.database import provide_database_interface
    from prefect.server.database.alembic_commands import alembic_config

    config = alembic_config()
    config.set_main_option("version_locations",
                           str(provide_database_interface().orm.versions_dir))  # fmt: skip
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return head


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The template `make sync` prepares, in a cache folder of this module's own."""
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    made = subprocess.run([sys.executable, "-m", "reelflow.prefect_db"], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    (found,) = (cache / "reelflow" / "prefect-db").glob("prefect-*.db")
    assert f"saved as {found}" in made.stdout
    return found


def _cache_with(tmp_path: Path, template: Path) -> Path:
    """A cache folder holding a copy of the template, for a test to change."""
    cache = tmp_path / "cache"
    folder = cache / "reelflow" / "prefect-db"
    folder.mkdir(parents=True)
    shutil.copy2(template, folder / template.name)
    return cache


def test_fresh_home_starts_from_the_template(tmp_path, template, prefect_head):
    env = _env(tmp_path, _cache_with(tmp_path, template))
    home = Path(env["PREFECT_HOME"])
    log = _start_and_stop(env)
    assert "reelflow: database copied from the template" in log, log[-3000:]
    assert "Skipping block loading due to matching hash" in log, "blocks registered again"
    assert _revision(home / "prefect.db") == [prefect_head]
    with sqlite3.connect(home / "prefect.db") as conn:
        assert conn.execute("SELECT count(*) FROM block_type").fetchone()[0] > 0


def test_damaged_template_is_ignored_and_made_again(tmp_path, template, prefect_head):
    """Garbage where this install's template should be, and a template of another Prefect
    version: the server migrates its new database as Prefect does, starts, and saves a good
    template in place of the damaged one."""
    cache = _cache_with(tmp_path, template)
    ours = cache / "reelflow" / "prefect-db" / template.name
    other = ours.with_name("prefect-2.99.0-0123456789ab-0000000000000000.db")
    ours.rename(other)
    ours.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    env = _env(tmp_path, cache)
    home = Path(env["PREFECT_HOME"])
    log = _start_and_stop(env)
    assert "reelflow: database migrated (template: " in log, log[-3000:]
    assert "template: none in the cache" not in log
    assert f"saved as {ours}" in log
    assert _revision(home / "prefect.db") == [prefect_head]
    assert _revision(ours) == [prefect_head]
    assert other.exists(), "another install's template was deleted while still recent"


def test_template_checks(tmp_path, template, prefect_head):
    """What a copy of the template must be before it is put in place."""
    from prefect.server.database import provide_database_interface

    head, revisions = migration_head(Path(provide_database_interface().orm.versions_dir))
    assert head == prefect_head and head in revisions and len(revisions) > 100
    install = Install("x", head, revisions, "registry", "memo")
    copy = tmp_path / "copy.db"

    def changed(*sql: str) -> str | None:
        shutil.copyfile(template, copy)
        with sqlite3.connect(copy) as conn:
            for statement in sql:
                conn.execute(statement)
        return check(copy, install)

    assert changed() is None
    older = next(iter(revisions - {head}))
    assert "at revision" in changed(f"UPDATE alembic_version SET version_num = '{older}'")
    assert "at revision" in changed("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert "has rows in configuration" in changed(
        "INSERT INTO configuration (key, value) VALUES ('ENCRYPTION_KEY', '{}')"
    )
    assert "no block types" in changed("PRAGMA foreign_keys = OFF", "DELETE FROM block_type")
    copy.write_bytes(template.read_bytes()[:4096])
    assert check(copy, install) is not None
    copy.write_text("not a database")
    assert "unreadable" in check(copy, install)


def test_database_url_of_its_own_is_left_alone(tmp_path, template):
    """PREFECT_API_DATABASE_CONNECTION_URL names another file: no template is copied there or
    into the home, and none is made from it."""
    cache = _cache_with(tmp_path, template)
    own = tmp_path / "own.db"
    shutil.copyfile(template, own)  # migrated already: Prefect's start-up has little to do
    before = sorted(p.name for p in (cache / "reelflow" / "prefect-db").iterdir())
    env = _env(tmp_path, cache, PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{own}")
    home = Path(env["PREFECT_HOME"])
    log = _start_and_stop(env)
    assert "reelflow: database URL of its own: left alone" in log, log[-3000:]
    assert not (home / "prefect.db").exists()
    assert sorted(p.name for p in (cache / "reelflow" / "prefect-db").iterdir()) == before


_SAVE_OR_COPY = """
import os, sys
from pathlib import Path
from reelflow.prefect_db import Install, copy_template, save_template
head, template, source, out, job = sys.argv[1:]
install = Install("x", head, frozenset([head]), "registry", "memo")
assert install.template == Path(template)
for i in range(15):
    if job == "save":
        save_template(Path(source), install)
    else:
        target = Path(out) / f"{os.getpid()}-{i}.db"
        problem = copy_template(install, target)
        assert problem is None and target.exists(), problem
"""


def test_commands_at_once_leave_a_whole_template(tmp_path, template, prefect_head, monkeypatch):
    """Three processes save the template again and again while three copy it: every copy is
    a whole, good database (a save writes a temporary file and renames it into place)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    install = Install("x", prefect_head, frozenset([prefect_head]), "registry", "memo")
    target = install.template
    target.parent.mkdir(parents=True)
    shutil.copyfile(template, target)
    out = tmp_path / "copies"
    out.mkdir()
    args = [prefect_head, str(target), str(template), str(out)]
    procs = [subprocess.Popen([sys.executable, "-c", _SAVE_OR_COPY, *args, job])
             for job in ["save", "copy"] * 3]  # fmt: skip
    assert [p.wait(timeout=300) for p in procs] == [0] * 6
    copies = list(out.glob("*.db"))
    assert len(copies) == 45
    assert all(check(c, install) is None for c in copies)
    assert check(target, install) is None
    assert [p.name for p in target.parent.iterdir()] == [target.name], "temporary files left"


def test_the_stacks_server_starts_from_the_template(tmp_path, template, prefect_head):
    """`make up`'s Prefect server (deployments.prefect_server) in a new home: the same copy."""
    from deployments.stack import Stack, free_port

    env = _env(tmp_path, _cache_with(tmp_path, template))
    stack = Stack(free_port(), free_port(), env=env, log_dir=tmp_path / "logs")
    try:
        stack.start_prefect(timeout_s=120)
        assert httpx.get(f"{stack.prefect_url}/health", timeout=10).status_code == 200
    finally:
        stack.stop()
    log = (tmp_path / "logs" / "prefect.log").read_text()
    assert "reelflow: database copied from the template" in log, log[-3000:]
    assert "Skipping block loading due to matching hash" in log, "blocks registered again"
    assert _revision(Path(env["PREFECT_HOME"]) / "prefect.db") == [prefect_head]
