"""The report's figures drawn once per set of inputs: cache keys, parallel drawing, same bytes."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import narrative, pipeline, plots

#: Two of the four figures keep the test short; the mechanics do not depend on which.
NAMES = ("heatmap", "lag")


@pytest.fixture
def text():
    plots.configure_plots("en")
    return narrative.load_locale("en")


def test_parallel_serial_and_cached_figures_are_the_same_bytes(small_analysis, text, tmp_path):
    serial = pipeline.Settings(cache_dir=tmp_path / "a", workers=1)
    parallel = pipeline.Settings(cache_dir=tmp_path / "b", workers=2)
    first = pipeline.draw_figures(small_analysis, text, serial, NAMES)
    second = pipeline.draw_figures(small_analysis, text, parallel, NAMES)
    assert list(first) == list(NAMES) and first == second
    assert all(png.startswith(b"\x89PNG") for png in first.values())
    keys = pipeline.figure_keys(small_analysis, text, NAMES)
    for name in NAMES:
        assert (tmp_path / "b" / "figures" / f"{keys[name]}.png").read_bytes() == first[name]


def test_a_cached_figure_is_read_not_drawn(small_analysis, text, tmp_path, monkeypatch):
    settings = pipeline.Settings(cache_dir=tmp_path, workers=1)
    drawn = pipeline.draw_figures(small_analysis, text, settings, NAMES)
    calls = []
    real = plots.render_pngs

    def render(draw, names, workers):
        calls.append(list(names))
        return real(draw, names, workers)

    monkeypatch.setattr(plots, "render_pngs", render)
    assert pipeline.draw_figures(small_analysis, text, settings, NAMES) == drawn
    assert calls == [[]]


def test_a_damaged_cache_file_is_redrawn_with_a_note(small_analysis, text, tmp_path, capsys):
    settings = pipeline.Settings(cache_dir=tmp_path, workers=1)
    drawn = pipeline.draw_figures(small_analysis, text, settings, NAMES[:1])
    (path,) = (tmp_path / "figures").glob("*.png")
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
    assert pipeline.draw_figures(small_analysis, text, settings, NAMES[:1]) == drawn
    assert "figure cache" in capsys.readouterr().err
    assert path.read_bytes() == drawn[NAMES[0]]


def test_without_the_statistics_cache_nothing_is_cached(small_analysis, text, tmp_path):
    settings = pipeline.Settings(cache_dir=tmp_path, stats_cache=False, workers=1)
    pipeline.draw_figures(small_analysis, text, settings, NAMES[:1])
    assert not (tmp_path / "figures").exists()


def test_keys_follow_every_input(small_analysis, text):
    keys = pipeline.figure_keys(small_analysis, text)
    assert keys == pipeline.figure_keys(small_analysis, text)
    assert len(set(keys.values())) == len(pipeline.FIGURES)
    other_text = {**text, "figures": {**text["figures"], "x": "y"}}
    assert pipeline.figure_keys(small_analysis, other_text) != keys
    findings = {**small_analysis.findings, "report": {**small_analysis.findings["report"]}}
    findings["report"]["display_tz"] = "Europe/Berlin"
    moved = dataclasses.replace(small_analysis, findings=findings)
    assert pipeline.figure_keys(moved, text) != keys
    frames = dict(small_analysis.timeline.frames)
    key = sorted(frames)[0]
    frames[key] = frames[key].assign(errors=frames[key]["errors"] + 1)
    timeline = dataclasses.replace(small_analysis.timeline, frames=frames)
    changed = dataclasses.replace(small_analysis, timeline=timeline)
    assert set(pipeline.figure_keys(changed, text).values()).isdisjoint(keys.values())
    import matplotlib

    with matplotlib.rc_context({"axes.titlesize": 13}):  # any setting of the drawing
        assert set(pipeline.figure_keys(small_analysis, text).values()).isdisjoint(keys.values())


@pytest.mark.parametrize(
    ("module", "attribute"),
    [("PIL", "__version__"), ("matplotlib.ft2font", "__freetype_version__")],
)
def test_keys_follow_the_glyph_rasteriser_and_the_png_encoder(
    small_analysis, text, monkeypatch, module, attribute
):
    # A FreeType or Pillow upgrade changes pixels or bytes: a cached PNG must not be served.
    import importlib

    keys = pipeline.figure_keys(small_analysis, text)
    monkeypatch.setattr(importlib.import_module(module), attribute, "0.0.0-other")
    assert set(pipeline.figure_keys(small_analysis, text).values()).isdisjoint(keys.values())


def test_longest_figures_are_drawn_first_and_returned_in_page_order(
    small_analysis, text, tmp_path, monkeypatch
):
    calls = []

    def render(draw, names, workers):
        calls.append(list(names))
        return {name: b"png " + name.encode() for name in names}

    monkeypatch.setattr(plots, "render_pngs", render)
    settings = pipeline.Settings(cache_dir=tmp_path, stats_cache=False, workers=2)
    got = pipeline.draw_figures(small_analysis, text, settings)
    assert calls == [list(pipeline.DRAW_ORDER)]
    assert sorted(pipeline.DRAW_ORDER) == sorted(pipeline.FIGURES)
    assert list(got) == list(pipeline.FIGURES)


def test_keys_cover_the_code_that_draws_and_nothing_else():
    sources = dict(pipeline.figure_sources())
    drawing = {"analysis.plots", "analysis.narrative.figures", "analysis.narrative.formatting"}
    assert drawing | {"analysis.languages", "analysis.stats.threshold"} <= set(sources)
    # ``from analysis.stats import lag_padded`` takes the whole stats package (any of its
    # modules may define the name); stages the figures never run are left out.
    assert not {"analysis.ingest", "analysis.report", "analysis.capacity"} & set(sources)
    plots_py = pipeline.Path(pipeline.__file__).with_name("plots.py").read_bytes()
    assert sources["analysis.plots"] == plots_py


def test_the_import_scan_finds_every_import_the_parser_finds():
    # The figures' keys read imports by a text scan (a parse of two dozen modules cost ~0.2
    # CPU s a report); on every module of the package it must find what the parser finds.
    import ast

    root = pipeline.Path(pipeline.__file__).parent
    for path in sorted(root.rglob("*.py")):
        code = path.read_bytes()
        parsed = set()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                parsed.add((None, tuple(a.name for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                parsed.add((base, tuple(a.name for a in node.names)))
        scanned = {(base, tuple(names)) for base, names in pipeline.import_statements(code)}
        assert parsed <= scanned, path.name


def test_the_import_scan_reads_continued_and_parenthesised_statements():
    code = (
        b"import analysis.plots as p, analysis.config\n"
        b"from . import (\n    a,  # first\n    b as c,\n)\n"
        b"    from ..stats import x, \\\n        y\n"
        b"text = 'imports are not statements'\n"
    )
    assert pipeline.import_statements(code) == [
        (None, ["analysis.plots", "analysis.config"]),
        (".", ["a", "b"]),
        ("..stats", ["x", "y"]),
    ]


def test_keys_follow_the_code_that_draws(small_analysis, text, monkeypatch):
    keys = pipeline.figure_keys(small_analysis, text)
    edited = [
        (m, code + b"\n# edited\n" if m == "analysis.plots" else code)
        for m, code in pipeline.figure_sources()
    ]
    monkeypatch.setattr(pipeline, "figure_sources", lambda: edited)
    assert set(pipeline.figure_keys(small_analysis, text).values()).isdisjoint(keys.values())


def _png(fig, pin: bool, monkeypatch) -> bytes:
    with monkeypatch.context() as m:
        if not pin:
            m.setattr(plots, "pin_titles", lambda fig: None)
        return plots.figure_png(fig)


@pytest.mark.parametrize("name", ["concurrency", "heatmap", "lag", "dose"])
def test_pinned_titles_are_where_matplotlib_places_them(small_analysis, text, name, monkeypatch):
    pinned = _png(narrative.build_figure(name, small_analysis, text), True, monkeypatch)
    placed = _png(narrative.build_figure(name, small_analysis, text), False, monkeypatch)
    assert pinned == placed


def _crowded(kind: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title as wide as the whole axes and wider than that " * 2, fontsize=8)
    if kind == "offset":  # y values whose axis shows an offset text ("1e-7") at its top
        ax.plot([0, 1, 2], [1e-7, 3e-7, 2e-7])
    else:  # x tick labels on top
        ax.plot([0, 1, 2], [0, 1, 2])
        ax.xaxis.set_tick_params(labeltop=True, labelbottom=False)
    fig.tight_layout()
    return fig


@pytest.mark.parametrize("kind", ["offset", "ticks on top"])
def test_titles_stay_placed_where_something_sits_on_top(kind, monkeypatch):
    text_on_top = _png(_crowded(kind), True, monkeypatch)
    assert text_on_top == _png(_crowded(kind), False, monkeypatch)
    # The case is one where pinning would move the title (onto what sits on top).
    forced = _crowded(kind)
    for ax in forced.axes:
        ax.set_title(ax.get_title(), fontsize=8, y=1.0)
    assert _png(forced, False, monkeypatch) != text_on_top


def test_time_labels_are_spaced_by_the_window_length():
    assert plots.tick_minutes(60) == 10  # an hour: every 10 minutes, as always
    assert plots.tick_minutes(120) == 10
    assert plots.tick_minutes(6 * 60) == 30
    assert plots.tick_minutes(24 * 60) == 120
    assert plots.tick_minutes(48 * 60) == 360
    assert plots.tick_minutes(40 * 24 * 60) == 1440  # beyond the table: a label a day


@pytest.mark.parametrize("hours", [1, 48])
def test_a_long_window_has_few_legible_time_labels(hours):
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    minutes = pd.date_range("2026-02-06T05:00Z", periods=60 * hours, freq="min")
    concurrency = pd.DataFrame({"ts": minutes, "viewers": np.arange(len(minutes)) % 300})
    errors = pd.DataFrame({"db:x": np.arange(len(minutes)) % 3}, index=minutes)
    labels = {"title": "t", "viewers": "v", "errors": "e", "burst": "b", "time": "time"}
    figs = [
        plots.plot_concurrency(concurrency, errors, {}, labels, "Asia/Seoul"),
        plots.plot_error_heatmap(errors, {**labels, "count": "n", "empty": "-"}, "Asia/Seoul"),
    ]
    try:
        for fig in figs:
            ax = fig.axes[0]
            fig.canvas.draw()
            shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
            assert 6 <= len(shown) <= plots.MAX_TIME_LABELS + 1
            if hours == 1:
                assert shown[:2] == ["14:00", "14:05" if fig is figs[1] else "14:10"]
            else:  # two days: the date goes with the clock
                assert all(label.startswith(("02-06 ", "02-07 ", "02-08 ")) for label in shown)
    finally:
        for fig in figs:
            plt.close(fig)


def test_the_heatmap_title_names_the_window_length(small_analysis):
    doc = small_analysis.findings
    for lang, hour, day, short in (
        ("en", "over the hour;", "over 24 hours;", "over 20 minutes;"),
        ("ko", "한 시간 동안", "24시간 동안", "20분 동안"),
    ):
        text = narrative.load_locale(lang)
        start = pd.Timestamp(doc["report"]["window"]["start"])
        for minutes, expected in ((60, hour), (24 * 60, day), (20, short)):
            window = {"start": str(start), "end": str(start + pd.Timedelta(minutes=minutes))}
            report = {**doc["report"], "window": window}
            title, _ = narrative.figures.figure_point("heatmap", {**doc, "report": report}, text)
            assert expected in title, (lang, minutes, title)


def test_title_times_carry_the_date_when_the_window_spans_two_local_days(small_analysis):
    doc = small_analysis.findings
    text = narrative.load_locale("en")
    tz = doc["report"]["display_tz"]
    start = pd.Timestamp(doc["report"]["window"]["start"])
    busiest = max(
        (c for c in doc["error_classes"] if c["count"]), key=lambda c: (c["peak_count"], c["count"])
    )
    at = pd.Timestamp(busiest["peak_minute"]).tz_convert(tz)
    for minutes, dated in ((60, False), (48 * 60, True)):
        window = {"start": str(start), "end": str(start + pd.Timedelta(minutes=minutes))}
        report = {**doc["report"], "window": window}
        title, _ = narrative.figures.figure_point("heatmap", {**doc, "report": report}, text)
        assert at.strftime("%H:%M") in title
        assert (at.strftime("%Y-%m-%d %H:%M") in title) is dated, (minutes, title)
    # a window ending at local midnight stays within its day: clock time only
    day = pd.Timestamp(start.tz_convert(tz).date(), tz=tz)
    one_day = {"start": day.isoformat(), "end": (day + pd.Timedelta(days=1)).isoformat()}
    assert narrative.figures.time_format(one_day, tz) == "%H:%M"


def test_figures_fold_the_classes_beyond_the_most_important(small_analysis, monkeypatch):
    # Fifty classes drew panels 8,500 pixels tall: beyond MAX_DRAWN_CLASSES the least
    # important classes are summed (concurrency) or left out (panels, heatmap rows), and the
    # caption says how many and how many errors.
    from analysis.narrative import figures as nf

    doc = small_analysis.findings
    keys = [c["key"] for c in doc["error_classes"]]
    assert len(keys) >= 3
    assert nf.drawn_classes(doc) == (keys, [])  # all fit: nothing folded, no note
    assert nf.folded_note("dose", doc, narrative.load_locale("en")) == ""
    monkeypatch.setattr(nf, "MAX_DRAWN_CLASSES", 2)
    shown, folded = nf.drawn_classes(doc)
    counts = {c["key"]: c["count"] for c in doc["error_classes"]}
    caps = [c["error_class"] for c in doc["capacity"] if c["verdict"] == "capacity"]
    ranked = sorted(keys, key=lambda k: (k not in caps, -counts[k]))
    assert set(shown) == set(ranked[:2]) and set(folded) == set(ranked[2:])
    assert shown + folded != [] and sorted(shown + folded) == sorted(keys)
    errors = sum(counts[k] for k in folded)
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)
        plots.configure_plots(lang)
        other = text["figure_folding"]["other"].format(n=len(folded))
        fig = nf.build_figure("concurrency", small_analysis, text)
        try:
            legend = [t.get_text() for t in fig.legends[0].get_texts()]
            assert legend[-1] == other and not set(folded) & set(legend), legend
        finally:
            plt.close(fig)
        for name in ("lag", "dose"):
            fig = nf.build_figure(name, small_analysis, text)
            try:
                titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
                assert titles and set(titles) <= set(shown), (name, titles)
            finally:
                plt.close(fig)
        fig = nf.build_figure("heatmap", small_analysis, text)
        try:
            rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
            assert rows == [k for k in shown if counts[k]], rows
        finally:
            plt.close(fig)
        note = nf.folded_note("concurrency", doc, text)
        assert f"{len(folded)}" in note and f"{errors:,}" in note
        assert text["figure_folding"]["summed"] in note
        assert text["figure_folding"]["omitted"] in nf.folded_note("dose", doc, text)


def test_the_concurrency_figure_draws_the_limits_reached_and_the_next_only():
    from analysis.narrative.figures import limits_to_draw

    plans = [("Pro plan (500)", 500.0), ("Free plan (200)", 200.0), ("Team (10,000)", 1e4)]
    # An audience of 82 under Free and Pro: only the next ceiling, Free, sets the axis.
    assert limits_to_draw(plans, 82.0) == [("Free plan (200)", 200.0)]
    # 311 crossed Free: Free is drawn, and Pro above it; Team is left out.
    assert limits_to_draw(plans, 311.0) == [("Free plan (200)", 200.0), ("Pro plan (500)", 500.0)]
    assert limits_to_draw(plans, 2e4) == sorted(plans, key=lambda p: p[1])
    assert limits_to_draw([], 10.0) == []
