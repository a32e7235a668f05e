-- edge_logs, failed requests only (status >= 400), raw rows. ClickHouse flavour (`logs`).
-- The evidence rows of `make fetch MODE=hybrid`: few even on a busy project; the traffic
-- around them comes aggregated (edge_logs_traffic_per_minute, edge_logs_users_per_minute).
-- Paged like edge_logs_raw (README.md, "The 1000-row cap").
select
  id,
  timestamp,
  event_message,
  severity_text,
  source,
  nullIf(log_attributes['request.method'], '') as `request.method`,
  nullIf(log_attributes['request.path'], '') as `request.path`,
  nullIf(log_attributes['request.search'], '') as `request.search`,
  nullIf(log_attributes['request.url'], '') as `request.url`,
  nullIf(log_attributes['request.headers.x_client_info'], '') as `request.headers.x_client_info`,
  nullIf(log_attributes['request.headers.user_agent'], '') as `request.headers.user_agent`,
  nullIf(log_attributes['request.headers.cf_ray'], '') as `request.headers.cf_ray`,
  nullIf(log_attributes['request.sb.auth_user'], '') as `request.sb.auth_user`,
  nullIf(log_attributes['request.sb.jwt.authorization.payload.subject'], '') as `request.sb.jwt.authorization.payload.subject`,
  nullIf(log_attributes['response.status_code'], '') as `response.status_code`,
  nullIf(log_attributes['response.origin_time'], '') as `response.origin_time`,
  nullIf(log_attributes['response.headers.cf_ray'], '') as `response.headers.cf_ray`
from logs
where source = 'edge_logs'
  and toInt32OrZero(log_attributes['response.status_code']) >= 400
order by timestamp asc, id asc
limit 1000
