-- realtime_logs, raw rows. BigQuery flavour: legacy Logs Explorer, Management API `logs.all`.
-- Realtime server lines: Postgrex/DBConnection disconnects, operational error codes and the
-- `Billing metrics: [:realtime, :connections]` concurrency samples (metadata.measurements).
-- The per-page download of the Realtime log page drops `metadata`; this query keeps it.
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   where t.timestamp >= timestamp_micros(<timestamp of the last row downloaded>)
-- before `order by`; the first rows repeat the last ones (same id; ingest keeps one).
-- `make fetch` sends this query with the window as iso_timestamp_start / iso_timestamp_end.
select t.id, t.timestamp, t.event_message, t.metadata
from realtime_logs as t
order by t.timestamp asc
limit 1000
