-- edge_logs, raw rows. ClickHouse flavour: current Logs Explorer, Management API `logs`.
-- One row per HTTP request through the API gateway; `log_attributes` maps dotted keys
-- (request.path, response.status_code, ...) to string values.
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   and timestamp >= '<timestamp of the last row downloaded>'
-- after the `where` line; the first rows repeat the last ones (same id; ingest keeps one).
-- `make fetch FLAVOUR=clickhouse` sends this query with the window as
-- iso_timestamp_start / iso_timestamp_end.
select id, timestamp, event_message, severity_text, source, log_attributes
from logs
where source = 'edge_logs'
order by timestamp asc
limit 1000
