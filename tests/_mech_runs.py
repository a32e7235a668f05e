"""Analyse the third writer's incidents once per test module (``tests/_unseen_mech.py``).

Shared by the tests of its cases and of its shapes; kept apart from the writer, which shares
no code with :mod:`analysis`.
"""

from __future__ import annotations

import _unseen_mech as mech

from analysis import pipeline
from analysis.ingest import load_incident
from analysis.params import build_params


def make_analyser(tmp_path_factory, written: dict, cases: dict, cache_dir):
    """Return ``run(name) -> (incident, truth, findings)``, each case analysed at most once.

    ``written`` maps a case to its directory (already parsed into ``cache_dir`` by the
    module's first test, so the load is a cache read).
    """
    done: dict = {}

    def run(name: str):
        if name not in done:
            root = tmp_path_factory.mktemp(name)
            directory = written[name]
            incident = load_incident(directory, cache_dir=cache_dir, progress=False)
            truth = mech.truth(name)
            params = build_params(
                truth["webinar_id"],
                directory,
                display_tz=cases[name].display_tz,
                lang="en",
                output_dir=root / "out",
            )
            settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
            findings = pipeline.analyse(incident, params, settings).findings
            done[name] = (incident, truth, findings)
        return done[name]

    return run
