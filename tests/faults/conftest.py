"""Fault tests: a broker of the test's own, so restarting it touches no other test's topics."""

from __future__ import annotations

import pytest

from infra.process import ManagedProcess
from infra.settings import StackSettings
from infra.stack.parts import Tansu
from tests.harness import VigilEnv, free_port, new_env, wait_until


class OwnBroker:
    """A Tansu broker on a free port that a test may stop and start again (it forgets everything)."""

    def __init__(self, stack: StackSettings) -> None:
        self.part = Tansu(stack.model_copy(update={"kafka_port": free_port()}))
        logs = stack.state_dir / "logs"
        self.process = ManagedProcess(name="own-kafka", argv=self.part.argv(), env=self.part.env(),
                                      log_path=logs / f"own-kafka-{self.part.port}.log",
                                      pid_path=stack.state_dir / "run" / f"own-kafka-{self.part.port}.pid")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.part.port}"

    def start(self) -> None:
        self.process.start(attached=True)
        wait_until(self.part.ready, timeout=30, message="the test's own broker ready")

    def restart(self) -> None:
        """Stop and start: every topic, record and committed offset is gone, as after a crash of Tansu."""
        self.process.stop(timeout=10)
        self.start()

    def stop(self) -> None:
        self.process.stop(timeout=10)


@pytest.fixture
def own_broker(stack):
    broker = OwnBroker(stack)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def broker_env(stack, own_broker) -> VigilEnv:
    """A slice of the stack whose Kafka is the test's own broker."""
    env = new_env(stack, kafka_bootstrap=own_broker.bootstrap)
    yield env
    for proc in env.processes:  # shown by pytest only when the test failed
        print(f"----- {proc.name} (last 40 lines)\n" + "\n".join(env.log(proc).splitlines()[-40:]))
    env.stop_all()
