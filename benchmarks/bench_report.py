"""Speed of ``make report`` (HTML + PDF, warm and cold) against its floor, in the same run.

The floor is what any papermill report with these exports must pay, through the report's own
code: a fresh Python process runs :func:`analysis.report.run_report` (papermill, the project's
kernel, staging, one HTML render, the PDF printed by Chromium, publication) on a stand-in
notebook that holds the postmortem's own parameters cell and its own import cell, verbatim,
and writes a one-line findings.json. Whatever the mechanics cost, the floor pays it too; the
ratios measure what the report's content costs on top. The report is ``python -m analysis
report`` (what ``make report`` runs) without a webinar, the product's default: the data's
busiest webinar (on the shipped incident its main one), chosen from ingest's cache of the
webinars and load tables; ``--webinar ID`` measures ``make report WEBINAR=ID`` instead (the
path that names its webinar; the output says which was measured). "Warm": one untimed run of
each first (ingest's Parquet cache, the statistics, stage and figure caches, matplotlib's font
cache, the page cache); every cache is in the run's temporary directory
(``POSTMORTEM_CACHE_DIR``), so the benchmark writes nothing into the checkout.
"Cold": the statistics recomputed (``POSTMORTEM_NO_STATS_CACHE=1``), an analyst's first report
of an incident. The PDF printer's TrueType fonts are built first when missing (``make setup``
builds them once per installation). Targets: warm <= 1.5 x floor, cold <= 2 x floor. Two cold
runs must write byte-identical findings.json and HTML, and so must a warm run and a cold one
(the caches change nothing a report shows; both printed). ``--repeats N`` sets the
timed repeats (median; default 3). Beside the wall clock, each run's CPU seconds (user +
system of the run and every process it waited for: kernel, drawing and statistics workers,
Chromium) are printed with their ratios: on a shared machine the wall clock follows the load,
the CPU seconds are the work done.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
TARGET_WARM = 1.5
TARGET_COLD = 2.0
#: The stand-in's last cell: the one output run_report requires of any notebook.
FLOOR_FINDINGS_CELL = (
    "import pathlib\n"
    "_ = pathlib.Path(output_dir, 'findings.json').write_text(\n"
    '    \'{"report": {"title": "floor"}}\'\n'
    ")"
)


def write_floor_notebook(path: Path) -> None:
    """Write the stand-in: the postmortem's parameters and import cells, then findings.json."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from analysis.report import NOTEBOOK

    postmortem = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in postmortem.cells if c.cell_type == "code"]
    parameters = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    imports = next(c for c in code if "import " in c.source and c is not parameters)
    nb = nbformat.v4.new_notebook(metadata=postmortem.metadata)
    nb.cells = [parameters, imports, new_code_cell(FLOOR_FINDINGS_CELL)]
    nbformat.write(nb, path)


def run_floor(notebook: Path, out: Path) -> None:
    """Run the report's execution and export path on the stand-in (in a fresh process)."""
    from analysis._jsonschema import skip_iri_grammars

    skip_iri_grammars()  # as ``python -m analysis`` does
    from analysis import report
    from analysis.config import DEFAULT_WEBINAR_ID
    from analysis.params import build_params

    params = build_params(DEFAULT_WEBINAR_ID, output_dir=out / "floor")
    report.run_report(params, progress=False, notebook=notebook)


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run a command to completion; return its wall-clock and CPU seconds (fail loudly)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench_report: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    """Print the floor, the warm and cold reports, their ratios, and the cold determinism."""
    from analysis.report import find_chromium

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument(
        "--webinar", default="", help="report on this webinar (default: none given, the busiest)"
    )
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("bench_report: skipped, the PDF export needs Debian's chromium", file=sys.stderr)
        return 0
    from analysis.print_fonts import build_print_fonts

    # What ``make setup`` does once per installation (nothing when the copies are there):
    # the PDF printer's TrueType copies of the report's fonts.
    fonts = build_print_fonts()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        notebook = tmp / "floor_input.ipynb"
        write_floor_notebook(notebook)
        floor_cmd = [python, __file__, "--floor", str(notebook), str(tmp)]

        def report_cmd(out: str) -> list[str]:
            chosen = [f"--webinar={args.webinar}"] if args.webinar else []
            return [
                python,
                "-m",
                "analysis",
                "report",
                "--no-progress",
                f"--out={tmp / out}",
                *chosen,
            ]

        # Every run's caches in this temporary directory, not data/interim/ of the checkout
        # (a make test running beside the benchmark checks that nothing there changes).
        env = dict(os.environ, POSTMORTEM_CACHE_DIR=str(tmp / "cache"))
        load_start = os.getloadavg()[0]
        timed(floor_cmd, env=env)
        timed(report_cmd("r"), env=env)  # parses the incident into the cache, fills the others
        cold_env = dict(env, POSTMORTEM_NO_STATS_CACHE="1")
        runs: dict[str, list[tuple[float, float]]] = {"floor": [], "warm": [], "cold": []}
        for i in range(args.repeats):
            runs["floor"].append(timed(floor_cmd, env=env))
            runs["warm"].append(timed(report_cmd("r"), env=env))
            runs["cold"].append(timed(report_cmd(f"cold{i % 2}"), env=cold_env))
        if args.repeats < 2:
            timed(report_cmd("cold1"), env=cold_env)
        same = _outputs(tmp / "cold0") == _outputs(tmp / "cold1") and _outputs(tmp / "cold0")
        # A warm run reads the statistics, stage and figure caches: it must show the same.
        cached = _outputs(tmp / "r") == _outputs(tmp / "cold0")
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    print(
        f"load average at the start / end: {load_start:.1f} / {os.getloadavg()[0]:.1f}"
        " (2 cores, shared)"
    )
    print(
        f"measured: make report WEBINAR={args.webinar}"
        if args.webinar
        else "measured: make report without WEBINAR (the product's default: the data's busiest)"
    )
    labels = {
        "floor": "floor (run_report, imports only, HTML+PDF):",
        "warm": "make report (HTML+PDF, warm):              ",
        "cold": "make report, statistics recomputed (cold): ",
    }
    for key, label in labels.items():
        walls = _fmt([w for w, _ in runs[key]])
        cpus = _fmt([c for _, c in runs[key]])
        print(f"{label}{wall[key]:6.2f} s wall (runs {walls}), {cpu[key]:6.2f} s CPU (runs {cpus})")
    for name, target in (("warm", TARGET_WARM), ("cold", TARGET_COLD)):
        ratio = wall[name] / wall["floor"]
        verdict = "OK" if ratio <= target else "OVER"
        print(
            f"ratio {name} / floor: {ratio:.2f} wall (target <= {target:g}) {verdict};"
            f" {cpu[name] / cpu['floor']:.2f} CPU"
        )
    print(
        "PDF fonts: "
        + ("TrueType copies (analysis.print_fonts)" if fonts else "the installed ones (Type 3)")
    )
    print(f"two cold runs: findings.json and HTML byte-identical: {bool(same)}")
    print(f"a warm and a cold run: findings.json and HTML byte-identical: {cached}")
    return 0 if same and cached else 1


def _outputs(out: Path) -> dict[str, bytes]:
    """findings.json and every HTML file a report wrote under ``out``, by relative path."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and (p.name == "findings.json" or p.suffix == ".html")
    }


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--floor":
        run_floor(Path(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
