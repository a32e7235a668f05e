"""Analyse the third writer's incidents once per test module (``tests/_unseen_mech.py``).

Shared by the tests of its cases and of its shapes; kept apart from the writer, which shares
no code with :mod:`analysis`.
"""

from __future__ import annotations

import _unseen_mech as mech

from analysis import narrative, pipeline
from analysis.ingest import load_incident
from analysis.narrative.display import SECTIONS
from analysis.params import build_params


def analyse_written(root, directory, webinar_id: str, display_tz: str, cache_dir):
    """Return ``(incident, findings)`` of a written incident, analysed in English below ``root``.

    Every unseen writer's tests read their incidents this way (its caches below ``root``).
    """
    incident = load_incident(directory, cache_dir=cache_dir, progress=False)
    params = build_params(
        webinar_id, directory, display_tz=display_tz, lang="en", output_dir=root / "out"
    )
    settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
    return incident, pipeline.analyse(incident, params, settings).findings


def make_analyser(tmp_path_factory, written: dict, cases: dict, cache_dir, truth_of=None):
    """Return ``run(name) -> (incident, truth, findings)``, each case analysed at most once.

    ``written`` maps a case to its directory (already parsed into ``cache_dir`` by the
    module's first test, so the load is a cache read); ``truth_of`` gives a case's truth
    (the third writer's by default).
    """
    done: dict = {}
    truth_of = truth_of or mech.truth

    def run(name: str):
        if name not in done:
            truth = truth_of(name)
            incident, findings = analyse_written(
                tmp_path_factory.mktemp(name),
                written[name],
                truth["webinar_id"],
                cases[name].display_tz,
                cache_dir,
            )
            done[name] = (incident, truth, findings)
        return done[name]

    return run


def render_section(findings, name: str, lang: str) -> str:
    """Return one page section's text as the report renders it."""
    return SECTIONS[name](findings, narrative.load_locale(lang))


def render_pages(findings, lang: str) -> str:
    """Return every page section's text in one language."""
    text = narrative.load_locale(lang)
    return "\n".join(render(findings, text) for render in SECTIONS.values())


def index_verdicts(findings) -> dict:
    """Return the verdicts keyed by error class."""
    return {v["error_class"]: v for v in findings["verdicts"]}


def index_fits(findings) -> dict:
    """Return the capacity fits keyed by error class."""
    return {c["error_class"]: c for c in findings["capacity"]}


def interval_covers(fit, threshold: int) -> bool:
    """Return whether K's interval holds the writer's threshold.

    The writer's load is open sessions at each minute's middle; the package reads the
    minute's highest sample, a session or two above: 3 sessions of slack.
    """
    return fit["k_low"] - 3 <= threshold <= fit["k_high"] + 3


def verdicts_off_truth(truth: dict, findings: dict, slack: float = 0.05) -> dict[str, str]:
    """Return ``{class: why}`` for every class of ``truth`` whose verdict its truth disallows.

    A class must be made (else AssertionError); a capacity verdict must also put K's interval
    on the truth's ``k`` (or ``k_band``) within ``slack`` (the writer's K is open viewers at a
    second, the package reads each minute's highest sample) and the lag within a minute.
    """
    wrong = {}
    verdicts, fits = index_verdicts(findings), index_fits(findings)
    keys = {c["key"] for c in findings["error_classes"]}
    missing = set(truth["classes"]) - keys
    assert not missing, f"classes not made: {sorted(missing)} (made {sorted(keys)})"
    for key, t in truth["classes"].items():
        got = verdicts.get(key, {}).get("verdict")
        if got not in t["expect"]:
            wrong[key] = f"{got}, truth {t['expect']}"
        elif got == "capacity":
            fit = fits[key]
            low, high = t["k_band"] if "k_band" in t else (t["k"], t["k"])
            if fit["k_high"] * (1 + slack) < low or fit["k_low"] * (1 - slack) > high:
                wrong[key] = f"K [{fit['k_low']}, {fit['k_high']}] misses [{low}, {high}]"
            elif abs(fit["lag_minutes"] - t["lag"]) > 1:
                wrong[key] = f"lag {fit['lag_minutes']}, truth {t['lag']}"
    return wrong
