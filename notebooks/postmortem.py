# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Supabase postmortem (.venv)
#     language: python
#     name: supabase-postmortem
# ---

# %% [markdown] tags=["remove-cell"]
# # Postmortem of one webinar (analyst notes; not part of the exported report)
#
# Run every cell top to bottom (Run ▸ Run All Cells). The next cell holds the parameters;
# `make report WEBINAR=<id> [DATA=..] [LANG=ko|en|...]` executes this notebook with papermill and
# overrides them. Every computation lives in the `analysis` package: cells only call it.
# Outputs (findings.json, figures/) go to `output_dir` (default `reports/<webinar_id>/`).

# %% tags=["parameters"]
webinar_id = ""  # UUID or integer id; empty: the webinar most sampled in the window
data_dir = ""  # incident directory; empty: the shipped incident
display_tz = ""  # display zone (IANA); empty: the zone of incident.json. Inside, all is UTC
window_start = ""  # ISO time with offset; empty: the window of the incident manifest
window_end = ""  # ISO time with offset; empty: the window of the incident manifest
bucket = "5min"  # concurrency bucket size, whole minutes
lang = "ko"  # report language: a locale file in src/analysis/locales/ ("ko", "en")
seed = ""  # seed of every bootstrap and surrogate null; empty: the window's start day
output_dir = ""  # for findings.json and figures; empty: reports/<webinar_id>
plan_registrations = 0  # next event's registrations for the capacity plan; 0: this webinar's

# %% tags=["remove-cell"]
from analysis import audit, concurrency, narrative, pipeline, plots, stats
from analysis.error_classes import tabulate_classes
from analysis.findings import write_findings
from analysis.params import build_params

settings = pipeline.read_settings()
pipeline.freeze_imports()  # the modules above are never garbage

# %% [markdown] tags=["remove-cell"]
# ## The stages, one cell each (hidden from the exported report)
#
# Each cell runs one stage on the previous stage's result and shows what it returns. To try a
# value, change it in the parameters cell and rerun from the timeline cell (Run ▸ Run Selected
# Cell and All Below): that cell checks every parameter, so the bucket, window, zone, seed and
# language all take effect from there; only a new `data_dir` needs the ingest cell. Ingest and
# the timeline, statistics and findings are cached on disk by their inputs.

# %% tags=["remove-cell", "stage"]
incident = pipeline.load_directory(data_dir, settings)
pipeline.tabulate_accounting(incident)

# %% tags=["remove-cell", "stage"]
params = build_params(
    webinar_id or concurrency.busiest_webinar(incident),
    data_dir,
    display_tz=display_tz or incident.display_tz,
    window_start=window_start,
    window_end=window_end,
    bucket=bucket,
    lang=lang,
    seed=seed,
    output_dir=output_dir,
    reports_dir=settings.reports_dir,
    plan_registrations=plan_registrations,
)
timeline = pipeline.build_timeline(incident, params, settings)
timeline.buckets

# %% tags=["remove-cell", "stage"]
tabulate_classes(timeline.classes)

# %% tags=["remove-cell", "stage"]
timeline.moments

# %% tags=["remove-cell", "stage"]
statistics = pipeline.run_statistics(timeline, params, settings)
stats.tabulate_statistics(statistics)

# %% tags=["remove-cell", "stage"]
quality = pipeline.run_audit(incident, timeline, settings)
audit.tabulate_issues(quality)

# %% tags=["remove-cell", "stage"]
result = pipeline.compile_findings(incident, timeline, statistics, quality, params, settings)
write_findings(result.findings, params.output_dir / "findings.json")
narrative.show_document(result.findings)

# %% tags=["remove-cell"]
text = narrative.load_locale(params.lang)
plots.configure_plots(params.lang)
figures = pipeline.draw_figures(result, text, settings)  # all four at once, cached by inputs

# %%
narrative.show("title", result.findings, text)

# %%
narrative.show("summary", result.findings, text)

# %%
narrative.show("claims", result.findings, text)

# %%
narrative.show("impact", result.findings, text)

# %%
narrative.show("buckets", result.findings, text)

# %%
narrative.show("timeline", result.findings, text)

# %%
narrative.show_heading("figures", text)
narrative.show_figure("concurrency", result, text, params, figures["concurrency"])

# %%
narrative.show_figure("heatmap", result, text, params, figures["heatmap"])

# %%
narrative.show_figure("lag", result, text, params, figures["lag"])

# %%
narrative.show_figure("dose", result, text, params, figures["dose"])

# %%
narrative.show("causes", result.findings, text)

# %%
narrative.show("audit", result.findings, text)

# %%
narrative.show("detection", result.findings, text)

# %%
narrative.show("capacity_plan", result.findings, text)

# %%
narrative.show("actions", result.findings, text)

# %%
narrative.show("appendix", result.findings, text)
