-- realtime_logs, every line but the `Billing metrics` samples, raw rows. ClickHouse flavour.
-- The Realtime evidence of `make fetch MODE=hybrid` (disconnects, pool and connection
-- errors, rate limits, tenant stops); the samples come per minute
-- (realtime_connections_per_minute). Paged like realtime_logs_raw.
select
  id,
  timestamp,
  event_message,
  severity_text,
  source,
  nullIf(log_attributes['level'], '') as `level`
from logs
where source = 'realtime_logs'
  and not startsWith(event_message, 'Billing metrics')
order by timestamp asc, id asc
limit 1000
