-- postgres_logs, ERROR/FATAL/PANIC lines only, raw rows. ClickHouse flavour (`logs`).
-- The database evidence of `make fetch MODE=hybrid` (routine LOG lines are left out).
-- Paged like postgres_logs_raw (README.md, "The 1000-row cap").
select
  id,
  timestamp,
  event_message,
  severity_text,
  source,
  nullIf(log_attributes['parsed.sql_state_code'], '') as `parsed.sql_state_code`,
  nullIf(log_attributes['parsed.error_severity'], '') as `parsed.error_severity`,
  nullIf(log_attributes['parsed.user_name'], '') as `parsed.user_name`,
  nullIf(log_attributes['parsed.application_name'], '') as `parsed.application_name`,
  nullIf(log_attributes['parsed.command_tag'], '') as `parsed.command_tag`,
  nullIf(log_attributes['parsed.detail'], '') as `parsed.detail`,
  nullIf(log_attributes['parsed.query'], '') as `parsed.query`
from logs
where source = 'postgres_logs'
  and log_attributes['parsed.error_severity'] in ('ERROR', 'FATAL', 'PANIC')
order by timestamp asc, id asc
limit 1000
