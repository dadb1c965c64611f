-- API keys and agent ingest tokens: only a SHA-256 digest of each is stored; the key is shown once.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,            -- public part of the key (vk_<id>_<secret>), shown in lists and the audit log
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'ingest')),
    digest       bytea NOT NULL UNIQUE,       -- sha256 of the whole key
    labels       jsonb NOT NULL DEFAULT '{}'::jsonb,  -- ingest tokens: static labels added to every sample
    rate_per_s   double precision,            -- NULL: the API's default rate limit
    burst        integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_live_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

-- Every write through the API: who, what, when, and the resource before and after.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    key_id       text NOT NULL,
    key_name     text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,               -- e.g. rule.update, silence.expire, incident.acknowledge, key.create
    resource     text NOT NULL,               -- rule, silence, incident, key, device
    resource_id  text NOT NULL,
    before       jsonb,
    after        jsonb,
    remote       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_resource_idx ON audit_log (resource, resource_id, at DESC);
CREATE INDEX audit_log_key_idx ON audit_log (key_id, at DESC);
