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

# %% [markdown]
# # A new incident directory, stage by stage
#
# What to run first on your own export, before `make report`. Point `data_dir` at an incident
# directory (layout in `docs/contract.md` section 1; `make fetch` writes one) and run the cells
# top to bottom: each calls one stage of the `analysis` package and shows what it returns, so a
# surprise (rows rejected, a webinar without samples, an error class without a denominator) is
# seen where it starts. Nothing is written to disk except the caches under `data/interim/`.

# %% tags=["parameters"]
data_dir = ""  # your incident directory; empty: the shipped incident
webinar_id = ""  # empty: the webinar with the most concurrency samples in the window
display_tz = ""  # empty: the zone of incident.json
bucket = "5min"  # concurrency bucket size, whole minutes
seed = ""  # seed of every bootstrap and surrogate null; empty: the window's start day

# %%
from analysis import audit, concurrency, error_classes, matching, narrative, pipeline, stats
from analysis.params import build_params

# %% [markdown]
# ## 1. Ingest: every row used, or rejected with its reason
#
# One row per (file, kind): rows read, accepted and rejected, the reasons, and the export shape
# each file was recognised as. A file you expected but do not see was not found; a shape you
# did not expect means the file was read as something else.

# %%
incident = pipeline.load_directory(data_dir)
incident.accounting

# %% [markdown]
# The window and display zone come from `incident.json`; every table is UTC inside.

# %%
incident.window, incident.display_tz

# %% [markdown]
# ## 2. Webinars: which one to look at
#
# Concurrency, sessions and registrations are per webinar; logs are project-wide. The webinar
# with the most concurrency samples is the default choice below.

# %%
concurrency.tabulate_webinars(incident)

# %%
params = build_params(
    webinar_id or concurrency.busiest_webinar(incident),
    data_dir,
    display_tz=display_tz or incident.display_tz,
    bucket=bucket,
    seed=seed,
)
params.describe()

# %% [markdown]
# ## 3. What failed: database errors and Realtime events by kind
#
# SQLSTATE, constraint, column and relation of each database error with the HTTP status
# PostgREST answers for it; Realtime events by family (billing metrics are telemetry).

# %%
error_classes.tabulate_db_errors(incident.db_errors)

# %%
error_classes.tabulate_realtime(incident.realtime_events)

# %% [markdown]
# ## 4. The timeline of the webinar
#
# Buckets of concurrency (max, min, samples, time-weighted mean), the error classes with the
# endpoint whose requests are each one's denominator, and the key moments with their evidence.

# %%
timeline = pipeline.build_timeline(incident, params)
timeline.buckets

# %%
error_classes.tabulate_classes(timeline.classes)

# %%
timeline.moments

# %% [markdown]
# Database errors paired with their HTTP responses: unmatched rows on either side mean a
# missing log, a clock offset or a denominator on the wrong endpoint.

# %%
matching.summarize_matches(incident, timeline.classes, timeline.pairs)

# %% [markdown]
# Every HTTP status per endpoint, with the SQLSTATEs PostgREST answers it for and the database
# errors paired with it: a 4xx/5xx share no error class explains is worth a look.

# %%
matching.tabulate_http_status(incident.requests, timeline.pairs)

# %% [markdown]
# ## 5. What the data cannot support

# %%
audit.tabulate_issues(pipeline.run_audit(incident, timeline))

# %% [markdown]
# ## 6. Statistics: does load drive each class, and where does it break?
#
# The bootstraps take a while the first time; the result is cached by its inputs.

# %%
statistics = pipeline.run_statistics(timeline, params)
stats.tabulate_statistics(statistics)

# %% [markdown]
# ## 7. The findings document
#
# What the report renders, as a tree. When it looks right:
# `make report WEBINAR=<webinar_id> DATA=<data_dir>`.

# %%
quality = pipeline.run_audit(incident, timeline)
result = pipeline.compile_findings(incident, timeline, statistics, quality, params)
narrative.show_document(result.findings)
