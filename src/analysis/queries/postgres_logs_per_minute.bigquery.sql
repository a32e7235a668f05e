-- postgres_logs, errors per minute and SQLSTATE. BigQuery flavour (legacy Logs Explorer,
-- `logs.all`). One row per (minute, severity, SQLSTATE) that occurred; if the result has
-- exactly 1000 rows it was cut, so narrow the time range.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  p.error_severity,
  p.sql_state_code,
  count(*) as n
from postgres_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.parsed) as p
where p.error_severity in ('ERROR', 'FATAL', 'PANIC')
group by minute, p.error_severity, p.sql_state_code
order by minute, n desc
limit 1000
