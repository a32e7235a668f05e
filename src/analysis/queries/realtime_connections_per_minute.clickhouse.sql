-- realtime_logs, concurrent Realtime connections per minute from the
-- `Billing metrics: [:realtime, :connections]` samples (about one every 5 s per node).
-- ClickHouse flavour (current Logs Explorer, `logs`). One row per minute with a sample.
-- Counts sockets, not distinct viewers.
select
  toStartOfMinute(timestamp) as minute,
  count() as samples,
  max(toInt64OrZero(log_attributes['measurements.connected'])) as max_connected,
  max(toInt64OrZero(log_attributes['measurements.connected_cluster'])) as max_connected_cluster,
  max(toInt64OrZero(log_attributes['measurements.limit'])) as connection_limit
from logs
where source = 'realtime_logs'
  and startsWith(event_message, 'Billing metrics: [:realtime, :connections]')
group by minute
order by minute
limit 1000
