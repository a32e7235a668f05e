"""A third independent writer of Supabase incidents: error MECHANISMS, each with its truth.

No import from ``analysis`` and nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py`` or ``tests/_unseen_qa.py``. Written from docs/contract.md and
the shapes Supabase's Management API returns. Where the other writers draw sessions first and
walk each session's requests, this one drives the audience minute by minute towards a target
curve (plateau, two peaks, ramp, spike, low and noisy), draws each minute's requests as a
Poisson count over the sessions open in it, and lets each *mechanism* decide who fails:

- ``capacity``: fails a growing share of requests once the (lagged) project-wide audience
  passes a threshold (57014 under load, 53300 from Auth or Storage, Realtime refusals);
- ``flat``: a client bug, a fixed share of one endpoint's requests (traffic-proportional);
- ``outage``: one endpoint broken for 5-20 minutes at a random time (a bad deploy);
- ``burst``: one minute in which many users' requests fail (a CDN or pooler hiccup);
- ``retry``: a few clients stuck in a loop, re-sending one failing request every few seconds
  for minutes (the requests are the loop's own, added to the traffic);
- ``loops``: such loops starting at a constant rate in random viewers' clients, each for one
  to ``length`` minutes (many users, none of it driven by load);
- ``background``: errors at a constant rate whatever the audience (a cron job, expired
  tokens of random registered users);
- Realtime lines of the same kinds (``rt_capacity``, ``rt_outage``, ``rt_background``).

Each mechanism carries ``expect``: the verdicts a correct analysis may give it
(``capacity``; ``traffic``; ``unrelated`` for load-independent errors, where "the data cannot
tell" is honest too) and ``key``, the error class it should become. Other shapes the
other writers never made: several webinars in one export, bigint webinar ids, windows of 30
minutes and two hours, IPv6 clients, Edge Functions' own log source, zones with 45-minute
offsets and 30-minute daylight saving.

``SHAPES`` holds shapes of load and export beside the mechanisms: two capacity limits at once,
a limit just under the peak, a monitor outage with overlapping gateway pages, Postgres' clock
ahead of the gateway's, an errors-only gateway export, tables of another day, and free text
carrying user ids (integers), e-mail addresses and tokens.

``python tests/_unseen_mech.py OUT [case ...]`` writes cases under ``OUT/<name>`` and prints
``<dir> <webinar id of the report>`` per case.
"""

from __future__ import annotations

import base64
import bisect
import csv
import gzip
import io
import json
import math
import random
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

CLIENTS = (
    "supabase-js-web/2.45.4",
    "supabase-flutter/2.8.1",
    "supabase-swift/2.20.0",
    "supabase-kt/3.0.2",
)


@dataclass(frozen=True)
class Mech:
    """One error mechanism; see the module docstring for ``kind``."""

    kind: str
    path: str = ""  # gateway path; empty for Realtime kinds
    method: str = "GET"
    status: int = 500
    sqlstate: str | None = None  # a Postgres line per failure when set
    message: str = ""  # Postgres or Realtime message
    severity: str = "ERROR"
    pg_user: str = "authenticator"
    share: float = 0.0  # flat: share of requests; capacity: share reached at 2x threshold
    threshold: int = 0  # capacity: project-wide open sessions
    lag: int = 0  # capacity: minutes between the load and the failures
    at: int | None = None  # outage/burst/retry/step start minute; None: drawn from the seed
    length: int = 0  # outage/retry minutes
    count: int = 0  # burst: failing requests; retry: clients looping
    rate: float = 0.0  # background: errors per minute
    every: float = 0.0  # retry: seconds between a client's re-sends (0: 2-5 s at random)
    # Free text carrying a person's data, as applications and Supabase write it: ``{user}``
    # (the raw user id), ``{email}``, ``{jwt}``, ``{ip}`` (the client's address) and
    # ``{phone}`` are filled per failure (in a background mechanism's path too).
    search: str = ""  # the failing request's query string (with its '?')
    detail: str = ""  # the Postgres line's detail
    query: str = ""  # the Postgres line's statement
    expect: str = "unrelated"  # capacity | traffic | unrelated (load-independent)
    key: str = ""  # the error class the package should make of it


def replace_mech(mech: Mech, **changes) -> Mech:
    """A copy of ``mech`` with ``changes``."""
    return replace(mech, **changes)


@dataclass(frozen=True)
class Case:
    name: str
    start: datetime
    minutes: int
    display_tz: str
    shape: str  # plateau | double | ramp | spike | low | ends_early
    peak: int
    mechs: tuple[Mech, ...] = ()
    webinars: int = 1  # several: the first is the report's, the others share the project
    bigint_ids: bool = False
    ipv6: bool = False
    flavour: str = "bigquery"  # bigquery | clickhouse (Management API pages)
    function_logs: bool = False  # write function_edge_logs pages too
    anonymous: bool = False  # the app signs nobody in: no request names a user
    int_users: bool = False  # users are integers (an app's own bigint ids), not uuids
    monitor_gap: tuple[int, int] | None = None  # window minutes with no viewer-count sample
    overlap_rows: int = 0  # rows repeated at the head of the next edge page (re-downloads)
    pg_skew_s: float = 0.0  # Postgres' clock ahead of the gateway's by this many seconds
    errors_only: bool = False  # the gateway export holds only responses >= 400
    edge_gap: tuple[int, int] | None = None  # window minutes the gateway's export lacks
    edge_sample: float = 1.0  # share of gateway rows the export keeps (a sampled export)
    tables_shift: timedelta = timedelta(0)  # webinar times and samples moved (another day)
    realtime: bool = True  # write realtime_logs (False: the project does not use Realtime)
    rt_limit: int = 500  # the connection limit Realtime's billing samples report
    registrations: bool = True  # write tables/registrations.csv
    # How the tables write a time: ``offset`` (``+00``, the Table Editor's), ``naive`` (no
    # zone: a ``timestamp without time zone`` column holding UTC), ``iso_z`` (``T...Z``) or
    # ``local`` (the display zone's own offset, as psql writes in a session set to it).
    table_times: str = "offset"
    # annotations.csv rows: (window minute, label, note); ``{user}``/``{email}`` in the note
    # name a viewer of the webinar, as an operator's note about a complaint would.
    notes: tuple[tuple[int, str, str], ...] = ()
    postgres: bool = True  # write postgres_logs (False: the export has no Postgres pages)
    manifest_tz: bool = True  # incident.json names display_tz (False: it leaves it out)
    webinar_ids: tuple[str, ...] = ()  # the webinars' ids as the team's table has them
    # The team's webinars table: its columns renamed (canonical -> theirs) and extra columns
    # of its own (name -> value written on every row).
    webinar_renames: tuple[tuple[str, str], ...] = ()
    webinar_extras: tuple[tuple[str, str], ...] = ()
    client_info: str = ""  # x_client_info as a careless client sends it ({email}, {ip}, ...)
    # registrations.csv rows the app wrote wrong: (user cell, created_at cell).
    bad_registrations: tuple[tuple[str, str], ...] = ()
    registrations_file: str = "registrations.csv"  # the name the team saved it under
    # Columns of the team's own in registrations.csv and the presence table: (name, template
    # filled per person, e.g. ``{email}``).
    person_columns: tuple[tuple[str, str], ...] = ()
    seed: int = 7
    title: str = "Quarterly roadmap live"
    project_ref: str = "qwmechanismsrefabcde"
    endpoints: tuple[str, ...] = (
        "/rest/v1/questions",
        "/rest/v1/profiles",
        "/rest/v1/rpc/heartbeat",
        "/auth/v1/user",
    )
    extra: dict = field(default_factory=dict)


QUESTIONS_TIMEOUT = Mech(
    "capacity",
    "/rest/v1/questions",
    "GET",
    500,
    sqlstate="57014",
    message="canceling statement due to statement timeout",
    share=0.5,
    threshold=70,
    lag=1,
    expect="capacity",
    key="57014",
)
AUTH_53300 = Mech(
    "capacity",
    "/auth/v1/token",
    "POST",
    500,
    sqlstate="53300",
    severity="FATAL",
    message="remaining connection slots are reserved for non-replication superuser connections",
    pg_user="supabase_auth_admin",
    share=0.6,
    threshold=75,
    expect="capacity",
    key="53300",
)

CASES: dict[str, Case] = {
    # Nothing fails at all over two hours, Chatham Islands (+12:45 / +13:45).
    "null_quiet": Case(
        "null_quiet",
        datetime(2026, 4, 5, 13, 0, tzinfo=UTC),
        120,
        "Pacific/Chatham",
        "plateau",
        40,
        seed=11,
    ),
    # Errors independent of load only: a rejected token grant and a failing calendar sync from
    # random registered users at constant rates, a Realtime line at a constant rate.
    # Lord Howe: 30-minute daylight saving.
    "null_background": Case(
        "null_background",
        datetime(2026, 10, 4, 14, 10, tzinfo=UTC),
        60,
        "Australia/Lord_Howe",
        "double",
        90,
        mechs=(
            Mech("background", "/auth/v1/token", "POST", 400, rate=1.2, key="http:400:auth/token"),
            # Clients with an expired session retrying every few seconds for minutes.
            Mech(
                "loops",
                "/rest/v1/questions",
                "GET",
                401,
                rate=0.25,
                length=4,
                key="http:401:rest/questions",
            ),
            Mech(
                "background",
                "/rest/v1/rpc/sync_calendar",
                "POST",
                400,  # PostgREST answers a raised exception (P0001) with 400
                sqlstate="P0001",
                message="calendar provider returned 503",
                rate=0.8,
                key="P0001",
            ),
            Mech(
                "rt_background",
                message="ChannelRateLimitReached: Too many channels",
                rate=0.7,
                key="realtime:rate_limit",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/rpc/sync_calendar",
            "/auth/v1/token",
            "/auth/v1/user",
        ),
        seed=12,
    ),
    # A bad deploy: one endpoint broken for a stretch, a one-minute burst, retry loops, a
    # ReplicationConnectionDown outage. None of these follows load.
    "deploy_outage": Case(
        "deploy_outage",
        datetime(2026, 7, 14, 17, 0, tzinfo=UTC),
        60,
        "America/Los_Angeles",
        "plateau",
        110,
        mechs=(
            Mech(
                "outage",
                "/rest/v1/questions",
                "GET",
                400,
                sqlstate="42703",
                message="column questions.pinned_at does not exist",
                length=14,
                key="42703",
            ),
            Mech("burst", "/rest/v1/profiles", "GET", 502, count=45, key="http:502:rest/*"),
            Mech(
                "retry",
                "/rest/v1/rpc/heartbeat",
                "POST",
                401,
                length=6,
                count=3,
                key="http:401:rest/rpc/heartbeat",
            ),
            Mech(
                "rt_outage",
                message="ReplicationConnectionDown: replication connection lost",
                length=7,
                key="realtime:replication",
            ),
        ),
        seed=13,
    ),
    # Real capacity on two products: statement timeouts under load (with a
    # one-minute lag), Auth's own 53300 (Auth answers 500), Realtime join refusals.
    "capacity_auth": Case(
        "capacity_auth",
        datetime(2026, 11, 20, 2, 30, tzinfo=UTC),
        60,
        "Asia/Kathmandu",
        "ramp",
        140,
        mechs=(
            QUESTIONS_TIMEOUT,
            AUTH_53300,
            Mech(
                "rt_capacity",
                message="TooManyJoins: Too many joins per second",
                threshold=90,
                share=0.5,
                expect="capacity",
                key="realtime:rate_limit",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/profiles",
            "/auth/v1/token",
            "/auth/v1/user",
        ),
        seed=14,
    ),
    # A flat client bug on one endpoint, Auth 429s under load, a Storage outage, Edge
    # Functions 500s with their own log source; IPv6 clients; ClickHouse pages.
    "products": Case(
        "products",
        datetime(2026, 5, 30, 23, 40, tzinfo=UTC),
        60,
        "America/Sao_Paulo",
        "spike",
        120,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message="duplicate key value violates unique constraint "
                '"answers_question_id_user_id_key"',
                share=0.08,
                expect="traffic",
                key="23505:answers_question_id_user_id_key",
            ),
            Mech(
                "capacity",
                "/auth/v1/token",
                "POST",
                429,
                share=0.7,
                threshold=80,
                expect="capacity",
                key="http:429:auth/*",
            ),
            Mech(
                "outage",
                "/storage/v1/object/public/slides/deck.pdf",
                "GET",
                503,
                length=9,
                key="http:503:storage/*",
            ),
            Mech(
                "flat",
                "/functions/v1/send-reminder",
                "POST",
                500,
                share=0.3,
                expect="traffic",
                key="http:500:functions/*",
            ),
        ),
        endpoints=(
            "/rest/v1/answers",
            "/rest/v1/questions",
            "/auth/v1/token",
            "/storage/v1/object/public/slides/deck.pdf",
            "/functions/v1/send-reminder",
        ),
        ipv6=True,
        flavour="clickhouse",
        function_logs=True,
        seed=15,
    ),
    # Markup and control characters where data reaches the report: paths a scanner sends
    # (raw and percent-encoded), a function name, a Postgres message, a Realtime line, the
    # title. No verdict is asserted (``expect`` empty): the case is about what is shown.
    "hostile_paths": Case(
        "hostile_paths",
        datetime(2026, 9, 1, 12, 0, tzinfo=UTC),
        30,
        "Asia/Kolkata",
        "plateau",
        40,
        mechs=(
            Mech(
                "background",
                "/rest/v1/<img src=x onerror=alert(1)>",
                "GET",
                404,
                rate=2,
                expect="",
                key="http:404:rest/<img src=x onerror=alert(1)>",
            ),
            Mech(
                "background",
                "/rest/v1/%3Cscript%3Ealert(2)%3C%2Fscript%3E",
                "GET",
                404,
                rate=2,
                expect="",
                # Percent-encoded as a browser sends it; the endpoint is the decoded name.
                key="http:404:rest/<script>alert(2)</script>",
            ),
            Mech(
                "background",
                "/functions/v1/<svg onload=alert(3)>",
                "POST",
                500,
                rate=2,
                expect="",
                key="http:500:functions/*",
            ),
            Mech(
                "outage",
                "/rest/v1/questions",
                "GET",
                400,
                sqlstate="42703",
                message="column questions.pinned_<b>at</b> does not exist",
                length=8,
                expect="",
                key="42703",
            ),
            Mech(
                "rt_background",
                message="ChannelRateLimitReached: <img src=x onerror=alert(4)> \u202eevil",
                rate=1,
                expect="",
                key="realtime:rate_limit",
            ),
        ),
        title="Launch <script>alert(5)</script> \u202e[x](http://evil.example)",
        seed=21,
    ),
    # Three webinars in one export; the report's webinar is the first, the others share the
    # project (its logs carry no webinar id).
    "three_webinars": Case(
        "three_webinars",
        datetime(2026, 2, 20, 9, 0, tzinfo=UTC),
        30,
        "Europe/Istanbul",
        "plateau",
        80,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=55, lag=0),),
        webinars=3,
        seed=16,
    ),
    # The same with bigint webinar ids (a table keyed by ``bigint generated always``).
    "bigint_ids": Case(
        "bigint_ids",
        datetime(2026, 2, 20, 9, 0, tzinfo=UTC),
        30,
        "Europe/Istanbul",
        "plateau",
        80,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=55, lag=0),),
        webinars=3,
        bigint_ids=True,
        seed=16,
    ),
}

#: Shapes of export and load the hidden evaluation may try (tests/test_unseen_shapes.py).
SHAPES: dict[str, Case] = {
    # Free text that carries a person's data, in an app whose user ids are integers: a
    # duplicate e-mail (the detail names it), a foreign key naming the user, a uuid column
    # queried with an integer id (the message repeats it, the query string too), signed
    # Storage URLs with the user's token, Realtime lines naming the user.
    "private_text": Case(
        "private_text",
        datetime(2026, 3, 12, 10, 0, tzinfo=UTC),
        45,
        "Europe/Berlin",
        "plateau",
        70,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/profiles",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "profiles_email_key"',
                detail="Key (email)=({email}) already exists.",
                search="?on_conflict=email&email=eq.{email}",
                share=0.1,
                expect="traffic",
                key="23505:profiles_email_key",
            ),
            Mech(
                "background",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23503",
                message='insert or update on table "answers" violates foreign key constraint '
                '"answers_author_fkey"',
                detail='Key (author)=({user}) is not present in table "profiles".',
                search="?select=*&author=eq.{user}",
                rate=1.5,
                expect="",
                key="23503:answers_author_fkey",
            ),
            Mech(
                "background",
                "/rest/v1/questions",
                "GET",
                400,
                sqlstate="22P02",
                message='invalid input syntax for type uuid: "{user}"',
                search="?id=eq.{user}&select=*",
                rate=1.5,
                expect="",
                key="22P02",
            ),
            Mech(
                "background",
                "/storage/v1/object/sign/slides/deck.pdf",
                "GET",
                400,
                search="?token={jwt}",
                rate=1.5,
                expect="",
                key="http:400:storage/object/sign/slides/deck.pdf",
            ),
            Mech(
                "rt_background",
                message="ChannelRateLimitReached: Too many channels for user {user} ({email})",
                rate=1.5,
                expect="",
                key="realtime:rate_limit",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/profiles",
            "/rest/v1/answers",
            "/auth/v1/user",
        ),
        int_users=True,
        notes=((20, "Support ticket", "user {user} ({email}) reported a frozen player"),),
        seed=31,
    ),
    # Two capacity limits at once with different thresholds: the database's connections
    # (FATAL 53300, PostgREST answers 503 on whichever table the request hit) and Realtime's
    # concurrent-user limit.
    "two_capacity": Case(
        "two_capacity",
        datetime(2026, 6, 2, 11, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "ramp",
        160,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                503,
                sqlstate="53300",
                severity="FATAL",
                message="sorry, too many clients already",
                share=0.5,
                threshold=95,
                expect="capacity",
                key="53300",
            ),
            Mech(
                "rt_capacity",
                message="ConnectionRateLimitReached: Too many connected users",
                threshold=120,
                share=0.6,
                expect="capacity",
                key="realtime:too_many_connections",
            ),
        ),
        seed=32,
    ),
    # A limit just under the peak: only a few minutes lie above it. Capacity with an
    # honest interval, or "the data cannot tell"; never a flat rate or unrelated.
    "k_near_peak": Case(
        "k_near_peak",
        datetime(2026, 8, 21, 19, 0, tzinfo=UTC),
        60,
        "America/New_York",
        "spike",
        120,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=112, lag=0, share=0.7, expect="near"),),
        seed=33,
    ),
    # The concurrency monitor was down for 12 minutes of the plateau, and the gateway's
    # pages were downloaded in overlapping windows (each page repeats the previous one's
    # last 150 rows).
    "gaps_and_repeats": Case(
        "gaps_and_repeats",
        datetime(2026, 1, 9, 20, 0, tzinfo=UTC),
        60,
        "Europe/London",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        monitor_gap=(25, 37),
        overlap_rows=150,
        seed=34,
    ),
    # Postgres' clock 3 seconds ahead of the gateway's: a database error and the response
    # it caused are logged 3 s apart.
    "clock_skew": Case(
        "clock_skew",
        datetime(2026, 12, 3, 7, 0, tzinfo=UTC),
        60,
        "Australia/Sydney",
        "plateau",
        110,
        mechs=(
            replace_mech(QUESTIONS_TIMEOUT, threshold=75, lag=0),
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                share=0.08,
                expect="traffic",
                key="23505:answers_pkey",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/answers",
            "/rest/v1/profiles",
            "/auth/v1/user",
        ),
        pg_skew_s=3.0,
        seed=35,
    ),
    # The gateway was exported with a filter: only responses >= 400 (a sampled export).
    "errors_only": Case(
        "errors_only",
        datetime(2026, 9, 15, 15, 0, tzinfo=UTC),
        60,
        "America/Chicago",
        "plateau",
        110,
        mechs=(
            replace_mech(QUESTIONS_TIMEOUT, threshold=75, lag=0),
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                share=0.08,
                expect="traffic",
                key="23505:answers_pkey",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/answers",
            "/rest/v1/profiles",
            "/auth/v1/user",
        ),
        errors_only=True,
        seed=36,
    ),
    # The gateway's export lacks ten minutes in the middle (a log drain outage) while
    # Postgres' errors go on.
    "edge_gap": Case(
        "edge_gap",
        datetime(2026, 5, 5, 9, 0, tzinfo=UTC),
        60,
        "Asia/Tokyo",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        edge_gap=(30, 40),
        seed=38,
    ),
    # A sampled gateway export: a fifth of the rows, kept by a hash of their id.
    "edge_sampled": Case(
        "edge_sampled",
        datetime(2026, 10, 20, 16, 0, tzinfo=UTC),
        60,
        "Europe/Paris",
        "ramp",
        150,
        mechs=(
            replace_mech(QUESTIONS_TIMEOUT, threshold=90, lag=0),
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                share=0.1,
                expect="traffic",
                key="23505:answers_pkey",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/answers",
            "/rest/v1/profiles",
            "/auth/v1/user",
        ),
        edge_sample=0.2,
        seed=39,
    ),
    # The tables were exported for another day: the webinar, its sessions and its monitor
    # samples lie a day after the logs' window.
    "tables_elsewhere": Case(
        "tables_elsewhere",
        datetime(2026, 4, 22, 18, 0, tzinfo=UTC),
        45,
        "Europe/Madrid",
        "plateau",
        80,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=55, lag=0, expect="nocapacity"),),
        tables_shift=timedelta(days=1),
        seed=37,
    ),
}


#: A quoted identifier made of markup: Postgres accepts anything between double quotes.
HOSTILE_IDENT = "uq_$\\sum$_**k**_<u>x</u>_\u202ekey"


def _many_classes(n_db: int, n_http: int) -> tuple[Mech, ...]:
    """``n_db`` unique-violation classes on tables of their own, ``n_http`` 404s on endpoints."""
    mechs = []
    for i in range(n_db):
        table = f"ledger_{i:02d}"
        mechs.append(
            Mech(
                "background",
                f"/rest/v1/{table}",
                "POST",
                409,
                sqlstate="23505",
                message=f'duplicate key value violates unique constraint "{table}_ref_key"',
                rate=0.3,
                expect="",
                key=f"23505:{table}_ref_key",
            )
        )
    for i in range(n_http):
        path = f"/rest/v1/archive_{i:02d}"
        mechs.append(
            Mech(
                "background",
                path,
                "GET",
                404,
                rate=0.3,
                expect="",
                key=f"http:404:rest/archive_{i:02d}",
            )
        )
    return tuple(mechs)


#: Edges of time, of the export and of text a stakeholder reads (tests/test_unseen_edges.py).
EDGES: dict[str, Case] = {
    # A window that starts and ends off the hour: 13:37-14:52 in Seoul.
    "off_the_hour": Case(
        "off_the_hour",
        datetime(2026, 3, 18, 4, 37, tzinfo=UTC),
        75,
        "Asia/Seoul",
        "ramp",
        130,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=80, lag=1),),
        seed=41,
    ),
    # Across midnight and the new year in Seoul (23:30-01:00 KST), not in UTC.
    "new_year_seoul": Case(
        "new_year_seoul",
        datetime(2026, 12, 31, 14, 30, tzinfo=UTC),
        90,
        "Asia/Seoul",
        "double",
        120,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=75, lag=0),),
        title="카운트다운 라이브 2027",
        seed=42,
    ),
    # Across midnight UTC, shown in UTC.
    "utc_midnight": Case(
        "utc_midnight",
        datetime(2026, 7, 31, 23, 20, tzinfo=UTC),
        75,
        "UTC",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        seed=43,
    ),
    # A project without Realtime, and an app whose tables are a shop's: no registrations.csv.
    "shop_no_realtime": Case(
        "shop_no_realtime",
        datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "spike",
        140,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                503,
                sqlstate="53300",
                severity="FATAL",
                message="sorry, too many clients already",
                share=0.5,
                threshold=90,
                expect="capacity",
                key="53300",
            ),
            Mech(
                "flat",
                "/rest/v1/line_items",
                "POST",
                409,
                sqlstate="23503",
                message='insert or update on table "line_items" violates foreign key '
                'constraint "line_items_sku_fkey"',
                share=0.1,
                expect="traffic",
                key="23503:line_items_sku_fkey",
            ),
        ),
        endpoints=("/rest/v1/orders", "/rest/v1/line_items", "/rest/v1/carts", "/auth/v1/user"),
        realtime=False,
        registrations=False,
        title="Black Friday flash sale",
        seed=44,
    ),
    # Error kinds no catalogue entry knows: an SQLSTATE class never seen (XX001 data
    # corrupted, HV00R from a foreign table), an application's own PTxxx code, a Realtime
    # family no rule names, and the gateway's own 429/502/504 with no Postgres line.
    "unheard_of": Case(
        "unheard_of",
        datetime(2026, 8, 12, 2, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        110,
        mechs=(
            Mech(
                "outage",
                "/rest/v1/invoices",
                "GET",
                500,
                sqlstate="XX001",
                message="invalid page in block 4242 of relation base/16384/24576",
                length=12,
                expect="",
                key="XX001",
            ),
            Mech(
                "background",
                "/rest/v1/fx_rates",
                "GET",
                500,
                sqlstate="HV00R",
                message='foreign table "fx_rates_remote" does not exist',
                rate=1.0,
                expect="unrelated",
                key="HV00R",
            ),
            Mech(
                "flat",
                "/rest/v1/rpc/charge",
                "POST",
                402,
                sqlstate="PT402",
                message="card declined",
                share=0.15,
                expect="traffic",
                key="PT402",
            ),
            Mech(
                "rt_background",
                message="TenantQuarantined: broadcast fan-out suspended for tenant",
                rate=1.2,
                expect="",
                key="",
            ),
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                429,
                share=0.5,
                threshold=75,
                expect="capacity",
                key="http:429:rest/*",
            ),
            Mech(
                "burst",
                "/storage/v1/object/public/art/cover.png",
                "GET",
                502,
                count=40,
                expect="",
                key="http:502:storage/*",
            ),
            Mech(
                "outage",
                "/rest/v1/reports",
                "GET",
                504,
                length=10,
                expect="",
                key="http:504:rest/*",
            ),
        ),
        endpoints=(
            "/rest/v1/invoices",
            "/rest/v1/fx_rates",
            "/rest/v1/rpc/charge",
            "/rest/v1/reports",
            "/storage/v1/object/public/art/cover.png",
            "/auth/v1/user",
        ),
        seed=45,
    ),
    # A very quiet incident: three errors in an hour.
    "three_errors": Case(
        "three_errors",
        datetime(2026, 6, 9, 5, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        60,
        mechs=(
            Mech(
                "burst",
                "/rest/v1/questions",
                "GET",
                500,
                sqlstate="57014",
                message="canceling statement due to statement timeout",
                count=3,
                expect="",
                key="57014",
            ),
        ),
        seed=46,
    ),
    # Fifty error classes in one hour: thirty tables' unique keys, twenty missing endpoints.
    "fifty_classes": Case(
        "fifty_classes",
        datetime(2026, 5, 20, 3, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        120,
        mechs=_many_classes(30, 20),
        endpoints=("/rest/v1/questions", "/auth/v1/user"),
        seed=47,
    ),
    # Markdown, LaTeX, HTML, bidi and control characters in every free text that reaches
    # the page: the title, a constraint and a relation (quoted identifiers may hold
    # anything), endpoints, a Postgres message, a Realtime line, an operator's note.
    "hostile_names": Case(
        "hostile_names",
        datetime(2026, 10, 9, 6, 0, tzinfo=UTC),
        45,
        "Asia/Seoul",
        "plateau",
        60,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/orders_$x$",
                "POST",
                409,
                sqlstate="23505",
                message="duplicate key value violates unique constraint " + f'"{HOSTILE_IDENT}"',
                share=0.2,
                expect="",
                key="23505:" + HOSTILE_IDENT,
            ),
            Mech(
                "background",
                "/rest/v1/[click](javascript:alert(1))",
                "GET",
                404,
                sqlstate="42P01",
                message='relation "public.$$\\input{/etc/passwd}$$<i>t</i>\u202e" does not exist',
                rate=1.5,
                expect="",
                key="42P01",
            ),
            Mech(
                "background",
                "/rest/v1/**bold**_`tick`_|pipe|",
                "GET",
                404,
                rate=1.5,
                expect="",
                key="",
            ),
            Mech(
                "rt_background",
                message="ChannelRateLimitReached: # Heading $\\alpha$ "
                "[x](http://evil.example) \x1b[31m",
                rate=1.0,
                expect="",
                key="realtime:rate_limit",
            ),
        ),
        endpoints=("/rest/v1/questions", "/auth/v1/user"),
        notes=(
            (
                10,
                "**Deploy** [v2](http://evil.example)",
                "$\\frac{1}{0}$ <script>x</script> \u202e \\(x^2\\) \\begin{align}y\\end{align}",
            ),
        ),
        title="# 분기 리뷰 $\\frac{a}{b}$ **굵게** [클릭](javascript:alert(1)) "
        "\u202eRTL\u200f\x1b[31m <b>x</b> `c` | p |",
        seed=48,
    ),
}

#: Mechanisms the package had not met, each as a careful user would meet it
#: (tests/test_unseen_probes.py).
PROBES: dict[str, Case] = {
    # A limit whose failures follow the load by six minutes: past the lag grid (0-5).
    "lag_six": Case(
        "lag_six",
        datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        90,
        "Europe/Warsaw",
        "double",
        140,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=80, lag=6, share=0.4),),
        seed=51,
    ),
    # A very low limit: about 20 sessions, passed in the first minutes of the window.
    "k_twenty": Case(
        "k_twenty",
        datetime(2026, 3, 4, 10, 0, tzinfo=UTC),
        60,
        "Europe/Warsaw",
        "plateau",
        120,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=20, lag=0, share=0.02),),
        seed=52,
    ),
    # A limit above the peak (never reached: no failure) beside statement timeouts of a
    # nightly job at a constant rate: nothing here is capacity.
    "k_above_peak": Case(
        "k_above_peak",
        datetime(2026, 3, 5, 10, 0, tzinfo=UTC),
        60,
        "Europe/Warsaw",
        "spike",
        110,
        mechs=(
            replace_mech(QUESTIONS_TIMEOUT, threshold=150, lag=0, expect="nocapacity"),
            Mech(
                "background",
                "/rest/v1/rpc/refresh_leaderboard",
                "POST",
                500,
                sqlstate="57014",
                message="canceling statement due to statement timeout",
                pg_user="postgres",
                rate=1.0,
                key="57014",
            ),
        ),
        seed=53,
    ),
    # A deploy at 14:20 KST starts a flat bug (a column the new client selects does not
    # exist): a step in time, after the first peak, not a step in load.
    "deploy_step": Case(
        "deploy_step",
        datetime(2026, 5, 12, 5, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "double",
        130,
        mechs=(
            Mech(
                "step",
                "/rest/v1/questions",
                "GET",
                400,
                sqlstate="42703",
                message="column questions.is_pinned does not exist",
                share=0.3,
                at=20,
                expect="notcapacity",
                key="42703",
            ),
        ),
        notes=((20, "Deploy web v2.31", "client release with pinned questions"),),
        seed=54,
    ),
    # A retry storm: one client re-sends a failing insert fifty times in one minute.
    "retry_storm": Case(
        "retry_storm",
        datetime(2026, 5, 13, 5, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        100,
        mechs=(
            Mech(
                "retry",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                count=1,
                length=1,
                every=1.2,
                at=33,
                key="23505:answers_pkey",
            ),
        ),
        endpoints=("/rest/v1/questions", "/rest/v1/answers", "/auth/v1/user"),
        seed=55,
    ),
    # A limit on Realtime channel joins (the tenant's joins per second), no Postgres error.
    "rt_join_limit": Case(
        "rt_join_limit",
        datetime(2026, 6, 14, 18, 0, tzinfo=UTC),
        60,
        "America/Sao_Paulo",
        "spike",
        150,
        mechs=(
            Mech(
                "rt_capacity",
                message="JoinsRateLimitReached: Too many joins per second on this tenant",
                threshold=90,
                share=0.6,
                lag=0,
                expect="capacity",
                key="realtime:rate_limit",
            ),
        ),
        seed=56,
    ),
    # Two limits in one hour with different thresholds: PostgREST's own connection pool
    # (504 after its acquisition timeout, no Postgres line) and Realtime's concurrent users.
    "pool_and_realtime": Case(
        "pool_and_realtime",
        datetime(2026, 6, 15, 18, 0, tzinfo=UTC),
        60,
        "America/Sao_Paulo",
        "double",
        160,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                504,
                share=0.4,
                threshold=75,
                expect="capacity",
                key="http:504:rest/*",
            ),
            Mech(
                "rt_capacity",
                message="ConnectionRateLimitReached: Too many connected users",
                threshold=115,
                share=0.6,
                lag=1,
                expect="capacity",
                key="realtime:too_many_connections",
            ),
        ),
        seed=57,
    ),
    # The webinar ends early (the audience falls to a few at 55 % of the window) while a
    # job's statement timeouts go on; a flat bug falls with the audience.
    "ends_early": Case(
        "ends_early",
        datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
        60,
        "Europe/Berlin",
        "ends_early",
        120,
        mechs=(
            Mech(
                "background",
                "/rest/v1/rpc/refresh_leaderboard",
                "POST",
                500,
                sqlstate="57014",
                message="canceling statement due to statement timeout",
                pg_user="postgres",
                rate=1.5,
                key="57014",
            ),
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                share=0.08,
                expect="traffic",
                key="23505:answers_pkey",
            ),
        ),
        endpoints=("/rest/v1/questions", "/rest/v1/answers", "/auth/v1/user"),
        seed=58,
    ),
    # Six hours with two separate episodes above one connection limit (two peaks).
    "six_hours": Case(
        "six_hours",
        datetime(2026, 9, 5, 9, 0, tzinfo=UTC),
        360,
        "Europe/Paris",
        "double",
        130,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                503,
                sqlstate="53300",
                severity="FATAL",
                message="sorry, too many clients already",
                share=0.5,
                threshold=85,
                expect="capacity",
                key="53300",
            ),
        ),
        seed=59,
    ),
    # Tables whose times carry no zone (a ``timestamp`` column holding UTC) beside log pages
    # timed in epoch microseconds.
    "naive_tables": Case(
        "naive_tables",
        datetime(2026, 2, 6, 5, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        table_times="naive",
        seed=60,
    ),
    # The same with ISO times ending in Z.
    "iso_z_tables": Case(
        "iso_z_tables",
        datetime(2026, 2, 6, 5, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        table_times="iso_z",
        seed=60,
    ),
    # Error messages that carry e-mail addresses, client addresses (IPv6), tokens and user
    # ids, as applications and Postgres write them.
    "private_messages": Case(
        "private_messages",
        datetime(2026, 4, 8, 12, 0, tzinfo=UTC),
        45,
        "Asia/Seoul",
        "plateau",
        70,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/rpc/join_webinar",
                "POST",
                400,
                sqlstate="P0001",
                message="user {email} connecting from {ip} is banned (id {user})",
                search="?email=eq.{email}",
                share=0.1,
                expect="traffic",
                key="P0001",
            ),
            Mech(
                "background",
                "/rest/v1/rpc/sync_crm",
                "POST",
                403,
                sqlstate="28000",
                message='role "crm_sync" is not permitted to log in from "{ip}" as "{email}"',
                rate=1.0,
                key="28000",
            ),
            Mech(
                "background",
                "/auth/v1/user",
                "GET",
                401,
                search="?access_token={jwt}&email={email}",
                rate=1.0,
                key="http:401:auth/user",
            ),
            Mech(
                "rt_background",
                message="InvalidJWTToken: Token has expired {jwt} for {email}",
                rate=1.0,
                expect="",
                key="realtime:other",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/rpc/join_webinar",
            "/rest/v1/profiles",
            "/auth/v1/user",
        ),
        ipv6=True,
        notes=((15, "Support ticket", "{email} from {ip} says the player froze"),),
        seed=61,
    ),
    # Edge Functions at their worker limit (546 WORKER_LIMIT under load), logged by the
    # gateway and by the functions' own log source.
    "function_limit": Case(
        "function_limit",
        datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "spike",
        140,
        mechs=(
            Mech(
                "capacity",
                "/functions/v1/*",
                "POST",
                546,
                share=0.5,
                threshold=85,
                expect="capacity",
                key="http:546:functions/*",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/functions/v1/send-reminder",
            "/functions/v1/translate",
            "/auth/v1/user",
        ),
        function_logs=True,
        seed=63,
    ),
    # A bigger audience than the other cases: a connection limit at 220 sessions three
    # minutes behind the load on a steep ramp, two flat client bugs, and one minute in which
    # many users' uploads fail.
    "big_ramp": Case(
        "big_ramp",
        datetime(2026, 11, 3, 10, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "ramp",
        320,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                503,
                sqlstate="53300",
                severity="FATAL",
                message="remaining connection slots are reserved for non-replication "
                "superuser connections",
                share=0.5,
                threshold=220,
                lag=3,
                expect="capacity",
                key="53300",
            ),
            Mech(
                "flat",
                "/rest/v1/answers",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "answers_pkey"',
                share=0.04,
                expect="traffic",
                key="23505:answers_pkey",
            ),
            Mech(
                "flat",
                "/rest/v1/rpc/vote",
                "POST",
                400,
                sqlstate="22P02",
                message='invalid input syntax for type integer: "NaN"',
                share=0.06,
                expect="traffic",
                key="22P02",
            ),
            Mech(
                "burst",
                "/storage/v1/object/upload/avatars/me.png",
                "POST",
                502,
                count=60,
                at=12,
                key="http:502:storage/*",
            ),
        ),
        endpoints=(
            "/rest/v1/questions",
            "/rest/v1/answers",
            "/rest/v1/rpc/vote",
            "/auth/v1/user",
        ),
        seed=64,
    ),
    # Two HTTP-500 classes on different tables at the same minutes: neither message names
    # a table, so a response may pair with the other class's error.
    "two_500s": Case(
        "two_500s",
        datetime(2026, 8, 12, 2, 0, tzinfo=UTC),
        60,
        "Asia/Seoul",
        "plateau",
        110,
        mechs=(
            Mech(
                "outage",
                "/rest/v1/invoices",
                "GET",
                500,
                sqlstate="XX001",
                message="invalid page in block 4242 of relation base/16384/24576",
                length=20,
                at=20,
                key="XX001",
            ),
            Mech(
                "outage",
                "/rest/v1/fx_rates",
                "GET",
                500,
                sqlstate="XX000",
                message="could not read block 77 in file base/16384/99120: read only 0 bytes",
                length=20,
                at=25,
                key="XX000",
            ),
        ),
        endpoints=(
            "/rest/v1/invoices",
            "/rest/v1/fx_rates",
            "/rest/v1/questions",
            "/auth/v1/user",
        ),
        seed=62,
    ),
}

# PostgREST's pool and Realtime's users limited at once, in the ClickHouse-era pages.
PROBES["pool_and_realtime_ch"] = replace(
    PROBES["pool_and_realtime"], name="pool_and_realtime_ch", flavour="clickhouse"
)

#: A message a team's own function raises with the provider's whole answer in it (~6 KB),
#: with emoji and right-to-left text.
LOUD_MESSAGE = (
    "payment provider refused the charge 💳🔥: "
    + json.dumps(
        {"error": {"code": "card_declined", "trace": [f"frame_{i:03d}" for i in range(700)]}}
    )
    + " — رفض مزود الدفع العملية ‏(שגיאה)"
)

#: Webinar ids that are small numbers written with leading zeros.
_SMALL_NUMBER_IDS = Case(
    "small_number_ids",
    datetime(2026, 2, 2, 9, 0, tzinfo=UTC),
    45,
    "Europe/Istanbul",
    "plateau",
    80,
    mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=55, lag=0),),
    webinars=2,
    webinar_ids=("007", "42"),
    seed=78,
)

#: Incidents as teams bring them (tests/test_unseen_field.py): windows, zones, tables and
#: text of their own.
FIELD: dict[str, Case] = {
    # Three hours, one connection limit passed at each of two peaks: two separate episodes,
    # an hour apart, shown in Denver time from UTC exports.
    "two_episodes": Case(
        "two_episodes",
        datetime(2026, 4, 14, 15, 0, tzinfo=UTC),
        180,
        "America/Denver",
        "double",
        140,
        mechs=(
            Mech(
                "capacity",
                "/rest/v1/*",
                "GET",
                503,
                sqlstate="53300",
                severity="FATAL",
                message="sorry, too many clients already",
                share=0.5,
                threshold=100,
                expect="capacity",
                key="53300",
            ),
        ),
        seed=71,
    ),
    # An hour in which nothing failed, exported without any Postgres page.
    "silent_hour": Case(
        "silent_hour",
        datetime(2026, 6, 30, 22, 0, tzinfo=UTC),
        60,
        "Pacific/Auckland",
        "spike",
        90,
        postgres=False,
        seed=72,
    ),
    # A team in Denver: logs in UTC (as every export is), tables written by psql in a session
    # set to Denver time (-06 in summer), an operator's note in UTC.
    "denver_tables": Case(
        "denver_tables",
        datetime(2026, 7, 21, 1, 30, tzinfo=UTC),  # 19:30 MDT the evening before
        60,
        "America/Denver",
        "ramp",
        130,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=75, lag=0),),
        table_times="local",
        notes=((40, "Scaled compute", "moved to a larger instance"),),
        seed=73,
    ),
    # The same team's incident.json names no display zone.
    "no_zone_named": Case(
        "no_zone_named",
        datetime(2026, 7, 21, 1, 30, tzinfo=UTC),
        60,
        "America/Denver",
        "ramp",
        130,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=75, lag=0),),
        manifest_tz=False,
        seed=73,
    ),
    # A limit only on Realtime presence: the tenant's presence messages per second, which
    # grow with the audience; nothing else fails.
    "presence_limit": Case(
        "presence_limit",
        datetime(2026, 9, 9, 11, 0, tzinfo=UTC),
        60,
        "Europe/Lisbon",
        "ramp",
        150,
        mechs=(
            Mech(
                "rt_capacity",
                message="PresenceRateLimitReached: Too many presence messages per second",
                threshold=85,
                share=0.6,
                expect="capacity",
                key="realtime:rate_limit",
            ),
        ),
        seed=74,
    ),
    # Messages of several kilobytes, emoji and right-to-left text in messages, details, a
    # Realtime line, the title and a note.
    "loud_messages": Case(
        "loud_messages",
        datetime(2026, 3, 26, 18, 0, tzinfo=UTC),
        45,
        "Asia/Dubai",
        "plateau",
        80,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/rpc/charge",
                "POST",
                400,
                sqlstate="P0001",
                message=LOUD_MESSAGE,
                share=0.15,
                expect="traffic",
                key="P0001",
            ),
            Mech(
                "background",
                "/rest/v1/comments",
                "POST",
                400,
                sqlstate="23514",
                message='new row for relation "comments" violates check constraint '
                '"comments_body_check"',
                detail="Failing row contains (😀🎉 مرحبا بالجميع שלום " + "x" * 3000 + ").",
                rate=1.5,
                key="23514:comments_body_check",
            ),
            Mech(
                "rt_background",
                message="ChannelRateLimitReached: 🚨 قناة مزدحمة — " + "ק" * 2500,
                rate=1.0,
                expect="",
                key="realtime:rate_limit",
            ),
        ),
        endpoints=("/rest/v1/questions", "/rest/v1/rpc/charge", "/rest/v1/comments"),
        notes=((12, "🔥 Incident declared", "فريق الدعم — צוות " + "🙏" * 400),),
        title="🚀 إطلاق المنتج — השקה 出시 라이브",
        seed=75,
    ),
    # A team's webinars table with columns of its own: a slug, a host, a description holding
    # commas, quotes and a line break, a capacity, and a recording link.
    "team_columns": Case(
        "team_columns",
        datetime(2026, 5, 19, 14, 0, tzinfo=UTC),
        60,
        "Europe/Berlin",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        webinar_extras=(
            ("slug", "q2-roadmap"),
            ("host_id", "7d3f0c9e-55aa-4b1e-9a61-0f3b9c2d4e11"),
            ("description", 'Roadmap, Q&A and "demos"\nbring questions'),
            ("max_attendees", "500"),
            ("recording_url", "https://cdn.example.org/rec.mp4?token=abc123secret"),
        ),
        seed=76,
    ),
    # The same table as another team names its columns.
    "renamed_columns": Case(
        "renamed_columns",
        datetime(2026, 5, 19, 14, 0, tzinfo=UTC),
        60,
        "Europe/Berlin",
        "plateau",
        100,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=70, lag=0),),
        webinar_renames=(("title", "name"), ("starts_at", "start_time"), ("ends_at", "end_time")),
        seed=76,
    ),
    # Forty webinars live in one project at once; the report's is the biggest.
    "forty_webinars": Case(
        "forty_webinars",
        datetime(2026, 10, 27, 8, 0, tzinfo=UTC),
        60,
        "Asia/Singapore",
        "plateau",
        220,
        mechs=(replace_mech(QUESTIONS_TIMEOUT, threshold=130, lag=0),),
        webinars=40,
        seed=77,
    ),
    "small_number_ids": _SMALL_NUMBER_IDS,
    # Webinar ids that are text (a slug key): not a uuid, not an integer.
    "slug_ids": replace(
        _SMALL_NUMBER_IDS, name="slug_ids", webinar_ids=("launch/2026#keynote", "launch q&a")
    ),
    # A person's data in every place an app and Supabase put it: e-mails in a unique key's
    # detail and a statement, phone numbers, JWTs and API keys in query strings, a careless
    # client's x-client-info, user ids in Storage and Functions paths, IPv4 and IPv6
    # addresses in messages, a Realtime line, the title, a note, and registrations rows
    # whose user is an e-mail (rejected: the check must not print it either).
    "private_everywhere": Case(
        "private_everywhere",
        datetime(2026, 8, 4, 7, 0, tzinfo=UTC),
        45,
        "Asia/Seoul",
        "plateau",
        70,
        mechs=(
            Mech(
                "flat",
                "/rest/v1/profiles",
                "POST",
                409,
                sqlstate="23505",
                message='duplicate key value violates unique constraint "profiles_email_key"',
                detail="Key (email)=({email}) already exists.",
                query="insert into profiles (id, email, phone) values ('{user}', '{email}', "
                "'{phone}')",
                search="?on_conflict=email&apikey=sb_publishable_Q2x8Jd0fKq1v9RzT4mB7",
                share=0.1,
                expect="traffic",
                key="23505:profiles_email_key",
            ),
            Mech(
                "background",
                "/storage/v1/object/avatars/{user}/selfie.png",
                "GET",
                403,
                search="?token={jwt}&download=1",
                rate=1.2,
                expect="",
                key="",
            ),
            Mech(
                "background",
                "/rest/v1/rpc/send_sms",
                "POST",
                400,
                sqlstate="P0001",
                message="SMS to {phone} failed for {email} from {ip} "
                "(gateway fe80::1ff:fe23:4567:890a)",
                detail='{{"user_id":"{user}","phone":"{phone}"}}',
                rate=1.2,
                expect="",
                key="P0001",
            ),
            Mech(
                "background",
                "/functions/v1/users/{user}/export",
                "POST",
                500,
                search="?email={email}&access_token={jwt}",
                rate=1.2,
                expect="",
                key="http:500:functions/*",
            ),
            Mech(
                "background",
                "/rest/v1/questions",
                "GET",
                400,
                sqlstate="22P02",
                message='invalid input syntax for type uuid: "{email}"',
                search="?author=eq.{email}&select=*",
                rate=1.2,
                expect="",
                key="22P02",
            ),
            Mech(
                "rt_background",
                message="InvalidJWTToken: token {jwt} of user_id={user} from {ip} ({phone})",
                rate=1.0,
                expect="",
                key="realtime:other",
            ),
        ),
        endpoints=("/rest/v1/questions", "/rest/v1/profiles", "/auth/v1/user"),
        client_info="supabase-js-web/2.45.4 ({email}; {ip})",
        notes=((20, "Call from {phone}", "{email} at {ip} sent Bearer {jwt}"),),
        title="Investor call — host jane.doe@corp.example, +1 415 555 0100",
        bad_registrations=(("{email}", "2026-08-03 09:00:00+00"), ("{phone}", "2026-08-03")),
        registrations_file="registrations from jane.doe@corp.example 010-2222-3333.csv",
        person_columns=(("email", "{email}"), ("phone", "{phone}"), ("last_ip", "{ip}")),
        extra={"name": "call with jane.doe@corp.example (+1 415 555 0100) from 192.0.2.7"},
        seed=79,
    ),
}

#: Every named case.
ALL: dict[str, Case] = {**CASES, **SHAPES, **EDGES, **PROBES, **FIELD}


# ------------------------------------------------------------------ the audience


def _target(shape: str, peak: int, minutes: int, m: int, rng: random.Random) -> int:
    x = (m + 0.5) / minutes
    if shape == "plateau":
        level = min(1.0, x / 0.3, (1 - x) / 0.2 + 0.3)
    elif shape == "double":
        level = 0.2 + 0.8 * max(
            math.exp(-(((x - 0.3) / 0.1) ** 2)), math.exp(-(((x - 0.72) / 0.08) ** 2))
        )
    elif shape == "ramp":
        level = 0.1 + 0.9 * x
    elif shape == "spike":
        level = 0.35 + 0.65 * math.exp(-(((x - 0.5) / 0.12) ** 2))
    elif shape == "ends_early":  # the plateau, then the webinar ends early: a few stay on
        level = min(1.0, x / 0.3) if x < 0.55 else 0.04
    else:  # low and noisy
        level = 0.6 + 0.4 * rng.random()
    return max(1, round(peak * level))


@dataclass
class Session:
    user: int
    webinar: int
    sid: str
    joined: datetime
    left: datetime | None


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


@dataclass
class World:
    webinar_ids: list[str]
    users: list[str]
    sessions: list[Session]
    open_per_minute: list[int]  # project-wide, at each minute's middle
    samples: list[tuple[int, datetime, int]]  # (webinar index, time, open sessions)
    requests: list[dict]
    pg: list[dict]
    rt: list[dict]
    fn: list[dict]
    mech_minutes: dict = field(default_factory=dict)  # mechanism index -> (start, end) minutes


class Counter:
    """Open sessions at any instant (of one webinar, or all), by two sorted lists of edges."""

    def __init__(self, sessions: list[Session], webinar: int | None = None) -> None:
        mine = [s for s in sessions if webinar is None or s.webinar == webinar]
        self.joins = sorted(s.joined for s in mine)
        self.leaves = sorted(s.left for s in mine if s.left is not None)

    def at(self, t: datetime) -> int:
        return bisect.bisect_right(self.joins, t) - bisect.bisect_right(self.leaves, t)


def build(case: Case) -> World:
    rng = random.Random(case.seed * 7919)
    start, minutes = case.start, case.minutes
    end = start + timedelta(minutes=minutes)
    if case.webinar_ids:
        webinar_ids = list(case.webinar_ids)
    elif case.bigint_ids:
        webinar_ids = [str(90210 + 17 * i) for i in range(case.webinars)]
    else:
        webinar_ids = [_uuid(rng) for _ in range(case.webinars)]
    users = [_uuid(rng) for _ in range(int(case.peak * 2.2) + 20)]
    if case.int_users:
        users = [str(10007 + 37 * i) for i in range(len(users))]
    sessions: list[Session] = []
    live: list[Session] = []
    free = list(range(len(users)))
    rng.shuffle(free)
    for m in range(minutes):
        want = _target(case.shape, case.peak, minutes, m, rng)
        t0 = start + timedelta(minutes=m)
        # churn: a few leave and come back as new sessions every minute
        leave = max(0, len(live) - want) + sum(1 for _ in live if rng.random() < 0.03)
        for s in rng.sample(live, min(leave, len(live))):
            s.left = t0 + timedelta(seconds=rng.uniform(0, 59.9))
            live.remove(s)
            free.append(s.user)
        while len(live) < want and free:
            user = free.pop(rng.randrange(len(free)))
            # the report's webinar gets most people; the others a share each
            webinar = (
                0 if rng.random() < 0.7 or case.webinars == 1 else rng.randrange(1, case.webinars)
            )
            s = Session(
                user, webinar, _uuid(rng), t0 + timedelta(seconds=rng.uniform(0, 59.9)), None
            )
            sessions.append(s)
            live.append(s)
    everyone = Counter(sessions)
    open_per_minute = [
        everyone.at(start + timedelta(minutes=m, seconds=30)) for m in range(minutes)
    ]
    samples = []
    for w in range(case.webinars):
        counter = Counter(sessions, w)
        t = start + timedelta(seconds=rng.uniform(1, 9))
        while t < end:
            minute = int((t - start).total_seconds() // 60)
            gap = case.monitor_gap
            if gap is None or not gap[0] <= minute < gap[1]:
                samples.append((w, t, counter.at(t)))
            t += timedelta(seconds=20)

    world = World(webinar_ids, users, sessions, open_per_minute, samples, [], [], [], [])
    _traffic(case, world, rng)
    _realtime(case, world, rng)
    for rows in (world.requests, world.pg, world.rt, world.fn):
        rows.sort(key=lambda r: r["t"])
        for row in rows:
            row["id"] = _uuid(rng)
    return world


def _start_minute(mech: Mech, minutes: int, rng: random.Random) -> int:
    if mech.at is not None:
        return mech.at
    return rng.randrange(5, max(6, minutes - max(mech.length, 1) - 3))


def _fail_share(mech: Mech, load: int, minute: int = 0) -> float:
    if mech.kind == "flat" or (mech.kind == "step" and minute >= (mech.at or 0)):
        return mech.share
    if mech.kind == "capacity" and load > mech.threshold:
        return min(0.95, mech.share * (load - mech.threshold) / mech.threshold * 4)
    return 0.0


def _traffic(case: Case, w: World, rng: random.Random) -> None:
    start, minutes = case.start, case.minutes
    paths = list(case.endpoints)
    for mech in case.mechs:
        if (
            mech.path
            and mech.kind in ("flat", "step", "capacity", "outage")
            and mech.path not in paths
            and not mech.path.endswith("*")
        ):
            paths.append(mech.path)
    windows = {}
    for i, mech in enumerate(case.mechs):
        if mech.kind in ("outage", "burst", "retry", "rt_outage"):
            first = _start_minute(mech, minutes, rng)
            windows[i] = (first, first + max(mech.length, 1))
    w.mech_minutes = windows
    addr: dict = {}
    loopers: dict = {}
    for m in range(minutes):
        t0 = start + timedelta(minutes=m)
        live = [
            s
            for s in w.sessions
            if s.joined < t0 + timedelta(minutes=1) and (s.left is None or s.left > t0)
        ]
        n = sum(1 for _ in range(len(live) * 2) if rng.random() < 0.5)  # ~1 request each
        for _ in range(n):
            s = rng.choice(live)
            t = t0 + timedelta(seconds=rng.uniform(0, 59.999))
            if t < s.joined or (s.left is not None and t >= s.left):
                continue
            path = rng.choice(paths)
            status, failing = 200, None
            for i, mech in enumerate(case.mechs):
                if not _on(mech, path):
                    continue
                if mech.kind in ("flat", "step", "capacity"):
                    load = w.open_per_minute[max(0, m - mech.lag)]
                    if rng.random() < _fail_share(mech, load, m):
                        failing = mech
                elif mech.kind == "outage" and windows[i][0] <= m < windows[i][1]:
                    if rng.random() < 0.97:
                        failing = mech
                if failing:
                    break
            method = next((x.method for x in case.mechs if x.path == path), "GET")
            if failing:
                status = failing.status
            elif method == "POST":
                status = 201
            _add_request(case, w, rng, addr, s.user, t, method, path, status, failing)
        for i, mech in enumerate(case.mechs):
            if mech.kind == "burst" and windows[i][0] == m:
                for _ in range(mech.count):
                    s = rng.choice(live)
                    t = t0 + timedelta(seconds=rng.uniform(20, 44))
                    _add_request(
                        case, w, rng, addr, s.user, t, mech.method, mech.path, mech.status, mech
                    )
            elif mech.kind == "retry" and windows[i][0] <= m < windows[i][1]:
                # The same clients loop from the first minute to the last.
                if i not in loopers:
                    loopers[i] = rng.sample(sorted({s.user for s in live}), mech.count)
                for user in loopers[i]:
                    t = t0 + timedelta(seconds=rng.uniform(0, 3))
                    while t < t0 + timedelta(minutes=1):
                        _add_request(
                            case, w, rng, addr, user, t, mech.method, mech.path, mech.status, mech
                        )
                        t += timedelta(seconds=mech.every or rng.uniform(2, 5))
            elif mech.kind == "loops":
                # Loops start at a constant rate, each in a random viewer's client, and run
                # for one to ``length`` minutes.
                for _ in range(_poisson(rng, mech.rate)):
                    user = rng.choice(live).user
                    t = t0 + timedelta(seconds=rng.uniform(0, 59.999))
                    stop = t + timedelta(minutes=rng.uniform(1, mech.length))
                    while t < min(stop, start + timedelta(minutes=minutes)):
                        _add_request(
                            case, w, rng, addr, user, t, mech.method, mech.path, mech.status, mech
                        )
                        t += timedelta(seconds=rng.uniform(2, 5))
            elif mech.kind == "background":
                for _ in range(_poisson(rng, mech.rate)):
                    user = rng.randrange(len(w.users))  # registered, not necessarily watching
                    t = t0 + timedelta(seconds=rng.uniform(0, 59.999))
                    _add_request(
                        case, w, rng, addr, user, t, mech.method, mech.path, mech.status, mech
                    )


def _on(mech: Mech, path: str) -> bool:
    """Whether ``mech`` acts on requests to ``path`` (a path ending in ``*`` is a prefix)."""
    if mech.path.endswith("*"):
        return path.startswith(mech.path[:-1])
    return mech.path == path


def _fill(template: str, w: World, user: int, ip: str = "") -> str:
    """``template`` with this user's id, e-mail address, a token of theirs and their address."""
    if not template:
        return ""
    raw = w.users[user]
    payload = f'{{"sub":"{raw}","role":"authenticated"}}'.encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    jwt = f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{body}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    email = f"viewer.{user}@mail.example.org"
    filled = template.replace("{user}", raw).replace("{email}", email).replace("{jwt}", jwt)
    filled = filled.replace("{phone}", f"010-{1000 + user % 9000}-{user * 7 % 10000:04d}")
    # Text written away from a request (an operator's note) gets an address of its own.
    return filled.replace("{ip}", ip or f"203.0.113.{user % 250 + 1}")


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _add_request(case, w, rng, addr, user, t, method, path, status, mech) -> None:
    if user not in addr:
        if case.ipv6:
            addr[user] = f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
        else:
            addr[user] = f"198.51.100.{rng.randrange(1, 255)}"
    fails = mech is not None and status >= 400
    if fails and "{" in path:
        path = _fill(path, w, user, addr[user])
    client = CLIENTS[user % len(CLIENTS)]
    if case.client_info:
        client = _fill(case.client_info, w, user, addr[user])
    w.requests.append(
        {
            "t": t,
            "user": w.users[user],
            "search": _fill(mech.search, w, user, addr[user]) if fails else "",
            "ip": addr[user],
            "client": client,
            "method": method,
            "path": path,
            "status": status,
            "ms": round(rng.uniform(8, 90) if not fails else rng.uniform(30, 30000), 1),
        }
    )
    if fails and mech.sqlstate:
        lead = timedelta(milliseconds=rng.uniform(1, 40))
        w.pg.append(
            {
                "t": t - lead + timedelta(seconds=case.pg_skew_s),
                "mech": mech,
                "message": _fill(mech.message, w, user, addr[user]),
                "detail": _fill(mech.detail, w, user, addr[user]),
                "query": _fill(mech.query, w, user, addr[user]),
            }
        )
    if path.startswith("/functions/"):
        w.fn.append(
            {"t": t - timedelta(milliseconds=3), "status": status, "path": path, "method": method}
        )


def _realtime(case: Case, w: World, rng: random.Random) -> None:
    start, end = case.start, case.start + timedelta(minutes=case.minutes)
    t = start + timedelta(seconds=2)
    everyone = Counter(w.sessions)
    while t < end:
        connected = everyone.at(t)
        w.rt.append(
            {
                "t": t,
                "msg": "Billing metrics: [:realtime, :connections]",
                "level": "info",
                "connected": connected,
                "limit": case.rt_limit,
            }
        )
        t += timedelta(seconds=5)
    for i, mech in enumerate(case.mechs):
        for m in range(case.minutes):
            t0 = start + timedelta(minutes=m)
            if mech.kind == "rt_capacity":
                load = w.open_per_minute[max(0, m - mech.lag)]
                lam = 12 * max(0.0, (load - mech.threshold) / mech.threshold) * mech.share * 4
            elif mech.kind == "rt_outage":
                lo, hi = w.mech_minutes[i]
                lam = 10.0 if lo <= m < hi else 0.0
            elif mech.kind == "rt_background":
                lam = mech.rate
            else:
                continue
            for _ in range(_poisson(rng, lam)):
                msg = mech.message
                if "{" in msg:
                    # A viewer's client: someone the tables know.
                    msg = _fill(msg, w, rng.choice(w.sessions).user)
                w.rt.append(
                    {
                        "t": t0 + timedelta(seconds=rng.uniform(0, 59.999)),
                        "msg": msg,
                        "level": "error",
                        "connected": None,
                        "limit": None,
                    }
                )


# ------------------------------------------------------------------ rows as Supabase returns them


def _micros(t: datetime) -> int:
    return int(t.timestamp() * 1_000) * 1_000


def _clickhouse_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _edge_row(case: Case, r: dict) -> dict:
    url = f"https://{case.project_ref}.supabase.co{r['path']}"
    message = f"{r['method']} | {r['status']} | {r['ip']} | {r['id'][:16]} | {url} | {r['client']}"
    if case.flavour == "clickhouse":
        row = {
            "id": r["id"],
            "timestamp": _clickhouse_time(r["t"]),
            "event_message": message,
            "severity_text": "INFO",
            "source": "edge_logs",
            "log_attributes": {
                "request.method": r["method"],
                "request.path": r["path"],
                "request.headers.cf_connecting_ip": r["ip"],
                "request.headers.x_client_info": r["client"],
                "request.sb.auth_user": None if case.anonymous else r["user"],
                "response.status_code": str(r["status"]),
                "response.origin_time": str(r["ms"]),
            },
        }
        if r.get("search"):
            row["log_attributes"]["request.search"] = r["search"]
        return row
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": message,
        "identifier": case.project_ref,
        "metadata": [
            {
                "request": [
                    {
                        "method": r["method"],
                        "path": r["path"],
                        "search": r.get("search") or None,
                        "headers": [{"cf_connecting_ip": r["ip"], "x_client_info": r["client"]}],
                        "sb": [{"auth_user": None if case.anonymous else r["user"]}],
                    }
                ],
                "response": [{"status_code": r["status"], "origin_time": r["ms"]}],
            }
        ],
    }


def _pg_row(case: Case, r: dict) -> dict:
    mech = r["mech"]
    parsed = {
        "error_severity": mech.severity,
        "sql_state_code": mech.sqlstate,
        "user_name": mech.pg_user,
        "application_name": "postgrest" if mech.pg_user == "authenticator" else "",
        "command_tag": "SELECT" if mech.method == "GET" else "INSERT",
    }
    if r.get("detail"):
        parsed["detail"] = r["detail"]
    if r.get("query"):
        parsed["query"] = r["query"]
    if case.flavour == "clickhouse":
        return {
            "id": r["id"],
            "timestamp": _clickhouse_time(r["t"]),
            "event_message": r.get("message", mech.message),
            "severity_text": mech.severity,
            "source": "postgres_logs",
            "log_attributes": {f"parsed.{k}": v for k, v in parsed.items()},
        }
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": r.get("message", mech.message),
        "identifier": case.project_ref,
        "metadata": [{"parsed": [parsed]}],
    }


def _rt_row(case: Case, r: dict) -> dict:
    if case.flavour == "clickhouse":
        attrs = {"level": r["level"], "project": case.project_ref}
        if r["connected"] is not None:
            attrs["measurements.connected"] = str(r["connected"])
            attrs["measurements.limit"] = str(r["limit"])
        return {
            "id": r["id"],
            "timestamp": _clickhouse_time(r["t"]),
            "event_message": r["msg"],
            "severity_text": r["level"].upper(),
            "source": "realtime_logs",
            "log_attributes": attrs,
        }
    meta = {"level": r["level"], "project": case.project_ref}
    if r["connected"] is not None:
        meta["measurements"] = [{"connected": r["connected"], "limit": r["limit"]}]
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": r["msg"],
        "metadata": [meta],
    }


def _fn_row(case: Case, r: dict) -> dict:
    """A row of ``function_edge_logs`` (the Edge Functions' own gateway log)."""
    url = f"https://{case.project_ref}.supabase.co{r['path']}"
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": f"{r['method']} | {r['status']} | {url}",
        "metadata": [
            {
                "function_id": "5d2c1a9e-0000-4000-8000-00000000f00d",
                "execution_time_ms": 412,
                "deployment_id": "send-reminder_12",
                "version": "12",
                "request": [{"method": r["method"], "url": url}],
                "response": [{"status_code": r["status"]}],
            }
        ],
    }


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
        fh.write(data)
    return buf.getvalue()


def _write_pages(folder: Path, rows: list[dict], overlap: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, i in enumerate(range(0, max(len(rows), 1), 1000)):
        # A re-download of overlapping windows repeats the previous page's last rows.
        first = max(0, i - overlap) if i else 0
        body = json.dumps({"result": rows[first : i + 1000], "error": None}).encode()
        (folder / f"page-{n + 1:04d}.json.gz").write_bytes(_gzip(body))


def _table_time(t: datetime | None, style: str = "offset") -> str:
    if t is None:
        return ""
    t = t.astimezone(UTC)
    if style == "naive":
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")
    if style == "iso_z":
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style.startswith("local:"):
        local = t.astimezone(ZoneInfo(style.split(":", 1)[1]))
        offset = local.strftime("%z")  # psql writes -07, or +05:45 when there are minutes
        offset = offset[:3] if offset.endswith("00") else f"{offset[:3]}:{offset[3:]}"
        return local.strftime("%Y-%m-%d %H:%M:%S.%f") + offset
    return t.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")


def _exported(case: Case, w: World) -> list[dict]:
    """The gateway rows the export holds: all, or filtered, gappy or sampled as the case says."""
    start = case.start
    rows = [r for r in w.requests if r["status"] >= 400 or not case.errors_only]
    if case.edge_gap:
        lo, hi = (start + timedelta(minutes=m) for m in case.edge_gap)
        rows = [r for r in rows if not lo <= r["t"] < hi]
    if case.edge_sample < 1:
        # The same rows every time: a row is kept by a hash of its id, as a log store samples.
        keep = int(case.edge_sample * 1000)
        rows = [r for r in rows if int(r["id"][:8], 16) % 1000 < keep]
    return rows


def write_incident(dest: Path | str, name: str | Case) -> Path:
    """Write case ``name`` of :data:`CASES` (or a :class:`Case`) as an incident directory."""
    case = name if isinstance(name, Case) else ALL[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    w = build(case)
    end = case.start + timedelta(minutes=case.minutes)
    manifest = {
        "name": f"mech-{case.name}",
        "project_ref": case.project_ref,
        "window_start": case.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
        **case.extra,
    }
    if not case.manifest_tz:
        del manifest["display_tz"]
    folders = {"edge": "edge_logs", "pg": "postgres_logs", "rt": "realtime_logs"}
    if case.flavour == "clickhouse":
        folders = {k: f"clickhouse/{v}" for k, v in folders.items()}
        manifest["files"] = {
            f"clickhouse/{v}/*": {"kind": v, "flavour": "clickhouse"}
            for v in ("edge_logs", "postgres_logs", "realtime_logs")
        }
    shown = _exported(case, w)
    _write_pages(dest / folders["edge"], [_edge_row(case, r) for r in shown], case.overlap_rows)
    if case.postgres:
        _write_pages(dest / folders["pg"], [_pg_row(case, r) for r in w.pg])
    if case.realtime:
        _write_pages(dest / folders["rt"], [_rt_row(case, r) for r in w.rt])
    if case.function_logs:
        _write_pages(dest / "function_edge_logs", [_fn_row(case, r) for r in w.fn])
    (dest / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    if case.notes:
        viewer = w.sessions[len(w.sessions) // 2].user
        _csv(
            dest / "annotations.csv",
            ["time_utc", "label", "note"],
            [
                [(case.start + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 _fill(label, w, viewer), _fill(note, w, viewer)]
                for m, label, note in case.notes
            ],
        )  # fmt: skip
    tables = dest / "tables"
    shift = case.tables_shift

    style = f"local:{case.display_tz}" if case.table_times == "local" else case.table_times

    def stamp(t: datetime | None) -> str:
        return _table_time(t, style)

    titles = [case.title] + [f"Breakout room {i}" for i in range(1, case.webinars)]
    renames = dict(case.webinar_renames)
    header = ["id", "title", "starts_at", "ends_at", "status", "created_at"]
    _csv(
        tables / "webinars.csv",
        [renames.get(c, c) for c in header] + [name for name, _ in case.webinar_extras],
        [
            [
                wid,
                titles[i],
                stamp(case.start + shift),
                stamp(end + shift),
                "live",
                stamp(case.start + shift - timedelta(days=9)),
                *(value for _, value in case.webinar_extras),
            ]
            for i, wid in enumerate(w.webinar_ids)
        ],
    )
    seen: set[tuple[int, int]] = set()
    regs = []
    for s in w.sessions:
        if (s.webinar, s.user) not in seen:
            seen.add((s.webinar, s.user))
            regs.append(
                [
                    w.webinar_ids[s.webinar],
                    w.users[s.user],
                    stamp(case.start + shift - timedelta(hours=1 + s.user % 50)),
                    *(_fill(t, w, s.user) for _, t in case.person_columns),
                ]
            )
    for cell, created in case.bad_registrations:
        regs.append(
            [w.webinar_ids[0], _fill(cell, w, 0), created] + [""] * len(case.person_columns)
        )
    own = [name for name, _ in case.person_columns]
    if case.registrations:
        _csv(tables / case.registrations_file, ["webinar_id", "user_id", "created_at", *own], regs)
    _csv(
        tables / "webinar_live_presence.csv",
        ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at", *own],
        [
            [
                i + 1,
                w.webinar_ids[s.webinar],
                w.users[s.user],
                s.sid,
                stamp(s.joined + shift),
                stamp(None if s.left is None else s.left + shift),
                *(_fill(t, w, s.user) for _, t in case.person_columns),
            ]
            for i, s in enumerate(w.sessions)
        ],
    )
    _csv(
        tables / "webinar_viewer_counts.csv",
        ["id", "webinar_id", "sampled_at", "viewer_count"],
        [[i + 1, w.webinar_ids[wi], stamp(t + shift), n] for i, (wi, t, n) in enumerate(w.samples)],
    )
    return dest


def truth(name: str | Case) -> dict:
    """What the writer knows: counts, the report's webinar, each mechanism's expectation."""
    case = name if isinstance(name, Case) else ALL[name]
    w = build(case)
    return {
        "webinar_id": w.webinar_ids[0],
        "webinar_ids": w.webinar_ids,
        # What the gateway export holds (only error responses in an errors-only export).
        "requests": len(_exported(case, w)),
        "requests_served": len(w.requests),
        # Rows a re-download wrote twice (the next page repeats the previous page's last ones).
        "duplicate_rows": sum(min(case.overlap_rows, i) for i in range(1000, len(w.requests), 1000))
        if not (case.errors_only or case.edge_gap or case.edge_sample < 1)
        else 0,
        "db_errors": len(w.pg) if case.postgres else 0,
        "realtime_rows": len(w.rt) if case.realtime else 0,
        "function_rows": len(w.fn) if case.function_logs else 0,
        "error_responses": sum(1 for r in w.requests if r["status"] >= 400),
        "users": w.users,
        "ips": sorted({r["ip"] for r in w.requests}),
        "peak": max(w.open_per_minute),
        "mech_minutes": w.mech_minutes,
        "mechs": [
            {
                "kind": m.kind,
                "key": m.key,
                "expect": m.expect,
                "threshold": m.threshold,
                "lag": m.lag,
                "path": m.path,
                "minutes": w.mech_minutes.get(i),
            }
            for i, m in enumerate(case.mechs)
        ],
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for case_name in sys.argv[2:] or ALL:
        path = write_incident(out / case_name, case_name)
        print(path, truth(case_name)["webinar_id"])
