-- Which incarnation of a compacted topic (rules, silences) was refilled from Postgres, and by whom.
-- The embedded broker forgets every topic when it restarts; each API process notices, but only the
-- first to insert the new topic's id republishes into it (the row commits with the republish), so
-- several API replicas refill a topic exactly once, and an API restart on an intact broker refills nothing.
CREATE TABLE topic_republished (
    topic       text        NOT NULL,
    topic_id    text        NOT NULL,
    records     integer     NOT NULL,
    republished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, topic_id)
);
