-- edge_logs, per-minute counts. ClickHouse flavour (current Logs Explorer, `logs`).
-- One row per minute with traffic, so one run covers up to 1000 minutes (16 h 40 min);
-- split a longer window. Minutes without any request have no row (count them as 0).
-- Attribute values are strings: numbers are cast with toInt32OrZero / toFloat64OrZero.
select
  toStartOfMinute(timestamp) as minute,
  count() as requests,
  countIf(log_attributes['request.path'] like '/rest/v1/%') as rest_requests,
  countIf(log_attributes['request.path'] like '/auth/v1/%') as auth_requests,
  countIf(log_attributes['request.path'] like '/realtime/v1/%') as realtime_requests,
  countIf(toInt32OrZero(log_attributes['response.status_code']) between 400 and 499) as status_4xx,
  countIf(toInt32OrZero(log_attributes['response.status_code']) >= 500) as status_5xx,
  countIf(log_attributes['response.status_code'] = '400') as status_400,
  countIf(log_attributes['response.status_code'] = '409') as status_409,
  max(toFloat64OrZero(log_attributes['response.origin_time'])) as max_origin_time_ms
from logs
where source = 'edge_logs'
group by minute
order by minute
limit 1000
