"""Verdicts on incidents from the per-session generator: confusion matrix truth x verdict.

Run: ``.venv/bin/python benchmarks/bench_verdicts.py`` (full counts, as ``make bench`` does:
200 incidents in each of seven families, every error class of each) or ``--quick`` (reduced).
Five families come from :mod:`analysis.simulate.sessions` (one per audience shape: per-session
events, signal columns), two from the generator the methods were first studied on
(:mod:`analysis.simulate.minutes`: seed-like and random load, one class per scenario, counts
only); the two share no code. Each class goes through ``stats.analyse_class`` exactly as the
report runs it. Ground truth is read only here.

Each per-session incident also gets three classes on a random stream of their own
(``--parts extras``, cached apart with ``--extras-cache``): a deploy-style outage, a one-minute
burst and the retry-loop bug backing off over minutes (docs/verdicts.md, "Measured").
``--rerun-capacity OLD --cache NEW`` brings a full run's cache up to date by re-analysing only
the classes it calls capacity (the only ones the capacity vetoes can move).

Prints, per family: the confusion matrix (rows: truth, columns: verdict, shares of the row),
then every target of issue 12 with its measured value, Monte-Carlo standard error and pass/fail,
the false-capacity share of every non-capacity class, then the wall time, the load average and
the CPU time of the workers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from analysis.simulate import sessions
from analysis.simulate.verdict_study import (
    FAMILIES,
    FULL,
    QUICK,
    SPARSE_SHAPES,
    covers,
    format_confusion,
    iterate_jobs,
    measure_faster_level,
    measure_limit_lifted,
    measure_moved_errors,
    measure_platform_limit,
    measure_smooth_rise,
    rerun_capacity_calls,
    run_backoff_incident,
    run_extra_incident,
    run_incident,
    run_sparse_class,
    target_rows,
    within_10,
)
from analysis.stats.verdicts import MIN_MOVED


def format_targets(rows: list[dict]) -> str:
    """Markdown table of the target rows."""
    head = "| family | criterion | N | rate | MC se | target | pass |\n"
    head += "|---|---|---|---|---|---|---|\n"
    body = ""
    for r in rows:
        ok = "-" if r["pass"] is None else ("yes" if r["pass"] else "**NO**")
        rate = "-" if r["n"] == 0 else f"{r['rate']:.3f}"
        se = "-" if r["n"] == 0 else f"{r['mc_se']:.3f}"
        body += (
            f"| {r['family']} | {r['criterion']} | {r['n']} | {rate} | {se} | "
            f"{r['target']} | {ok} |\n"
        )
    return head + body


def format_target_grid(rows: list[dict], families) -> str:
    """Markdown table of the targets with one column per family: rate (N), misses in bold."""
    criteria = list(dict.fromkeys(r["criterion"] for r in rows))
    cell = {(r["criterion"], r["family"]): r for r in rows}
    head = "| criterion | target | " + " | ".join(families) + " |\n"
    head += "|---|---|" + "---|" * len(families) + "\n"
    body = ""
    for c in criteria:
        target = next(r["target"] for r in rows if r["criterion"] == c)
        cells = []
        for f in families:
            r = cell.get((c, f))
            if r is None or r["n"] == 0:
                cells.append("–")
                continue
            text = f"{r['rate']:.3f} ({r['n']})"
            cells.append(f"**{text}**" if r["pass"] is False else text)
        body += f"| {c.strip()} | {target} | " + " | ".join(cells) + " |\n"
    return head + body


def run(
    counts: dict,
    workers: int,
    families=FAMILIES,
    cache: Path | None = None,
    cached_only: bool = False,
    func=run_incident,
):
    """Simulate and analyse every family; return the per-class rows.

    ``cached_only``: run nothing, tabulate the incidents the cache holds (a run stopped early).
    ``func``: what one job computes (:func:`run_incident`, or :func:`run_extra_incident` for
    the classes added to the per-session incidents).
    """
    done = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            item = json.loads(line)
            done[(item[0]["family"], item[0]["index"])] = item
        # Rows written before the count recorded it were drawn at 99 replicates.
        drawn = Counter(r.get("n_boot", 99) for rows in done.values() for r in rows)
        if set(drawn) != {counts["n_boot"]}:
            print(
                f"  note: {cache} holds rows drawn at {dict(drawn)} replicates; this run draws "
                f"{counts['n_boot']} (--n-boot)",
                file=sys.stderr,
            )
    # Index-major order: a run stopped early (the cache keeps what finished) holds about as
    # many incidents of every family.
    jobs = [
        (f, i, counts["n_boot"])
        for i in range(counts["incidents"])
        for f in families
        if (f, i) not in done and not cached_only
    ]
    t0 = time.perf_counter()
    for k, rows in enumerate(iterate_jobs(func, jobs, workers), start=1):
        if rows:
            rows = [{**r, "n_boot": counts["n_boot"]} for r in rows]
            done[(rows[0]["family"], rows[0]["index"])] = rows
            if cache is not None:
                with cache.open("a") as fh:
                    fh.write(json.dumps(rows) + "\n")
        if k % 10 == 0 or k == len(jobs):
            print(
                f"  {k}/{len(jobs)} incidents, {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return [
        r
        for (f, i), rows in sorted(done.items())
        if f in families and i < counts["incidents"]
        for r in rows
    ]


def _rerun_line(args: tuple) -> list[dict]:
    rows, n_boot, label = args
    return rerun_capacity_calls(rows, n_boot, label)


def rerun_capacity(
    old: Path, new: Path, n_boot: int, workers: int, label: str = "capacity", incidents=None
) -> None:
    """Write ``new``: ``old``'s incidents with every class they call ``label`` analysed again.

    The capacity call's vetoes move only classes the hinge called capacity
    (:func:`rerun_capacity_calls`), so this brings a full run's cache up to date at a fraction
    of its cost; the traffic calls' veto likewise (``label`` traffic). ``incidents``: only the
    first so many of each family. Incidents already in ``new`` are kept (a run stopped early
    resumes).
    """
    done = set()
    if new.exists():
        done = {(json.loads(x)[0]["family"], json.loads(x)[0]["index"]) for x in new.open()}
    # Index-major, so a run stopped early holds about as many incidents of every family.
    lines = sorted(
        (json.loads(x) for x in old.open()), key=lambda r: (r[0]["index"], r[0]["family"])
    )
    lines = [rows for rows in lines if incidents is None or rows[0]["index"] < incidents]
    jobs = [
        (rows, n_boot, label) for rows in lines if (rows[0]["family"], rows[0]["index"]) not in done
    ]
    t0 = time.perf_counter()
    for k, rows in enumerate(iterate_jobs(_rerun_line, jobs, workers), start=1):
        with new.open("a") as fh:
            fh.write(json.dumps(rows) + "\n")
        if k % 50 == 0 or k == len(jobs):
            print(f"  {k}/{len(jobs)} incidents, {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def _moved_line(row: dict) -> dict:
    return measure_moved_errors(row)


def run_moved(cache: Path, n_boot: int, workers: int) -> str:
    """Measure the moved-errors floor on a cache's capacity calls (docs/verdicts.md, no_excess).

    Every capacity call of the cache (not the extras) has its frame drawn again and K, the lag
    and the shape refitted; the table bins the errors its limit moves by truth, the calls
    under ``MIN_MOVED`` are re-analysed (their new verdict), and capacity recall per family is
    printed before and after. Assumes the cache's other checks match the code (a cache of an
    older tree: ``--rerun-capacity`` first).
    """
    rows = [r for line in cache.open() if line.strip() for r in json.loads(line)]
    calls = [r for r in rows if r["label"] == "capacity" and not r.get("extra")]
    moved = list(iterate_jobs(_moved_line, calls, workers))
    off = sum(m["k_refit"] != m["k"] or m["lag_refit"] != m["lag"] for m in moved)
    bins = ((0, MIN_MOVED), (MIN_MOVED, 8), (8, 10), (10, float("inf")))
    out = f"{len(calls)} capacity calls in {cache.name}; refits off the cached K or lag: {off}\n\n"
    out += "| truth | N | " + " | ".join(f"moved {a:g}-{b:g}" for a, b in bins) + " |\n"
    out += "|---|---|" + "---|" * len(bins) + "\n"
    for right in (True, False):
        sel = [m for m in moved if (m["truth"] == "capacity") == right]
        cells = " | ".join(str(sum(a <= (m["moved"] or 0) < b for m in sel)) for a, b in bins)
        out += f"| {'capacity' if right else 'not capacity'} | {len(sel)} | {cells} |\n"
    aside = [m for m in moved if (m["moved"] or 0) < MIN_MOVED]
    jobs = [(m["family"], m["index"], n_boot) for m in aside]
    again = {}
    for m, job in zip(aside, jobs, strict=True):
        (new,) = run_incident(job, only={m["mechanism"]})
        again[(m["family"], m["index"], m["mechanism"])] = new
        out += (
            f"\nset aside: {m['family']} {m['index']} {m['mechanism']} (truth {m['truth']}, "
            f"{m['errors']} errors, moved {m['moved']:.1f}) -> {new['label']} "
            f"({new['decided_by']}, {new['set_aside']})"
        )
    out += "\n\n| family | capacity classes | called capacity before | after |\n|---|---|---|---|\n"
    for fam in dict.fromkeys(r["family"] for r in rows):
        truth = [r for r in rows if r["family"] == fam and r["truth"] == "capacity"]
        before = sum(r["label"] == "capacity" for r in truth)
        lost = sum(
            again.get((r["family"], r["index"], r["mechanism"]), r)["label"] != "capacity"
            for r in truth
            if r["label"] == "capacity"
        )
        out += f"| {fam} | {len(truth)} | {before} | {before - lost} |\n"
    return out


def _smooth_line(row: dict) -> dict:
    return measure_smooth_rise(row)


def run_smooth(cache: Path, n_boot: int, workers: int) -> str:
    """Measure the smooth-rise veto on a cache's capacity calls (docs/verdicts.md, smooth_rise).

    Every capacity call whose K interval is open at its low end is refitted and compared with
    a power of the load; the calls the veto sets aside are re-analysed (their new verdict),
    and capacity recall and false capacity calls per family are printed before and after.
    Assumes the cache's other checks match the code (the veto comes after all of them).
    """
    rows = [r for line in cache.open() if line.strip() for r in json.loads(line)]
    calls = [r for r in rows if r["label"] == "capacity" and r.get("k_open_low")]
    fired = [m for m in iterate_jobs(_smooth_line, calls, workers) if m["smooth"]]
    out = f"{len(calls)} capacity calls open at the low end in {cache.name}; set aside:\n"
    again = {}
    for m in fired:
        (new,) = run_incident((m["family"], m["index"], n_boot), only={m["mechanism"]})
        again[(m["family"], m["index"], m["mechanism"])] = new
        out += (
            f"\n{m['family']} {m['index']} {m['mechanism']} (truth {m['truth']}, power "
            f"{m['power']:.2f}, LR {m['lr']:.2f}) -> {new['label']} ({new['set_aside']})"
        )
    out += "\n\n| family | capacity, >= 15 min above K | called before | after | "
    out += "other classes | called capacity before | after |\n|---|---|---|---|---|---|---|\n"
    for fam in dict.fromkeys(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == fam]
        now = [again.get((r["family"], r["index"], r["mechanism"]), r) for r in mine]
        above = [r["truth"] == "capacity" and (r.get("above") or 0) >= 15 for r in mine]
        cap = [i for i, r in enumerate(mine) if above[i]]
        other = [i for i, r in enumerate(mine) if r["truth"] != "capacity"]
        out += (
            f"| {fam} | {len(cap)} | {sum(mine[i]['label'] == 'capacity' for i in cap)} | "
            f"{sum(now[i]['label'] == 'capacity' for i in cap)} | {len(other)} | "
            f"{sum(mine[i]['label'] == 'capacity' for i in other)} | "
            f"{sum(now[i]['label'] == 'capacity' for i in other)} |\n"
        )
    return out


def run_platform(cache: Path, workers: int) -> str:
    """Measure K beside Realtime's own limit on a cache's capacity calls (stats.platform_limit).

    Every capacity call of a per-session family is refitted; Realtime classes are given the
    platform's reading, and K's coverage of the truth, the well-identified calls and those
    within 10 % of it are counted per family before and after (no bootstrap: the reading
    draws nothing and changes only the interval and the flag).
    """
    rows = [r for line in cache.open() if line.strip() for r in json.loads(line)]
    calls = [
        r
        for r in rows
        if r["label"] == "capacity" and r["family"] in sessions.SHAPES and r.get("k") is not None
    ]
    done = [m for m in iterate_jobs(measure_platform_limit, calls, workers) if m is not None]
    out = f"{len(calls)} capacity calls of per-session families in {cache.name}; "
    out += f"{len(done)} of Realtime classes\n\n"
    out += "| family | Realtime capacity calls (truth capacity) | with a reading | widened | "
    out += "K covers before | after | well identified before | after | "
    out += "within 10 % before | after |\n" + "|---" * 10 + "|\n"
    for fam in dict.fromkeys(m["family"] for m in done):
        mine = [m for m in done if m["family"] == fam and m["truth"] == "capacity"]
        after = [{**m, "k_low": m["low"], "k_high": m["high"]} for m in mine]
        cells = (
            len(mine),
            sum(m["reading"] is not None for m in mine),
            sum((m["low"], m["high"]) != (m["k_low"], m["k_high"]) for m in mine),
            sum(map(covers, mine)),
            sum(map(covers, after)),
            sum(not m["weak"] for m in mine),
            sum(not m["weak_after"] for m in mine),
            sum(not m["weak"] and within_10(m) for m in mine),
            sum(not m["weak_after"] and within_10(m) for m in mine),
        )
        out += f"| {fam} | " + " | ".join(str(v) for v in cells) + " |\n"
    return out


def run_lifted(cache: Path, workers: int) -> str:
    """Screen a cache for limits that stopped binding (stats.limit_change): where it would fire.

    Every class whose hinge passed both nulls (flat and bursty, at the cache's replicates) has
    its frame drawn again and :func:`find_limit_lifted` run on it; it draws nothing, so a
    class where it finds nothing keeps every number of its row. The table counts the classes
    screened and those it fires on, per family and truth; each firing class is listed.
    """
    rows = [r for line in cache.open() if line.strip() for r in json.loads(line)]
    passed = [
        r
        for r in rows
        if (r.get("p_hinge") is not None and r["p_hinge"] <= 0.05)
        and (r.get("p_hinge_bursty") is not None and r["p_hinge_bursty"] <= 0.05)
    ]
    done = list(iterate_jobs(measure_limit_lifted, passed, workers))
    out = f"{len(passed)} of {len(rows)} classes in {cache.name} passed both hinge nulls\n\n"
    out += "| family | truth | screened | fires |\n|---|---|---|---|\n"
    for fam in dict.fromkeys(m["family"] for m in done):
        for truth in ("capacity", "traffic", "unrelated"):
            mine = [m for m in done if m["family"] == fam and m["truth"] == truth]
            if mine:
                fires = sum(m["lifted"] is not None for m in mine)
                out += f"| {fam} | {truth} | {len(mine)} | {fires} |\n"
    for m in done:
        if m["lifted"] is not None:
            out += f"\nfires: {m['family']} {m['index']} {m['mechanism']} (truth {m['truth']}, "
            out += f"label {m['label']}): {m['lifted']}"
    return out


def run_backoff(incidents: int, n_boot: int, workers: int, families) -> str:
    """Run the back-off experiment (docs/verdicts.md, "Bursty bugs"); return a markdown table."""
    fams = [f for f in families if f in sessions.SHAPES]
    jobs = [(f, i, n_boot) for f in fams for i in range(incidents)]
    rows = [r for r in iterate_jobs(run_backoff_incident, jobs, workers) if r is not None]
    labels = ("traffic", "unrelated", "undetermined", "capacity", "insufficient")
    out = "| family | counted | N | " + " | ".join(labels) + " |\n"
    out += "|---|---|---|" + "---|" * len(labels) + "\n"
    for fam in (*fams, "all"):
        sel = [r for r in rows if fam in ("all", r["family"])]
        for tag in ("per_minute", "episodes"):
            cells = " | ".join(str(sum(r[tag] == lab for r in sel)) for lab in labels)
            out += f"| {fam} | {tag} | {len(sel)} | {cells} |\n"
    onsets = sum(r["onsets"] for r in rows) / max(sum(r["user_minutes"] for r in rows), 1)
    return out + f"\nepisode onsets / user-minutes: {onsets:.3f}\n"


def _run_no_load(args: tuple) -> list[dict]:
    return run_incident(args, no_load=True)


def run_no_load(
    incidents: int,
    n_boot: int,
    workers: int,
    families,
    cache: Path | None = None,
    dump: Path | None = None,
) -> str:
    """Verdicts without a load series (docs/verdicts.md, "No load series"), per family.

    Each class of the first ``incidents`` of each family analysed with its load unknown
    (``verdict_study.strip_load``), seeds as in the count; with ``cache`` (the count's rows
    with their load), each truth's labels with the load beside those without it.
    """
    jobs = [(f, i, n_boot) for i in range(incidents) for f in families]
    rows = [r for rs in iterate_jobs(_run_no_load, jobs, workers) for r in rs]
    if dump is not None:
        dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    known = {}
    if cache is not None:
        for line in cache.open():
            for r in json.loads(line) if line.strip() else []:
                known[(r["family"], r["index"], r["mechanism"])] = r["label"]
    labels = ("capacity", "traffic", "unrelated", "undetermined", "insufficient")
    out = "| family | truth | N | " + " | ".join(labels) + " | same label as with load |\n"
    out += "|---|---|---|" + "---|" * len(labels) + "---|\n"
    for fam in (*families, "all"):
        for truth in ("capacity", "traffic", "unrelated"):
            sel = [r for r in rows if fam in ("all", r["family"]) and r["truth"] == truth]
            if not sel:
                continue
            cells = " | ".join(str(sum(r["label"] == lab for r in sel)) for lab in labels)
            pairs = [
                (r["label"], known.get((r["family"], r["index"], r["mechanism"]))) for r in sel
            ]
            same = [a == b for a, b in pairs if b is not None]
            agree = f"{sum(same)}/{len(same)}" if same else "-"
            out += f"| {fam} | {truth} | {len(sel)} | {cells} | {agree} |\n"
    moved = Counter(
        (
            r["truth"],
            known.get((r["family"], r["index"], r["mechanism"])),
            r["label"],
            "faster than flat" if r["p_faster"] is not None else r["decided_by"],
        )
        for r in rows
    )
    out += "\nTruth, label with the load (cache), label without it (what decided): count\n"
    for (truth, was, now, by), n in sorted(moved.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        if was != now:
            out += f"  {truth}: {was} -> {now} ({by}): {n}\n"
    return out


def run_sparse(reps: int, n_boot: int, workers: int) -> str:
    """Sparse classes (0.3 and 1 error a minute): verdicts of each truth on each audience."""
    jobs = [
        (shape, rate, truth, i, n_boot)
        for shape in SPARSE_SHAPES
        for rate in (0.3, 1.0)
        for truth in ("unrelated", "traffic")
        for i in range(reps)
    ]
    rows = list(iterate_jobs(run_sparse_class, jobs, workers))
    labels = ("traffic", "unrelated", "undetermined", "capacity", "insufficient")
    out = "| audience | errors/min | truth | N | " + " | ".join(labels) + " | by Bayes factor |\n"
    out += "|---|---|---|---|" + "---|" * len(labels) + "---|\n"
    for shape in SPARSE_SHAPES:
        for rate in (0.3, 1.0):
            for truth in ("unrelated", "traffic"):
                key = (shape, rate, truth)
                sel = [r for r in rows if (r["shape"], r["rate"], r["truth"]) == key]
                cells = " | ".join(str(sum(r["label"] == lab for r in sel)) for lab in labels)
                by_bf = sum(r["decided_by"] == "bayes_factor" for r in sel)
                out += f"| {shape} | {rate:g} | {truth} | {len(sel)} | {cells} | {by_bf} |\n"
    for rate in (0.3, 1.0):
        for truth, wrong in (("unrelated", "traffic"), ("traffic", "unrelated")):
            sel = [r for r in rows if r["rate"] == rate and r["truth"] == truth]
            bad = sum(r["label"] == wrong for r in sel)
            cap = sum(r["label"] == "capacity" for r in sel)
            right = sum(r["label"] == truth for r in sel)
            out += (
                f"\n{rate:g}/min, truth {truth}: right {right}/{len(sel)}, called {wrong} "
                f"{bad}/{len(sel)}, capacity {cap}/{len(sel)}"
            )
            if truth == "unrelated" and sel:
                # Verdicts are per class (docs/verdicts.md, "Many classes at once"): what
                # these rates give on a report of fifty such classes.
                share, share_cap = bad / len(sel), cap / len(sel)
                out += (
                    f"; among {MANY} such classes: {MANY * share:.1f} {wrong} calls expected "
                    f"(P(more than 5) = {_tail(6, share):.2f}), {MANY * share_cap:.2f} capacity "
                    f"(P(any) = {_tail(1, share_cap):.2f})"
                )
    return out + "\n"


#: Classes of one report in the multiplicity line of the sparse study (qa's fifty_classes).
MANY = 50


def _tail(k: int, p: float, m: int = MANY) -> float:
    """P(at least k of m independent classes), each with probability p."""
    return sum(math.comb(m, j) * p**j * (1 - p) ** (m - j) for j in range(k, m + 1))


def _why_undetermined(row: dict) -> str:
    """Which rule left one undetermined row so, from the cached decision inputs."""
    if row.get("set_aside"):
        return f"hinge set aside ({row['set_aside']})"
    p0, p1, bf = row.get("p_zero"), row.get("p_one"), row.get("bayes_factor")
    if row.get("decided_by") != "none" or p0 is None or p1 is None or bf is None:
        return "other"
    both = p0 <= 0.05 and p1 <= 0.05
    if (p0 <= 0.05) != (p1 <= 0.05):
        return "a test's call vetoed"
    tests = "both reject" if both else "neither rejects"
    if 1 / 3 < bf < 3:
        return f"{tests}, Bayes factor in (1/3, 3)"
    return f"{tests}, Bayes factor {'>= 3' if bf >= 3 else '<= 1/3'} (cut or veto)"


def format_why_undetermined(rows: list[dict], families) -> str:
    """Markdown: per family, the rules that left traffic-truth classes undetermined.

    Then who the Bayes factor's band holds: the truths of its rows by the side of 1 it leans to.
    """
    out = "| family | rule | classes |\n|---|---|---|\n"
    for f in families:
        sel = [r for r in rows if r["family"] == f and r["truth"] == "traffic"]
        why = Counter(_why_undetermined(r) for r in sel if r["label"] == "undetermined")
        for rule, n in sorted(why.items(), key=lambda kv: -kv[1]):
            out += f"| {f} ({sum(why.values())}/{len(sel)}) | {rule} | {n} |\n"
    out += "\n| Bayes factor (band rows, neither or both tests reject) | N | truth |\n"
    out += "|---|---|---|\n"
    band = [r for r in rows if r["label"] == "undetermined" and "(1/3, 3)" in _why_undetermined(r)]
    for lo, hi in ((1 / 3, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 3.0)):
        sel = [r for r in band if lo < r["bayes_factor"] <= hi]
        truth = dict(Counter(r["truth"] for r in sel))
        out += f"| ({lo:.2f}, {hi:.2f}] | {len(sel)} | {truth} |\n"
    return out


def run_faster_level(n: int, workers: int) -> str:
    """Markdown table: rejection rates of the faster-than-flat tail test on flat rates."""
    out = "| load | noise | N | p <= 0.01 | p <= 0.05 |\n|---|---|---|---|---|\n"
    for shape in ("seed", "random"):
        for bursty in (False, True):
            jobs = [(shape, bursty, i, 199) for i in range(n)]
            ps = [p for p in iterate_jobs(measure_faster_level, jobs, workers) if p is not None]
            low = sum(p <= 0.01 for p in ps) / max(len(ps), 1)
            mid = sum(p <= 0.05 for p in ps) / max(len(ps), 1)
            noise = "NB2 alpha 0.5" if bursty else "Poisson"
            out += f"| {shape} | {noise} | {len(ps)} | {low:.4f} | {mid:.4f} |\n"
    return out


def format_false_capacity(rows: list[dict], families) -> str:
    """Markdown table: per family, every non-capacity class's share called capacity (N).

    One row per mechanism and truth (a capacity mechanism whose limit never bound is a
    traffic-proportional class, section "Measured" of docs/verdicts.md).
    """
    non_cap = [r for r in rows if r["truth"] != "capacity"]
    kinds = sorted({(r["mechanism"], r["truth"]) for r in non_cap})
    head = "| class (truth) | " + " | ".join(families) + " |\n"
    head += "|---|" + "---|" * len(families) + "\n"
    body = ""
    for mech, truth in kinds:
        cells = []
        for f in families:
            sel = [
                r for r in non_cap if (r["family"], r["mechanism"], r["truth"]) == (f, mech, truth)
            ]
            hits = sum(r["label"] == "capacity" for r in sel)
            cells.append(f"{hits / len(sel):.3f} ({len(sel)})" if sel else "–")
        body += f"| {mech} ({truth}) | " + " | ".join(cells) + " |\n"
    return head + body


def _parse_parts(text: str) -> frozenset[str]:
    """Return the parts named in ``text``; an unknown part is an error, not an empty run."""
    parts = frozenset(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(parts - {"main", "extras"})
    if not parts or unknown:
        raise argparse.ArgumentTypeError(
            f"expected 'main', 'extras' or 'main,extras', got {text!r}"
        )
    return parts


def main(argv: list[str] | None = None) -> int:
    """Run the study and print the confusion matrices and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts")
    parser.add_argument("--incidents", type=int, default=None, help="incidents per family")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--family", action="append", choices=FAMILIES, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="JSON lines of finished incidents")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="run nothing; tabulate what --cache holds (a run stopped early)",
    )
    parser.add_argument(
        "--extras-cache",
        type=Path,
        default=None,
        help="JSON lines of the classes added to the per-session incidents (outages, "
        "one-minute bursts, back-off loops)",
    )
    parser.add_argument(
        "--parts",
        default="main,extras",
        type=_parse_parts,
        help="what to run and tabulate, comma-separated: main (each incident's own classes), "
        "extras (the added classes, per-session families only); default main,extras",
    )
    parser.add_argument(
        "--rerun-capacity",
        type=Path,
        default=None,
        help="write --cache from this older cache, re-analysing only the classes it calls "
        "capacity (the only ones the capacity vetoes can move), then tabulate",
    )
    parser.add_argument(
        "--rerun-label",
        default="capacity",
        choices=("capacity", "traffic"),
        help="with --rerun-capacity: the label whose classes are analysed again (traffic: the "
        "veto of errors growing faster than requests); --incidents limits it per family",
    )
    parser.add_argument(
        "--n-boot",
        type=int,
        default=None,
        help="replicates of every bootstrap (default: the report's 199; 49 with --quick)",
    )
    parser.add_argument(
        "--why-undetermined",
        action="store_true",
        help="with --cache (and --cached-only): which rule left each traffic-truth class "
        "undetermined, per family, and the truth of the Bayes factor's band",
    )
    parser.add_argument(
        "--faster-level",
        type=int,
        default=None,
        metavar="N",
        help="only the level of the faster-than-flat tail test: N flat rates per load shape "
        "and noise (report's 199 replicates)",
    )
    parser.add_argument(
        "--sparse",
        type=int,
        default=None,
        metavar="N",
        help="only the sparse-class study: N classes per audience, rate and truth",
    )
    parser.add_argument(
        "--smooth-rise",
        type=Path,
        default=None,
        metavar="CACHE",
        help="only the smooth-rise veto on this cache's capacity calls open at the low end "
        "(refits, no bootstrap; the calls it sets aside are re-analysed)",
    )
    parser.add_argument(
        "--moved",
        type=Path,
        default=None,
        metavar="CACHE",
        help="only the moved-errors floor on this cache's capacity calls (refits, no bootstrap; "
        "the calls it sets aside are re-analysed)",
    )
    parser.add_argument(
        "--platform-limit",
        type=Path,
        default=None,
        metavar="CACHE",
        help="only K beside Realtime's own limit on this cache's Realtime capacity calls "
        "(refits, no bootstrap)",
    )
    parser.add_argument(
        "--limit-lifted",
        type=Path,
        default=None,
        metavar="CACHE",
        help="only screen this cache's classes whose hinge passed both nulls for a limit that "
        "stopped binding in the window (no bootstrap)",
    )
    parser.add_argument(
        "--no-load",
        type=int,
        default=0,
        metavar="N",
        help="only the first N incidents of each family without their load series (no viewer "
        "or presence table); with --cache, beside the labels with it; --json: the rows",
    )
    parser.add_argument(
        "--backoff",
        action="store_true",
        help="only the back-off experiment: retry loops spread over minutes (truth: traffic)",
    )
    args = parser.parse_args(argv)
    counts = dict(QUICK if args.quick else FULL)
    if args.n_boot:
        counts["n_boot"] = args.n_boot
    if args.incidents:
        counts["incidents"] = args.incidents
    families = tuple(args.family or FAMILIES)
    if args.faster_level:
        print("# The faster-than-flat tail test on flat rates per request (its level)\n")
        print(run_faster_level(args.faster_level, max(1, min(2, args.workers))))
        return 0
    if args.sparse:
        print("# Sparse classes: load-independent and flat-rate, few errors an hour\n")
        load = os.getloadavg()[0]
        before = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        print(run_sparse(args.sparse, counts["n_boot"], max(1, min(2, args.workers))))
        after = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum(
            b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime
            for a, b in zip(before, after, strict=True)
        )
        print(f"CPU {cpu:.0f} s, load {load:.1f}")
        return 0
    if args.smooth_rise:
        print("# The smooth-rise veto on cached capacity calls\n")
        print(run_smooth(args.smooth_rise, counts["n_boot"], max(1, min(2, args.workers))))
        return 0
    if args.moved:
        print("# The moved-errors floor on cached capacity calls\n")
        print(run_moved(args.moved, counts["n_boot"], max(1, min(2, args.workers))))
        return 0
    if args.platform_limit:
        print("# K beside Realtime's own limit on cached capacity calls\n")
        print(run_platform(args.platform_limit, max(1, min(2, args.workers))))
        return 0
    if args.limit_lifted:
        print("# Limits that stopped binding, screened on a cache's classes\n")
        print(run_lifted(args.limit_lifted, max(1, min(2, args.workers))))
        return 0
    if args.no_load:
        print("# Verdicts without a load series (no viewer or presence table)\n")
        workers = max(1, min(2, args.workers))
        print(run_no_load(args.no_load, counts["n_boot"], workers, families, args.cache, args.json))
        return 0
    if args.backoff:
        print("# Retry loops backing off over minutes: verdicts per minute vs with episodes\n")
        workers = max(1, min(2, args.workers))
        print(run_backoff(counts["incidents"], counts["n_boot"], workers, families))
        return 0
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    workers = max(1, min(2, args.workers))
    parts = args.parts
    rows = []
    if args.rerun_capacity is not None and not args.cached_only:
        rerun_capacity(
            args.rerun_capacity,
            args.cache,
            counts["n_boot"],
            workers,
            args.rerun_label,
            args.incidents,
        )
    if "main" in parts:
        rows += run(counts, workers, families, args.cache, args.cached_only)
    extra_families = tuple(f for f in families if f in sessions.SHAPES)
    if "extras" in parts and extra_families:
        rows += run(
            counts, workers, extra_families, args.extras_cache, args.cached_only, run_extra_incident
        )
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = sum(
        b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((cpu0, cpu1), (own0, own1))
    )
    print(f"# Verdicts on simulated incidents ({counts}, {len(rows)} classes)")
    print("\nConfusion matrices (share of each truth row):")
    targets = []
    for family in families:
        sel = [r for r in rows if r["family"] == family]
        print(format_confusion(family, sel))
        targets += target_rows(family, sel)
    print(format_confusion("all families", rows))
    print("\nTargets (issue 12), every family:\n")
    print(format_targets(targets))
    print("\nThe same targets, one column per family (rate (N); a missed target in bold):\n")
    print(format_target_grid(targets, families))
    failed = [r for r in targets if r["pass"] is False]
    checked = [r for r in targets if r["pass"] is not None and r["target"] != "(info)"]
    met = len(checked) - len(failed)
    print(f"{met} of {len(checked)} targets met")
    n_inc = len({(r["family"], r["index"]) for r in rows})
    print(
        "\nFalse capacity calls per family and class (share of the class's rows called "
        "capacity-driven):\n"
    )
    print(format_false_capacity(rows, families))
    if args.why_undetermined:
        print("\nWhy traffic-truth classes are undetermined (rules, from the cached rows):\n")
        print(format_why_undetermined(rows, families))
    load1 = os.getloadavg()
    if args.cached_only:
        print(f"\n{n_inc} incidents tabulated from {args.cache}; nothing run, no time measured.")
    else:
        print(
            f"\nTime: {wall:.0f} s wall for {n_inc} incidents ({len(rows)} classes) on {workers} "
            f"worker(s): {wall / max(n_inc, 1):.2f} s wall and {cpu / max(len(rows), 1):.2f} CPU s "
            f"per class ({cpu:.0f} CPU s in all); load average {load0[0]:.1f} at the start, "
            f"{load1[0]:.1f} at the end (2 cores shared: wall time is inflated by the load)."
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "targets": targets}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
