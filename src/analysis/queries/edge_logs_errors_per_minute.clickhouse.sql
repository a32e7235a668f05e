-- edge_logs, failed requests (status >= 400) per minute, method, path and status.
-- ClickHouse flavour (current Logs Explorer, `logs`). One row per (minute, method, path,
-- status) that occurred; if the result has exactly 1000 rows it was cut, so narrow the range.
select
  toStartOfMinute(timestamp) as minute,
  log_attributes['request.method'] as method,
  log_attributes['request.path'] as path,
  toInt32OrZero(log_attributes['response.status_code']) as status_code,
  count() as n
from logs
where source = 'edge_logs'
  and toInt32OrZero(log_attributes['response.status_code']) >= 400
group by minute, method, path, status_code
order by minute, n desc
limit 1000
