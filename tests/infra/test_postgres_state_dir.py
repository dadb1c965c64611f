"""The embedded Postgres starts from a state dir inside a folder only its owner may enter (root's 0700 home).

As root, Postgres runs as user `postgres` (it refuses to run as root), which cannot enter such a folder:
its data is then kept under /var/lib/vigil and the state dir links to it. As another user it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from kernel.settings import StackSettings
from infra.stack.parts import RELOCATED_ROOT, Postgres
from infra.stack.stack import Stack, remove_state
from tests.harness import free_port, start_test_stack, sweep_abandoned_stacks

pytestmark = pytest.mark.integration

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def closed_home(tmp_path: Path) -> Path:
    """A folder only its owner may enter, as /root is."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    return home


def postgres_only(settings: StackSettings) -> Stack:
    stack = Stack(settings)
    stack.parts = [Postgres(settings)]
    return stack


def dsn(settings: StackSettings) -> str:
    return f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/vigil"


def test_postgres_starts_and_keeps_its_data_under_a_closed_folder(closed_home):
    settings = StackSettings(state_dir=closed_home / "vigil" / ".vigil", postgres_port=free_port(), durable=False)
    (settings.state_dir / "postgres").mkdir(parents=True)  # as an earlier start that failed here left it
    said: list[str] = []
    stack = postgres_only(settings)
    try:
        stack.up(attached=True, progress=lambda name, what: said.append(f"{name} {what}"))
        with psycopg.connect(dsn(settings), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        stack.down(only_started=True)

        stack = postgres_only(settings)  # a second start finds the same data through the state dir
        stack.up(attached=True)
        with psycopg.connect(dsn(settings)) as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]
    finally:
        stack.down(only_started=True)
    outside = Postgres(settings).relocated()
    if AS_ROOT:
        assert outside is not None and outside.is_relative_to(RELOCATED_ROOT)
        assert any(f"data in {outside}" in line for line in said), said  # `vigil up` says where the data is
    remove_state(settings)
    assert not settings.state_dir.exists()
    assert outside is None or not outside.exists()


def test_the_test_stack_starts_with_tmpdir_in_a_closed_folder(closed_home, monkeypatch):
    tmp = closed_home / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    stack = start_test_stack()
    try:
        assert stack.settings.state_dir.parent == tmp
        assert stack.healthy()
        outside = next(p for p in stack.parts if isinstance(p, Postgres)).relocated()
    finally:
        stack.down(only_started=True)
    # What the session's teardown does (tests/conftest.py): the state dir goes, data kept outside it too,
    # at the latest when the next session sweeps.
    shutil.rmtree(stack.settings.state_dir)
    sweep_abandoned_stacks()
    assert outside is None or not outside.parent.exists()
