"""Verdicts on many incidents of tests/_unseen_mech.py: one mechanism each, drawn at random.

Not a test and not a benchmark: a study a reviewer can rerun, printing the confusion of each
mechanism's truth against the verdict the package gives its class (the writer itself imports
nothing from ``analysis``; this runner does). Each incident holds one mechanism, so every
verdict belongs to one truth; the shape of the audience, the window, the mechanism's
endpoint, size and start minute are drawn from the seed.

``python tests/_unseen_mech_study.py --per-family 6 [--families outage,burst] [--workers 1]``
prints one line per incident and the table; ``--jsonl FILE`` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _unseen_mech as mech

SHAPES = ("plateau", "double", "ramp", "spike", "low")
ENDPOINTS = ("/rest/v1/questions", "/rest/v1/profiles", "/rest/v1/rpc/heartbeat", "/auth/v1/user")


def draw_case(family: str, seed: int) -> mech.Case:
    """One incident holding one mechanism of ``family``, drawn from ``seed``."""
    rng = random.Random(f"{family}-{seed}")
    minutes = rng.choice((45, 60, 60, 90))
    peak = rng.randint(40, 160)
    shape = rng.choice(SHAPES)
    path = rng.choice(ENDPOINTS[:3])
    if family == "capacity":
        status, state, msg = 500, "57014", "canceling statement due to statement timeout"
        m = mech.Mech(
            "capacity",
            path,
            "GET",
            status,
            sqlstate=state,
            message=msg,
            share=rng.uniform(0.3, 0.7),
            threshold=int(peak * rng.uniform(0.55, 0.8)),
            lag=rng.randint(0, 2),
            expect="capacity",
            key=state,
        )
    elif family == "capacity_near":
        # A limit just under the peak: few minutes above it. Capacity with an honest interval
        # or "the data cannot tell"; a flat rate or "unrelated" would be wrong.
        m = mech.Mech(
            "capacity",
            path,
            "GET",
            500,
            sqlstate="57014",
            message="canceling statement due to statement timeout",
            share=rng.uniform(0.5, 0.9),
            threshold=int(peak * rng.uniform(0.85, 0.95)),
            lag=rng.randint(0, 2),
            expect="capacity",
            key="57014",
        )
    elif family == "flat":
        m = mech.Mech(
            "flat",
            path,
            "GET",
            500,
            share=rng.uniform(0.03, 0.15),
            expect="traffic",
            key="http:500:rest/*",
        )
    elif family == "outage":
        m = mech.Mech(
            "outage",
            path,
            "GET",
            400,
            sqlstate="42P01",
            message='relation "public.questions_v2" does not exist',
            length=rng.randint(5, 20),
            key="42P01",
        )
    elif family == "burst":
        m = mech.Mech("burst", path, "GET", 502, count=rng.randint(20, 60), key="http:502:rest/*")
    elif family == "retry":
        m = mech.Mech(
            "retry",
            path,
            "POST",
            401,
            length=rng.randint(3, 8),
            count=rng.randint(2, 4),
            key=f"http:401:rest/{path.split('/v1/')[1]}",
        )
    elif family == "loops":
        m = mech.Mech(
            "loops",
            path,
            "GET",
            401,
            rate=rng.uniform(0.1, 0.4),
            length=rng.randint(2, 6),
            key=f"http:401:rest/{path.split('/v1/')[1]}",
        )
    elif family == "background":
        m = mech.Mech(
            "background",
            "/auth/v1/token",
            "POST",
            400,
            rate=rng.uniform(0.5, 2.0),
            key="http:400:auth/token",
        )
    elif family == "sparse":
        # A few load-independent errors an hour (a job's duplicate inserts) on a table no
        # viewer's request reaches: its endpoint logs only its own failures.
        m = mech.Mech(
            "background",
            "/rest/v1/ledger",
            "POST",
            409,
            sqlstate="23505",
            message='duplicate key value violates unique constraint "ledger_ref_key"',
            rate=rng.uniform(0.2, 0.4),
            key="23505:ledger_ref_key",
        )
    elif family == "capacity_lag":
        # A limit whose failures follow the load by 3 to 6 minutes (the grid ends at 5).
        m = mech.Mech(
            "capacity",
            path,
            "GET",
            500,
            sqlstate="57014",
            message="canceling statement due to statement timeout",
            share=rng.uniform(0.3, 0.7),
            threshold=int(peak * rng.uniform(0.55, 0.8)),
            lag=rng.randint(3, 6),
            expect="capacity",
            key="57014",
        )
    elif family == "capacity_low":
        # A limit at 15-30 sessions, passed early whatever the peak.
        m = mech.Mech(
            "capacity",
            path,
            "GET",
            500,
            sqlstate="57014",
            message="canceling statement due to statement timeout",
            share=rng.uniform(0.01, 0.04),
            threshold=rng.randint(15, 30),
            lag=rng.randint(0, 2),
            expect="capacity",
            key="57014",
        )
    elif family == "step":
        # A deploy starts a flat bug at a random minute: a step in time, not in load.
        m = mech.Mech(
            "step",
            path,
            "GET",
            400,
            sqlstate="42703",
            message="column questions.is_pinned does not exist",
            share=rng.uniform(0.05, 0.3),
            at=rng.randint(10, minutes - 15),
            expect="notcapacity",
            key="42703",
        )
    elif family == "storm":
        # One client re-sends a failing insert every 1-2 s for one or two minutes.
        table = path.rsplit("/", 1)[1]
        m = mech.Mech(
            "retry",
            path,
            "POST",
            409,
            sqlstate="23505",
            message=f'duplicate key value violates unique constraint "{table}_pkey"',
            count=1,
            length=rng.randint(1, 2),
            every=rng.uniform(1.0, 2.0),
            key=f"23505:{table}_pkey",
        )
    elif family == "rt_capacity":
        m = mech.Mech(
            "rt_capacity",
            message="ConnectionRateLimitReached: Too many connected users",
            threshold=int(peak * rng.uniform(0.55, 0.8)),
            share=rng.uniform(0.3, 0.7),
            lag=rng.randint(0, 2),
            expect="capacity",
            key="realtime:too_many_connections",
        )
    elif family == "rt_outage":
        m = mech.Mech(
            "rt_outage",
            message="ReplicationConnectionDown: replication connection lost",
            length=rng.randint(5, 20),
            key="realtime:replication",
        )
    else:
        raise SystemExit(f"--families: unknown family {family!r}")
    start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60 * 24 * 200))
    return mech.Case(
        f"{family}-{seed}",
        start,
        minutes,
        "UTC",
        shape,
        peak,
        mechs=(m,),
        endpoints=(*ENDPOINTS, "/auth/v1/token"),
        seed=seed,
    )


def run_one(case: mech.Case, root: Path) -> dict:
    from analysis import pipeline
    from analysis.ingest import load_incident
    from analysis.params import build_params

    directory = mech.write_incident(root / case.name, case)
    incident = load_incident(directory, cache_dir=root / "cache", progress=False)
    truth = mech.truth(case)
    params = build_params(truth["webinar_id"], directory, display_tz="UTC", output_dir=root / "o")
    settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
    findings = pipeline.analyse(incident, params, settings).findings
    (m,) = truth["mechs"]
    verdicts = {v["error_class"]: v for v in findings["verdicts"]}
    fits = {c["error_class"]: c for c in findings["capacity"]}
    v = verdicts.get(m["key"], {})
    fit = fits.get(m["key"], {})
    shutil.rmtree(directory)
    return {
        "case": case.name,
        "shape": case.shape,
        "expect": m["expect"],
        "key": m["key"],
        "classes": [c["key"] for c in findings["error_classes"]],
        "verdict": v.get("verdict", "no class"),
        "decided_by": v.get("decided_by"),
        "k": fit.get("k"),
        "k_interval": [fit.get("k_low"), fit.get("k_high")],
        "lag": fit.get("lag_minutes"),
        "true_lag": m["lag"],
        "threshold": m["threshold"] or None,
        "minutes": m["minutes"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=6)
    ap.add_argument(
        "--families",
        default="capacity,capacity_near,flat,outage,burst,retry,loops,background,rt_capacity,"
        "rt_outage,sparse",
        help="families to draw; also capacity_lag, capacity_low, step, storm (not by default, "
        "so the default table stays comparable across sessions)",
    )
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--jsonl", type=Path)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mech-study-") as tmp:
        for family in args.families.split(","):
            for seed in range(args.first_seed, args.first_seed + args.per_family):
                row = run_one(draw_case(family, seed), Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = ("capacity", "traffic", "unrelated", "undetermined", "insufficient", "no class")
    print(f"\n{'truth / family':<22}" + "".join(f"{x:>13}" for x in labels))
    for family in dict.fromkeys(r["case"].rsplit("-", 1)[0] for r in rows):
        mine = [r for r in rows if r["case"].rsplit("-", 1)[0] == family]
        counts = Counter(r["verdict"] for r in mine)
        name = f"{family} ({mine[0]['expect']})"
        print(f"{name:<22}" + "".join(f"{counts.get(x, 0):>13}" for x in labels))
    wrong_capacity = [r for r in rows if r["expect"] != "capacity" and r["verdict"] == "capacity"]
    others = [r for r in rows if r["expect"] != "capacity"]
    print(f"\nfalse capacity calls: {len(wrong_capacity)} of {len(others)} non-capacity classes")
    # The writer's load is open sessions at each minute's middle; the package reads the
    # minute's highest sample, a session or two above: 3 sessions of slack.
    called = [r for r in rows if r["expect"] == "capacity" and r["verdict"] == "capacity"]
    covered = [
        r
        for r in called
        if None not in r["k_interval"]
        and r["k_interval"][0] - 3 <= r["threshold"] <= r["k_interval"][1] + 3
    ]
    print(f"K interval covers the threshold: {len(covered)} of {len(called)} capacity calls")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
