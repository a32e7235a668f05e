-- postgres_logs, errors per minute and SQLSTATE. ClickHouse flavour (current Logs Explorer,
-- `logs`). One row per (minute, severity, SQLSTATE) that occurred; if the result has exactly
-- 1000 rows it was cut, so narrow the time range.
select
  toStartOfMinute(timestamp) as minute,
  log_attributes['parsed.error_severity'] as error_severity,
  log_attributes['parsed.sql_state_code'] as sql_state_code,
  count() as n
from logs
where source = 'postgres_logs'
  and log_attributes['parsed.error_severity'] in ('ERROR', 'FATAL', 'PANIC')
group by minute, error_severity, sql_state_code
order by minute, n desc
limit 1000
