-- postgres_logs, raw rows. BigQuery flavour: legacy Logs Explorer, Management API `logs.all`.
-- Every line Postgres logged (errors and routine LOG lines); `metadata[0].parsed[0]` holds the
-- csvlog fields (sql_state_code, error_severity, user_name, application_name, detail, query).
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   where t.timestamp >= timestamp_micros(<timestamp of the last row downloaded>)
-- before `order by`; the first rows repeat the last ones (same id; ingest keeps one).
-- `make fetch` sends this query with the window as iso_timestamp_start / iso_timestamp_end.
select t.id, t.timestamp, t.event_message, t.metadata
from postgres_logs as t
order by t.timestamp asc
limit 1000
