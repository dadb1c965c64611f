-- An alert's detail lists the deliveries of every incident page that held it: found through the
-- fingerprints of the incident's transitions.
CREATE INDEX incident_events_fingerprints_idx ON incident_events USING gin (fingerprints jsonb_path_ops);
