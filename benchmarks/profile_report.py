"""Where one ``make report`` spends its wall clock, stage by stage (docs/performance.md).

``python benchmarks/profile_report.py OUT [--cold] [report options]`` runs what ``python -m
analysis report`` runs, in this process, with a clock around each step of the report process
(imports, parameter checks against the data, notebook execution, HTML, PDF, publication), and
reads papermill's own start and end times of the kernel's cells from the executed record.
Each step of the report process also gets its CPU seconds: this process's own and those of
the processes it waited for during the step (the kernel with its workers; Playwright's driver
with Chromium). ``--cold`` recomputes the statistics (and redraws the figures). ``--floor`` profiles
``bench_report.py``'s floor instead: ``run_report`` on its stand-in notebook. The absolute
seconds depend on the machine's load (printed); compare stages within one run, or runs at the
same load.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

START = time.perf_counter()


def cpu_seconds() -> float:
    """CPU seconds of this process and of every child process it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str]) -> int:
    """Run one report with clocks around its steps; print the table."""
    out, rest = Path(argv[0]), [a for a in argv[1:] if a not in ("--cold", "--floor")]
    if "--cold" in argv:
        os.environ["EVENTLIVE_NO_STATS_CACHE"] = "1"
    try:  # as ``python -m analysis`` does (absent in versions before it)
        from analysis._jsonschema import skip_iri_grammars

        skip_iri_grammars()
    except ImportError:
        pass
    clock: list[tuple[str, float, float]] = []
    import nbformat

    from analysis import report

    clock.append(
        ("report process: interpreter and imports", time.perf_counter() - START, cpu_seconds())
    )
    steps = {
        "describe_incident": "parameters checked against the data (webinars, from ingest)",
        "execute_notebook": "notebook executed (papermill, kernel)",
        "export_html": "HTML page rendered (nbconvert)",
        "export_pdf": "PDF printed (Chromium, from the page)",
    }
    for name, label in steps.items():
        _wrap(report, name, label, clock)
    begin, begin_cpu = time.perf_counter(), cpu_seconds()
    if "--floor" in argv:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_report import run_floor, write_floor_notebook

        out.mkdir(parents=True, exist_ok=True)
        write_floor_notebook(out / "floor_input.ipynb")
        run_floor(out / "floor_input.ipynb", out)
        out = out / "floor"
    else:
        report.main(["--no-progress", f"--out={out}", *rest])
    stepped = sum(seconds for _, seconds, _ in clock[1:])
    stepped_cpu = sum(cpu for _, _, cpu in clock[1:])
    rest_label = "rest of the report process (staging, checks, publication)"
    clock.append(
        (
            rest_label,
            time.perf_counter() - begin - stepped,
            cpu_seconds() - begin_cpu - stepped_cpu,
        )
    )
    kind = "floor" if "--floor" in argv else "cold" if "--cold" in argv else "warm"
    print(f"load average {os.getloadavg()[0]:.1f}; {kind}")
    print("    wall     CPU  (seconds)")
    for label, seconds, cpu in clock:
        print(f"{seconds:8.2f}{cpu:8.2f}  {label}")
    print(f"{time.perf_counter() - START:8.2f}{cpu_seconds():8.2f}  report process in all")
    print("kernel cells (papermill's wall clock):")
    nb = nbformat.read(out / "postmortem.ipynb", as_version=4)
    meta = nb.metadata.papermill
    cells = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    cells = [c for c in cells if c.cell_type == "code"]
    first = _time(cells[0].metadata.papermill.start_time)
    print(f"{(first - _time(meta.start_time)).total_seconds():8.2f}  kernel: start")
    summed = 0.0
    for cell in cells:
        seconds = float(cell.metadata.papermill.duration or 0.0)
        summed += seconds
        last = cell.source.strip().splitlines()[-1] if cell.source.strip() else ""
        print(f"{seconds:8.2f}  kernel: {last[:78]}")
    rest = float(meta.duration) - summed - (first - _time(meta.start_time)).total_seconds()
    print(f"{rest:8.2f}  kernel: stop, and papermill between cells")
    return 0


def _wrap(module: object, name: str, label: str, clock: list) -> None:
    real = getattr(module, name)

    def timed(*args, **kwargs):
        begin, begin_cpu = time.perf_counter(), cpu_seconds()
        try:
            return real(*args, **kwargs)
        finally:
            clock.append((label, time.perf_counter() - begin, cpu_seconds() - begin_cpu))

    setattr(module, name, timed)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
