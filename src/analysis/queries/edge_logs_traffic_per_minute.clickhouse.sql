-- edge_logs, traffic per minute x path x status class. ClickHouse flavour (`logs`).
-- `path` keeps the first four segments (/rest/v1/<table>, /rest/v1/rpc/<fn>,
-- /storage/v1/object/<bucket>): enough for the analysis's endpoint, few groups per minute.
-- p95 is ClickHouse's quantile (reservoir sampling, approximate); max is exact.
-- `make fetch MODE=hybrid FLAVOUR=clickhouse` pages it by minute and checks each minute's
-- requests against a count of its rows.
select
  toStartOfMinute(timestamp) as minute,
  extract(log_attributes['request.path'], '^((?:/[^/]*){1,4})') as path,
  intDiv(toInt32OrZero(log_attributes['response.status_code']), 100) as status_class,
  count() as requests,
  max(toFloat64OrNull(log_attributes['response.origin_time'])) as max_origin_time_ms,
  quantile(0.95)(toFloat64OrNull(log_attributes['response.origin_time'])) as p95_origin_time_ms
from logs
where source = 'edge_logs'
group by minute, path, status_class
order by minute, path, status_class
limit 1000
