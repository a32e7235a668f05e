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

``--cprofile DIR`` also writes cProfile files of every process of the run into ``DIR``:
``report.prof`` (this process), ``prefetch.prof`` (the forked prefetch: its imports are not
in it, ingest's cache read, the timeline and the statistics' dispatch are),
``class-<name>.prof`` (each error class's statistics computed by the prefetch, in whichever of
its workers) and ``kernel.prof`` (the notebook's kernel, every cell, rewritten after each
cell through an IPython startup file in ``DIR/ipython``; the kernel's own workers, which draw
the figures or compute what the prefetch did not, are not profiled). Read them with
``python -m pstats`` or ``pstats.Stats(*files)``. The profiler slows Python-heavy steps more
than numpy-heavy ones, and writing the kernel's profile adds about half a second to each
cell's time: with ``--cprofile`` read the profiles, not the clocks.
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


#: Where ``--cprofile`` writes its files (None: no profiles).
PROFILE_DIR: Path | None = None

#: The kernel's IPython startup file under ``--cprofile``: profile every cell, and write the
#: profile after each (the report kills its kernel once the last cell has replied).
KERNEL_STARTUP = """
import cProfile
_eventlive_profile = cProfile.Profile()
def _eventlive_pre(*args):
    _eventlive_profile.enable()
def _eventlive_post(*args):
    _eventlive_profile.disable()
    _eventlive_profile.dump_stats({path!r})
get_ipython().events.register("pre_run_cell", _eventlive_pre)
get_ipython().events.register("post_run_cell", _eventlive_post)
"""


def _profiled_prefetch(params, settings):
    """``pipeline.prefetch_statistics`` under cProfile (runs in the forked prefetch)."""
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(_REAL["prefetch"], params, settings)
    finally:
        profile.dump_stats(PROFILE_DIR / "prefetch.prof")


def _profiled_class(job):
    """``stats.webinar._analyse_named`` under cProfile (in the process computing the class)."""
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(_REAL["class"], job)
    finally:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in job[0])
        profile.dump_stats(PROFILE_DIR / f"class-{safe}.prof")


_REAL: dict = {}


def _become_profiled_prefetch(parent: int) -> None:
    """``report._become_prefetch``, then the prefetch's stages wrapped in profiles.

    Patched in the forked prefetch only, so the report process imports no stage it would not.
    The statistics' pool workers are forked from the prefetch and look ``_analyse_named`` up
    by name, so they run the wrapper too.
    """
    from analysis import pipeline
    from analysis.stats import webinar

    _REAL["become"](parent)
    _REAL["prefetch"], pipeline.prefetch_statistics = (
        pipeline.prefetch_statistics,
        _profiled_prefetch,
    )
    _REAL["class"], webinar._analyse_named = webinar._analyse_named, _profiled_class


def _install_profiles(directory: Path) -> None:
    """Profile the prefetch, each of its classes' statistics and the kernel (``--cprofile``)."""
    global PROFILE_DIR
    from analysis import report

    PROFILE_DIR = directory.resolve()
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    _REAL["become"], report._become_prefetch = report._become_prefetch, _become_profiled_prefetch
    startup = PROFILE_DIR / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-eventlive-profile.py").write_text(
        KERNEL_STARTUP.format(path=str(PROFILE_DIR / "kernel.prof"))
    )
    os.environ["IPYTHONDIR"] = str(PROFILE_DIR / "ipython")


def main(argv: list[str]) -> int:
    """Run one report with clocks around its steps; print the table."""
    argv = list(argv)
    profile_dir = None
    if "--cprofile" in argv:
        at = argv.index("--cprofile")
        profile_dir = Path(argv[at + 1])
        del argv[at : at + 2]
    out, rest = Path(argv[0]), [a for a in argv[1:] if a not in ("--cold", "--floor")]
    if "--cold" in argv:
        os.environ["POSTMORTEM_NO_STATS_CACHE"] = "1"
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
    report_profile = None
    if profile_dir is not None:
        import cProfile

        _install_profiles(profile_dir)
        report_profile = cProfile.Profile()
        report_profile.enable()
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
    if report_profile is not None:
        report_profile.disable()
        report_profile.dump_stats(PROFILE_DIR / "report.prof")
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
