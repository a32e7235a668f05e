-- realtime_logs, raw rows. ClickHouse flavour: current Logs Explorer, Management API `logs`.
-- Realtime server lines: Postgrex/DBConnection disconnects, operational error codes and the
-- `Billing metrics: [:realtime, :connections]` samples (log_attributes['measurements.connected']).
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   and timestamp >= '<timestamp of the last row downloaded>'
-- after the `where` line; the first rows repeat the last ones (same id; ingest keeps one).
-- `make fetch FLAVOUR=clickhouse` sends this query with the window as
-- iso_timestamp_start / iso_timestamp_end.
select id, timestamp, event_message, severity_text, source, log_attributes
from logs
where source = 'realtime_logs'
order by timestamp asc
limit 1000
