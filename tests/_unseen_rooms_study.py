"""Redraw the seventh writer's mechanisms (tests/_unseen_rooms.py) and print truth against verdict.

A study, not a test: ``python tests/_unseen_rooms_study.py --per-family N [--families a,b]``
draws N one-hour incidents per family (seed, queue sizes and opening minutes, K as a share of
the project's peak, lag, a bug's share of builds) and analyses each as ``make report`` does
(English, default seed), printing per family the confusion of truth against verdict, K's
interval against the truth and the lag. Families:

- ``twin``: two webinars live at once; max_connections (53300) met by their summed audience
  (K 55-85 % of the project's peak, lag 0-3), the report about the first; the second room's
  client bug (42P01) in the same logs;
- ``step``: one room, 200-600 viewers walking in within a minute at a scheduled start, an RPC
  cancelled past K (57014), users with oversized cookies (431, flat);
- ``fixed``: max_connections met past K, the pool raised 10x in the middle of the hour while
  the audience stays (K changes), and a flat bug (42703);
- ``contention``: transactions on a hot row failing when another started within 5-30 ms
  (40001), a share rising with the load and no threshold, and double submits (23505, flat);
- ``nulls``: three users retrying an over-size upload (413), an Edge Function crashing for
  4-10 minutes (502) and a cron job failing on a lock for 20 minutes (55P03).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path

import _unseen_rooms as rooms
import numpy as np
from _mech_runs import analyse_written, index_fits, index_verdicts

FAMILIES = ("twin", "step", "fixed", "contention", "nulls")
POLLS = (
    ("GET", "/rest/v1/questions", 1 / 45),
    ("POST", "/rest/v1/rpc/cast_vote", 1 / 60),
    ("GET", "/rest/v1/profiles", 1 / 300),
    ("GET", "/auth/v1/user", 1 / 180),
)
BUG = {
    "kind": "flat",
    "build": "buggy-app/0.9.0",
    "sqlstate": "42703",
    "status": 400,
    "message": "column questions.is_pinned does not exist",
}


def _room(rng, title, opens, queue, builds_bug: float, polls=POLLS, **kw) -> rooms.Room:
    late = int(rng.integers(30, 120))
    return rooms.Room(
        title,
        opens=opens,
        queue=queue,
        late=late,
        late_mean=float(rng.uniform(3, 12)),
        closes=kw.pop("closes", 58),
        stay_mean=float(rng.uniform(40, 150)),
        builds=("supabase-js-web/2.45.1", "buggy-app/0.9.0"),
        build_weights=(1 - builds_bug, builds_bug),
        polls=polls,
        **kw,
    )


def _peak(case: rooms.Case) -> int:
    drawn = rooms.draw_rooms(case, np.random.default_rng(case.seed))
    total = case.minutes * 60
    return int(np.sum([rooms.open_counts(r, total) for r in drawn], axis=0).max())


def draw_case(family: str, seed: int) -> rooms.Case:
    """Return one incident of ``family`` drawn with ``seed`` (registered in the writer)."""
    index = FAMILIES.index(family)
    rng = np.random.default_rng([seed, index, 7])
    name = f"study_{family}_{seed}"
    bug = float(rng.uniform(0.05, 0.4))
    frac, lag = float(rng.uniform(0.55, 0.85)), int(rng.integers(0, 4))
    extra: dict = {}
    if family == "twin":
        b_polls = (*POLLS[:2], ("GET", "/rest/v1/breakout_notes", 1 / 90), POLLS[3])
        group = (
            _room(rng, "Room A", float(rng.uniform(2, 10)), int(rng.integers(120, 300)), 0.0),
            _room(
                rng,
                "Room B",
                float(rng.uniform(10, 30)),
                int(rng.integers(100, 260)),
                bug,
                polls=b_polls,
            ),
        )
        mechs = [
            {"kind": "pool", "lag": lag},
            {
                **BUG,
                "path": "/rest/v1/breakout_notes",
                "sqlstate": "42P01",
                "status": 404,
                "message": 'relation "public.breakout_notes" does not exist',
            },
        ]
    elif family == "step":
        opens = float(rng.integers(5, 20))
        polls = (*POLLS[:1], ("POST", "/rest/v1/rpc/get_leaderboard", 1 / 40), *POLLS[2:])
        group = (
            _room(
                rng, "Doors at :00", opens, int(rng.integers(200, 600)), 0.0, polls=polls, closes=70
            ),
        )
        mechs = [
            {"kind": "timeout", "path": "/rest/v1/rpc/get_leaderboard", "lag": min(lag, 2)},
            {"kind": "cookies", "path": "/auth/v1/user", "share": float(rng.uniform(0.03, 0.1))},
        ]
        extra["early"] = int(rng.integers(20, 60))
    elif family == "fixed":
        group = (
            _room(
                rng,
                "Fixed mid-hour",
                float(rng.uniform(1, 6)),
                int(rng.integers(200, 450)),
                bug,
                closes=70,
            ),
        )
        mechs = [
            {"kind": "pool", "lag": lag, "fix": int(rng.integers(25, 36))},
            {**BUG, "path": "/rest/v1/questions"},
        ]
    elif family == "contention":
        group = (_room(rng, "Votes", float(rng.uniform(1, 10)), int(rng.integers(150, 450)), 0.0),)
        mechs = [
            {
                "kind": "contention",
                "path": "/rest/v1/rpc/cast_vote",
                "hold": float(rng.uniform(0.005, 0.03)),
                "sqlstate": "40001",
                "message": "could not serialize access due to concurrent update",
            },
            {
                "kind": "double",
                "path": "/rest/v1/rpc/cast_vote",
                "share": bug / 4,
                "constraint": "votes_poll_user_key",
            },
        ]
    else:
        polls = (*POLLS, ("POST", "/functions/v1/render-certificate", 1 / 400))
        group = (
            _room(
                rng, "Quiet hour", -10.0, int(rng.integers(60, 300)), 0.0, polls=polls, closes=70
            ),
        )
        at = int(rng.integers(5, 50))
        starts = sorted(int(m) for m in rng.choice(np.arange(2, 52), 3, replace=False))
        mechs = [
            {
                "kind": "uploader",
                "users": 3,
                "every": 20,
                "minutes": tuple((m, int(rng.integers(3, 8))) for m in starts),
            },
            {
                "kind": "crash",
                "path": "/functions/v1/render-certificate",
                "at": int(rng.integers(5, 50)),
                "length": int(rng.integers(4, 11)),
            },
            {"kind": "cron", "at": at, "length": min(20, 60 - at)},
        ]
    case = rooms.Case(
        name=name,
        start="2026-10-25T00:30:00Z",  # Europe/London falls back at 01:00Z, inside the hour
        minutes=60,
        display_tz="Europe/London",
        seed=10_000 * (index + 1) + seed,
        rooms=group,
        mechanisms=(),
        extra=extra,
    )
    if family in ("twin", "step", "fixed"):
        k = max(20, int(frac * _peak(dataclasses.replace(case, mechanisms=()))))
        for m in mechs:
            if m["kind"] in ("pool", "timeout"):
                m["k"] = k
                if "fix" in m:
                    m["k_after"] = 10 * k
    case = dataclasses.replace(case, mechanisms=tuple(mechs))
    rooms.register(case)
    return case


def _label(expect: list) -> str:
    if expect == ["capacity"]:
        return "capacity"
    if expect == ["traffic"]:
        return "flat bug"
    if "capacity" in expect:
        return "contention"
    return "independent"


def run(families, per_family: int, workdir: Path) -> dict:
    """Analyse every drawn incident; return per family the rows (truth, verdict, K, lag)."""
    out: dict = {f: [] for f in families}
    for family in families:
        for seed in range(per_family):
            case = draw_case(family, seed)
            directory = rooms.write_incident(workdir, case.name)
            truth = rooms.truth(case.name)
            _, findings = analyse_written(
                workdir / f"{case.name}-run",
                directory,
                truth["webinar_id"],
                case.display_tz,
                workdir / "cache",
            )
            verdicts, fits = index_verdicts(findings), index_fits(findings)
            for key, t in truth["classes"].items():
                got = verdicts.get(key, {}).get("verdict", "no class")
                row = {
                    "case": case.name,
                    "class": key,
                    "truth": _label(t["expect"]),
                    "verdict": got,
                    "ok": got in t["expect"],
                }
                fit = fits.get(key)
                if fit is not None and ("k" in t or "k_band" in t):
                    low, high = t.get("k_band") or (t["k"], t["k"])
                    row["covers"] = fit["k_low"] * 0.95 <= high and fit["k_high"] * 1.05 >= low
                    row["weak"] = bool(fit["weakly_identified"])
                    row["lag_ok"] = abs(fit["lag_minutes"] - t["lag"]) <= 1
                out[family].append(row)
                print(family, case.name, key, row, flush=True)
    return out


def summarise(out: dict) -> str:
    """Return the table printed at the end (and pasted into docs/testing.md)."""
    lines = [
        "| family | truth | n | capacity | traffic | unrelated | undetermined | other | "
        "K covers | lag ±1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, rows in out.items():
        for label in ("capacity", "contention", "flat bug", "independent"):
            mine = [r for r in rows if r["truth"] == label]
            if not mine:
                continue
            counts = Counter(r["verdict"] for r in mine)
            other = len(mine) - sum(
                counts[v] for v in ("capacity", "traffic", "unrelated", "undetermined")
            )
            fitted = [r for r in mine if "covers" in r and r["verdict"] == "capacity"]
            cover = f"{sum(r['covers'] for r in fitted)}/{len(fitted)}" if fitted else "–"
            lag = f"{sum(r['lag_ok'] for r in fitted)}/{len(fitted)}" if fitted else "–"
            lines.append(
                f"| {family} | {label} | {len(mine)} | {counts['capacity']} | "
                f"{counts['traffic']} | {counts['unrelated']} | {counts['undetermined']} | "
                f"{other} | {cover} | {lag} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Parse the arguments, run the study, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=4)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    with tempfile.TemporaryDirectory(prefix="rooms-study-") as tmp:
        out = run(families, args.per_family, Path(tmp))
    print(summarise(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
