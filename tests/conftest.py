"""Session fixtures: one embedded stack on free ports; each test gets its own prefix and database."""

from __future__ import annotations


import pytest

from infra.topic_reader import close_readers
from infra.stack.stack import remove_state
from tests.harness import VigilEnv, drop_env, new_env, start_test_stack


@pytest.fixture(scope="session")
def stack():
    """The test session's embedded stack (Tansu, Postgres, Redis, VictoriaMetrics, Mosquitto)."""
    stack = start_test_stack()
    yield stack.settings
    stack.down(only_started=True)
    remove_state(stack.settings)  # and the Postgres data kept outside it, if any


@pytest.fixture
def vigil_env(stack) -> VigilEnv:
    """A topic prefix, database and VIGIL_* environment of this test's own."""
    env = new_env(stack)
    yield env
    close_readers()
    drop_env(env)
