-- Device registry: labels added to samples whose device/host label matches device_id.
CREATE TABLE devices (
    device_id  text PRIMARY KEY,
    labels     jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Current state of every alert, one row per fingerprint (latest transition wins).
CREATE TABLE alerts (
    fingerprint  text PRIMARY KEY,
    rule_id      text NOT NULL,
    rule_version integer NOT NULL,
    alertname    text NOT NULL,
    status       text NOT NULL,
    severity     text NOT NULL DEFAULT '',
    labels       jsonb NOT NULL,
    annotations  jsonb NOT NULL,
    value        double precision NOT NULL,
    sequence     bigint NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX alerts_status_updated_idx ON alerts (status, updated_at DESC, fingerprint);
CREATE INDEX alerts_severity_idx ON alerts (severity);
CREATE INDEX alerts_labels_idx ON alerts USING gin (labels jsonb_path_ops);

-- Every transition, as it arrived on the alerts topic; redelivery is a no-op.
CREATE TABLE alert_events (
    fingerprint   text NOT NULL,
    sequence      bigint NOT NULL,
    status        text NOT NULL,
    rule_id       text NOT NULL,
    rule_version  integer NOT NULL,
    alertname     text NOT NULL,
    labels        jsonb NOT NULL,
    annotations   jsonb NOT NULL,
    value         double precision NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz,
    event_time    timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fingerprint, sequence)
);

-- Every delivery attempt of every page.
CREATE TABLE deliveries (
    dedup_key    text NOT NULL,
    receiver     text NOT NULL,
    action       text NOT NULL,
    sequence     bigint NOT NULL,
    attempt      integer NOT NULL,
    fingerprint  text NOT NULL,
    status       text NOT NULL,
    http_status  integer,
    response     text NOT NULL,
    latency_ms   double precision NOT NULL,
    attempted_at timestamptz NOT NULL,
    PRIMARY KEY (dedup_key, receiver, action, sequence, attempt)
);
CREATE INDEX deliveries_fingerprint_idx ON deliveries (fingerprint, attempted_at);
