"""Small HTTP servers on 127.0.0.1 for tests, each started and stopped by its test, and the
environment of a test stack (deployments.stack runs the stack itself)."""

from __future__ import annotations

from deployments.stack import free_port, loopback_env, running_stack
from testkit.loopback import static_server

__all__ = ["free_port", "needs_postgres", "running_stack", "stack_env", "static_server"]

stack_env = loopback_env


def needs_postgres() -> None:
    """Skip when this machine has no PostgreSQL server programs (CI installs Debian's)."""
    import pytest

    from deployments.postgres import PostgresUnavailable, binaries

    try:
        binaries()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
