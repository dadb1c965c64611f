-- Alert rules as data. `rules` holds the latest version of each rule (a deleted rule keeps its row,
-- its last spec and its version, so re-creating the id continues the numbering); `rule_versions`
-- holds every change, one row per version, written in the same transaction as `rules`.
CREATE TABLE rules (
    id         text PRIMARY KEY,
    version    integer NOT NULL CHECK (version >= 1),
    spec       jsonb NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT ''
);
CREATE INDEX rules_metric_idx ON rules ((spec ->> 'metric'));

CREATE TABLE rule_versions (
    id         text NOT NULL REFERENCES rules (id),
    version    integer NOT NULL CHECK (version >= 1),
    spec       jsonb NOT NULL,
    deleted    boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL DEFAULT '',
    PRIMARY KEY (id, version)
);
