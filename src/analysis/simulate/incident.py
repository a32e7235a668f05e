"""Causal model of a webinar-platform incident on Supabase, and the writer of its raw exports.

The model, one second at a time over the incident window (``data/README.md`` tells it in prose):

1. **Audience.** Each webinar has a true audience ``A(t)`` (open tabs, ``audience`` knots) and a
   presence shape (``shape`` knots): what Realtime presence sees. They differ only while
   Realtime is down, when tabs keep watching and polling but drop out of presence.
2. **Monitor samples.** The app's concurrency monitor writes a sample on Realtime presence
   syncs, so it samples every ``sample_every_s`` while Realtime is up and almost never while it
   is down. For the shipped incident the published 5-minute rows (max, min, samples) are
   inputs: each bucket gets exactly its number of samples and its values are the shape plus
   noise, rescaled so the bucket's extremes are exactly the published max and min.
3. **Sessions.** Presence sessions (one per tab, device or reconnect) are born and die so that
   the number of open sessions equals the sampled value at every sample time, with turnover
   (tabs reloaded, sockets re-opened) on top; a user re-opening gets a new session, so there
   are more sessions than people. Realtime connections ``C(t)`` are the open sessions plus the
   monitor's sockets, reported every 5 s in ``Billing metrics`` rows while Realtime is up.
4. **Capacity.** Realtime disconnects (``Postgrex.Protocol ... disconnected``) occur with an
   intensity proportional to ``C(t - lag) - limit`` when positive (limit = the plan's
   concurrent connections); pool errors (``connection not available ... dropped from queue``)
   in proportion to the Postgres connections in use, ``db_base + A(t) / tabs_per_db_conn``,
   above the compute size's maximum. A plan change (limits raised, compute upgraded) at
   ``upgrade_at_s`` lifts both ceilings. While Realtime is down it logs
   ``DatabaseLackOfConnections`` on every reconnect attempt.
5. **Client bugs.** Each session start (page load, reconnect) runs client code with bugs: a
   registration insert for a user already registered (409, 23505 ``registrations_pkey``), a
   registrations query for a column the table lacks (400, 42703), a marketing-statistics insert
   racing on the daily row (409, 23505 ``uq_marketing_stats_daily_key``) and a presence insert
   before auth is restored (400, 22P02 on ``"null"``). Each failure is one edge_logs row and one
   postgres_logs row at the same moment. With ``link="none"`` the same errors occur at uniform
   random times instead (no relation to load: a null incident).
6. **Traffic.** REST polling (profiles, questions, webinars, presence heartbeats, auth checks)
   is Poisson in ``A(t)`` with per-tab rates; every session start adds its own requests.

An error class is drawn either with an exact ``count`` (its times drawn from the driver's
intensity, as for the shipped incident, whose counts are the report's words made numbers) or,
with ``count=None``, as a Poisson process with the given ``rate``. Ground truth is the
parameters; nothing of it is written into the incident directory.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analysis._util import sha256_file
from analysis.config import DEFAULT_INCIDENT_DIR
from analysis.exceptions import AnalysisError, ParameterError
from analysis.simulate.records import (
    edge_row,
    format_csv_ts,
    new_uuid4,
    new_uuid4s,
    postgres_row,
    realtime_row,
    to_us,
    write_pages,
)


class DataIntegrityError(AnalysisError):
    """A raw data file does not match its checksum manifest, or cannot be regenerated."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketTarget:
    """A published 5-minute row of viewer counts: exact max, min and number of samples."""

    max: int
    min: int
    samples: int


@dataclass(frozen=True)
class WebinarSpec:
    """One webinar: identity, people, and the shape of its audience.

    ``shape`` and ``audience`` are knots ``(minute from window start, sessions)`` linearly
    interpolated; ``audience=None`` means the true audience equals the presence shape.
    ``sample_span`` limits the monitor to ``(first, last)`` minutes (``None``: the window).
    """

    id: str
    title: str
    starts_at_min: float
    ends_at_min: float
    users: int
    registrations: int
    walk_ins: int
    shape: tuple[tuple[float, float], ...]
    audience: tuple[tuple[float, float], ...] | None = None
    buckets: tuple[BucketTarget, ...] | None = None
    peak_minute: int | None = None
    sample_span: tuple[float, float] | None = None
    ghost_sessions: int = 0


@dataclass(frozen=True)
class ErrorProcess:
    """One error process: its driver, its size (exact count or rate), its lag and link.

    ``driver``: ``"session_start"`` (client bugs run on each session start),
    ``"realtime_excess"`` (connections above the Realtime limit), ``"db_excess"`` (Postgres
    connections above the compute maximum). ``link="none"`` draws times uniformly instead.
    ``rate`` is per session start, or per excess-connection-second.
    """

    kind: str
    driver: str
    count: int | None
    rate: float = 0.0
    lag_s: float = 0.0
    link: str = "load"


@dataclass(frozen=True)
class IncidentParams:
    """Everything the generator needs; the ground truth of a simulated incident."""

    name: str
    seed: int
    project_ref: str
    window_start: datetime
    window_minutes: int
    webinars: tuple[WebinarSpec, ...]
    errors: tuple[ErrorProcess, ...]
    display_tz: str = "Asia/Seoul"
    bucket_minutes: int = 5
    sample_every_s: float = 15.0
    sample_noise: float = 0.04
    outages: tuple[tuple[float, float], ...] = ()
    outage_retry_s: float = 30.0
    monitor_sockets: int = 2
    realtime_limit: int = 200
    realtime_limit_after: int = 500
    db_max_connections: int = 60
    db_max_connections_after: int = 90
    db_base_connections: int = 38
    tabs_per_db_connection: float = 10.0
    upgrade_at_min: float | None = None
    session_lifetime_min: float = 25.0
    reconnect_share: float = 0.7
    rest_rates_per_min: tuple[tuple[str, float], ...] = (
        ("profiles", 1.0),
        ("questions", 0.6),
        ("presence_heartbeat", 0.5),
        ("auth_user", 0.2),
        ("webinars", 0.1),
    )
    annotations: tuple[tuple[str, str, str], ...] = ()
    #: Claims an earlier write-up made about the incident, written to ``incident.json``
    #: (``analysis.claims`` documents their form); empty: no ``claims`` key.
    claims: tuple[dict, ...] = ()
    #: The incident's own recommendations (its original report's), written to ``incident.json``
    #: (``analysis.actions`` documents their form); empty: no ``recommendations`` key.
    recommendations: tuple[dict, ...] = ()


ERROR_KINDS = (
    "registrations_pkey",
    "undefined_column",
    "marketing_stats",
    "uuid_null",
    "realtime_disconnect",
    "pool_exhausted",
)
DRIVERS = ("session_start", "realtime_excess", "db_excess")


def shipped_params() -> IncidentParams:
    """Parameters of the shipped reconstruction of the 2026-02-06 EventLive outage.

    The published figures (docs/shipped-incident.md) are inputs here: the twelve 5-minute rows, the
    peak minute, users and registrations per webinar. The error counts are the report's words
    made numbers (``data/README.md``): "very high (dozens)" = 48, "high" = 24, "medium" = 12.
    """
    main = WebinarSpec(
        id="f257ce42-723a-4fad-a9a5-1bd8c154d7ce",
        title="AI 특허리서치 실무 활용 웨비나",
        starts_at_min=0.0,
        ends_at_min=60.0,
        users=141,
        registrations=176,
        walk_ins=6,
        shape=(
            (0, 232),
            (2, 244),
            (3.5, 216),
            (5, 230),
            (7, 282),
            (8.5, 299),
            (10, 262),
            (12, 228),
            (13.5, 190),
            (14.2, 150),
            (15, 47),
            (20, 27),
            (25, 36),
            (30, 12),
            (32, 2),
            (34, 82),
            (36, 135),
            (39.9, 135),
            (40.05, 88),
            (40.75, 311),
            (42, 282),
            (45, 253),
            (47, 222),
            (50, 235),
            (52, 204),
            (55, 235),
            (57, 212),
            (60, 214),
        ),
        audience=(
            (0, 232),
            (2, 244),
            (3.5, 216),
            (5, 230),
            (7, 282),
            (8.5, 299),
            (10, 262),
            (12, 228),
            (14.2, 222),
            (20, 205),
            (30, 196),
            (38, 214),
            (40.75, 240),
            (42, 252),
            (45, 245),
            (47, 222),
            (50, 235),
            (52, 204),
            (55, 235),
            (57, 212),
            (60, 214),
        ),
        buckets=(
            BucketTarget(244, 214, 19),
            BucketTarget(299, 226, 33),
            BucketTarget(264, 147, 18),
            BucketTarget(47, 47, 1),
            BucketTarget(27, 27, 1),
            BucketTarget(36, 36, 1),
            BucketTarget(82, 2, 3),
            BucketTarget(135, 135, 1),
            BucketTarget(311, 88, 12),
            BucketTarget(253, 209, 20),
            BucketTarget(235, 198, 22),
            BucketTarget(235, 199, 23),
        ),
        peak_minute=40,
        ghost_sessions=3,
    )
    test = WebinarSpec(
        id="c9c7d93a-d775-4f8e-9243-8fdbb3618e2a",
        title="[테스트] 149400 웨비나",
        starts_at_min=44.0,
        ends_at_min=58.0,
        users=2,
        registrations=1,
        walk_ins=0,
        shape=((44.5, 0), (45, 1), (47, 1), (47.5, 2), (55, 2), (56, 1), (57.5, 1), (58, 0)),
        sample_span=(45.2, 57.2),
    )
    errors = (
        ErrorProcess("registrations_pkey", "session_start", 48),
        ErrorProcess("undefined_column", "session_start", 24),
        ErrorProcess("marketing_stats", "session_start", 24),
        ErrorProcess("uuid_null", "session_start", 12),
        ErrorProcess("realtime_disconnect", "realtime_excess", 48),
        ErrorProcess("pool_exhausted", "db_excess", 16),
    )
    return IncidentParams(
        name="2026-02-06-eventlive",
        seed=20260206,
        project_ref="yqsayphssjznthrxpgfb",
        window_start=datetime(2026, 2, 6, 5, 0, tzinfo=UTC),
        window_minutes=60,
        webinars=(main, test),
        errors=errors,
        outages=((14.2, 40.05),),
        upgrade_at_min=38.5,
        annotations=(
            ("", "Supabase limits raised", "Immediate response in the report; time not given."),
            ("", "Compute size upgraded", "Immediate response in the report; time not given."),
            ("", "Monitoring strengthened", "Immediate response in the report; time not given."),
        ),
        claims=shipped_claims(main.id, test.id),
        recommendations=SHIPPED_RECOMMENDATIONS,
    )


def _recommendation(ko: str, en: str, *classes: str) -> dict:
    return {"text": {"ko": ko, "en": en}, "classes": list(classes)}


#: The original report's recommendations, in its words (ko) with an English rendering; each
#: names the error classes it answers (none: it stands whatever the classes).
SHIPPED_RECOMMENDATIONS = (
    _recommendation(
        "클라이언트 사이드 중복 등록 요청 방지 (멱등 제출)",
        "Prevent duplicate registration requests on the client (idempotent submit)",
        "23505:registrations_pkey",
    ),
    _recommendation(
        "존재하지 않는 컬럼 registrations.id를 조회하는 쿼리 수정",
        "Fix the query on registrations.id, a column the table does not have",
        "42703",
    ),
    _recommendation(
        'UUID 자리에 문자열 "null"을 보내지 않도록 수정',
        'Stop sending the string "null" where a UUID is expected',
        "22P02",
    ),
    _recommendation(
        "일별 마케팅 통계를 동시 삽입 대신 upsert로 기록",
        "Write daily marketing statistics with an upsert instead of concurrent inserts",
        "23505:uq_marketing_stats_daily_key",
    ),
    _recommendation(
        "피크에 맞게 연결 풀(PgBouncer / Supavisor) 크기 조정",
        "Resize the connection pool (PgBouncer / Supavisor) for the peak",
        "realtime:disconnect",
    ),
    _recommendation(
        "예상 동시 접속에 맞춘 Realtime 연결 용량 계획",
        "Plan Realtime connections for the expected concurrency",
    ),
    _recommendation(
        "동시 접속자 수 임계값 초과 시 알림", "Alert when concurrency passes a threshold"
    ),
    _recommendation(
        "API 응답 시간과 오류율 모니터링",
        "Monitor API response times and error rates",
    ),
    _recommendation(
        "행사 전 부하 테스트로 한계점 사전 파악",
        "Load-test to find the breaking point before the event",
    ),
    _recommendation(
        "자주 조회되는 데이터(프로필, 웨비나 정보) 캐싱 및 배치 조회",
        "Cache and batch frequent reads (profiles, webinar info)",
    ),
    _recommendation(
        "실패한 요청에 지수 백오프 재시도 적용",
        "Retry failed requests with exponential backoff",
        "realtime:disconnect",
    ),
)


def shipped_claims(main_id: str, test_id: str) -> tuple[dict, ...]:
    """Return the published report's checkable claims in its own words (see data/README.md).

    Figures are the report's; its frequency words become ranges once ("dozens" = 24 to 96,
    "about 100 or more" = at least 100); causes are what its analysis names as the reason.
    """

    def claim(statement: str, measures: str, figure: object, **extra: object) -> dict:
        return {"statement": statement, "measures": measures, "figure": figure, **extra}

    return (
        claim(
            "최대 동시 접속자: 311명 (14:40 KST)",
            "peak_concurrent_viewers",
            311,
            webinar_id=main_id,
        ),
        claim(
            "평균 최대 동시 접속자: 약 181명",
            "average_concurrency",
            181,
            approximate=True,
            webinar_id=main_id,
        ),
        claim("총 고유 사용자: 141명", "unique_users", 141, webinar_id=main_id),
        claim("등록 건수: 176건", "registrations", 176, webinar_id=main_id),
        claim("최대 동시 접속자: 2명", "peak_concurrent_viewers", 2, webinar_id=test_id),
        claim("총 고유 사용자: 2명", "unique_users", 2, webinar_id=test_id),
        claim("등록 건수: 1건", "registrations", 1, webinar_id=test_id),
        claim("총 동시 접속 피크: 311명 (14:40 KST)", "peak_concurrent_viewers", 311),
        claim("총 고유 접속자: 143명", "unique_users", 143),
        claim("총 등록 건수: 177건", "registrations", 177),
        claim(
            '"registrations_pkey" 중복 키 위반: 매우 높음 (수십 건)',
            "error_count",
            [24, 96],
            error_class="23505:registrations_pkey",
        ),
        claim(
            "Realtime 연결 끊김: 매우 높음 (수십 건)",
            "error_count",
            [24, 96],
            error_class="realtime:disconnect",
        ),
        claim("Postgres 에러: 약 100건 이상", "error_count", [100, None], source="db_errors"),
        claim(
            "중복 키 위반 원인: 동시에 많은 사용자가 등록을 시도하며 중복 방지 로직이 충돌",
            "error_cause",
            "capacity",
            error_class="23505:registrations_pkey",
        ),
        claim(
            "마케팅 통계 중복 키 원인: 동시에 여러 요청이 같은 일별 통계 레코드를 생성",
            "error_cause",
            "capacity",
            error_class="23505:uq_marketing_stats_daily_key",
        ),
        claim(
            "Realtime 연결 불안정 원인: 데이터베이스 연결 풀 한도 초과, 과도한 동시 연결 요청",
            "error_cause",
            "capacity",
            error_class="realtime:disconnect",
        ),
        claim("즉시 조치: Supabase 한도 상향 (완료)", "limit_raised", None),
        claim("즉시 조치: 컴퓨트 사양 변경 (완료)", "compute_upgraded", None),
    )


def synthetic_params(
    *,
    seed: int = 0,
    minutes: int = 60,
    base: float = 150.0,
    peak: float = 320.0,
    peak_at_min: float | None = None,
    realtime_limit: int = 200,
    lag_s: float = 0.0,
    bug_rate: float = 0.03,
    disconnect_rate: float = 0.002,
    link: str = "load",
    outages: tuple[tuple[float, float], ...] = (),
) -> IncidentParams:
    """Return a simulated incident with known ground truth, for validating the analysis.

    One webinar whose audience rises from ``base`` to ``peak`` and back; Realtime disconnects
    at ``disconnect_rate`` per connection-second above ``realtime_limit``, ``lag_s`` later;
    client bugs at ``bug_rate`` per session start. ``link="none"`` makes every error class
    ignore load (uniform times): a null incident.
    """
    ramp = max(minutes / 6, 1.0)
    peak_at_min = minutes / 2 if peak_at_min is None else peak_at_min
    shape = (
        (0.0, base),
        (max(peak_at_min - ramp, 0.5), base),
        (peak_at_min, peak),
        (min(peak_at_min + ramp, minutes - 0.5), base),
        (float(minutes), base),
    )
    web = WebinarSpec(
        id="00000000-0000-4000-8000-000000000001",
        title="simulated webinar",
        starts_at_min=0.0,
        ends_at_min=float(minutes),
        users=max(int(base * 0.6), 2),
        registrations=max(int(base * 0.8), 2),
        walk_ins=2,
        shape=shape,
    )
    errors = tuple(
        ErrorProcess(kind, "session_start", None, rate=bug_rate * share, lag_s=lag_s, link=link)
        for kind, share in (
            ("registrations_pkey", 1.0),
            ("undefined_column", 0.5),
            ("marketing_stats", 0.5),
            ("uuid_null", 0.25),
        )
    ) + (
        ErrorProcess("realtime_disconnect", "realtime_excess", None, disconnect_rate, lag_s, link),
        ErrorProcess("pool_exhausted", "db_excess", None, disconnect_rate, lag_s, link),
    )
    return IncidentParams(
        name=f"simulated-{seed}",
        seed=seed,
        project_ref="abcdefghijklmnopqrst",
        window_start=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        window_minutes=minutes,
        webinars=(web,),
        errors=errors,
        outages=outages,
        realtime_limit=realtime_limit,
        realtime_limit_after=realtime_limit,
    )


# --------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """One presence session: a tab, device or reconnect of one user on one webinar."""

    webinar: int
    user: int
    joined: float
    left: float | None
    first_of_user: bool


@dataclass(frozen=True)
class ErrorEvent:
    """One realised error: class, time (seconds from window start), webinar and user index."""

    kind: str
    t: float
    webinar: int
    user: int


@dataclass(frozen=True)
class SimulatedIncident:
    """The simulated incident before serialisation (times in seconds from window start)."""

    params: IncidentParams
    users: tuple[tuple[str, ...], ...]
    samples: tuple[tuple[tuple[float, int], ...], ...]
    sessions: tuple[Session, ...]
    connections: np.ndarray
    audience: np.ndarray
    up: np.ndarray
    errors: tuple[ErrorEvent, ...]
    registered_at: tuple[dict, ...] = field(default_factory=tuple)


def _rng(params: IncidentParams, stream: int) -> np.random.Generator:
    # One independent stream per component: changing one part leaves the others' draws alone.
    return np.random.default_rng([params.seed, stream])


def _interp(knots: tuple[tuple[float, float], ...], minutes: np.ndarray) -> np.ndarray:
    xs = np.array([k[0] for k in knots], dtype=float)
    ys = np.array([k[1] for k in knots], dtype=float)
    return np.interp(minutes, xs, ys)


def _up_mask(params: IncidentParams, n_seconds: int) -> np.ndarray:
    up = np.ones(n_seconds, dtype=bool)
    for start, end in params.outages:
        up[int(np.floor(start * 60)) : int(np.ceil(end * 60))] = False
    return up


def _validate(params: IncidentParams) -> None:
    if params.window_start.tzinfo is None:
        raise ParameterError("window_start: expected a tz-aware UTC datetime, found naive")
    for err in params.errors:
        if err.kind not in ERROR_KINDS:
            raise ParameterError(f"errors.kind: expected one of {ERROR_KINDS}, found {err.kind!r}")
        if err.driver not in DRIVERS:
            raise ParameterError(f"errors.driver: expected one of {DRIVERS}, found {err.driver!r}")
        if err.link not in ("load", "none"):
            raise ParameterError(f"errors.link: expected 'load' or 'none', found {err.link!r}")
        if err.count is None and err.rate < 0:
            raise ParameterError(f"errors.rate of {err.kind}: expected >= 0, found {err.rate}")
    for web in params.webinars:
        if web.buckets is not None:
            expected = params.window_minutes // params.bucket_minutes
            if len(web.buckets) != expected:
                raise ParameterError(
                    f"webinar {web.id} buckets: expected {expected} rows, found {len(web.buckets)}"
                )
        if not 0 <= web.walk_ins <= min(web.users, web.registrations):
            raise ParameterError(
                f"webinar {web.id} walk_ins: expected 0..min(users, registrations), "
                f"found {web.walk_ins}"
            )


def _sample_times(
    params: IncidentParams, web: WebinarSpec, up: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Monitor sample times (seconds, fractional part in [0.6, 1)) for one webinar."""
    n_seconds = up.size
    times: list[float] = []
    if web.buckets is not None:
        width = params.bucket_minutes * 60
        for b, target in enumerate(web.buckets):
            lo, hi = b * width, (b + 1) * width
            seconds = np.arange(lo, hi)
            allowed = seconds[up[lo:hi]]
            # Up stretches are sampled on a jittered grid; a bucket wholly down gets its few
            # samples at random moments (the monitor's brief reconnections).
            if allowed.size >= target.samples * 4:
                a, z = float(allowed[0]), float(allowed[-1] + 1)
                step = (z - a) / target.samples
                picks = (
                    a + (np.arange(target.samples) + rng.uniform(0.2, 0.8, target.samples)) * step
                )
                picks = np.floor(picks)
            else:
                picks = np.sort(rng.choice(seconds, size=target.samples, replace=False))
            times.extend(float(s) for s in picks)
    else:
        first, last = web.sample_span or (0.0, params.window_minutes)
        t = first * 60 + rng.uniform(0, params.sample_every_s)
        while t < min(last * 60, n_seconds):
            s = int(t)
            if up[s] or rng.random() < 0.05:
                times.append(float(s))
            t += params.sample_every_s * rng.uniform(0.7, 1.3)
    secs = np.array(sorted(set(times)), dtype=float)
    return secs + rng.uniform(0.6, 0.99, secs.size)


def _sample_values(
    params: IncidentParams, web: WebinarSpec, times: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Viewer counts at the sample times: shape plus noise, bucket extremes pinned if given."""
    base = _interp(web.shape, times / 60.0)
    noisy = base * (1.0 + params.sample_noise * rng.standard_normal(times.size))
    if web.buckets is None:
        return np.maximum(np.rint(noisy), 0).astype(int)
    values = np.empty(times.size, dtype=int)
    width = params.bucket_minutes * 60
    index = (times // width).astype(int)
    for b, target in enumerate(web.buckets):
        sel = np.flatnonzero(index == b)
        if sel.size != target.samples:
            raise ParameterError(
                f"webinar {web.id} bucket {b}: expected {target.samples} samples, "
                f"found {sel.size} (outages leave too little room)"
            )
        raw = noisy[sel]
        if target.max == target.min:
            values[sel] = target.min
            continue
        if sel.size == 1:
            raise ParameterError(
                f"webinar {web.id} bucket {b}: one sample cannot have max {target.max} "
                f"and min {target.min}"
            )
        lo, hi = raw.min(), raw.max()
        scaled = target.min + (raw - lo) / max(hi - lo, 1e-9) * (target.max - target.min)
        values[sel] = np.clip(np.rint(scaled), target.min, target.max).astype(int)
        values[sel[np.argmin(raw)]] = target.min
        values[sel[np.argmax(raw)]] = target.max
    if web.peak_minute is not None:
        at = int(times[np.argmax(values)] // 60)
        if at != web.peak_minute:
            raise ParameterError(
                f"webinar {web.id}: expected the peak in minute {web.peak_minute}, "
                f"found it in minute {at}; adjust the shape knots or the seed"
            )
    return values


def _target_path(
    web: WebinarSpec, times: np.ndarray, values: np.ndarray, n_seconds: int, rng
) -> np.ndarray:
    """Open sessions per second: through every sample exactly, a noisy bridge in between."""
    seconds = np.arange(n_seconds, dtype=float)
    node_s = np.floor(times)
    # Outside the sampled span the presence shape holds (e.g. a test webinar starting late).
    before = [(s, v) for s, v in zip(seconds, _interp(web.shape, seconds / 60), strict=True)]
    nodes = {int(s): float(v) for s, v in before if not node_s[0] <= s <= node_s[-1]}
    for s, v in zip(node_s, values, strict=True):
        nodes[int(s)] = float(v)
    xs = np.array(sorted(nodes), dtype=float)
    ys = np.array([nodes[int(x)] for x in xs])
    path = np.interp(seconds, xs, ys)
    # Brownian bridge between consecutive samples: realistic wiggle, zero at every sample.
    noise = np.zeros(n_seconds)
    for a, b in zip(node_s[:-1].astype(int), node_s[1:].astype(int), strict=True):
        if b - a < 3:
            continue
        walk = np.cumsum(rng.standard_normal(b - a + 1)) * 0.35
        walk -= walk[0] + (walk[-1] - walk[0]) * np.linspace(0, 1, b - a + 1)
        noise[a : b + 1] = walk * np.sqrt(max(path[a], 1) / 100)
    target = np.maximum(np.rint(path + noise), 0).astype(int)
    target[node_s.astype(int)] = values
    return target


def _simulate_sessions(
    params: IncidentParams,
    w: int,
    web: WebinarSpec,
    target: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[Session], list[np.ndarray]]:
    """Births and deaths of presence sessions following ``target``; active users per second."""
    n_seconds = target.size
    weights = rng.gamma(1.5, 1.0, web.users)
    weights /= weights.sum()
    unseen = list(rng.permutation(web.users))
    seen: set[int] = set()
    reconnect: list[int] = []
    active: list[list] = []  # [user, joined, first_of_user]
    done: list[Session] = []
    snapshots: list[np.ndarray] = []
    lifetime = params.session_lifetime_min * 60

    def pick_user() -> int:
        if unseen:
            return int(unseen.pop())
        if reconnect and rng.random() < 0.9:
            return reconnect.pop(0)
        return int(rng.choice(web.users, p=weights))

    def birth(t: float) -> None:
        user = pick_user()
        active.append([user, t, user not in seen])
        seen.add(user)

    def death(t: float) -> None:
        k = int(rng.integers(len(active)))
        user, joined, first = active.pop(k)
        done.append(Session(w, user, joined, t, first))
        if rng.random() < params.reconnect_share:
            reconnect.append(user)

    for _ in range(int(target[0])):
        birth(-float(rng.uniform(60, 1800)))
    for s in range(n_seconds):
        churn = rng.poisson(len(active) / lifetime) if active else 0
        change = int(target[s]) - len(active)
        n_death = churn + max(-change, 0)
        n_birth = churn + max(change, 0)
        offsets = np.sort(rng.uniform(0.0, 0.5, n_death + n_birth))
        # Deaths first, then births, all inside [s, s + 0.5): a sample at s + 0.6 sees target[s].
        for off in offsets[:n_death]:
            death(s + float(off))
        for off in offsets[n_death:]:
            birth(s + float(off))
        snapshots.append(np.array([a[0] for a in active], dtype=int))
    if unseen:
        raise ParameterError(
            f"webinar {web.id}: expected {web.users} users among its sessions, only "
            f"{web.users - len(unseen)} got one; raise the shape or the turnover"
        )
    ghosts = set(rng.choice(len(active), size=min(web.ghost_sessions, len(active)), replace=False))
    for k, (user, joined, first) in enumerate(active):
        left = None if k in ghosts else n_seconds + float(rng.uniform(5, 600))
        done.append(Session(w, user, joined, left, first))
    done.sort(key=lambda x: (x.joined, x.user))
    return done, snapshots


def _draw_seconds(
    rng: np.random.Generator,
    intensity: np.ndarray,
    count: int | None,
    rate: float,
    what: str,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """Seconds of ``count`` events (or Poisson with mean ``rate * sum(intensity)``).

    Times follow ``intensity``, or ``spread`` when given: a null incident keeps the size the
    load would give but places the events without regard to it.
    """
    total = float(intensity.sum())
    n = int(rng.poisson(rate * total)) if count is None else count
    if n == 0:
        return np.array([], dtype=int)
    where = intensity if spread is None else spread
    if float(where.sum()) <= 0:
        raise ParameterError(f"{what}: expected a driver that is positive somewhere, found none")
    return np.sort(rng.choice(where.size, size=n, p=where / where.sum()))


def simulate(params: IncidentParams) -> SimulatedIncident:
    """Run the causal model: samples, sessions, connections and errors, all seeded."""
    _validate(params)
    n_seconds = params.window_minutes * 60
    up = _up_mask(params, n_seconds)
    minutes = np.arange(n_seconds) / 60.0
    users, samples, sessions, snapshots_all, audience = [], [], [], [], np.zeros(n_seconds)
    id_rng = _rng(params, 1)
    for w, web in enumerate(params.webinars):
        rng = _rng(params, 10 + w)
        users.append(tuple(new_uuid4(id_rng) for _ in range(web.users)))
        times = _sample_times(params, web, up, rng)
        values = _sample_values(params, web, times, rng)
        target = _target_path(web, times, values, n_seconds, rng)
        sess, snaps = _simulate_sessions(params, w, web, target, rng)
        samples.append(tuple((float(t), int(v)) for t, v in zip(times, values, strict=True)))
        sessions.extend(sess)
        snapshots_all.append(snaps)
        audience += _interp(web.audience or web.shape, minutes)

    open_sessions = np.zeros(n_seconds, dtype=int)
    for snaps in snapshots_all:
        open_sessions += np.array([len(x) for x in snaps])
    connections = open_sessions + params.monitor_sockets

    upgrade_s = n_seconds if params.upgrade_at_min is None else int(params.upgrade_at_min * 60)
    after = np.arange(n_seconds) >= upgrade_s
    rt_limit = np.where(after, params.realtime_limit_after, params.realtime_limit)
    db_limit = np.where(after, params.db_max_connections_after, params.db_max_connections)
    # Connections as the 5-second billing tick sees them (the counter Realtime enforces).
    tick_conn = connections[(np.arange(n_seconds) // 5) * 5]
    db_used = params.db_base_connections + audience / params.tabs_per_db_connection

    births = [x for x in sessions if 0 <= x.joined < n_seconds]
    regs = _registration_times(params, sessions, id_rng)
    rng = _rng(params, 3)
    events: list[ErrorEvent] = []
    for err in params.errors:
        if err.driver == "session_start":
            events.extend(_session_errors(params, err, births, regs, n_seconds, rng))
            continue
        if err.driver == "realtime_excess":
            excess = np.maximum(tick_conn - rt_limit, 0).astype(float)
        else:
            excess = np.maximum(db_used - db_limit, 0.0)
        lag = int(round(err.lag_s))
        driver = np.zeros(n_seconds)
        if lag < n_seconds:
            driver[lag:] = excess[: n_seconds - lag]
        driver = driver * up  # nothing is connected while Realtime is down
        spread = up.astype(float) if err.link == "none" else None
        for s in _draw_seconds(rng, driver, err.count, err.rate, err.kind, spread):
            # After the tick at s + 0.55 so the logged connection count precedes the event.
            events.append(ErrorEvent(err.kind, float(s) + rng.uniform(0.56, 0.99), -1, -1))
    events.sort(key=lambda e: (e.t, e.kind))
    return SimulatedIncident(
        params=params,
        users=tuple(users),
        samples=tuple(samples),
        sessions=tuple(sessions),
        connections=connections,
        audience=audience,
        up=up,
        errors=tuple(events),
        registered_at=tuple(regs),
    )


def _registration_times(
    params: IncidentParams, sessions: list[Session], rng: np.random.Generator
) -> list[dict]:
    """Per webinar: user index -> registration time (s); walk-ins register at first session."""
    out = []
    for w, web in enumerate(params.webinars):
        firsts = {}
        for x in sessions:
            if x.webinar == w and x.user not in firsts:
                firsts[x.user] = x.joined
        viewers = sorted(firsts, key=lambda u: (firsts[u], u))
        in_window = [u for u in viewers if 0 <= firsts[u] < params.window_minutes * 60]
        walk = set(in_window[-web.walk_ins :]) if web.walk_ins else set()
        regs: dict[int, float] = {}
        registered_viewers = [u for u in viewers if u not in walk]
        room = web.registrations - len(walk)
        for u in registered_viewers[:room]:
            regs[u] = -float(rng.uniform(3_600, 10 * 86_400))
        for u in walk:
            regs[u] = firsts[u] + 1.5
        # No-shows: registered people who never opened the webinar (index >= users).
        for k in range(web.registrations - len(regs)):
            regs[web.users + k] = -float(rng.uniform(3_600, 10 * 86_400))
        out.append(regs)
    return out


def _session_errors(
    params: IncidentParams,
    err: ErrorProcess,
    births: list[Session],
    regs: list[dict],
    n_seconds: int,
    rng: np.random.Generator,
) -> list[ErrorEvent]:
    if err.kind == "registrations_pkey":
        # Only someone already registered can hit the primary key.
        pool = [b for b in births if regs[b.webinar].get(b.user, np.inf) < b.joined]
    else:
        pool = list(births)
    # Only starts whose error still falls inside the window, so an exact count stays exact.
    pool = [b for b in pool if b.joined + err.lag_s + 2.5 < n_seconds]
    if not pool:
        if err.count in (None, 0):
            return []
        raise ParameterError(f"{err.kind}: expected session starts to attach errors to, found none")
    n = int(rng.binomial(len(pool), min(err.rate, 1.0))) if err.count is None else err.count
    chosen = rng.choice(len(pool), size=n, replace=n > len(pool))
    out = []
    for k in np.sort(chosen):
        b = pool[int(k)]
        if err.link == "none":
            t = float(rng.uniform(0, n_seconds - 1))
        else:
            t = b.joined + err.lag_s + float(rng.uniform(0.3, 2.5))
        if 0 <= t < n_seconds:
            out.append(ErrorEvent(err.kind, t, b.webinar, b.user))
    return out


# --------------------------------------------------------------------------------------------
# Serialisation: logs, tables, manifest
# --------------------------------------------------------------------------------------------

_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Mobile Safari/537.36",
)
_ANON_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6Inlxc2F5cGhzc2p6bnRo"
    "cnhwZ2ZiIiwicm9sZSI6ImFub24iLCJpYXQiOjE3MzY0MDAwMDAsImV4cCI6MjA1MTk3NjAwMH0.c2ltdWxhdGVk"
    "LWFub24ta2V5LXNpZ25hdHVyZQ"
)
_REFERER = "https://eventlive.example.kr/webinars/{webinar}/live"
_CLIENT = "supabase-js-web/2.49.4"
_POSTGREST = "PostgREST 12.2.3"
_PG_QUERIES = {
    "registrations_pkey": (
        'WITH pgrst_source AS (INSERT INTO "public"."registrations"("user_id", "webinar_id") '
        'SELECT "pgrst_body"."user_id", "pgrst_body"."webinar_id" FROM (SELECT $1 AS json_data) '
        'pgrst_payload, LATERAL (SELECT "user_id", "webinar_id" FROM json_populate_record(null::'
        '"public"."registrations", json_data)) pgrst_body  RETURNING "public"."registrations".*) '
        "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        "array[]::text[] AS header, coalesce(json_agg(_postgrest_t), '[]') AS body "
        "FROM (SELECT * FROM pgrst_source) _postgrest_t"
    ),
    "undefined_column": (
        'WITH pgrst_source AS ( SELECT "public"."registrations"."id" FROM "public"."registrations"'
        '  WHERE  "public"."registrations"."webinar_id" = $1 AND  "public"."registrations".'
        '"user_id" = $2   ) SELECT null::bigint AS total_result_set, pg_catalog.count('
        "_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body "
        "FROM ( SELECT * FROM pgrst_source ) _postgrest_t"
    ),
    "marketing_stats": (
        'WITH pgrst_source AS (INSERT INTO "public"."marketing_stats_daily"("metric", '
        '"stat_date", "value", "webinar_id") SELECT "pgrst_body"."metric", "pgrst_body".'
        '"stat_date", "pgrst_body"."value", "pgrst_body"."webinar_id" FROM (SELECT $1 AS '
        "json_data) pgrst_payload, LATERAL (SELECT * FROM json_populate_record(null::"
        '"public"."marketing_stats_daily", json_data)) pgrst_body  RETURNING 1) '
        "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total "
        "FROM (SELECT * FROM pgrst_source) _postgrest_t"
    ),
    "uuid_null": (
        'WITH pgrst_source AS (INSERT INTO "public"."webinar_live_presence"("session_id", '
        '"user_id", "webinar_id") SELECT "pgrst_body"."session_id", "pgrst_body"."user_id", '
        '"pgrst_body"."webinar_id" FROM (SELECT $1 AS json_data) pgrst_payload, LATERAL '
        '(SELECT * FROM json_populate_record(null::"public"."webinar_live_presence", '
        "json_data)) pgrst_body  RETURNING 1) SELECT '' AS total_result_set, "
        "pg_catalog.count(_postgrest_t) AS page_total FROM (SELECT * FROM pgrst_source) "
        "_postgrest_t"
    ),
}


class _Writer:
    """Turns a ``SimulatedIncident`` into rows; one seeded stream for all serial draws."""

    def __init__(self, sim: SimulatedIncident) -> None:
        self.sim = sim
        self.p = sim.params
        self.rng = _rng(self.p, 4)
        self.t0 = to_us(self.p.window_start)
        self.ref = self.p.project_ref
        # Per user: IP, user agent, country (Korean audience, a few abroad).
        self.people = []
        for w, ids in enumerate(sim.users):
            for u, _ in enumerate(ids):
                a, b, c = (int(x) for x in self.rng.integers(1, 255, 3))
                first = int(self.rng.choice([1, 14, 39, 58, 59, 61, 106, 112, 121, 175, 211, 220]))
                self.people.append(((w, u), f"{first}.{a}.{b}.{c}", self._ua(), "KR"))
        self.person = {key: (ip, ua, cc) for key, ip, ua, cc in self.people}

    def _ua(self) -> str:
        return _UAS[int(self.rng.choice(len(_UAS), p=[0.45, 0.2, 0.15, 0.12, 0.08]))]

    def us(self, t: float) -> int:
        """Seconds from window start to a millisecond-precise µs timestamp."""
        return self.t0 + int(round(t * 1000)) * 1000

    def edge(
        self,
        t: float,
        w: int,
        u: int | None,
        method: str,
        path: str,
        search: str,
        status: int,
        extra: dict | None = None,
        anonymous: bool = False,
    ) -> dict:
        """One edge row by user ``u`` of webinar ``w`` (``None``: the service-role monitor).

        ``anonymous``: the user's browser without a user JWT (the websocket upgrade).
        """
        web = self.p.webinars[w]
        if u is None:
            ip, ua, cc = (
                "34.64.118.23",
                "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
                "KR",
            )
            user = None
        else:
            ip, ua, cc = self.person[(w, u)]
            user = self.sim.users[w][u]
        origin = int(self.rng.gamma(2.0, 18.0)) + 4
        if status >= 400:
            origin = int(self.rng.gamma(2.0, 6.0)) + 2
        return edge_row(
            row_id="",
            ts_us=self.us(t),
            ref=self.ref,
            method=method,
            path=path,
            search=search,
            status=status,
            ip=ip,
            ray=self.rng.bytes(8).hex(),
            user_agent=ua,
            country=cc,
            colo="ICN",
            origin_ms=origin,
            user=None if anonymous else user,
            client_info=_CLIENT if u is not None else None,
            referer=_REFERER.format(webinar=web.id) if u is not None else None,
            extra_headers=extra,
            apikey_role="service_role" if u is None else "anon",
        )

    def edge_rows(self) -> list[dict]:
        sim, p, rng = self.sim, self.p, self.rng
        n_seconds = p.window_minutes * 60
        rows: list[dict] = []
        wid = [web.id for web in p.webinars]
        # Requests of every session start: websocket, auth, webinar, own profile, presence row.
        for x in sim.sessions:
            if not 0 <= x.joined < n_seconds:
                continue
            w, u, t = x.webinar, x.user, x.joined
            uid = sim.users[w][u]
            ws = f"?apikey={_ANON_JWT}&vsn=1.0.0"
            rows.append(
                self.edge(t, w, u, "GET", "/realtime/v1/websocket", ws, 101, anonymous=True)
            )
            bearer = {"authorization": "Bearer " + self._user_jwt(uid)}
            rows.append(self.edge(t + 0.05, w, u, "GET", "/auth/v1/user", "", 200, bearer))
            rows.append(
                self.edge(
                    t + 0.12, w, u, "GET", "/rest/v1/webinars", f"?select=*&id=eq.{wid[w]}", 200
                )
            )
            rows.append(
                self.edge(t + 0.15, w, u, "GET", "/rest/v1/profiles", f"?select=*&id=eq.{uid}", 200)
            )
            rows.append(
                self.edge(
                    t + 3.1,
                    w,
                    u,
                    "POST",
                    "/rest/v1/webinar_live_presence",
                    "?columns=%22session_id%22,%22user_id%22,%22webinar_id%22",
                    201,
                )
            )
        # Walk-in registrations (201) at their first session.
        for w, regs in enumerate(sim.registered_at):
            for u, t in regs.items():
                if 0 <= t < n_seconds and u < p.webinars[w].users:
                    rows.append(
                        self.edge(t, w, u, "POST", "/rest/v1/registrations", "?select=*", 201)
                    )
        # Polling, Poisson in the true audience; requests go to users present at that second.
        rates = dict(p.rest_rates_per_min)
        for w, web in enumerate(p.webinars):
            aud = _interp(web.audience or web.shape, np.arange(n_seconds) / 60.0)
            present = self._presence_by_second(w, n_seconds)
            for name, per_min in rates.items():
                counts = rng.poisson(aud * per_min / 60.0)
                for s in np.flatnonzero(counts):
                    for _ in range(int(counts[s])):
                        here = present[s]
                        if here.size and here.size >= 0.5 * aud[s]:
                            u = int(here[rng.integers(here.size)])
                        else:
                            u = int(rng.integers(web.users))
                        rows.append(self._poll(name, float(s) + rng.uniform(0, 1), w, u))
        # The monitor's writes (service role, no user) at each sample.
        for w, samp in enumerate(sim.samples):
            for t, _ in samp:
                rows.append(
                    self.edge(t + 0.08, w, None, "POST", "/rest/v1/webinar_viewer_counts", "", 201)
                )
        # Client-bug failures: one edge row each, at the moment of the Postgres error.
        failing = {
            "registrations_pkey": ("POST", "/rest/v1/registrations", "?select=*", 409),
            "undefined_column": (
                "GET",
                "/rest/v1/registrations",
                "?select=id&webinar_id=eq.{w}&user_id=eq.{u}",
                400,
            ),
            "marketing_stats": ("POST", "/rest/v1/marketing_stats_daily", "", 409),
            "uuid_null": (
                "POST",
                "/rest/v1/webinar_live_presence",
                "?columns=%22session_id%22,%22user_id%22,%22webinar_id%22",
                400,
            ),
        }
        for e in sim.errors:
            if e.kind in failing:
                method, path, search, status = failing[e.kind]
                search = search.format(w=wid[e.webinar], u=sim.users[e.webinar][e.user])
                rows.append(self.edge(e.t, e.webinar, e.user, method, path, search, status))
        return rows

    def _user_jwt(self, uid: str) -> str:
        import base64

        payload = json.dumps(
            {"aud": "authenticated", "role": "authenticated", "sub": uid, "exp": 1770357600},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + body + "." + uid.replace("-", "")[:22]

    def _presence_by_second(self, w: int, n_seconds: int) -> list[np.ndarray]:
        spans = [(x.joined, x.left, x.user) for x in self.sim.sessions if x.webinar == w]
        by_second: list[list[int]] = [[] for _ in range(n_seconds)]
        for joined, left, user in spans:
            lo = max(int(np.ceil(joined)), 0)
            hi = n_seconds if left is None else min(int(np.floor(left)) + 1, n_seconds)
            for s in range(lo, hi):
                by_second[s].append(user)
        return [np.unique(np.array(x, dtype=int)) for x in by_second]

    def _poll(self, name: str, t: float, w: int, u: int) -> dict:
        wid = self.p.webinars[w].id
        uid = self.sim.users[w][u]
        if name == "profiles":
            other = self.sim.users[w][int(self.rng.integers(len(self.sim.users[w])))]
            return self.edge(
                t,
                w,
                u,
                "GET",
                "/rest/v1/profiles",
                f"?select=id,nickname,avatar_url&id=eq.{other}",
                200,
            )
        if name == "questions":
            return self.edge(
                t,
                w,
                u,
                "GET",
                "/rest/v1/questions",
                "?select=*&webinar_id=eq." + wid + "&order=created_at.desc",
                200,
            )
        if name == "presence_heartbeat":
            return self.edge(
                t,
                w,
                u,
                "PATCH",
                "/rest/v1/webinar_live_presence",
                f"?webinar_id=eq.{wid}&user_id=eq.{uid}",
                204,
            )
        if name == "auth_user":
            bearer = {"authorization": "Bearer " + self._user_jwt(uid)}
            return self.edge(t, w, u, "GET", "/auth/v1/user", "", 200, bearer)
        if name == "webinars":
            return self.edge(t, w, u, "GET", "/rest/v1/webinars", f"?select=*&id=eq.{wid}", 200)
        raise ParameterError(f"rest_rates_per_min: unknown endpoint {name!r}")

    def postgres_rows(self) -> list[dict]:
        sim, rng = self.sim, self.rng
        rows = []
        messages = {
            "registrations_pkey": (
                "23505",
                'duplicate key value violates unique constraint "registrations_pkey"',
                "INSERT",
            ),
            "undefined_column": ("42703", "column registrations.id does not exist", "SELECT"),
            "marketing_stats": (
                "23505",
                'duplicate key value violates unique constraint "uq_marketing_stats_daily_key"',
                "INSERT",
            ),
            "uuid_null": ("22P02", 'invalid input syntax for type uuid: "null"', "INSERT"),
        }
        day = self.p.window_start.strftime("%Y-%m-%d")
        for e in sim.errors:
            if e.kind not in messages:
                continue
            state, message, tag = messages[e.kind]
            wid, uid = self.p.webinars[e.webinar].id, sim.users[e.webinar][e.user]
            detail = hint = None
            if e.kind == "registrations_pkey":
                detail = f"Key (webinar_id, user_id)=({wid}, {uid}) already exists."
            elif e.kind == "marketing_stats":
                detail = (
                    f"Key (stat_date, webinar_id, metric)=({day}, {wid}, viewers) already exists."
                )
            elif e.kind == "undefined_column":
                hint = 'Perhaps you meant to reference the column "registrations.user_id".'
            pid = int(rng.integers(180_000, 190_000))
            rows.append(
                postgres_row(
                    row_id="",
                    # The statement fails a few ms before the gateway logs the response.
                    ts_us=self.us(e.t) - int(rng.integers(2, 9)) * 1000,
                    ref=self.ref,
                    message=message,
                    severity="ERROR",
                    sql_state=state,
                    user_name="authenticator",
                    application_name=_POSTGREST,
                    command_tag=tag,
                    process_id=pid,
                    session_start_us=self.t0 - int(rng.integers(600, 7200)) * 1_000_000,
                    detail=detail,
                    hint=hint,
                    query=_PG_QUERIES[e.kind],
                    connection_from=f"::1:{int(rng.integers(40000, 60000))}",
                )
            )
        return rows

    def _pid(self) -> str:
        return f"<0.{int(self.rng.integers(2000, 60000))}.{int(self.rng.integers(1, 40))}>"

    def realtime_rows(self) -> list[dict]:
        sim, p, rng = self.sim, self.p, self.rng
        n_seconds = p.window_minutes * 60
        rows = []
        upgrade_s = n_seconds if p.upgrade_at_min is None else p.upgrade_at_min * 60
        for s in range(0, n_seconds, 5):
            if not sim.up[s]:
                continue
            limit = p.realtime_limit_after if s >= upgrade_s else p.realtime_limit
            conn = int(sim.connections[s])
            rows.append(
                realtime_row(
                    row_id="",
                    ts_us=self.us(s + 0.55),
                    ref=self.ref,
                    message="Billing metrics: [:realtime, :connections]",
                    level="info",
                    measurements={"connected": conn, "connected_cluster": conn, "limit": limit},
                )
            )
        for e in sim.errors:
            if e.kind == "realtime_disconnect":
                pid = self._pid()
                client = self._pid()
                rows.append(
                    realtime_row(
                        row_id="",
                        ts_us=self.us(e.t),
                        ref=self.ref,
                        message=(
                            f"Postgrex.Protocol (#PID{pid}) disconnected: ** "
                            f"(DBConnection.ConnectionError) client #PID{client} exited"
                        ),
                        level="error",
                        pid=pid,
                        application_name="realtime_rls",
                    )
                )
            elif e.kind == "pool_exhausted":
                rows.append(
                    realtime_row(
                        row_id="",
                        ts_us=self.us(e.t),
                        ref=self.ref,
                        message=(
                            "** (DBConnection.ConnectionError) connection not available and "
                            "request was dropped from queue after 10000ms. This means requests "
                            "are coming in and your connection pool cannot serve them fast "
                            "enough. You can address this by:\n\n  1. Ensuring your database is "
                            "available and that you can connect to it\n  2. Tracking down slow "
                            "queries and making sure they are running fast enough\n  3. "
                            "Increasing the pool_size (although this increases resource "
                            "consumption)\n  4. Allowing requests to wait longer by increasing "
                            ":queue_target and :queue_interval\n\nSee DBConnection.start_link/2 "
                            "for more information\n"
                        ),
                        level="error",
                        pid=self._pid(),
                        module="Elixir.DBConnection.ConnectionPool",
                        file="lib/db_connection/connection_pool.ex",
                        application_name="realtime_subscription_manager",
                    )
                )
        # While Realtime is down it retries its tenant connection and is refused each time.
        for start, end in p.outages:
            t = start * 60 + float(rng.uniform(1, 5))
            while t < end * 60:
                available = int(rng.integers(0, 4))
                rows.append(
                    realtime_row(
                        row_id="",
                        ts_us=self.us(t),
                        ref=self.ref,
                        message=(
                            f"DatabaseLackOfConnections: Only {available} available connections. "
                            "At least 6 connections are required."
                        ),
                        level="error",
                        pid=self._pid(),
                        module="Elixir.Realtime.Tenants.Connect",
                        file="lib/realtime/tenants/connect.ex",
                    )
                )
                t += p.outage_retry_s * float(rng.uniform(0.8, 1.2))
        return rows

    def finish(self, rows: list[dict]) -> list[dict]:
        """Order rows as an export does (by time) and give each its uuid."""
        rows.sort(key=lambda r: r["timestamp"])
        for row, rid in zip(rows, new_uuid4s(self.rng, len(rows)), strict=True):
            row["id"] = rid
        return rows


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _tables(sim: SimulatedIncident, writer: _Writer) -> dict[str, str]:
    p, rng = sim.params, _rng(sim.params, 5)
    t0 = to_us(p.window_start)
    n_seconds = p.window_minutes * 60

    def ts(t: float) -> str:
        return format_csv_ts(t0 + int(round(t * 1_000_000)))

    webinars = []
    for web in p.webinars:
        created = ts(-float(rng.uniform(7, 20)) * 86_400)
        ended = web.ends_at_min * 60 <= n_seconds
        webinars.append(
            [
                web.id,
                web.title,
                ts(web.starts_at_min * 60),
                ts(web.ends_at_min * 60),
                "ended" if ended else "live",
                created,
            ]
        )
    registrations = []
    no_show_ids = {}
    for w, regs in enumerate(sim.registered_at):
        for u, t in sorted(regs.items(), key=lambda kv: (kv[1], kv[0])):
            if u < p.webinars[w].users:
                uid = sim.users[w][u]
            else:
                uid = no_show_ids.setdefault((w, u), new_uuid4(rng))
            registrations.append([p.webinars[w].id, uid, ts(t)])
    registrations.sort(key=lambda r: r[2])
    presence = []
    for x in sim.sessions:
        presence.append(
            [
                new_uuid4(rng),
                p.webinars[x.webinar].id,
                sim.users[x.webinar][x.user],
                new_uuid4(rng),
                ts(x.joined),
                "" if x.left is None else ts(x.left),
            ]
        )
    counts = []
    rows = [(t, w, v) for w, samp in enumerate(sim.samples) for t, v in samp]
    for k, (t, w, v) in enumerate(sorted(rows), start=1):
        counts.append([k, p.webinars[w].id, ts(t), v])
    return {
        "webinars.csv": _csv_text(
            ["id", "title", "starts_at", "ends_at", "status", "created_at"], webinars
        ),
        "registrations.csv": _csv_text(["webinar_id", "user_id", "created_at"], registrations),
        "webinar_live_presence.csv": _csv_text(
            ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"], presence
        ),
        "webinar_viewer_counts.csv": _csv_text(
            ["id", "webinar_id", "sampled_at", "viewer_count"], counts
        ),
    }


@dataclass(frozen=True)
class WrittenIncident:
    """What ``write_incident`` wrote, with the realised counts (for tests and validation)."""

    directory: Path
    files: tuple[str, ...]
    realised: dict
    params: IncidentParams


def write_incident(params: IncidentParams, out_dir: Path | str) -> WrittenIncident:
    """Simulate an incident and write its raw directory (the contract's section 1 layout).

    The directory gets the log pages, table CSVs, ``annotations.csv``, ``incident.json`` and
    ``SHA256SUMS``. Same parameters, same bytes. Ground truth is not written: it is
    ``params`` (returned, with the realised event counts).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ParameterError(f"{out}: expected an empty or new directory, found files")
    sim = simulate(params)
    writer = _Writer(sim)
    out.mkdir(parents=True, exist_ok=True)
    edge = writer.finish(writer.edge_rows())
    pg = writer.finish(writer.postgres_rows())
    rt = writer.finish(writer.realtime_rows())
    write_pages(edge, out / "edge_logs")
    write_pages(pg, out / "postgres_logs")
    write_pages(rt, out / "realtime_logs")
    (out / "tables").mkdir()
    for name, text in _tables(sim, writer).items():
        (out / "tables" / name).write_bytes(text.encode("utf-8"))
    (out / "annotations.csv").write_bytes(
        _csv_text(["time_utc", "label", "note"], [list(a) for a in params.annotations]).encode()
    )
    end = params.window_start + timedelta(minutes=params.window_minutes)
    manifest = {
        "name": params.name,
        "project_ref": params.project_ref,
        "window_start": params.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": params.display_tz,
        "flavour": "bigquery",
        "provenance": "reconstruction by analysis.simulate (see data/README.md), not a real export",
    }
    if params.claims:
        manifest["claims"] = [dict(c) for c in params.claims]
    if params.recommendations:
        manifest["recommendations"] = [dict(r) for r in params.recommendations]
    (out / "incident.json").write_bytes(
        (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    )
    files = sorted(
        str(f.relative_to(out)) for f in out.rglob("*") if f.is_file() and f.name != "SHA256SUMS"
    )
    (out / "SHA256SUMS").write_text(
        "".join(f"{sha256_file(out / f)}  {f}\n" for f in files), encoding="utf-8"
    )
    realised: dict = {k: 0 for k in ERROR_KINDS}
    for e in sim.errors:
        realised[e.kind] += 1
    realised["edge_rows"], realised["postgres_rows"], realised["realtime_rows"] = (
        len(edge),
        len(pg),
        len(rt),
    )
    realised["sessions"] = len(sim.sessions)
    return WrittenIncident(out, tuple(files) + ("SHA256SUMS",), realised, params)


def truth_of(params: IncidentParams) -> dict:
    """Ground truth of a simulated incident as plain data (never written beside the data)."""
    out = asdict(params)
    out["window_start"] = params.window_start.isoformat()
    return out


# --------------------------------------------------------------------------------------------
# make data: regenerate and verify
# --------------------------------------------------------------------------------------------


def read_checksums(path: Path) -> dict[str, str]:
    """Read a ``sha256sum``-format manifest into ``{relative path: hex digest}``."""
    if not path.is_file():
        raise DataIntegrityError(f"{path}: checksum manifest missing; expected a SHA256SUMS file")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise DataIntegrityError(
                f"{path}, line {number}: expected '<64 hex>  <path>', found {line[:80]!r}"
            )
        out[name] = digest
    return out


def verify_directory(directory: Path, regenerated: Path) -> int:
    """Check a data directory against its committed manifest and a fresh regeneration.

    Files listed in the manifest but absent on disk are copied from the regeneration (large
    files need not be committed). Returns the number of files verified; raises
    ``DataIntegrityError`` naming the first file that differs.
    """
    manifest = read_checksums(directory / "SHA256SUMS")
    fresh = read_checksums(regenerated / "SHA256SUMS")
    for name in sorted(set(manifest) | set(fresh)):
        if manifest.get(name) != fresh.get(name):
            raise DataIntegrityError(
                f"{directory / name}: regenerated bytes differ from SHA256SUMS (generator or "
                f"library drift); expected {str(manifest.get(name))[:12]}, "
                f"found {str(fresh.get(name))[:12]}"
            )
        if sha256_file(regenerated / name) != fresh[name]:
            raise DataIntegrityError(
                f"{regenerated / name}: regenerated file disagrees with itself"
            )
    for name, digest in sorted(manifest.items()):
        target = directory / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(regenerated / name, target)
        found = sha256_file(target)
        if found != digest:
            raise DataIntegrityError(
                f"{target}: sha256 {found[:12]} differs from SHA256SUMS {digest[:12]}; the file "
                "was modified (restore it from git, or delete it and rerun make data)"
            )
    extra = sorted(
        str(f.relative_to(directory))
        for f in directory.rglob("*")
        if f.is_file() and f.name != "SHA256SUMS" and str(f.relative_to(directory)) not in manifest
    )
    if extra:
        raise DataIntegrityError(f"{directory / extra[0]}: file not listed in SHA256SUMS")
    return len(manifest)


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis data [--dir DIR] [--update]``: regenerate and verify the raw data."""
    parser = argparse.ArgumentParser(prog="python -m analysis data", description=main.__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_INCIDENT_DIR, help="incident dir")
    parser.add_argument(
        "--update", action="store_true", help="rewrite the directory and its SHA256SUMS"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    params = shipped_params()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / params.name
        written = write_incident(params, fresh)
        if args.update:
            if args.dir.exists():
                shutil.rmtree(args.dir)
            shutil.copytree(fresh, args.dir)
            count = len(written.files)
            verb = "written"
        else:
            count = verify_directory(args.dir, fresh)
            verb = "regenerated and verified against SHA256SUMS"
    print(f"data: {args.dir}: {count} files {verb} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
