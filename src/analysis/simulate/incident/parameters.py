"""Parameters of a simulated incident: webinars, bucket targets, error processes, draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


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
