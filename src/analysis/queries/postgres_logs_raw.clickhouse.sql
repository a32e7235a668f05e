-- postgres_logs, raw rows. ClickHouse flavour: current Logs Explorer, Management API `logs`.
-- Every line Postgres logged; the csvlog fields (parsed.*) are strings. Statement text and
-- detail are often only in event_message.
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
  nullIf(log_attributes['parsed.sql_state_code'], '') as `parsed.sql_state_code`,
  nullIf(log_attributes['parsed.error_severity'], '') as `parsed.error_severity`,
  nullIf(log_attributes['parsed.user_name'], '') as `parsed.user_name`,
  nullIf(log_attributes['parsed.application_name'], '') as `parsed.application_name`,
  nullIf(log_attributes['parsed.command_tag'], '') as `parsed.command_tag`,
  nullIf(log_attributes['parsed.detail'], '') as `parsed.detail`,
  nullIf(log_attributes['parsed.query'], '') as `parsed.query`
from logs
where source = 'postgres_logs'
order by timestamp asc, id asc
limit 1000
