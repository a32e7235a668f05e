-- postgres_logs, raw rows. BigQuery flavour: legacy Logs Explorer, Management API `logs.all`.
-- Every line Postgres logged (errors and routine LOG lines); `metadata[0].parsed[0]` holds the
-- csvlog fields (sql_state_code, error_severity, user_name, application_name, detail, query).
-- `identifier` is the project's reference (a column of this table; rows of another project
-- are set aside when incident.json names its project_ref).
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   where t.timestamp > timestamp_micros(<last timestamp>)
--      or (t.timestamp = timestamp_micros(<last timestamp>) and t.id > '<last id>')
-- before `order by`. `make fetch` pages this query for you (see README.md, "The 1000-row cap").
select t.id, t.identifier, t.timestamp, t.event_message, t.metadata
from postgres_logs as t
order by t.timestamp asc, t.id asc
limit 1000
