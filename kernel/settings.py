"""One pydantic-settings class per process, env prefix VIGIL_, read once at the entrypoint."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.names import LABEL_NAME_SYNTAX, is_label_name, is_reserved_label_name
from schemas.topics import Topics, streams_group

_CONFIG = SettingsConfigDict(env_prefix="VIGIL_", frozen=True, extra="ignore")


class CommonSettings(BaseSettings):
    """Where the shared servers are; every process reads these."""

    model_config = _CONFIG

    kafka_bootstrap: str = Field("127.0.0.1:19092", description="the Kafka broker, host:port (the embedded "
                                 "stack's Tansu by default)")
    topic_prefix: str = Field("vigil", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="the first part of every "
                              "topic name: topics are PREFIX.NAME.vN (docs/topics.md); the streams workers' consumer "
                              "group is PREFIX-streams")
    metrics_partitions: int = Field(4, ge=1, le=1024, description="partitions of the metrics topic and of the "
                                    "rule-state table (docker-compose sets 12): up to this many streams workers and "
                                    "sinks replicas share the work")
    postgres_dsn: SecretStr = Field(SecretStr("postgresql://postgres@127.0.0.1:15432/vigil"), description="Postgres: "
                                    "alerts, incidents, history, deliveries, rules, silences, keys, device registry; "
                                    "used by ingest, connectors, sinks and api (and `vigil keys`, `vigil rules`)")
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:16379/0"), description="Redis: the device cache and "
                                 "series limits (ingest, connectors), the notifier's sent-ledger and limiters, the "
                                 "API's rate limits")
    tsdb_url: str = Field("http://127.0.0.1:18428", description="the time-series store (VictoriaMetrics): the sinks "
                          "write it, the api queries it, the streams worker's query evaluator reads raw samples "
                          "from it")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="`DEBUG`, `INFO`, "
                                                                    "`WARNING` or `ERROR`")
    alerting_config: Path | None = Field(None, description="YAML: routes, receivers, inhibit rules, time intervals, "
                                         "escalation policies, on-call schedules (docs/alerting.md); read by streams "
                                         "and notifier, shown by the api at /api/v1/routes")
    metrics_v1_topic: bool = Field(False, description="the transition to vigil.metrics.v2: ingest also publishes "
                                   "every sample as a v1 MetricBatch on vigil.metrics.v1 for consumers not yet "
                                   "moved, and the sinks also drain that topic")

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)


class IngestSettings(CommonSettings):
    """`vigil ingest`: every HTTP protocol on one port."""

    ingest_host: str = Field("127.0.0.1", description="the address ingest's HTTP port binds to")
    ingest_port: int = Field(8090, description="every HTTP protocol, /healthz and /metrics")
    ingest_processes: int = Field(1, ge=1, le=64, description="ingest processes sharing the port (SO_REUSEPORT): "
                                  "one parses about one core's worth of samples; `vigil up` runs 2, docker-compose 4. "
                                  "StatsD and scraping run in the first only; /metrics sums them all")
    ingest_linger_ms: float = Field(20.0, ge=0, le=1000, description="how long the producer gathers records "
                                    "of concurrent requests into one batch per partition: the broker's cost is per "
                                    "batch (Tansu's CPU halved at 50k samples/s), each request waits up to this long "
                                    "for its 2xx")
    ingest_reuse_port: bool = Field(False, description="bind the port with SO_REUSEPORT (set for each of "
                                    "several ingest processes)")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="a request body's limit (16 MiB), after gzip "
                                "decompression; beyond it, 413")
    max_line_bytes: int = Field(64 * 1024, ge=256, description="an Influx line's limit (64 KiB); a longer line is "
                                "refused")
    max_future_s: int = Field(600, ge=0, description="the accepted timestamp window: reject samples stamped further "
                              "ahead than this")
    max_past_s: int = Field(7 * 86400, ge=60, description="the accepted timestamp window: reject samples older than "
                            "this")
    produce_timeout_s: float = Field(10.0, gt=0, description="answer 503 when Kafka has not acked by then")
    device_label_keys: tuple[str, ...] = Field(("device", "host"), description="labels whose value is looked up in "
                                               "the device registry (JSON list)")
    device_cache_ttl_s: int = Field(60, ge=1, description="how long a device's labels stay cached in Redis")
    ingest_config: Path | None = Field(None, description="YAML: agent tokens, relabeling, series limits, scrape jobs "
                                       "(docs/protocols.md)")
    ingest_body_read_timeout_s: float = Field(30.0, gt=0, description="a request's whole body must arrive within "
                                              "this many seconds, else 408 (a trickling sender holds no connection)")
    ingest_header_timeout_s: float = Field(10.0, gt=0, description="a request's headers must arrive within this "
                                           "many seconds of its first byte, else 408 and the connection closes "
                                           "(uvicorn has no such limit)")
    ingest_auth: Literal["auto", "required", "open"] = Field(
        "auto", description="whether HTTP writes need an agent token: `required` always; `open` never (a "
        "valid token still names the agent); `auto` once tokens are in use: listed in VIGIL_INGEST_CONFIG or "
        "ever stored in Postgres (`vigil keys create --role ingest`), live or revoked, so revoking the last "
        "token never opens ingest (docs/protocols.md, agent tokens)")
    scrape: bool = Field(True, description="run the scrape_configs of VIGIL_INGEST_CONFIG in this process (with "
                         "several ingest processes, scrape from one)")
    statsd_host: str = Field("127.0.0.1", description="the address StatsD's UDP and TCP listeners bind to")
    statsd_port: int = Field(8125, ge=0, le=65535, description="UDP and TCP; 0 turns StatsD off")
    statsd_flush_interval_s: float = Field(10.0, gt=0, description="StatsD aggregation interval: aggregates are "
                                           "stored every this many seconds")
    statsd_percentiles: tuple[float, ...] = Field((50.0, 90.0, 95.0, 99.0), description="the quantiles stored for "
                                                  "StatsD timers, histograms and distributions (JSON list)")
    ingest_max_in_flight: int = Field(32, ge=0, description="write requests one ingest process reads, parses and "
                                      "publishes at once; beyond this a write is answered 503 + Retry-After before "
                                      "its body is read (0: no bound)")
    ingest_max_evaluation_lag_s: float = Field(2.0, ge=0, description="answer writes 503 + Retry-After while the "
                                               "streams worker is more than this many seconds behind on the data "
                                               "this process accepted, so alert latency stays bounded (0: off; "
                                               "off too while no streams worker runs)")
    ingest_lag_poll_s: float = Field(1.0, gt=0, le=60, description="how often ingest reads the streams worker's "
                                     "committed offsets")
    ingest_evaluation_stall_s: float = Field(10.0, gt=0, description="a metrics partition where the age of "
                                             "ingest's oldest unevaluated record has not fallen over this long stops "
                                             "counting for the evaluation lag (logged) until the worker evaluated "
                                             "those records or the age falls again: shedding never stalls ingest for "
                                             "good")

    @property
    def streams_group(self) -> str:
        """The consumer group whose committed offsets say how far rules were evaluated."""
        return streams_group(self.topic_prefix)


class ConnectorsSettings(IngestSettings):
    """`vigil connectors`: device connectors publishing through the ingest pipeline."""

    connectors_config: Path | None = Field(None, description="YAML: the connectors and their devices "
                                           "(docs/connectors.md)")
    connectors_port: int = Field(8095, description="the connectors process's /healthz, /metrics and /status "
                                 "(`vigil connectors status` reads it)")


class StreamsSettings(CommonSettings):
    """`vigil streams`: the Faust worker evaluating rules."""

    rules_file: Path | None = Field(None, description="a rules file evaluated besides the rules saved through "
                                                     "the API (`vigil rules apply` saves a file instead)")
    app_id: str = Field("vigil-streams", description="not read: the Faust app id and consumer group are "
                        "PREFIX-streams (VIGIL_TOPIC_PREFIX)")
    state_checkpoint_s: float | None = Field(None, ge=0, description="also write changed window/model state this "
                                             "often (it is always written before offsets are committed)")
    allowed_lateness_s: float = Field(30.0, ge=0, description="out-of-order samples this much older than the "
                                                              "newest still count in windows")
    state_idle_s: float = Field(3600.0, gt=0, description="forget (from memory) inactive alerts of series that "
                                                           "sent nothing for this long, in event time; if the series "
                                                           "returns, its alerts start afresh")
    streams_web_port: int = Field(8091, description="the streams worker's /healthz and /metrics")
    streams_commit_interval_s: float = Field(0.5, gt=0, le=60, description="how often the worker commits the "
                                             "offsets it evaluated (Faust's broker_commit_interval); ingest "
                                             "reads them as the evaluation lag, so keep it well under "
                                             "VIGIL_INGEST_MAX_EVALUATION_LAG_S")
    data_dir: Path = Field(Path(".vigil/streams"), description="the worker's local directory (Faust's data "
                           "directory), where a clean stop writes state-snapshot.json")
    default_receiver: str = Field("slack", description="without VIGIL_ALERTING_CONFIG: the receiver every alert is "
                                  "paged to, each alert its own incident")
    external_labels: dict[str, str] = Field({}, description="Prometheus' external_labels: added to every alert's "
                                            "labels it lacks, and `$externalLabels` in templates (JSON, e.g. "
                                            '\'{"cluster":"eu-1"}\')')
    external_url: str = Field("", description="where people reach Vigil (Prometheus' --web.external-url): "
                              "`$externalURL` in templates; the same variable the notifier reads")

    @field_validator("external_labels")
    @classmethod
    def _external_label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not is_label_name(name) or is_reserved_label_name(name):
                raise ValueError(f"'{name}' is not a label name ({LABEL_NAME_SYNTAX}, not starting with __)")
        return {name: value for name, value in v.items() if value}  # Prometheus drops empty label values
    query_tick_s: float = Field(0.2, gt=0, le=1, description="how often the query evaluator looks for groups "
                                "that are due (a group runs at its own interval, down to 1s)")
    query_timeout_s: float = Field(5.0, gt=0, description="one request of the query evaluator to the "
                                   "time-series store (VIGIL_TSDB_URL), connect + read")
    query_lookback_s: float = Field(300.0, gt=0, description="PromQL lookback: how long a series stays "
                                    "current after its last sample (Prometheus' --query.lookback-delta)")


class SinksSettings(CommonSettings):
    """`vigil sinks`: metrics → TSDB, alerts and deliveries → Postgres."""

    sinks_health_port: int = Field(8092, description="the sinks' /healthz and /metrics")
    batch_max_messages: int = Field(500, ge=1, description="a batch is written when it holds this many records, or "
                                    "after VIGIL_BATCH_MAX_WAIT_S")
    batch_max_wait_s: float = Field(0.2, gt=0, description="a batch is written this long after its first record, or "
                                    "when it holds VIGIL_BATCH_MAX_MESSAGES")
    tsdb_timeout_s: float = Field(10.0, gt=0, description="one TSDB write request, connect + read")
    tsdb_max_lines_per_write: int = Field(50_000, ge=1, description="split larger batches into several requests")
    tsdb_durable_after_s: float = Field(
        15.0, ge=0, description="commit a TSDB write's offsets this long after it was acknowledged, when the store "
        "has it on disk (VictoriaMetrics: about 10 s); a store that restarted meanwhile has the sink read again "
        "from the oldest uncommitted batch; 0 commits at once (sinks/durability.py, docs/faults.md)")
    sinks_backoff_initial_s: float = Field(0.5, gt=0, description="first delay before retrying a failed write")
    sinks_backoff_max_s: float = Field(30.0, gt=0, description="longest delay between retries of a failed write")


class NotifierSettings(CommonSettings):
    """`vigil notifier`: pages through PagerDuty, Slack and webhooks (the receivers of VIGIL_ALERTING_CONFIG)."""

    notifier_health_port: int = Field(8093, description="the notifier's /healthz and /metrics")
    slack_webhook_url: SecretStr | None = Field(None, description="without VIGIL_ALERTING_CONFIG: the receiver "
                                                "named `slack`")
    request_timeout_s: float = Field(5.0, gt=0, description="one request to VIGIL_SLACK_WEBHOOK_URL (the receiver "
                                     "used without an alerting config); integrations of an alerting config set their "
                                     "own timeout_s")
    max_attempts: int = Field(6, ge=1, description="attempts per send; then it is given up and goes to "
                              "vigil.notifications-dead.v1")
    backoff_initial_s: float = Field(0.5, gt=0, description="first delay before retrying a send (exponential, with "
                                     "jitter; a Retry-After is honoured)")
    backoff_max_s: float = Field(30.0, gt=0, description="longest delay between retries of a send")
    pagerduty_events_per_minute: float | None = Field(None, gt=0, description="per routing key; unset: "
                                                      "PagerDuty's 120 (notifier.limiter)")
    slack_messages_per_second: float | None = Field(None, gt=0, description="per webhook and channel; unset: "
                                                    "Slack's 1 (notifier.limiter)")
    external_url: str = Field("", description="where people reach Vigil's API: the webhook payload's "
                              "externalURL and each alert's generatorURL")
    notifier_max_in_flight: int = Field(1000, ge=1, description="notifications handled at once; the consumer "
                                        "pauses beyond this")


class ApiSettings(CommonSettings):
    """`vigil api`: the analysts' HTTP API."""

    api_host: str = Field("127.0.0.1", description="the address the API binds to")
    api_port: int = Field(8080, description="the API, its OpenAPI docs (/docs) and the live board (/board)")
    api_db_pool_size: int = Field(10, ge=1, le=200, description="Postgres connections of one API process")
    api_db_timeout_s: float = Field(5.0, gt=0, description="wait this long for a Postgres connection, then 503")
    api_tsdb_timeout_s: float = Field(30.0, gt=0, description="one time-series query, connect + read")
    api_rate_per_s: float = Field(50.0, gt=0, description="requests per second per API key (a key may override it)")
    api_rate_burst: int = Field(200, ge=1, description="requests a key may make back to back (a key may have its "
                                "own)")
    api_stream_queue: int = Field(1000, ge=1, le=1_000_000, description="live-stream events a client may fall "
                                  "behind before it is sent `overflow` and dropped (it reconnects)")
    api_stream_heartbeat_s: float = Field(15.0, gt=0, le=300, description="a quiet live stream sends a comment "
                                          "line this often, so proxies keep it open")
    default_receiver: str = Field("slack", description="without VIGIL_ALERTING_CONFIG: the receiver the routes "
                                  "and receivers routes show (the streams worker's default)")


class StackSettings(BaseSettings):
    """The embedded stack: state directory and the port of each server."""

    model_config = _CONFIG

    state_dir: Path = Field(Path(".vigil"), description="where the embedded stack keeps its servers' data, logs/ "
                            "and run/ (pid files)")
    kafka_port: int = Field(19092, description="the embedded Kafka-protocol broker (Tansu)")
    postgres_port: int = Field(15432, description="the embedded Postgres")
    redis_port: int = Field(16379, description="the embedded Redis")
    tsdb_port: int = Field(18428, description="the embedded VictoriaMetrics")
    mqtt_port: int = Field(11883, description="the embedded Mosquitto (MQTT broker for device connectors)")
    durable: bool = Field(True, description="fsync Postgres and keep a Redis append-only file")

    def common(self, **overrides) -> dict[str, str]:
        """VIGIL_* environment that points Vigil processes at this stack."""
        env = {
            "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.kafka_port}",
            "VIGIL_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{self.postgres_port}/vigil",
            "VIGIL_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "VIGIL_TSDB_URL": f"http://127.0.0.1:{self.tsdb_port}",
        }
        env.update({f"VIGIL_{k.upper()}": str(v) for k, v in overrides.items()})
        return env
