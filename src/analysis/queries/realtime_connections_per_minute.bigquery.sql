-- realtime_logs, concurrent Realtime connections per minute from the
-- `Billing metrics: [:realtime, :connections]` samples (about one every 5 s per node).
-- BigQuery flavour (legacy Logs Explorer, `logs.all`). One row per minute with a sample.
-- `limit` is a reserved word, hence the backticks. Counts sockets, not distinct viewers.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  count(*) as samples,
  max(mm.connected) as max_connected,
  max(mm.connected_cluster) as max_connected_cluster,
  max(mm.`limit`) as connection_limit
from realtime_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.measurements) as mm
where regexp_contains(t.event_message, '^Billing metrics: .:realtime, :connections')
group by minute
order by minute
limit 1000
