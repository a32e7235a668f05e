-- edge_logs, distinct signed-in users per minute. BigQuery flavour (`logs.all`).
-- approx_count_distinct is BigQuery's HyperLogLog++ estimate (about 1% error); `requests`
-- lets `make fetch MODE=hybrid` check each minute against a count of its rows.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  approx_count_distinct(sb.auth_user) as users,
  count(*) as requests
from edge_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.request) as r
  left join unnest(r.sb) as sb
group by minute
order by minute
limit 1000
