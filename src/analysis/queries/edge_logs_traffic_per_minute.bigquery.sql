-- edge_logs, traffic per minute x path x status class. BigQuery flavour (`logs.all`).
-- `path` keeps the first four segments (/rest/v1/<table>, /rest/v1/rpc/<fn>,
-- /storage/v1/object/<bucket>): enough for the analysis's endpoint, few groups per minute.
-- p95 is BigQuery's approx_quantiles (approximate); max is exact. `make fetch MODE=hybrid`
-- pages it by minute and checks each minute's requests against a count of its rows.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  regexp_extract(r.path, r'^((?:/[^/]*){1,4})') as path,
  div(res.status_code, 100) as status_class,
  count(*) as requests,
  max(res.origin_time) as max_origin_time_ms,
  approx_quantiles(res.origin_time, 100)[offset(95)] as p95_origin_time_ms
from edge_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.request) as r
  cross join unnest(m.response) as res
group by minute, path, status_class
order by minute, path, status_class
limit 1000
