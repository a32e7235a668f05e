-- realtime_logs, every line but the `Billing metrics` samples, raw rows. BigQuery flavour.
-- The Realtime evidence of `make fetch MODE=hybrid` (disconnects, pool and connection
-- errors, rate limits, tenant stops); the samples come per minute
-- (realtime_connections_per_minute). Paged like realtime_logs_raw.
select t.id, t.timestamp, t.event_message, t.metadata
from realtime_logs as t
where not regexp_contains(t.event_message, '^Billing metrics')
order by t.timestamp asc, t.id asc
limit 1000
