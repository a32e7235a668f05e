"""Rewrite queries/realtime_logs_per_minute.*.sql from vocabulary.REALTIME_FAMILY_RULES.

Run after changing a Realtime family; tests/test_fetch.py checks that both files match the
rules. Usage: ``.venv/bin/python scripts/realtime_per_minute_sql.py``.
"""

from __future__ import annotations

from pathlib import Path

from analysis.vocabulary import REALTIME_FAMILY_RULES


def sql_family_columns(flavour: str) -> list[str]:
    """Return one count column per family: its pattern, and none of the earlier ones."""
    cols = []
    earlier = []
    for rule in REALTIME_FAMILY_RULES:
        if flavour == "bigquery":
            cond = f"regexp_contains(t.event_message, '{rule.pattern}')"
            if earlier:
                cond += f" and not regexp_contains(t.event_message, '{'|'.join(earlier)}')"
            cols.append(f"  countif({cond}) as {rule.name}")
        else:
            cond = f"match(event_message, '{rule.pattern}')"
            if earlier:
                cond += f" and not match(event_message, '{'|'.join(earlier)}')"
            cols.append(f"  countIf({cond}) as {rule.name}")
        earlier.append(f"(?:{rule.pattern})")
    return cols


HEAD = {
    "bigquery": """\
-- realtime_logs, lines per minute by family. BigQuery flavour (legacy Logs Explorer,
-- `logs.all`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families are the analysis's own (src/analysis/vocabulary.py, REALTIME_FAMILY_RULES):
-- the same patterns in the same order, a line counted in the first family it matches, so
-- these counts are the ones the report's Realtime classes start from.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  count(*) as lines,
  countif(m.level = 'error') as level_error,
  countif(m.level in ('warning', 'warn')) as level_warning,
""",
    "clickhouse": """\
-- realtime_logs, lines per minute by family. ClickHouse flavour (current Logs Explorer,
-- `logs`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families are the analysis's own (src/analysis/vocabulary.py, REALTIME_FAMILY_RULES):
-- the same patterns in the same order, a line counted in the first family it matches, so
-- these counts are the ones the report's Realtime classes start from.
select
  toStartOfMinute(timestamp) as minute,
  count() as lines,
  countIf(lower(log_attributes['level']) = 'error' or severity_text = 'ERROR') as level_error,
  countIf(lower(log_attributes['level']) in ('warning', 'warn') or severity_text in \
('WARNING', 'WARN')) as level_warning,
""",
}
TAIL = {
    "bigquery": """from realtime_logs as t
  cross join unnest(t.metadata) as m
group by minute
order by minute
limit 1000
""",
    "clickhouse": """from logs
where source = 'realtime_logs'
group by minute
order by minute
limit 1000
""",
}


def main() -> None:
    """Write both flavours' files next to the other queries."""
    root = Path(__file__).resolve().parents[1] / "src" / "analysis" / "queries"
    for flavour in ("bigquery", "clickhouse"):
        text = HEAD[flavour] + ",\n".join(sql_family_columns(flavour)) + "\n" + TAIL[flavour]
        (root / f"realtime_logs_per_minute.{flavour}.sql").write_text(text)


if __name__ == "__main__":
    main()
