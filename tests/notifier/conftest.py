"""Fixtures shared by the notifier's tests."""

from __future__ import annotations

import pytest

from infra.demo.receiver import DemoReceiver
from tests.harness import free_port


@pytest.fixture
def receiver():
    """The local Slack / PagerDuty / webhook receiver on a free port."""
    r = DemoReceiver(free_port())
    r.start()
    yield r
    r.stop()
