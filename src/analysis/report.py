"""Execute the postmortem notebook with papermill and export it with nbconvert.

``python -m analysis report`` (``make report``) validates the parameters, executes
``notebooks/postmortem.ipynb`` into ``reports/<webinar>/postmortem.ipynb`` with the project's
named kernel, then exports ``postmortem.html`` (self-contained, no code) and ``postmortem.pdf``
(the same page printed by Debian's Chromium through nbconvert's WebPDFExporter).
``python -m analysis reports`` does this for every webinar of an incident.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import ctypes
import dataclasses
import fcntl
import functools
import gc
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from analysis import outputs
from analysis._util import page_text
from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR
from analysis.exceptions import ReportError
from analysis.languages import css_code_stack, css_font_stack, font_for
from analysis.params import ReportParams, display_path
from analysis.print_fonts import printer_config, printer_environment
from analysis.record_paths import publish_record
from analysis.reproducible import pin_pdf_dates, source_date_epoch
from analysis.settings import (
    ENV_PREFETCH_DIR,
    PREFETCH_LOCK,
    PREFETCH_PID,
    Settings,
    read_settings,
)

NOTEBOOK = NOTEBOOKS_DIR / "postmortem.ipynb"
TEMPLATES_DIR = Path(__file__).parent / "templates"
HTML_TEMPLATE = "postmortem_html"
#: Debian's Chromium; Playwright's own browser download is not reachable from our machines.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
#: Cells never shown to stakeholders: papermill's injected values, the defaults they override,
#: and notes meant for the analyst in JupyterLab.
HIDDEN_TAGS = ("injected-parameters", "parameters", "remove-cell")
#: Where the PDF printer shows the report: a host that cannot exist (RFC 2606), answered from
#: memory by the printer itself, never by a network or a file.
PAGE_URL = "http://postmortem.invalid/postmortem.html"
SYSTEM_PACKAGES_HINT = (
    "the PDF needs Debian packages chromium and fonts-noto-cjk"
    " (run 'bash scripts/install-system-deps.sh' as root)"
)
# Flags that keep a headless Chromium off the network and quiet on a closed machine.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
#: Options of the kernel papermill starts. IPython's input history is off: nobody reads a
#: report run's history, and keeping it cost about 15 ms a cell (each input wakes the
#: history's writer thread, and the next input waits for its lock and the interpreter lock),
#: a few tenths of a second over the postmortem's cells (docs/performance.md).
KERNEL_ARGUMENTS = ("--HistoryManager.enabled=False",)


@dataclass(frozen=True)
class ReportOutcome:
    """What one report run wrote, and what it skipped with the reason.

    Attributes
    ----------
    webinar_id : str
        The webinar reported on.
    written : tuple of pathlib.Path
        Files written (executed notebook, findings, exports).
    notes : tuple of str
        One line per skipped step (e.g. PDF without Chromium).
    """

    webinar_id: str
    written: tuple[Path, ...]
    notes: tuple[str, ...] = field(default=())


#: The command line lives in :mod:`analysis.report_cli`; these names are still read here.
_CLI_NAMES = ("main", "main_all", "_parser")


def __getattr__(name: str) -> object:
    # nbconvert's PDF exporter is imported when first used: about 40 % of this module's
    # imports, which ``python -m analysis report`` then pays after the prefetch is forked
    # (:class:`Prefetch`), not before it.
    if name == "DebianWebPDFExporter":
        return _pdf_exporter()
    if name in _CLI_NAMES:
        from analysis import report_cli

        return getattr(report_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _pdf_exporter() -> type:
    """Return :class:`DebianWebPDFExporter` (``report.DebianWebPDFExporter``), defined once."""
    from nbconvert.exporters.webpdf import WebPDFExporter
    from traitlets import Unicode

    class DebianWebPDFExporter(WebPDFExporter):
        """nbconvert's WebPDFExporter driving an installed Chromium instead of Playwright's own.

        WebPDFExporter has no option for the browser's path and Playwright's browser download is
        unreachable here, so ``run_playwright`` is replaced: same steps, plus ``executable_path``
        and the A4 page size from the template's CSS. The page is handed to Chromium from memory
        under :data:`PAGE_URL`; every other request (any scheme: ``file:``, ``http:``, ...) is
        aborted and scripts are disabled, so only the report itself is printed.
        """

        executable_path = Unicode(CHROMIUM_CANDIDATES[0], help="Chromium to print with").tag(
            config=True
        )

        def run_playwright(self, html: str) -> bytes:
            """Print ``html`` to PDF bytes with Chromium."""
            # Playwright's sync API refuses to run inside an event loop (e.g. a notebook), so
            # the coroutine runs in a thread of its own, as nbconvert does.
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(asyncio.run, self._print(html)).result()

        async def _print(self, html: str) -> bytes:
            from playwright.async_api import async_playwright

            args = list(CHROMIUM_ARGS) + list(self.browser_args)
            if self.disable_sandbox or os.geteuid() == 0:
                # Chromium's sandbox cannot start as root (containers, CI).
                args.append("--no-sandbox")
            body = html.encode("utf-8")

            async def serve_only_the_page(route) -> None:
                if route.request.url == PAGE_URL:
                    await route.fulfill(
                        status=200, body=body, content_type="text/html; charset=utf-8"
                    )
                else:
                    await route.abort("blockedbyclient")

            # With the TrueType copies of the report's fonts, Chromium embeds the text's fonts
            # instead of drawing every glyph as a Type 3 font (analysis.print_fonts).
            env = printer_environment()
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=self.executable_path,
                    args=args,
                    **({} if env is None else {"env": env}),
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                )
                try:
                    page = await browser.new_page(java_script_enabled=False)
                    await page.route("**/*", serve_only_the_page)
                    await page.emulate_media(media="print")
                    await page.goto(PAGE_URL, wait_until="load")
                    return await page.pdf(print_background=True, prefer_css_page_size=True)
                finally:
                    await browser.close()

    return DebianWebPDFExporter


def find_chromium() -> str | None:
    """Return the path of a Chromium executable, or None when none is installed."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def has_report_font(lang: str) -> bool:
    """Return True when fontconfig knows the font the figures and the PDF use for ``lang``."""
    if shutil.which("fc-list") is None:
        return False
    family = font_for(lang).family
    out = subprocess.run(
        ["fc-list", f":family={family}", "family"],
        capture_output=True,
        text=True,
        check=False,
    )
    return family in out.stdout


def list_webinars(data_dir: Path, cache_dir: Path | None = None) -> dict[str, str]:
    """Return the webinars of an incident directory, id -> title, through ingest."""
    return describe_incident(data_dir, cache_dir)[0]


def describe_incident(data_dir: Path, cache_dir: Path | None = None) -> tuple[dict[str, str], str]:
    """Return the webinars (id -> title) and the display zone of an incident directory.

    Only the webinars table is read from ingest's cache when it holds these inputs (the
    kernel then ingests the whole incident); without one, the directory is ingested here,
    which also checks it, and the kernel reads the cache this writes.
    """
    from analysis.ingest import describe_directory

    table, display_tz = describe_directory(data_dir, cache_dir=cache_dir)
    return webinar_titles(table), display_tz


def webinar_titles(table: object) -> dict[str, str]:
    """Return a ``webinars`` table's id -> title."""
    return {str(w): str(t) for w, t in zip(table["webinar_id"], table["title"], strict=True)}


#: glibc malloc's settings for the report's kernel (and the workers it forks). By default,
#: glibc hands a freed block above its mmap threshold (128 KB, rising to at most 32 MB) back
#: to the system, and trims the heap's free top, so every array the statistics allocate
#: again is page-faulted and zeroed anew: about 360,000 page faults and a third of their CPU
#: on the shipped webinar. Blocks under 256 MB stay in the heap and are reused; peak memory is
#: the same (docs/performance.md, "The report around the statistics"). Other C libraries
#: ignore these variables; a value set in the environment is kept.
MALLOC_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": str(256 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
}


#: mallopt(3) parameters of :data:`MALLOC_SETTINGS`, for a process that is already running.
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1}


class Prefetch:
    """The statistics of a report computed beside its kernel's start, in a forked process.

    The report's own process and the kernel's start and imports keep one core busy for
    seconds, the floor's share of every report; the other core would idle. The prefetch is
    forked from this process early and imports the stages while this process checks the
    parameters; :meth:`start` then hands it the run's parameters, and it builds the timeline
    and the statistics (:func:`analysis.pipeline.prefetch_statistics`) on the run's workers.
    The kernel, told its directory (``POSTMORTEM_PREFETCH_DIR``), waits for it and reads them
    by their content key. Nothing it computes can change a number: a result is only read for
    the same frames, seed and code, and the kernel computes whatever the prefetch did not.
    It holds the directory's lock (taken here, before the fork) until it ends; it ends with
    this process (parent-death signal), and :meth:`stop` kills it if it still runs.
    """

    def __init__(self, settings: Settings) -> None:
        # Beside the caches (a test run's scratch directory), not in the system's temporary
        # directory: a report killed with SIGKILL leaves this small directory behind.
        parent_dir = settings.cache_dir / "prefetch"
        parent_dir.mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix="run-", dir=parent_dir))
        settings = dataclasses.replace(settings, prefetch_dir=self.directory)
        lock = os.open(self.directory / PREFETCH_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        orders, self._orders = os.pipe()
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the prefetch; it never returns from here
            code = 1
            try:
                os.close(self._orders)
                # Inherited objects are never garbage here: a full collection would walk
                # (and so copy) every page of them, the stages' imports below would add more.
                gc.freeze()
                _become_prefetch(parent)
                # Read by the kernel, which stops waiting for a prefetch that uses no CPU.
                (self.directory / PREFETCH_PID).write_text(str(os.getpid()), encoding="ascii")
                import analysis.ingest  # noqa: F401 - the imports, while the report checks
                from analysis.pipeline import freeze_imports, prefetch_statistics

                freeze_imports()

                with os.fdopen(orders, "rb") as pipe:
                    order = pipe.read()  # until this process's end of the pipe is closed
                if order:  # nothing: the run needs no prefetch
                    params, marker = pickle.loads(order)
                    prefetch_statistics(params, settings)
                    if marker is not None:  # the caches now hold what it computed
                        marker.parent.mkdir(parents=True, exist_ok=True)
                        marker.touch()
                code = 0
            finally:
                os._exit(code)
        os.close(orders)
        os.close(lock)  # the child's copy keeps the lock until it ends

    def start(self, params: ReportParams, marker: Path | None) -> None:
        """Hand the prefetch the run's parameters (and the marker it leaves when done)."""
        if self._orders is None:
            return
        try:
            with os.fdopen(self._orders, "wb") as pipe:
                pipe.write(pickle.dumps((params, marker)))
        except OSError:
            pass  # it ended already: the kernel computes
        self._orders = None

    def stop(self) -> None:
        """End the prefetch if it still runs, reap it and remove its directory."""
        if self._orders is not None:
            os.close(self._orders)  # an idle prefetch ends on its own
            self._orders = None
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if not done:
                os.kill(self.pid, signal.SIGKILL)  # its workers follow (parent-death signal)
                os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def fork_prefetch(params: ReportParams, settings: Settings) -> Prefetch | None:
    """Fork a :class:`Prefetch` for a run like ``params`` early, or None when none is needed.

    For ``python -m analysis report``, before the parameters are checked against the data:
    ``params`` are built from the command line alone. None when the caches hold this run's
    statistics already (:func:`prefetch_marker`), so a rerun forks nothing.
    """
    if settings.stats_cache and prefetch_marker(params, settings).exists():
        return None
    return Prefetch(settings)


def start_prefetch(
    params: ReportParams, notebook: Path, prefetch: Prefetch | None = None
) -> Prefetch | None:
    """Start the run's :class:`Prefetch` (``prefetch``, forked early, or a new one), or None.

    Only the postmortem's statistics are prefetched (a stand-in notebook has none), and not
    when the caches already hold them: a prefetch that left them in the cache leaves a marker
    named by :func:`prefetch_marker`, and a rerun with that marker starts none (an early
    prefetch is then stopped).
    """
    settings = read_settings()
    marker = prefetch_marker(params, settings) if settings.stats_cache else None
    if Path(notebook) != NOTEBOOK or (marker is not None and marker.exists()):
        if prefetch is not None:
            prefetch.stop()
        return None
    prefetch = Prefetch(settings) if prefetch is None else prefetch
    prefetch.start(params, marker)
    return prefetch


def prefetch_marker(params: ReportParams, settings: Settings) -> Path:
    """Return the marker a prefetch of ``params`` leaves in the cache once the cache holds it.

    Named by a hash of the notebook's parameters (where the files go and the display zone
    aside: the zone is the incident's own unless given, and can be read only with the data),
    the Python executable, every file of the package and the name, size and time of every
    file of the incident directory: cheap to compute before the data is read. It only decides
    whether a prefetch starts; what the kernel reads is still chosen by the content keys of
    the caches, so a wrong guess costs time, never a number.
    """
    digest = hashlib.sha256()
    values = {
        k: v for k, v in params.to_notebook().items() if k not in ("output_dir", "display_tz")
    }
    digest.update(repr(sorted(values.items())).encode("utf-8", "surrogatepass"))
    digest.update(os.fsencode(sys.executable))
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.relative_to(package).parts:
            digest.update(os.fsencode(path.relative_to(package).as_posix()))
            digest.update(path.read_bytes())
    data = Path(params.data_dir)
    for path in sorted(data.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                os.fsencode(f"{path.relative_to(data)}:{stat.st_size}:{stat.st_mtime_ns}")
            )
    return settings.cache_dir / "stages" / f"prefetched-{digest.hexdigest()[:32]}"


def _become_prefetch(parent: int) -> None:
    """Set up a freshly forked prefetch: quiet, default signals, the kernel's malloc settings."""
    from analysis._pool import _die_with_parent

    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    _die_with_parent(parent)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # its notes would interleave with the report's own lines
        os.dup2(null, fd)
    try:  # what the kernel gets from its environment (MALLOC_SETTINGS), set in place
        libc = ctypes.CDLL(None)
        for name, value in MALLOC_SETTINGS.items():
            if name not in os.environ:
                libc.mallopt(_MALLOPT[name], int(value))
    except (OSError, AttributeError):
        pass  # not glibc: nothing to set


def kernel_environment(data_dir: Path) -> dict[str, str]:
    """Return the environment variables of the report's kernel: reproducible output, fast."""
    return {
        "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH") or source_date_epoch(data_dir),
        "PYTHONHASHSEED": "0",
        # The figures are drawn by the kernel's inline backend; never a window.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        **{name: os.environ.get(name, value) for name, value in MALLOC_SETTINGS.items()},
    }


def execute_notebook(
    params: ReportParams,
    *,
    progress: bool = True,
    failed_record: Path | None = None,
    notebook: Path = NOTEBOOK,
    prefetch: Prefetch | None = None,
) -> Path:
    """Execute the postmortem notebook for ``params`` into its output directory.

    Parameters
    ----------
    params : ReportParams
        Validated parameters; passed to papermill's Python API as values, never through a shell.
    progress : bool, optional
        Show papermill's progress bar.
    failed_record : pathlib.Path, optional
        Where to keep the executed notebook when a cell fails (default: where it was written).
    notebook : pathlib.Path, optional
        The notebook to execute (the postmortem; benchmarks run a stand-in through the same
        path).

    prefetch : Prefetch, optional
        A prefetch forked before the parameters were checked (:func:`fork_prefetch`); it is
        started here, or stopped when the run needs none. Without, one is forked here.

    Returns
    -------
    pathlib.Path
        The executed notebook, ``<output_dir>/postmortem.ipynb``.

    Raises
    ------
    ReportError
        A cell failed; the message is the cell's error in one line.
    """
    params.output_dir.mkdir(parents=True, exist_ok=True)
    target = params.output_dir / "postmortem.ipynb"
    environment = kernel_environment(params.data_dir)
    prefetch = start_prefetch(params, notebook, prefetch)
    if prefetch is not None:
        environment[ENV_PREFETCH_DIR] = str(prefetch.directory)
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        _run_papermill(params, target, progress, failed_record, notebook)
    finally:
        if prefetch is not None:
            prefetch.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return target


def _run_papermill(
    params: ReportParams, target: Path, progress: bool, failed_record: Path | None, notebook: Path
) -> None:
    import papermill as pm

    try:
        _execute_with_one_restart(
            pm.execute_notebook,
            str(notebook),
            str(target),
            parameters=params.to_notebook(),
            kernel_name=KERNEL_NAME,
            progress_bar=progress,
            cwd=str(NOTEBOOKS_DIR),
            log_output=False,
            # papermill otherwise rewrites (and validates) the whole notebook, figures
            # included, before and after every cell; the record is written once at the end,
            # and on a failure too (docs/performance.md).
            request_save_on_cell_execute=False,
            extra_arguments=list(KERNEL_ARGUMENTS),
            # Once the last cell has replied, every output has arrived and every file the
            # notebook writes is closed; a graceful stop (interrupt, shutdown request, then
            # polling until the process exits) took 1-2.7 s more than killing the kernel's
            # process group, which also ends any worker it forked (docs/performance.md).
            shutdown_kernel="immediate",
        )
    except pm.PapermillExecutionError as exc:
        record = target
        if failed_record is not None and target.is_file():
            shutil.copyfile(target, failed_record)
            record = failed_record
        evalue = " ".join(str(exc.evalue).split())
        raise ReportError(
            f"{display_path(notebook)}, cell {exc.cell_index}: {exc.ename}: {evalue}"
            f" (executed record: {display_path(record)})"
        ) from None


def _execute_with_one_restart(execute, *args, **kwargs) -> None:
    """Call papermill's ``execute``, again if its kernel died before any cell ran.

    Two kernels started together can take one TCP port (docs/export.md, "Kernel start").
    """
    try:
        execute(*args, **kwargs)
    except RuntimeError as exc:
        if "Kernel died before replying to kernel_info" not in str(exc):
            raise
        execute(*args, **kwargs)


def prepare_for_export(nb: object, title: str) -> object:
    """Return a copy of an executed notebook fit for stakeholders.

    Drops the hidden cells (parameters, injected parameters, analyst notes), stderr streams
    and every run-specific field (papermill's times and timings, execution counts), and sets
    the title.
    """
    out = copy.deepcopy(nb)
    out.cells = [
        c for c in out.cells if not set(c.get("metadata", {}).get("tags", [])) & set(HIDDEN_TAGS)
    ]
    for cell in out.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.execution_count = None
            # Library warnings stay in the executed record; stakeholders read the analysis.
            cell.outputs = [
                o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
            ]
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = None
    out.metadata.pop("papermill", None)
    out.metadata["title"] = page_text(title)  # the page's <title> shows data too
    return out


def export_html(nb: object, lang: str) -> str:
    """Render the self-contained HTML page: no code, no prompts, every image embedded."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(config=_export_config(lang), template_name=HTML_TEMPLATE)
    html, _ = exporter.from_notebook_node(nb, resources=_page_resources(lang))
    return html


def export_pdf(
    nb: object, lang: str, chromium: str, *, html: str | None = None, epoch: str = "0"
) -> bytes:
    """Print the same page to PDF with Chromium through nbconvert's WebPDFExporter.

    ``html`` is the page :func:`export_html` already rendered for ``nb`` and ``lang``: the
    exporter would render the same page again before printing it (about a second for a report).
    The PDF's dates are ``epoch`` (``SOURCE_DATE_EPOCH``), not the printing's.
    """
    exporter = _pdf_exporter()(
        config=_export_config(lang), template_name=HTML_TEMPLATE, executable_path=chromium
    )
    pdf = exporter.run_playwright(export_html(nb, lang) if html is None else html)
    return pin_pdf_dates(pdf, epoch)


def _page_resources(lang: str) -> dict:
    """Values the page template reads: the CSS font lists of the report's language."""
    return {"fonts": {"text": css_font_stack(lang), "code": css_code_stack(lang)}}


def _export_config(lang: str) -> object:
    from traitlets.config import Config

    c = Config()
    c.TemplateExporter.extra_template_basedirs = [str(TEMPLATES_DIR)]
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    # Figures are image outputs, always embedded as data: URIs by the template. The option
    # would only read local files named by <img> in Markdown, and its HTML re-parsing splits
    # inline elements ("<code>x</code>" became "<code></code>x"): off.
    c.HTMLExporter.embed_images = False
    c.HTMLExporter.language_code = lang
    return c


def run_report(
    params: ReportParams,
    *,
    progress: bool = True,
    notebook: Path = NOTEBOOK,
    prefetch: Prefetch | None = None,
) -> ReportOutcome:
    """Execute and export the postmortem of one webinar, publishing its outputs together.

    Everything is written into a staging directory beside ``params.output_dir`` and moved
    into place in one step (:mod:`analysis.outputs`): the output directory holds either the
    previous complete run or this one, whatever happens to this run.

    Parameters
    ----------
    params : ReportParams
        Validated parameters.
    progress : bool, optional
        Show papermill's progress bar.
    notebook : pathlib.Path, optional
        The notebook to execute (default: the postmortem).

    prefetch : Prefetch, optional
        A prefetch forked early (:func:`fork_prefetch`), handed to :func:`execute_notebook`.

    Returns
    -------
    ReportOutcome

    Raises
    ------
    ReportError
        A cell failed, the output directory cannot be written or holds other files, or the
        PDF could not be printed (then the run is published without a PDF).
    """
    target = params.output_dir
    notes: list[str] = []
    if not has_report_font(params.lang):
        font = font_for(params.lang)
        notes.append(
            f"figures and PDF need the font {font.family}: install Debian package"
            f" {font.debian_package} (run 'bash scripts/install-system-deps.sh' as root)"
        )
    try:
        outputs.check_replaceable(target)
        had_pdf = (target / "postmortem.pdf").is_file()
        with outputs.Staging(target) as stage:
            names, pdf_failure = _write_outputs(
                params, stage.path, notes, progress, notebook, prefetch
            )
            stage.publish()
    except OSError as exc:
        raise ReportError(outputs.describe_os_error(exc, target)) from None
    if "pdf" in params.formats and "postmortem.pdf" not in names and had_pdf:
        notes.append(
            "the previous run's postmortem.pdf was removed with that run: it did not match this"
            " report"
        )
    outcome = ReportOutcome(params.webinar_id, tuple(target / n for n in names), tuple(notes))
    # A record of an earlier failed run no longer describes what is published.
    (target.parent / f"{target.name}.failed.ipynb").unlink(missing_ok=True)
    if pdf_failure:
        raise ReportError(pdf_failure)
    return outcome


def kernel_notes(nb: object) -> list[str]:
    """Return the ``note: ...`` lines the notebook's code wrote to stderr (e.g. a cache rebuilt)."""
    lines = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                lines += [ln[6:] for ln in text.splitlines() if ln.startswith("note: ")]
    return list(dict.fromkeys(lines))


def _write_outputs(
    params: ReportParams,
    stage: Path,
    notes: list[str],
    progress: bool,
    notebook: Path,
    prefetch: Prefetch | None = None,
) -> tuple[list[str], str | None]:
    """Write every output of one run into ``stage``; return their names and a PDF failure."""
    import nbformat

    staged = dataclasses.replace(params, output_dir=stage)
    failed = params.output_dir.parent / f"{params.output_dir.name}.failed.ipynb"
    try:
        executed = execute_notebook(
            staged, progress=progress, failed_record=failed, notebook=notebook, prefetch=prefetch
        )
    except ReportError:
        # The record of a failed run is sent to whoever helps; it names no host path either.
        if failed.is_file():
            publish_record(failed, params, stage)
        raise
    names = [executed.name]
    # The record names where its outputs are published, not the staging directory it ran in,
    # and no host path: it travels with the report (analysis.record_paths).
    publish_record(executed, params, stage)
    record = nbformat.read(executed, as_version=4)
    notes.extend(kernel_notes(record))
    findings_path = stage / "findings.json"
    if not findings_path.is_file():
        raise ReportError(
            f"{display_path(params.output_dir / 'findings.json')}: the notebook did not write"
            " its findings"
        )
    names.append(findings_path.name)
    if (stage / "figures").is_dir():
        names.append("figures")
    findings = json.loads(findings_path.read_text(encoding="utf-8"))
    title = str(findings.get("report", {}).get("title", params.webinar_id))
    nb = prepare_for_export(record, title)
    # One page for both formats: the PDF is this page printed.
    html = export_html(nb, params.lang)
    if "html" in params.formats:
        (stage / "postmortem.html").write_text(html, encoding="utf-8")
        names.append("postmortem.html")
    if "pdf" not in params.formats:
        return names, None
    chromium = find_chromium()
    if chromium is None:
        notes.append(f"PDF not written: {SYSTEM_PACKAGES_HINT}")
        return names, None
    if printer_config() is None and has_report_font(params.lang):
        notes.append(
            "PDF printed with the installed fonts, glyph by glyph (slower, larger): the"
            " printer's TrueType copies are not built ('python -m analysis print-fonts',"
            " which make setup runs)"
        )
    try:
        epoch = kernel_environment(params.data_dir)["SOURCE_DATE_EPOCH"]
        pdf = export_pdf(nb, params.lang, chromium, html=html, epoch=epoch)
    except Exception as exc:  # noqa: BLE001 - browser failures of any kind, one line
        reason = " ".join(str(exc).split())[:200]
        return names, (
            f"{display_path(params.output_dir / 'postmortem.pdf')}: printing with {chromium}"
            f" failed ({type(exc).__name__}: {reason}); the report was written without a PDF"
        )
    (stage / "postmortem.pdf").write_bytes(pdf)
    names.append("postmortem.pdf")
    return names, None


def _print_outcome(outcome: ReportOutcome) -> None:
    for path in outcome.written:
        print(f"wrote {display_path(path)}")
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
