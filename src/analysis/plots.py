"""Figures of the postmortem: DataFrames and result values in, matplotlib Figures out.

Every builder takes plain frames/arrays already shaped by the stats and timeline stages plus a
``labels`` mapping (locale text), converts UTC times to the display zone only for the axis, and
returns the Figure without writing or showing it. :func:`configure_plots` sets the theme and the
report language's fonts once per session.
"""

from __future__ import annotations

import gc
import io
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from analysis import languages
from analysis._pool import start_fork_pool
from analysis._util import PAGE_CONTROLS, cut_text
from analysis.config import DEFAULT_LANGUAGE

#: Fixed salt so SVG ids (if anyone saves SVG) are the same on every run.
SVG_HASHSALT = "supabase-postmortem"
DPI = 110
CONCURRENCY_COLOR = "#1f4e79"
BURST_COLOR = "#d62728"
LIMIT_COLOR = "#7f7f7f"
PALETTE = "colorblind"


def configure_plots(lang: str = DEFAULT_LANGUAGE) -> bool:
    """Set the seaborn theme, then the report language's fonts and reproducible rendering.

    The fonts go *after* ``sns.set_theme``: the theme resets ``font.family``. They are the
    language's script font followed by the other scripts' (``languages.font_families``), so
    data text in another script still has glyphs.

    Returns
    -------
    bool
        True when the language's font is installed (otherwise its labels may render as boxes).
    """
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    wanted = languages.font_families(lang)
    if not all(_has_font(family) for family in wanted):
        # matplotlib caches its font list; a font installed after the cache was built stays
        # invisible until it is added (docs/export.md, "Fonts").
        stems = {font.file_stem for font in languages.SCRIPT_FONTS.values()}
        for path in font_manager.findSystemFonts():
            if any(stem in Path(path).name for stem in stems):
                font_manager.fontManager.addfont(path)
    found = [family for family in wanted if _has_font(family)]
    if found:
        plt.rcParams["font.family"] = found
    plt.rcParams["svg.hashsalt"] = SVG_HASHSALT
    # Labels carry data (class keys hold constraint names taken from messages): "$...$" in one
    # is text, never mathtext, which would render it differently or fail the whole figure.
    plt.rcParams["text.parse_math"] = False
    plt.rcParams["figure.dpi"] = DPI
    plt.rcParams["savefig.dpi"] = DPI
    plt.rcParams["axes.titleweight"] = "bold"
    plt.rcParams["axes.titlesize"] = 12
    return wanted[0] in found


def _has_font(family: str) -> bool:
    try:
        font_manager.findfont(family, fallback_to_default=False)
    except ValueError:
        return False
    return True


def figure_png(fig: Figure) -> bytes:
    """Render a Figure to PNG bytes without a timestamp or software tag (same bytes each run)."""
    pin_titles(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def pin_titles(fig: Figure) -> None:
    """Fix every Axes title at the top edge of its Axes when nothing there can push it up.

    matplotlib places each title above what may occupy the top edge (x tick labels or the
    x label on top, a y axis's offset text such as "1e-5") anew on every layout pass, three
    per figure saved here (the builder's ``tight_layout``, the tight bounding box, the final
    draw): about a sixth of the drawing. The builders put nothing on top, so once the layout
    is done, a figure whose y axes show no offset text keeps its titles where the placement
    would put them again (the same pixels); otherwise the placement stays on.
    """
    axes = fig.get_axes()
    for ax in axes:
        labels_on_top = ax.xaxis.get_tick_params().get("labeltop", plt.rcParams["xtick.labeltop"])
        if labels_on_top or ax.xaxis.get_label_position() == "top":
            return
        if ax.yaxis.offsetText.get_text():
            return
    for ax in axes:
        title = ax.title
        if title.get_text():
            ax.set_title(
                title.get_text(),
                fontsize=title.get_fontsize(),
                fontweight=title.get_fontweight(),
                color=title.get_color(),
                y=1.0,
            )


def font_files() -> list[str]:
    """Return the files of the fonts figures are drawn with (matplotlib's current families)."""
    paths = {font_manager.findfont("DejaVu Sans")}  # matplotlib's own fallback for any glyph
    for family in plt.rcParams["font.family"]:
        try:
            paths.add(font_manager.findfont(family, fallback_to_default=False))
        except ValueError:
            continue
    return sorted(paths)


#: In a worker process of :func:`render_pngs`: the function that draws a figure by name.
_WORKER_DRAW: list[Callable[[str], Figure]] = []
#: The process whose inherited objects :func:`_render_in_worker` has frozen.
_FROZEN_IN = [0]


def _set_worker_draw(draw: Callable[[str], Figure]) -> None:
    _WORKER_DRAW[:] = [draw]


def _render_in_worker(name: str) -> bytes:
    # The fork shares the kernel's pages until written to. A full collection here would walk
    # (and so copy) every object inherited from the kernel, which none of its figures frees:
    # they are set aside once per worker (docs/performance.md, session 9).
    if _FROZEN_IN[0] != os.getpid():
        gc.freeze()
        _FROZEN_IN[0] = os.getpid()
    return figure_png(_WORKER_DRAW[0](name))


def render_pngs(
    draw: Callable[[str], Figure], names: Iterable[str], workers: int = 1
) -> dict[str, bytes]:
    """Draw figures by name and render each to PNG bytes, on up to ``workers`` processes.

    Workers are forked from this process once its plotting is configured, so they draw with
    the same settings, fonts and data (``draw`` reaches them by the fork, never pickled) and
    give the same bytes as drawing here. A daemonic process (itself a worker) cannot fork
    and draws them in turn. Returns the PNGs in the order of ``names``.
    """
    names = list(names)
    workers = min(int(workers), len(names))
    if workers <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return {name: figure_png(draw(name)) for name in names}
    # The workers are forked after this, so they inherit ``draw`` without pickling it.
    _set_worker_draw(draw)
    try:
        with start_fork_pool(workers) as pool:
            futures = {name: pool.submit(_render_in_worker, name) for name in names}
            return {name: futures[name].result() for name in names}
    finally:
        _WORKER_DRAW.clear()


#: Minutes between labelled ticks of a time axis, the first that leaves at most
#: :data:`MAX_TIME_LABELS` labels over the window (an hour: every 10 minutes, as always).
TICK_MINUTES = (10, 15, 30, 60, 120, 180, 360, 720, 1440)
MAX_TIME_LABELS = 12


def tick_minutes(span_minutes: float) -> int:
    """Return the minutes between labelled times for a window of ``span_minutes``.

    An hour keeps its labels every 10 minutes; a long window gets fewer, wider-spaced ones
    (a day: every 2 hours), which stay legible and cost matplotlib a layout per label less
    (a 48-hour window labelled every 10 minutes had 288 labels on one axis).
    """
    for step in TICK_MINUTES:
        if span_minutes / step <= MAX_TIME_LABELS:
            return step
    return TICK_MINUTES[-1]


def _span_minutes(times: Iterable[Iterable[pd.Timestamp]]) -> float:
    """Minutes from the first to the last of several sequences of times (0 when none)."""
    values = [pd.DatetimeIndex(t) for t in times if len(t)]
    if not values:
        return 0.0
    first = min(v.min() for v in values)
    last = max(v.max() for v in values)
    return (last - first) / pd.Timedelta(minutes=1)


def _local_axis(ax: plt.Axes, tz: str, span_minutes: float = 60.0) -> None:
    step = tick_minutes(span_minutes)
    if step < 60:
        major = mdates.MinuteLocator(byminute=range(0, 60, step), tz=tz)
        minor = mdates.MinuteLocator(byminute=range(0, 60, 5 if step % 2 else step // 2), tz=tz)
    else:
        hours = step // 60
        major = mdates.HourLocator(byhour=range(0, 24, hours), tz=tz)
        minor = mdates.HourLocator(byhour=range(0, 24, max(1, hours // 2)), tz=tz)
        if hours == 1:
            minor = mdates.MinuteLocator(byminute=(0, 30), tz=tz)
    ax.xaxis.set_major_locator(major)
    ax.xaxis.set_minor_locator(minor)
    # Beyond a day the clock alone repeats: the date goes with it (the heatmap's labels too).
    fmt = "%H:%M" if span_minutes <= 24 * 60 else "%m-%d %H:%M"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=tz))


def plot_concurrency(
    concurrency: pd.DataFrame,
    errors: pd.DataFrame,
    bursts: Mapping[str, Sequence[tuple[pd.Timestamp, pd.Timestamp]]],
    labels: Mapping[str, str],
    tz: str,
    limits: Sequence[tuple[str, float]] = (),
    other: str | None = None,
) -> Figure:
    """Concurrent viewers over time with errors per minute and each class's bursts on top.

    Parameters
    ----------
    concurrency : pandas.DataFrame
        Samples with ``ts`` (UTC) and ``viewers``.
    errors : pandas.DataFrame
        Errors per minute: index ``minute`` (UTC), one column per error class (its label).
    bursts : mapping of str to sequence of (Timestamp, Timestamp)
        Per error class (a column of ``errors``), its bursts as UTC [start, end) intervals,
        drawn as a lane in the class's colour along the top of the plot.
    labels : mapping
        ``title``, ``viewers``, ``errors``, ``burst``, ``time`` texts.
    tz : str
        Display time zone for the axis.
    limits : sequence of (str, float), optional
        Horizontal reference lines (e.g. a plan's connection limit) with their labels.
    other : str, optional
        The column of ``errors`` that sums the classes not drawn one by one: grey, last.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(10, 5.2))
    ax2 = ax.twinx()
    colors = dict(
        zip(
            errors.columns,
            sns.color_palette(PALETTE, n_colors=max(len(errors.columns), 3)),
            strict=False,
        )
    )
    if other is not None:
        colors[other] = LIMIT_COLOR
    if not errors.empty:
        # One collection of rectangles per class, not a patch per minute: the same bars,
        # stacked, at a fraction of the drawing cost (a bar is an artist of its own).
        left = mdates.date2num(errors.index)
        right = left + 1 / (24 * 60) * 0.9
        bottom = np.zeros(len(errors))
        for column in errors.columns:
            values = errors[column].to_numpy(dtype=float)
            top = bottom + values
            corners = np.stack(
                [
                    np.column_stack([left, bottom]),
                    np.column_stack([left, top]),
                    np.column_stack([right, top]),
                    np.column_stack([right, bottom]),
                ],
                axis=1,
            )
            bars = PolyCollection(
                corners, facecolors=colors[column], alpha=0.5, label=data_label(column)
            )
            ax2.add_collection(bars, autolim=True)
            bottom = top
        ax2.autoscale_view()
        ax2.set_ylim(0, max(bottom.max(), 1) * 1.35)
    lane = ax.get_xaxis_transform()
    lanes = [c for c in errors.columns if bursts.get(c)]
    for i, column in enumerate(lanes):
        y = 0.985 - (i + 1) * 0.022
        spans = [
            (mdates.date2num(s), mdates.date2num(e) - mdates.date2num(s)) for s, e in bursts[column]
        ]
        ax.broken_barh(spans, (y, 0.016), transform=lane, color=colors[column], zorder=7)
    if lanes:
        ax.annotate(
            labels["burst"],
            (0.995, 0.985),
            xycoords="axes fraction",
            fontsize=7,
            ha="right",
            va="top",
            color="0.3",
        )
    ax.step(
        concurrency["ts"],
        concurrency["viewers"],
        where="post",
        color=CONCURRENCY_COLOR,
        lw=1.8,
        label=labels["viewers"],
        zorder=5,
    )
    ax.plot(
        concurrency["ts"], concurrency["viewers"], "o", ms=2.5, color=CONCURRENCY_COLOR, zorder=6
    )
    for name, value in limits:
        ax.axhline(value, color=LIMIT_COLOR, ls="--", lw=1, zorder=4)
        ax.annotate(
            f"{name} ({value:g})",
            (0.005, value),
            xycoords=("axes fraction", "data"),
            ha="left",
            va="bottom",
            fontsize=7,
            color=LIMIT_COLOR,
        )
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_ylabel(labels["viewers"])
    ax2.set_ylabel(labels["errors"])
    ax2.grid(False)
    top = max(
        [float(concurrency["viewers"].max()) if len(concurrency) else 1.0] + [v for _, v in limits]
    )
    ax.set_ylim(0, top * (1.15 + 0.03 * len(lanes)))
    ax.set_xlabel(labels["time"])
    ax.set_title(labels["title"])
    _local_axis(ax, tz, _span_minutes([concurrency["ts"], errors.index]))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.045 + 0.03 * ((len(h1) + len(h2) - 1) // 4), 1, 1))
    return fig


#: Longest label from the data (a class key names a table, a constraint or an endpoint, which a
#: client may make thousands of characters long) a figure draws: a longer one is cut with an
#: ellipsis, or the figure would grow to hold it and shrink on the page to a strip.
MAX_LABEL = 60
_LABEL_CONTROLS = dict.fromkeys(PAGE_CONTROLS, "\ufffd")


def data_label(value: object) -> str:
    """Return a value from the data as a figure draws it: one line, controls shown, cut."""
    return cut_text(" ".join(str(value).split()).translate(_LABEL_CONTROLS), MAX_LABEL)


def plot_error_heatmap(counts: pd.DataFrame, labels: Mapping[str, str], tz: str) -> Figure:
    """Errors per minute by class as a heatmap (classes down, minutes across).

    Parameters
    ----------
    counts : pandas.DataFrame
        Index ``minute`` (UTC), one column per error class (its label), error counts.
    labels : mapping
        ``title``, ``time``, ``count`` texts, and ``empty`` (shown when there is no class).
    tz : str
        Display time zone for the minute labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = counts.T
    minutes = pd.DatetimeIndex(counts.index).tz_convert(tz)
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(table), 2) + 1.6))
    if table.empty:
        # No error class in the window: an empty panel that says so, not a crash.
        ax.text(0.5, 0.5, labels["empty"], ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(labels["title"])
        fig.tight_layout()
        return fig
    sns.heatmap(
        table.to_numpy(dtype=float),
        ax=ax,
        cmap="rocket_r",
        cbar_kws={"label": labels["count"], "pad": 0.01},
        linewidths=0,
    )
    # One labelled column every 5 minutes in an hour; a long window's labels are spaced as
    # the concurrency figure's (tick_minutes), whole hours from the window's first minute.
    step = 5 if len(minutes) <= 60 else tick_minutes(len(minutes))
    ax.set_xticks(np.arange(0, len(minutes), step) + 0.5)
    fmt = "%H:%M" if len(minutes) <= 24 * 60 else "%m-%d %H:%M"
    ax.set_xticklabels([m.strftime(fmt) for m in minutes[::step]], rotation=0, fontsize=8)
    ax.set_yticks(np.arange(len(table)) + 0.5)
    ax.set_yticklabels([data_label(i) for i in table.index], rotation=0, fontsize=9)
    ax.set_xlabel(labels["time"])
    ax.set_title(labels["title"])
    fig.tight_layout()
    return fig


def panel_grid(n: int, *, row_height: float, **kwargs: object) -> tuple:
    """Create a two-column grid for ``n`` panels; cells beyond ``n`` are hidden.

    Returns
    -------
    tuple
        The figure and its 2-D array of axes (``squeeze=False``).
    """
    n = max(n, 1)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(10, row_height * rows + 0.6), squeeze=False, **kwargs
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_lagged_association(
    curves: Mapping[str, pd.DataFrame], labels: Mapping[str, str]
) -> Figure:
    """Cross-correlation by lag per error class, with the null band of the shift surrogate.

    Parameters
    ----------
    curves : mapping of str to pandas.DataFrame
        Per class label, a frame with ``lag`` (minutes; positive = errors after load), ``r``,
        ``null_low`` and ``null_high``.
    labels : mapping
        ``title``, ``lag``, ``r``, ``band`` texts.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = panel_grid(len(curves), row_height=2.9, sharey=True)
    for ax, (name, frame) in zip(axes.flat, curves.items(), strict=False):
        ax.fill_between(
            frame["lag"],
            frame["null_low"],
            frame["null_high"],
            color=LIMIT_COLOR,
            alpha=0.25,
            lw=0,
            label=labels["band"],
        )
        ax.axhline(0, color="black", lw=0.6)
        ax.axvline(0, color="black", lw=0.6, ls=":")
        ax.plot(
            frame["lag"], frame["r"], "o-", ms=3, color=CONCURRENCY_COLOR, lw=1.2, label=labels["r"]
        )
        outside = (frame["r"] > frame["null_high"]) | (frame["r"] < frame["null_low"])
        ax.plot(frame.loc[outside, "lag"], frame.loc[outside, "r"], "o", ms=5, color=BURST_COLOR)
        ax.set_title(data_label(name), fontsize=10)
        ax.set_xlabel(labels["lag"])
    for ax in axes[:, 0]:
        ax.set_ylabel(labels["r"])
    if curves:
        axes.flat[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(labels["title"], fontweight="bold")
    fig.tight_layout()
    return fig


def plot_dose_response(
    panels: Mapping[str, Mapping[str, object]], labels: Mapping[str, str]
) -> Figure:
    """Error rate per request against (lagged) concurrency, with the threshold and its interval.

    Parameters
    ----------
    panels : mapping of str to mapping
        Per class label: ``points`` (DataFrame with ``load`` and ``rate``), optional ``fit``
        (DataFrame with ``load`` and ``rate``) and ``fit_kind`` (a key of ``labels``:
        ``fit`` or ``flat``), ``threshold`` (float or None), ``interval`` ((low, high) or None).
    labels : mapping
        ``title``, ``load``, ``rate``, ``threshold``, ``interval``, ``fit``, ``flat`` texts.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = panel_grid(len(panels), row_height=3.1)
    for ax, (name, panel) in zip(axes.flat, panels.items(), strict=False):
        points = panel["points"]
        interval = panel.get("interval")
        threshold = panel.get("threshold")
        if interval is not None and all(v is not None and np.isfinite(v) for v in interval):
            ax.axvspan(
                interval[0],
                interval[1],
                color=BURST_COLOR,
                alpha=0.12,
                lw=0,
                label=labels["interval"],
            )
        ax.scatter(
            points["load"],
            points["rate"],
            s=12,
            alpha=0.6,
            color=CONCURRENCY_COLOR,
            label=labels["rate"],
        )
        fit = panel.get("fit")
        if fit is not None and len(fit):
            label = labels[panel.get("fit_kind", "fit")]
            ax.plot(fit["load"], fit["rate"], color="black", lw=1.4, label=label)
        if threshold is not None and np.isfinite(threshold):
            ax.axvline(threshold, color=BURST_COLOR, lw=1.4, ls="--", label=labels["threshold"])
        ax.set_title(data_label(name), fontsize=10)
        ax.set_xlabel(labels["load"])
        ax.set_ylabel(labels["rate"])
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(labels["title"], fontweight="bold")
    fig.tight_layout()
    return fig
