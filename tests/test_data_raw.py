"""The shipped raw data carries every published figure, read with plain json/gzip/csv.

Independent of the analysis code on purpose: these tests parse the files the way an analyst
with nothing but the standard library would, so a bug in ``analysis.ingest`` or in the
generator cannot hide a wrong figure. Expected values come from docs/shipped-incident.md (published
figures) and data/README.md (the numbers chosen for the report's words).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"
W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
W2 = "c9c7d93a-d775-4f8e-9243-8fdbb3618e2a"
START = datetime(2026, 2, 6, 5, 0, tzinfo=UTC)

# docs/shipped-incident.md, webinar 1: (max, min, samples) per 5-minute bucket from 14:00 KST.
PUBLISHED_ROWS = [
    (244, 214, 19),
    (299, 226, 33),
    (264, 147, 18),
    (47, 47, 1),
    (27, 27, 1),
    (36, 36, 1),
    (82, 2, 3),
    (135, 135, 1),
    (311, 88, 12),
    (253, 209, 20),
    (235, 198, 22),
    (235, 199, 23),
]
# data/README.md: "very high (dozens)" = 48, "high" = 24, "medium" = 12.
CHOSEN = {"registrations_pkey": 48, "42703": 24, "uq_marketing": 24, "22P02": 12, "disconnect": 48}

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shipped data not generated")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+00", "+00:00"))


def _from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


@cache
def _table(name: str) -> list[dict]:
    with (DATA / "tables" / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@cache
def _pages(source: str) -> list[list[dict]]:
    pages = []
    for path in sorted((DATA / source).glob("page-*.json.gz")):
        envelope = json.loads(gzip.decompress(path.read_bytes()))
        assert set(envelope) == {"result", "error"} and envelope["error"] is None, path
        pages.append(envelope["result"])
    return pages


def _rows(source: str) -> list[dict]:
    return [row for page in _pages(source) for row in page]


def _meta(row: dict) -> dict:
    return row["metadata"][0]


def _edge(row: dict) -> dict:
    m = _meta(row)
    return {
        "t": _from_us(row["timestamp"]),
        "method": m["request"][0]["method"],
        "path": m["request"][0]["path"],
        "status": m["response"][0]["status_code"],
        "user": m["request"][0]["sb"][0]["auth_user"],
    }


def _pg(row: dict) -> dict:
    return _meta(row)["parsed"][0]


def _samples(webinar: str) -> list[tuple[datetime, int]]:
    rows = [r for r in _table("webinar_viewer_counts.csv") if r["webinar_id"] == webinar]
    return sorted((_ts(r["sampled_at"]), int(r["viewer_count"])) for r in rows)


# ---- published figures ------------------------------------------------------------------------


def test_twelve_five_minute_rows_of_webinar_1():
    buckets = defaultdict(list)
    for t, v in _samples(W1):
        assert START <= t < START + timedelta(hours=1)
        buckets[int((t - START).total_seconds() // 300)].append(v)
    found = [(max(buckets[b]), min(buckets[b]), len(buckets[b])) for b in range(12)]
    assert found == PUBLISHED_ROWS
    assert sum(n for *_, n in found) == 154
    # "average peak concurrency" ~ 181 is the mean of the twelve maxima.
    assert round(sum(m for m, *_ in found) / 12) == 181 and sum(m for m, *_ in found) == 2168


def test_peaks_and_their_times():
    t_peak, v_peak = max(_samples(W1), key=lambda s: s[1])
    assert v_peak == 311
    assert t_peak.strftime("%H:%M") == "05:40"  # 14:40 KST
    assert max(v for _, v in _samples(W2)) == 2
    everything = _samples(W1) + _samples(W2)
    assert max(v for _, v in everything) == 311
    # Busiest windows: 14:05-14:10 and 14:40-14:45 carry the two highest bucket maxima.
    assert sorted(range(12), key=lambda b: -PUBLISHED_ROWS[b][0])[:2] == [8, 1]


def test_unique_users_and_registrations():
    presence = _table("webinar_live_presence.csv")
    users = {w: {r["user_id"] for r in presence if r["webinar_id"] == w} for w in (W1, W2)}
    assert (len(users[W1]), len(users[W2])) == (141, 2)
    assert len({r["user_id"] for r in presence}) == 143
    regs = Counter(r["webinar_id"] for r in _table("registrations.csv"))
    assert (regs[W1], regs[W2], sum(regs.values())) == (176, 1, 177)
    # The same people are the authenticated users of the API during the hour.
    api_users = {_edge(r)["user"] for r in _rows("edge_logs")} - {None}
    assert api_users == users[W1] | users[W2]


def test_webinars_table():
    rows = {r["id"]: r for r in _table("webinars.csv")}
    assert rows[W1]["title"] == "AI 특허리서치 실무 활용 웨비나"
    assert rows[W2]["title"] == "[테스트] 149400 웨비나"


# ---- the report's words as numbers, in its order of frequency ---------------------------------


def test_error_counts_follow_the_chosen_numbers_and_the_report_order():
    pg = [_pg(r) for r in _rows("postgres_logs")]
    msgs = Counter(
        (p["sql_state_code"], r["event_message"])
        for p, r in zip(pg, _rows("postgres_logs"), strict=True)
    )
    pkey = msgs[("23505", 'duplicate key value violates unique constraint "registrations_pkey"')]
    col = msgs[("42703", "column registrations.id does not exist")]
    mkt = msgs[
        ("23505", 'duplicate key value violates unique constraint "uq_marketing_stats_daily_key"')
    ]
    uuid = msgs[("22P02", 'invalid input syntax for type uuid: "null"')]
    disc = sum(
        1
        for r in _rows("realtime_logs")
        if re.fullmatch(
            r"Postgrex\.Protocol \(#PID<[\d.]+>\) disconnected: "
            r"\*\* \(DBConnection\.ConnectionError\) client #PID<[\d.]+> exited",
            r["event_message"],
        )
    )
    assert (pkey, col, mkt, uuid, disc) == tuple(CHOSEN.values())
    assert min(pkey, disc) > max(col, mkt) > uuid  # very high > high > medium
    assert 24 <= pkey <= 96 and 24 <= disc <= 96  # "dozens"
    errors = [p for p in pg if p["error_severity"] in ("ERROR", "FATAL", "PANIC")]
    assert len(errors) >= 100  # "about 100 or more"
    for p in errors:
        assert p["user_name"] == "authenticator" and p["application_name"].startswith("PostgREST")


def test_profiles_is_the_busiest_api_path():
    paths = Counter(_edge(r)["path"] for r in _rows("edge_logs"))
    top = [p for p, _ in paths.most_common()]
    assert top[0] == "/rest/v1/profiles"
    for path in (
        "/rest/v1/questions",
        "/rest/v1/webinars",
        "/auth/v1/user",
        "/rest/v1/registrations",
        "/rest/v1/webinar_live_presence",
    ):
        assert paths[path] > 0


# ---- one coherent story -----------------------------------------------------------------------


def _match(pg_kind, edge_filter) -> None:
    edge = [_edge(r) for r in _rows("edge_logs")]
    candidates = [e for e in edge if edge_filter(e)]
    used: set[int] = set()
    for row in _rows("postgres_logs"):
        p = _pg(row)
        if not pg_kind(row, p):
            continue
        t = _from_us(row["timestamp"])
        hits = [
            k
            for k, e in enumerate(candidates)
            if k not in used and abs((e["t"] - t).total_seconds()) <= 1.0
        ]
        assert hits, f"no edge row for {row['event_message']} at {t}"
        used.add(hits[0])
    assert len(used) == len(candidates), "edge failures without a Postgres error"


def test_every_registrations_pkey_23505_is_a_409_on_registrations_at_the_same_moment():
    def is_pkey(row, p):
        return p["sql_state_code"] == "23505" and "registrations_pkey" in row["event_message"]

    _match(is_pkey, lambda e: e["status"] == 409 and e["path"] == "/rest/v1/registrations")
    # ... and by the same user the detail names.
    edge = [_edge(r) for r in _rows("edge_logs")]
    for row in _rows("postgres_logs"):
        if is_pkey(row, _pg(row)):
            user = re.search(r"=\([0-9a-f-]+, ([0-9a-f-]+)\) already exists", _pg(row)["detail"])[1]
            t = _from_us(row["timestamp"])
            assert any(
                e["user"] == user and e["status"] == 409 and abs((e["t"] - t).total_seconds()) <= 1
                for e in edge
            )


def test_marketing_23505_are_409s_and_42703_22p02_are_400s():
    _match(
        lambda r, p: "uq_marketing_stats_daily_key" in r["event_message"],
        lambda e: e["status"] == 409 and e["path"] == "/rest/v1/marketing_stats_daily",
    )
    _match(
        lambda r, p: p["sql_state_code"] == "42703",
        lambda e: e["status"] == 400 and e["path"] == "/rest/v1/registrations",
    )
    _match(
        lambda r, p: p["sql_state_code"] == "22P02",
        lambda e: e["status"] == 400 and e["path"] == "/rest/v1/webinar_live_presence",
    )
    statuses = Counter(_edge(r)["status"] for r in _rows("edge_logs"))
    assert statuses[409] == CHOSEN["registrations_pkey"] + CHOSEN["uq_marketing"]
    assert statuses[400] == CHOSEN["42703"] + CHOSEN["22P02"]


def _billing() -> list[tuple[datetime, int, int]]:
    out = []
    for r in _rows("realtime_logs"):
        if r["event_message"] == "Billing metrics: [:realtime, :connections]":
            m = _meta(r)["measurements"][0]
            out.append((_from_us(r["timestamp"]), m["connected"], m["limit"]))
    return sorted(out)


def test_disconnects_only_while_realtime_connections_exceed_the_limit():
    billing = _billing()
    times = [b[0] for b in billing]
    n = 0
    for r in _rows("realtime_logs"):
        if "disconnected" in r["event_message"]:
            t = _from_us(r["timestamp"])
            k = bisect.bisect_right(times, t) - 1
            assert k >= 0 and (t - times[k]).total_seconds() <= 5
            assert billing[k][1] > billing[k][2], f"disconnect at {t} below the limit"
            n += 1
    assert n > 0
    assert any(c > lim for _, c, lim in billing) and any(c <= lim for _, c, lim in billing)


def test_samples_thin_out_while_realtime_is_down():
    times = [b[0] for b in _billing()]
    down = [(a, b) for a, b in zip(times, times[1:], strict=False) if (b - a).total_seconds() > 30]
    assert down, "no Realtime outage visible in the billing metrics"
    down_s = sum((b - a).total_seconds() for a, b in down)
    inside = sum(1 for t, _ in _samples(W1) if any(a < t < b for a, b in down))
    total = len(_samples(W1))
    rate_down = inside / (down_s / 60)
    rate_up = (total - inside) / ((3600 - down_s) / 60)
    assert rate_down < 0.25 * rate_up


def test_presence_counts_equal_the_monitor_and_sessions_outnumber_people():
    rows = [r for r in _table("webinar_live_presence.csv") if r["webinar_id"] == W1]
    spans = [(_ts(r["joined_at"]), _ts(r["left_at"]) if r["left_at"] else None) for r in rows]
    for t, v in _samples(W1):
        assert sum(1 for a, b in spans if a <= t and (b is None or t < b)) == v
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans if b is not None])
    level = peak = 0
    for _, d in events:
        level += d
        peak = max(peak, level)
    users = len({r["user_id"] for r in rows})
    assert peak > users and len(rows) > users


# ---- shapes -----------------------------------------------------------------------------------


def test_log_shapes_are_bigquery_management_api_pages():
    for source in ("edge_logs", "postgres_logs", "realtime_logs"):
        pages = _pages(source)
        assert pages and all(0 < len(p) <= 1000 for p in pages)
        for row in [r for p in pages for r in p[:50]]:
            assert len(str(row["timestamp"])) == 16 and isinstance(row["timestamp"], int)
            assert isinstance(row["metadata"], list) and len(row["metadata"]) == 1
            for value in row["metadata"][0].values():
                assert not isinstance(value, dict), "nested objects must be one-element lists"
    for row in _rows("edge_logs")[:500]:
        method, status, ip, ray, url, ua = row["event_message"].split(" | ")
        e = _edge(row)
        assert (method, int(status)) == (e["method"], e["status"])
        assert url.split("?")[0].endswith(e["path"]) and re.fullmatch(r"[0-9a-f]{16}", ray)
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip) and ua


def test_private_values_are_present_for_the_privacy_layer_to_remove():
    text = "".join(json.dumps(p) for p in _pages("edge_logs")[:3])
    assert "apikey=eyJ" in text and '"authorization": "Bearer eyJ' in text
    assert re.search(r'"x_real_ip": "\d+\.\d+\.\d+\.\d+"', text)


def test_checksum_manifest_lists_every_file():
    listed = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    on_disk = {
        str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "SHA256SUMS"
    }
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_annotations_and_manifest():
    with (DATA / "annotations.csv").open(newline="", encoding="utf-8") as handle:
        notes = list(csv.DictReader(handle))
    assert [n["time_utc"] for n in notes] == ["", "", ""]
    assert {"limits", "Compute", "Monitoring"} <= {w for n in notes for w in n["label"].split()}
    manifest = json.loads((DATA / "incident.json").read_text())
    assert manifest["window_start"] == "2026-02-06T05:00:00Z"
    assert manifest["window_end"] == "2026-02-06T06:00:00Z"
    assert manifest["project_ref"] == "yqsayphssjznthrxpgfb"
