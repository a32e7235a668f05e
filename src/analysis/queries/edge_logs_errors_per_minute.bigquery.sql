-- edge_logs, failed requests (status >= 400) per minute, method, path and status.
-- BigQuery flavour (legacy Logs Explorer, `logs.all`). One row per (minute, method, path,
-- status) that occurred: a one-hour incident with a dozen failing routes stays far below the
-- 1000-row cap; if the result has exactly 1000 rows it was cut, so narrow the time range.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  r.method,
  r.path,
  res.status_code,
  count(*) as n
from edge_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.request) as r
  cross join unnest(m.response) as res
where res.status_code >= 400
group by minute, r.method, r.path, res.status_code
order by minute, n desc
limit 1000
