"""A PostgreSQL cluster for the Prefect server, started with the stack: no Docker, no root.

`make up` with REELFLOW_DB=postgres (and no PREFECT_API_DATABASE_CONNECTION_URL of your own)
keeps a cluster in `<data dir>/postgres`, made on first use by `initdb`, listening on
127.0.0.1 only (no Unix socket), password-protected (scram-sha-256; the password is in
`<data dir>/postgres.password`, mode 0600). The stack runs `postgres` in the foreground as one
of its processes and stops it (fast shutdown) after the Prefect server.

The server programs come from, in this order: PG_BIN_DIR; `pg_ctl` on PATH; the newest
`/usr/lib/postgresql/<version>/bin` (Debian's and Ubuntu's `postgresql` package); the
`pgserver` package from PyPI (`uv pip install pgserver`), which ships them in its wheel.
PostgreSQL refuses to run as root: started by root, the cluster runs as the `postgres` system
user (the distribution package creates it), which must be able to reach the folder.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DATABASE = "prefect"
USER = "reelflow"
RUN_AS_WHEN_ROOT = "postgres"


class PostgresUnavailable(RuntimeError):
    """The cluster cannot be made or started here; the message says what to install."""


@dataclass
class PostgresCluster:
    folder: Path
    port: int

    @property
    def password_file(self) -> Path:
        return self.folder.with_name(self.folder.name + ".password")

    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+asyncpg://{USER}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def prepare(self) -> None:
        """initdb on first use (a minute's work at most); later starts reuse the cluster."""
        if (self.folder / "PG_VERSION").exists():
            return
        bin_dir = binaries()
        self.folder.mkdir(parents=True, exist_ok=True)
        account = _run_as()
        if account is not None:
            _reachable(self.folder, account)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.folder.chmod(0o700)
        password = secrets.token_hex(24)
        _write_private(self.password_file, password)
        pwfile = self.folder.with_name(self.folder.name + ".initdb")  # initdb's copy, gone after
        _write_private(pwfile, password, account)
        try:
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.folder), "-U", USER,
                 f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                 "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, text=True, timeout=300, **_as_user(account),
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise PostgresUnavailable(f"initdb failed: {exc.stderr.strip()[-500:]}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def command(self) -> tuple[list[str], dict]:
        """The postgres command line, and Popen's user arguments (root: the postgres user)."""
        args = [
            str(binaries() / "postgres"), "-D", str(self.folder), "-p", str(self.port),
            "-h", "127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200",
        ]  # fmt: skip
        return args, _as_user(_run_as())

    def wait_ready(self, timeout_s: float, alive=lambda: True) -> None:
        """Wait until the cluster takes connections; make the database the first time."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                asyncio.run(self._ensure_database())
                return
            except (OSError, ConnectionError) as exc:
                error = exc
            except Exception as exc:  # asyncpg: "the database system is starting up"
                if "starting up" not in str(exc):
                    raise PostgresUnavailable(f"PostgreSQL refused: {exc}") from exc
                error = exc
            if not alive():
                raise PostgresUnavailable("postgres exited; see its log")
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL did not start in {timeout_s:.0f} s: {error}")
            time.sleep(0.3)

    async def _ensure_database(self) -> None:
        import asyncpg

        password = self.password_file.read_text().strip()
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=password,
            database="postgres", timeout=5,
        )  # fmt: skip
        try:
            found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not found:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()


def binaries() -> Path:
    """The folder with initdb and postgres; PostgresUnavailable naming what to install."""
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]))
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).resolve().parent)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    candidates += versions
    try:
        import pgserver  # type: ignore[import-not-found]

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    raise PostgresUnavailable(
        "REELFLOW_DB=postgres needs PostgreSQL's server programs (initdb, postgres): "
        "`apt-get install postgresql`, or `uv pip install pgserver`, or set PG_BIN_DIR; or set "
        "PREFECT_API_DATABASE_CONNECTION_URL to a PostgreSQL server you run"
    )


def _version(path: Path) -> float:
    try:
        return float(path.parent.name)
    except ValueError:
        return 0.0


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError as exc:
        raise PostgresUnavailable(
            "PostgreSQL does not run as root, and there is no 'postgres' user to run it as: "
            "start reelflow as a normal user"
        ) from exc


def _as_user(account: pwd.struct_passwd | None) -> dict:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _reachable(folder: Path, account: pwd.struct_passwd) -> None:
    """Every folder above the cluster must let its user through."""
    for parent in folder.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001 and parent.stat().st_uid != account.pw_uid:
            raise PostgresUnavailable(
                f"The 'postgres' user cannot reach {folder}: {parent} is closed to other users "
                "(chmod o+x it, or put REELFLOW_DATA_DIR elsewhere)"
            )


def _write_private(path: Path, text: str, account: pwd.struct_passwd | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)
