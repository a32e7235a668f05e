-- realtime_logs, lines per minute by family. ClickHouse flavour (current Logs Explorer,
-- `logs`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families match the message patterns the analysis classifies (disconnects, pool
-- exhaustion, too many connections, failed connects, billing samples).
select
  toStartOfMinute(timestamp) as minute,
  count() as lines,
  countIf(lower(log_attributes['level']) = 'error' or severity_text = 'ERROR') as level_error,
  countIf(lower(log_attributes['level']) in ('warning', 'warn') or severity_text in ('WARNING', 'WARN')) as level_warning,
  countIf(match(event_message, 'disconnected: [*][*] [(](DBConnection|Postgrex)')) as disconnects,
  countIf(match(event_message, 'connection not available and request was dropped')) as pool_exhausted,
  countIf(match(event_message, '53300|too_many_connections|too many clients|LackOfConnections')) as too_many_connections,
  countIf(match(event_message, 'failed to connect|UnableToConnect')) as connect_failed,
  countIf(match(event_message, 'RateLimitReached')) as rate_limited,
  countIf(startsWith(event_message, 'Billing metrics: [:realtime, :connections]')) as billing_samples
from logs
where source = 'realtime_logs'
group by minute
order by minute
limit 1000
