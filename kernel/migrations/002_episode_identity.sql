-- A transition's sequence number is unique only while the broker keeps the streams' state: the
-- embedded Tansu broker is in memory, so after a stack restart an alert's sequence starts at 1
-- again while Postgres (and Redis) remember the earlier episode. The event time tells episodes
-- apart, so it joins the natural keys; a redelivered record still has the same key.
ALTER TABLE alert_events DROP CONSTRAINT alert_events_pkey;
ALTER TABLE alert_events ADD PRIMARY KEY (fingerprint, sequence, event_time);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries ADD PRIMARY KEY (dedup_key, receiver, action, sequence, attempt, attempted_at);
