-- edge_logs, per-minute counts. BigQuery flavour (legacy Logs Explorer, `logs.all`).
-- One row per minute with traffic, so one run covers up to 1000 minutes (16 h 40 min);
-- split a longer window. Minutes without any request have no row (count them as 0).
select
  timestamp_trunc(t.timestamp, minute) as minute,
  count(*) as requests,
  countif(r.path like '/rest/v1/%') as rest_requests,
  countif(r.path like '/auth/v1/%') as auth_requests,
  countif(r.path like '/realtime/v1/%') as realtime_requests,
  countif(res.status_code between 400 and 499) as status_4xx,
  countif(res.status_code >= 500) as status_5xx,
  countif(res.status_code = 400) as status_400,
  countif(res.status_code = 409) as status_409,
  max(res.origin_time) as max_origin_time_ms
from edge_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.request) as r
  cross join unnest(m.response) as res
group by minute
order by minute
limit 1000
