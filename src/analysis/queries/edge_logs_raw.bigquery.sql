-- edge_logs, raw rows. BigQuery flavour: legacy Logs Explorer, Management API `logs.all`.
-- One row per HTTP request through the API gateway (/rest, /auth, /storage, /realtime);
-- `metadata` keeps request, response and headers as nested one-element arrays.
-- `identifier` is the project's reference (a column of this table; rows of another project
-- are set aside when incident.json names its project_ref).
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   where t.timestamp > timestamp_micros(<last timestamp>)
--      or (t.timestamp = timestamp_micros(<last timestamp>) and t.id > '<last id>')
-- before `order by`. `make fetch` pages this query for you (see README.md, "The 1000-row cap").
select t.id, t.identifier, t.timestamp, t.event_message, t.metadata
from edge_logs as t
order by t.timestamp asc, t.id asc
limit 1000
