-- edge_logs, failed requests only (status >= 400), raw rows. BigQuery flavour (`logs.all`).
-- The evidence rows of `make fetch MODE=hybrid`: few even on a busy project; the traffic
-- around them comes aggregated (edge_logs_traffic_per_minute, edge_logs_users_per_minute).
-- Paged like edge_logs_raw (README.md, "The 1000-row cap").
select t.id, t.timestamp, t.event_message, t.metadata
from edge_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.response) as res
where res.status_code >= 400
order by t.timestamp asc, t.id asc
limit 1000
