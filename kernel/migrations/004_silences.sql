-- Silences as data (issue 6, part 3), shaped like the rules of 003. `silences` holds the latest
-- version of each silence; an expired silence keeps its row (Alertmanager lists expired silences),
-- `deleted` marks one expired through the API (its ends_at is then the time of expiry).
-- `silence_versions` holds every change, one row per version, written in the same transaction.
-- `matchers` is the silence's matchers as [{"name", "op", "value"}], op one of = != =~ !~.
CREATE TABLE silences (
    id         uuid PRIMARY KEY,
    version    integer NOT NULL CHECK (version >= 1),
    matchers   jsonb NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at >= starts_at),
    created_by text NOT NULL,
    comment    text NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT ''
);
-- The listing pages newest first; its state filter compares the window with now.
CREATE INDEX silences_page_idx ON silences (created_at DESC, id DESC);
CREATE INDEX silences_ends_at_idx ON silences (ends_at);

CREATE TABLE silence_versions (
    id         uuid NOT NULL REFERENCES silences (id),
    version    integer NOT NULL CHECK (version >= 1),
    matchers   jsonb NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_by text NOT NULL,
    comment    text NOT NULL,
    deleted    boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL DEFAULT '',
    PRIMARY KEY (id, version)
);
