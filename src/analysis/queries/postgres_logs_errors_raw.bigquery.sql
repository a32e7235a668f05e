-- postgres_logs, ERROR/FATAL/PANIC lines only, raw rows. BigQuery flavour (`logs.all`).
-- The database evidence of `make fetch MODE=hybrid` (routine LOG lines are left out).
-- Paged like postgres_logs_raw (README.md, "The 1000-row cap").
select t.id, t.timestamp, t.event_message, t.metadata
from postgres_logs as t
  cross join unnest(t.metadata) as m
  cross join unnest(m.parsed) as p
where p.error_severity in ('ERROR', 'FATAL', 'PANIC')
order by t.timestamp asc, t.id asc
limit 1000
