-- realtime_logs, lines per minute by family. BigQuery flavour (legacy Logs Explorer,
-- `logs.all`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families match the message patterns the analysis classifies (disconnects, pool
-- exhaustion, too many connections, failed connects, billing samples).
select
  timestamp_trunc(t.timestamp, minute) as minute,
  count(*) as lines,
  countif(m.level = 'error') as level_error,
  countif(m.level in ('warning', 'warn')) as level_warning,
  countif(regexp_contains(t.event_message, 'disconnected: [*][*] [(](DBConnection|Postgrex)')) as disconnects,
  countif(regexp_contains(t.event_message, 'connection not available and request was dropped')) as pool_exhausted,
  countif(regexp_contains(t.event_message, '53300|too_many_connections|too many clients|LackOfConnections')) as too_many_connections,
  countif(regexp_contains(t.event_message, 'failed to connect|UnableToConnect')) as connect_failed,
  countif(regexp_contains(t.event_message, 'RateLimitReached')) as rate_limited,
  countif(regexp_contains(t.event_message, '^Billing metrics: .:realtime, :connections')) as billing_samples
from realtime_logs as t
  cross join unnest(t.metadata) as m
group by minute
order by minute
limit 1000
