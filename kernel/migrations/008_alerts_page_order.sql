-- The alerts list pages by (updated_at DESC, fingerprint DESC). Without an index in that order,
-- every page sorts all matching rows: with 100,000 alerts an unfiltered or `severity=warning` page
-- was a parallel seq scan + top-N sort (~18 ms of Postgres time on 3 processes), `status=firing`
-- a bitmap scan of every firing alert + sort (6–15 ms). Read in index order, a page stops after
-- LIMIT matching rows: 0.04–2 ms for the same pages (bench/api.py, EXPLAIN ANALYZE).

-- Unfiltered pages, and filters common among recent alerts (severity, labels, several statuses).
CREATE INDEX alerts_page_idx ON alerts (updated_at DESC, fingerprint DESC);

-- One status, one alertname or one severity: read in page order within that value. Postgres uses
-- these in order only for `col = $1`, not `col = ANY($1)` with one element (PostgreSQL 15), so the
-- route sends `=` when one value is asked for (api/routes/alerts.py `_one_of`). They serve bitmap scans as the indexes they
-- replace did; the old status index had fingerprint ascending, so it could never give the page order.
CREATE INDEX alerts_status_page_idx ON alerts (status, updated_at DESC, fingerprint DESC);
DROP INDEX alerts_status_updated_idx;
CREATE INDEX alerts_alertname_page_idx ON alerts (alertname, updated_at DESC, fingerprint DESC);
CREATE INDEX alerts_severity_page_idx ON alerts (severity, updated_at DESC, fingerprint DESC);
DROP INDEX alerts_severity_idx;
