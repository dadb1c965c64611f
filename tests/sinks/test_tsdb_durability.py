"""VictoriaMetrics acknowledges a write before it is on disk: samples it lost in a crash are written again.

Measured with Debian's 1.79 (sinks/durability.py): a SIGKILL loses what was written in the last ~10 s,
acknowledged or not. The sink commits a batch's offsets only once the store has had it for
VIGIL_TSDB_DURABLE_AFTER_S, and reads again from the oldest batch not committed when the store restarted.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from infra.stack.parts import VictoriaMetrics
from tests.harness import free_port, wait_until
from tests.own_servers import running
from tests.sinks.kafka_offsets import committed, metric, produce
from tests.sinks.test_tsdb_sink import expected, exported, metric_batches, stored_when_complete, tsdb_group

pytestmark = pytest.mark.integration


@pytest.fixture
def own_tsdb(stack):
    """A VictoriaMetrics of the test's own: it is killed."""
    yield from running(stack, VictoriaMetrics)


def test_samples_a_crash_took_from_the_store_are_written_again_before_they_are_committed(vigil_env, own_tsdb):
    name = f"{vigil_env.prefix}_sink_durable"
    samples, records = metric_batches(vigil_env, name)
    topic = vigil_env.settings.topics.metrics
    ends = produce(vigil_env.settings, topic, records)
    port = free_port()
    vigil_env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port),
                                                          "VIGIL_TSDB_URL": own_tsdb.address})
    tsdb = SimpleNamespace(stack=own_tsdb.settings)  # all that exported() reads of a vigil_env
    assert stored_when_complete(tsdb, name, samples) == expected(samples)
    # Acknowledged and visible, but not on disk yet: not committed.
    assert all(offset < 0 for offset in committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends).values())

    own_tsdb.kill()
    own_tsdb.start()
    print(f"after the kill the store held {sum(len(points) for points in exported(tsdb, name).values())} "
          f"of {len(samples)} samples")
    assert stored_when_complete(tsdb, name, samples) == expected(samples)  # the sink wrote them again
    assert metric(port, "vigil_sink_rewinds_total", sink="tsdb") == 1
    wait_until(lambda: committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends) == ends, timeout=60,
               interval=1, message="offsets committed once the store has had the samples long enough")
    assert stored_when_complete(tsdb, name, samples) == expected(samples)
