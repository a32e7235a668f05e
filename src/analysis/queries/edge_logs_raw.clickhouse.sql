-- edge_logs, raw rows. ClickHouse flavour: current Logs Explorer, Management API `logs`.
-- One row per HTTP request through the API gateway (/rest, /auth, /storage, /realtime).
-- Only the attributes the analysis reads are selected, each as its own column named by its
-- key: the whole `log_attributes` map per row is large, and Supabase advises selecting the
-- keys a query uses. `nullIf` turns a key the row lacks ('' in ClickHouse) into null.
-- At most 1000 rows per run. Next page (Logs Explorer): add
--   and (timestamp, id) > ('<timestamp of the last row>', '<its id>')
-- after the `where` line. `make fetch FLAVOUR=clickhouse` pages this query for you (see
-- README.md, "The 1000-row cap").
select
  id,
  timestamp,
  event_message,
  severity_text,
  source,
  nullIf(log_attributes['identifier'], '') as `identifier`,
  nullIf(log_attributes['request.method'], '') as `request.method`,
  nullIf(log_attributes['request.path'], '') as `request.path`,
  nullIf(log_attributes['request.search'], '') as `request.search`,
  nullIf(log_attributes['request.url'], '') as `request.url`,
  nullIf(log_attributes['request.headers.x_client_info'], '') as `request.headers.x_client_info`,
  nullIf(log_attributes['request.headers.user_agent'], '') as `request.headers.user_agent`,
  nullIf(log_attributes['request.headers.cf_ray'], '') as `request.headers.cf_ray`,
  nullIf(log_attributes['request.headers.cf_connecting_ip'], '') as `request.headers.cf_connecting_ip`,
  nullIf(log_attributes['request.headers.x_real_ip'], '') as `request.headers.x_real_ip`,
  nullIf(log_attributes['request.headers.x_forwarded_for'], '') as `request.headers.x_forwarded_for`,
  nullIf(log_attributes['request.sb.auth_user'], '') as `request.sb.auth_user`,
  nullIf(log_attributes['request.sb.jwt.authorization.payload.subject'], '') as `request.sb.jwt.authorization.payload.subject`,
  nullIf(log_attributes['response.status_code'], '') as `response.status_code`,
  nullIf(log_attributes['response.origin_time'], '') as `response.origin_time`,
  nullIf(log_attributes['response.headers.cf_ray'], '') as `response.headers.cf_ray`
from logs
where source = 'edge_logs'
order by timestamp asc, id asc
limit 1000
