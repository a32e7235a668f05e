-- edge_logs, distinct signed-in users per minute. ClickHouse flavour (`logs`).
-- uniq is ClickHouse's adaptive-sampling estimate (approximate, exact below 65536 values);
-- `requests` lets `make fetch MODE=hybrid` check each minute against a count of its rows.
select
  toStartOfMinute(timestamp) as minute,
  uniq(nullIf(log_attributes['request.sb.auth_user'], '')) as users,
  count() as requests
from logs
where source = 'edge_logs'
group by minute
order by minute
limit 1000
