-- realtime_logs, raw rows. BigQuery flavour: legacy Logs Explorer, Management API `logs.all`.
-- Realtime server lines: Postgrex/DBConnection disconnects, operational error codes and the
-- `Billing metrics: [:realtime, :connections]` concurrency samples (metadata.measurements).
-- The per-page download of the Realtime log page drops `metadata`; this query keeps it.
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   where t.timestamp > timestamp_micros(<last timestamp>)
--      or (t.timestamp = timestamp_micros(<last timestamp>) and t.id > '<last id>')
-- before `order by`. `make fetch` pages this query for you (see README.md, "The 1000-row cap").
select t.id, t.timestamp, t.event_message, t.metadata
from realtime_logs as t
order by t.timestamp asc, t.id asc
limit 1000
