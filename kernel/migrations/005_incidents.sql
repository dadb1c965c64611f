-- Incidents (issue 6, part 4): every transition the streams worker publishes on the incidents
-- topic, and the current state of each incident projected from them by the Postgres sink.

-- Every transition, as it arrived; a redelivery is a no-op. The event time joins the key for the
-- reason given in 002: after a reset of the in-memory broker an incident key's sequence restarts at 1.
CREATE TABLE incident_events (
    incident_key      text NOT NULL,
    sequence          bigint NOT NULL,
    status            text NOT NULL,
    previous_status   text,
    reason            text NOT NULL,
    actor             text,
    comment           text NOT NULL DEFAULT '',
    group_key         text NOT NULL,
    group_labels      jsonb NOT NULL,
    route             text NOT NULL,
    receiver          text NOT NULL,
    escalation_policy text NOT NULL DEFAULT '',
    notified          jsonb NOT NULL DEFAULT '[]'::jsonb,
    title             text NOT NULL,
    severity          text NOT NULL,
    firing            integer NOT NULL,
    fingerprints      jsonb NOT NULL,
    opened_at         timestamptz NOT NULL,
    event_time        timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_key, sequence, event_time)
);

-- Current state per incident key: the newest transition (opened_at, then sequence: a new incident
-- under a reused key opens later), with when and by whom it was last acknowledged, resolved and
-- escalated in that incident. The sink rewrites a row only from a newer transition, or to add the
-- acknowledgement/resolution/escalation of an older transition that arrived late.
CREATE TABLE incidents (
    incident_key      text PRIMARY KEY,
    group_key         text NOT NULL,
    group_labels      jsonb NOT NULL,
    route             text NOT NULL,
    receiver          text NOT NULL,
    escalation_policy text NOT NULL DEFAULT '',
    status            text NOT NULL,
    title             text NOT NULL,
    severity          text NOT NULL,
    firing            integer NOT NULL,
    fingerprints      jsonb NOT NULL,
    opened_at         timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    resolved_at       timestamptz,
    resolved_by       text,
    escalated_at      timestamptz,
    updated_at        timestamptz NOT NULL,
    sequence          bigint NOT NULL
);
-- The list's sorts (-updated_at, ±opened_at, each with the key as tie-break) and filters.
CREATE INDEX incidents_updated_idx ON incidents (updated_at DESC, incident_key DESC);
CREATE INDEX incidents_opened_idx ON incidents (opened_at, incident_key);
CREATE INDEX incidents_status_updated_idx ON incidents (status, updated_at DESC, incident_key DESC);
CREATE INDEX incidents_receiver_idx ON incidents (receiver);
CREATE INDEX incidents_severity_idx ON incidents (severity);
CREATE INDEX incidents_group_labels_idx ON incidents USING gin (group_labels jsonb_path_ops);
