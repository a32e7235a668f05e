"""Large ``edge_logs`` exports for benchmarks: millions of rows, streamed, bounded memory.

The rows have the same shape as the shipped incident's (``records.edge_row``) but no causal
story: endpoints, users and statuses are drawn independently with realistic proportions. Rows
are produced one 1000-row page at a time, so memory stays flat whatever ``n_rows`` is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analysis._util import epoch_us
from analysis.exceptions import ParameterError
from analysis.simulate.records import PAGE_ROWS, edge_row, new_uuid4, new_uuid4s, page_bytes

#: (method, path, search template, status, weight): the webinar app's request mix.
_ENDPOINTS = (
    ("GET", "/rest/v1/profiles", "?select=id,nickname,avatar_url&id=eq.{user}", 200, 40),
    ("GET", "/rest/v1/questions", "?select=*&webinar_id=eq.{webinar}&order=id.desc", 200, 18),
    ("GET", "/rest/v1/webinars", "?select=*&id=eq.{webinar}", 200, 8),
    ("GET", "/auth/v1/user", "", 200, 8),
    ("PATCH", "/rest/v1/webinar_live_presence", "?session_id=eq.{session}", 204, 12),
    ("POST", "/rest/v1/webinar_live_presence", "?columns=webinar_id,user_id,session_id", 201, 3),
    ("POST", "/rest/v1/registrations", "?select=*", 201, 1),
    ("POST", "/rest/v1/registrations", "?select=*", 409, 1),
    ("GET", "/rest/v1/registrations", "?select=id&user_id=eq.{user}", 400, 1),
    ("GET", "/realtime/v1/websocket", "?apikey={apikey}&vsn=1.0.0", 101, 3),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
)
_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6InZvbHVtZSIsInJvbGUi"
    "OiJhbm9uIn0.c2ltdWxhdGVkLXNpZ25hdHVyZS1ub3QtYS1yZWFsLWtleQ"
)


@dataclass(frozen=True)
class VolumeExport:
    """What ``generate_edge_log_volume`` wrote."""

    directory: Path
    n_rows: int
    n_pages: int
    n_bytes: int


def generate_edge_log_volume(
    n_rows: int,
    out_dir: Path | str,
    *,
    start: datetime = datetime(2026, 2, 6, 5, tzinfo=UTC),
    hours: float = 1.0,
    seed: int = 0,
    project_ref: str = "yqsayphssjznthrxpgfb",
    n_users: int = 2000,
) -> VolumeExport:
    """Write ``n_rows`` edge_logs rows as gzip Management API pages under ``out_dir``.

    The directory gets ``edge_logs/page-NNNN.json.gz`` (1000 rows each, time-ordered, page
    numbers zero-padded to a common width so they sort) and a minimal ``incident.json``, so
    it is a valid incident directory with edge logs only. Same arguments, same bytes.

    Parameters
    ----------
    n_rows : int
        Number of rows (e.g. 1_000_000 or 10_000_000 for benchmarks).
    out_dir : Path or str
        Incident directory to create (must not already hold an ``edge_logs`` directory).
    start, hours : datetime, float
        The window the timestamps spread over (tz-aware UTC start, duration in hours).
    seed : int
        Seed of every random draw.
    project_ref : str
        Project ref used in hosts, URLs and ``identifier``.
    n_users : int
        Size of the simulated user population.

    Returns
    -------
    VolumeExport
        Directory, rows, pages and compressed bytes written.
    """
    if n_rows < 1:
        raise ParameterError(f"n_rows: expected a positive integer, found {n_rows!r}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ParameterError(f"start: expected a tz-aware UTC datetime, found {start!r}")
    if not hours > 0:
        raise ParameterError(f"hours: expected a positive duration, found {hours!r}")
    out = Path(out_dir)
    edge_dir = out / "edge_logs"
    if edge_dir.exists():
        raise ParameterError(f"{edge_dir}: expected a new directory, found an existing one")
    edge_dir.mkdir(parents=True)

    rng = np.random.default_rng([seed, 7])
    users = new_uuid4s(rng, n_users)
    octets = rng.integers(1, 255, (n_users, 4))
    ips = [".".join(str(int(o)) for o in row) for row in octets]
    agents = rng.integers(0, len(_USER_AGENTS), n_users)
    webinar = new_uuid4(rng)
    weights = np.array([e[4] for e in _ENDPOINTS], dtype=float)
    weights /= weights.sum()

    t0 = epoch_us(start)
    span = int(hours * 3600 * 1_000_000)
    n_pages = -(-n_rows // PAGE_ROWS)
    width = max(4, len(str(n_pages)))
    n_bytes = 0
    for page in range(n_pages):
        first = page * PAGE_ROWS
        count = min(PAGE_ROWS, n_rows - first)
        # Evenly spread, strictly ordered timestamps at millisecond precision, as exports carry.
        index = np.arange(first, first + count)
        ts = t0 + (index * span // n_rows) // 1000 * 1000
        who = rng.integers(0, n_users, count)
        kind = rng.choice(len(_ENDPOINTS), size=count, p=weights)
        origin = rng.gamma(2.0, 25.0, count).astype(int) + 3
        rays = rng.bytes(8 * count).hex()
        ids = new_uuid4s(rng, count)
        rows = []
        for i in range(count):
            method, path, template, status, _ = _ENDPOINTS[kind[i]]
            user = users[who[i]]
            search = template.format(
                user=user, webinar=webinar, session=ids[i][:8], apikey=_ANON_KEY
            )
            rows.append(
                edge_row(
                    row_id=ids[i],
                    ts_us=int(ts[i]),
                    ref=project_ref,
                    method=method,
                    path=path,
                    search=search,
                    status=status,
                    ip=ips[who[i]],
                    ray=rays[16 * i : 16 * i + 16],
                    user_agent=_USER_AGENTS[agents[who[i]]],
                    country="KR",
                    colo="ICN",
                    origin_ms=int(origin[i]),
                    user=None if path.startswith("/realtime") else user,
                    client_info="supabase-js-web/2.49.4",
                    referer="https://eventlive.example.kr/",
                )
            )
        data = page_bytes(rows)
        (edge_dir / f"page-{page + 1:0{width}d}.json.gz").write_bytes(data)
        n_bytes += len(data)

    end = datetime.fromtimestamp((t0 + span) / 1_000_000, tz=UTC)
    manifest = {
        "name": f"edge-volume-{n_rows}",
        "project_ref": project_ref,
        "window_start": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": "Asia/Seoul",
        "flavour": "bigquery",
    }
    (out / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return VolumeExport(directory=out, n_rows=n_rows, n_pages=n_pages, n_bytes=n_bytes)
