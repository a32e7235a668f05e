"""Redraw the eighth writer's mechanisms (tests/_unseen_isolates.py): truth against verdict.

A study, not a test: ``python tests/_unseen_isolates_study.py --per-family N [--families a,b]
[--jsonl FILE]`` draws N one-hour incidents per family and analyses each as ``make report``
does (English, default seed), printing per family and class the verdicts, whether K's interval
meets the truth's band (5 % slack) and whether the lag is within the truth's range. Families:

- ``isolates``: one crowd of 250-500 viewers; live-captions on 2-3 isolates killed past 5-8
  calls in flight (546, K the band where 0.5-5 % of calls fail), and the chat bug (22001, flat);
- ``upstream``: two crowds; ask-ai's upstream with 4-6 slots of 5-8 s each, 504 past 150 s
  (a backlog), and Storage brownouts (503, independent of the audience);
- ``hall``: one crowd of 400-650, 55-80 % of it in a room behind one address; Auth's bucket
  per address (429 and a retry storm), and the chat bug;
- ``pooler``: save-progress through Supavisor, pool_size 6-12; odd seeds in session mode
  (refusals past the pool, 500), even seeds in transaction mode (no refusal: no class), with
  the chat bug;
- ``quiet``: the isolates sized far above the audience (no 546), the chat bug and brownouts:
  every verdict here is a control.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import _unseen_isolates as iso
import numpy as np
from _mech_runs import analyse_written, index_fits, index_verdicts

FAMILIES = ("isolates", "upstream", "hall", "quiet", "pooler")
_BUG = {"share": 0.2, "long": 0.3}


def draw_case(family: str, seed: int) -> iso.Case:
    """Register and return the ``seed``-th incident of ``family`` (one hour, monitor load)."""
    rng = np.random.default_rng([8, FAMILIES.index(family), seed])
    size, spread = int(rng.integers(250, 500)), float(rng.uniform(5, 15))
    crowds: tuple = ((float(rng.uniform(1, 8)), size, spread, float(rng.uniform(35, 55))),)
    brownout = {
        "at": tuple(sorted(rng.uniform(8, 50, 2).round(1))),
        "length_s": tuple(rng.integers(90, 180, 2).tolist()),
        "slides_every": (50, 110),
    }
    if family == "isolates":
        mechanisms = {
            "isolates": {
                "isolates": int(rng.integers(2, 4)),
                "per_isolate": int(rng.integers(5, 9)),
                "median_s": round(float(rng.uniform(1.2, 2.0)), 2),
                "sigma": 0.45,
                "think": (40, 80),
                "retry_s": 5.0,
            },
            "chat_bug": _BUG,
        }
    elif family == "pooler":
        mechanisms = {
            "pooler": {
                "mode": "session" if seed % 2 else "transaction",
                "pool_size": int(rng.integers(6, 13)),
                "max_clients": 200,
                "median_s": round(float(rng.uniform(0.6, 1.2)), 2),
                "sigma": 0.5,
                "think": (30, 60),
                "retry_s": 3.0,
            },
            "chat_bug": _BUG,
        }
    elif family == "upstream":
        crowds = (*crowds, (float(rng.uniform(20, 30)), int(rng.integers(150, 300)), 5.0, 22.0))
        mechanisms = {
            "upstream": {
                "slots": int(rng.integers(4, 7)),
                "service_s": round(float(rng.uniform(5, 8)), 1),
                "ask_every_s": 300,
                "retry_s": 12,
            },
            "brownout": brownout,
        }
    elif family == "hall":
        crowds = ((2.0, int(rng.integers(400, 650)), float(rng.uniform(20, 30)), 50.0),)
        mechanisms = {"hall": {"share": round(float(rng.uniform(0.55, 0.8)), 2)}, "chat_bug": _BUG}
    else:
        mechanisms = {
            "isolates": {
                "isolates": 4,
                "per_isolate": 40,
                "median_s": 1.5,
                "sigma": 0.45,
                "think": (40, 80),
                "retry_s": 5.0,
            },
            "chat_bug": _BUG,
            "brownout": brownout,
        }
    hour = int(rng.integers(0, 24))
    return iso.register(
        iso.Case(
            f"study_{family}_{seed}",
            seed=1000 * FAMILIES.index(family) + seed,
            start=f"2026-09-{1 + seed % 28:02d}T{hour:02d}:00:00Z",
            minutes=60,
            display_tz="UTC",
            crowds=crowds,
            mechanisms=mechanisms,
        )
    )


def judge(truth_of_class: dict, verdict: dict | None, fit: dict | None) -> dict:
    """Return the verdict and, for a capacity call, whether K and the lag meet the truth."""
    got = (verdict or {}).get("verdict")
    row = {"verdict": got, "right": got in truth_of_class["expect"]}
    if got == "capacity" and fit and "k_band" in truth_of_class:
        low, high = truth_of_class["k_band"]
        row["k_covers"] = fit["k_high"] * 1.05 >= low and fit["k_low"] * 0.95 <= high
        lags = truth_of_class.get("lag_range", (truth_of_class.get("lag", 0),) * 2)
        row["lag_ok"] = lags[0] - 1 <= fit["lag_minutes"] <= lags[1] + 1
        row["k"] = [fit["k_low"], fit["k_high"]]
    return row


def run(families, per_family: int, workdir: Path, jsonl: Path | None) -> list[dict]:
    """Draw, write and analyse every incident; return one row per (incident, class)."""
    rows = []
    for family in families:
        for seed in range(1, per_family + 1):
            case = draw_case(family, seed)
            directory = iso.write_incident(workdir, case.name)
            truth = iso.truth(case.name)
            _, findings = analyse_written(
                workdir / case.name, directory, truth["webinar_id"], "UTC", workdir / "cache"
            )
            verdicts, fits = index_verdicts(findings), index_fits(findings)
            first = len(rows)
            for key, t in truth["classes"].items():
                row = {"family": family, "seed": seed, "class": key, "truth": t["expect"]}
                row.update(judge(t, verdicts.get(key), fits.get(key)))
                if "k_band" in t:
                    row["band"] = list(t["k_band"])
                rows.append(row)
            for key in set(verdicts) - set(truth["classes"]):
                rows.append({"family": family, "seed": seed, "class": key, "truth": ["none"]})
                rows[-1].update(verdict=verdicts[key]["verdict"], right=False)
            if jsonl:
                with jsonl.open("a") as out:
                    for row in rows[first:]:
                        out.write(json.dumps(row) + "\n")
            said = [(r["class"], r["verdict"]) for r in rows[first:]]
            print(case.name, said, file=sys.stderr, flush=True)
    return rows


def summarise(rows: list[dict]) -> str:
    """Return the table: per family and class, verdict counts, K covers, lag within range."""
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["class"], "/".join(r["truth"]))].append(r)
    labels = ("capacity", "traffic", "unrelated", "undetermined", "insufficient", None)
    head = "| family: class | truth | n | " + " | ".join(map(str, labels)) + " | K covers | lag |"
    lines = [head, "|" + "---|" * (len(labels) + 5)]
    for (family, key, truth), rs in sorted(groups.items()):
        counts = Counter(r["verdict"] for r in rs)
        caps = [r for r in rs if "k_covers" in r]
        cover = f"{sum(r['k_covers'] for r in caps)}/{len(caps)}" if caps else ""
        lag = f"{sum(r['lag_ok'] for r in caps)}/{len(caps)}" if caps else ""
        cells = " | ".join(str(counts.get(label, "")) for label in labels)
        lines.append(f"| {family}: `{key}` | {truth} | {len(rs)} | {cells} | {cover} | {lag} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the study and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=3)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--jsonl", type=Path, help="append each class's row here as it is judged")
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    unknown = set(families) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)} (known: {', '.join(FAMILIES)})")
    with tempfile.TemporaryDirectory(prefix="isolates-study-") as tmp:
        rows = run(families, args.per_family, Path(tmp), args.jsonl)
    print(summarise(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
