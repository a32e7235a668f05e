-- realtime_logs, raw rows. ClickHouse flavour: current Logs Explorer, Management API `logs`.
-- Realtime server lines: Postgrex/DBConnection disconnects, operational error codes and the
-- `Billing metrics: [:realtime, :connections]` samples (measurements.connected).
-- Only the attributes the analysis reads are selected, each as its own column named by its
-- key: the whole `log_attributes` map per row is large, and Supabase advises selecting the
-- keys a query uses. `nullIf` turns a key the row lacks ('' in ClickHouse) into null.
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   and (timestamp, id) > ('<timestamp of the last row>', '<its id>')
-- after the `where` line. `make fetch FLAVOUR=clickhouse` pages this query for you (see
-- README.md, "The 1000-row cap").
select
  id,
  timestamp,
  event_message,
  severity_text,
  source,
  nullIf(log_attributes['project'], '') as `project`,
  nullIf(log_attributes['level'], '') as `level`,
  nullIf(log_attributes['measurements.connected'], '') as `measurements.connected`,
  nullIf(log_attributes['measurements.limit'], '') as `measurements.limit`
from logs
where source = 'realtime_logs'
order by timestamp asc, id asc
limit 1000
