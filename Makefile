# Supabase postmortem: `make help` lists every target.
override SHELL := /bin/bash
override .SHELLFLAGS := -c
.DEFAULT_GOAL := help

# No value typed on make's command line may reach a shell or make's own expansion.
# Internal names cannot be overridden from the command line; every user value is handed to
# the program as an environment variable holding its text unexpanded (`$(value X)`), read by
# the recipe as "$$PM_X" (a quoted shell expansion, never re-parsed). An empty value means
# "not given" to the program.
# Make would export a command-line variable to every recipe, expanding it (`$(shell ...)`
# included) on the way: nothing from the command line is exported except the PM_ variables.
unexport $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
override VENV := .venv
override BIN := $(VENV)/bin
override STAMP := $(VENV)/.setup-stamp
override KERNEL := supabase-postmortem
override KERNEL_SPEC := $(VENV)/share/jupyter/kernels/$(KERNEL)/kernel.json
override FONTS_STAMP := $(VENV)/.print-fonts-stamp

# Defaults of the user values (each checked by the package before anything runs).
PYTHON ?= python3
# Empty: the data's busiest webinar (most concurrency samples), named on stderr.
WEBINAR ?=
DATA ?= data/raw/2026-02-06-eventlive
FORMATS ?= html,pdf
# LANG is also the shell's locale variable: only a LANG given on make's command line counts.
override PM_LANG_VALUE = $(if $(filter command line,$(origin LANG)),$(value LANG),ko)

.PHONY: help setup report reports data check bench fetch test test-slow lint format lab clean

help: ## List the targets with a one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' Makefile
	@echo "  languages: $(basename $(notdir $(wildcard src/analysis/locales/*.json))) (one file each in src/analysis/locales/)"

setup: $(STAMP) $(KERNEL_SPEC) $(FONTS_STAMP) ## Create .venv, install the package with its dev extra, register the Jupyter kernel, convert the PDF fonts

$(STAMP): override export PM_PYTHON = $(value PYTHON)
$(STAMP): pyproject.toml
	bash scripts/install-system-deps.sh || true  # Chromium, Hangul font, pdftotext; one line if not root
	test -x $(BIN)/python || "$$PM_PYTHON" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The PDF printer's TrueType fonts (one line if none), in share/supabase-postmortem/. Its own
# rule: a venv set up when they lived in share/eventlive-postmortem/ gets them moved on its
# next make, without a reinstall or a conversion.
$(FONTS_STAMP): $(STAMP)
	$(BIN)/python -m analysis print-fonts || true
	touch $@

# The notebooks' Jupyter kernel, inside the venv. Its own rule: a venv set up before the kernel
# was renamed gets it on its next make without a reinstall, and loses the earlier name's.
$(KERNEL_SPEC): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Supabase postmortem (.venv)"
	rm -rf $(VENV)/share/jupyter/kernels/eventlive-postmortem

report reports: override export PM_WEBINAR = $(value WEBINAR)
report reports: override export PM_DATA = $(value DATA)
report reports: override export PM_LANG = $(PM_LANG_VALUE)
report reports: override export PM_FORMATS = $(value FORMATS)
report reports: override export PM_OUT = $(value OUT)
report reports: override export PM_REGISTRATIONS = $(value REGISTRATIONS)

report: setup ## Postmortem of one webinar: make report [WEBINAR=<id>, default the data's busiest] [DATA=dir] [LANG=<language>] [FORMATS=html,pdf] [OUT=dir] [REGISTRATIONS=n]
	$(BIN)/python -m analysis report "--webinar=$$PM_WEBINAR" "--data=$$PM_DATA" "--lang=$$PM_LANG" "--formats=$$PM_FORMATS" "--out=$$PM_OUT" "--registrations=$$PM_REGISTRATIONS"

reports: setup ## Postmortems of every webinar of an incident, and reports/index.html: make reports [DATA=dir] [LANG=<language>] [OUT=dir] [REGISTRATIONS=n]
	$(BIN)/python -m analysis reports "--data=$$PM_DATA" "--lang=$$PM_LANG" "--formats=$$PM_FORMATS" "--out=$$PM_OUT" "--registrations=$$PM_REGISTRATIONS"

data: setup ## Regenerate the shipped incident's raw data and verify it against its checksum manifest
	$(BIN)/python -m analysis data

check: override export PM_DATA = $(value DATA)
check: setup ## Ingest and validate an incident directory: make check DATA=<dir>
	@$(BIN)/python -m analysis check "--data=$$PM_DATA"

# Every benchmark runs even when one misses its target; the misses are listed at the end.
bench: setup ## Benchmarks and full-count simulations, printed as ratios against in-run baselines
	@ls benchmarks/bench_*.py >/dev/null 2>&1 || { echo "make bench: no benchmark built yet; nothing was run." >&2; exit 2; }
	@failed=""; for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "make bench: missed or failed:$$failed" >&2; exit 1; fi

fetch: override export PM_PROJECT_REF = $(value PROJECT_REF)
fetch: override export PM_START = $(value START)
fetch: override export PM_END = $(value END)
fetch: override export PM_OUT = $(value OUT)
fetch: override export PM_FLAVOUR = $(value FLAVOUR)
fetch: override export PM_DISPLAY_TZ = $(value DISPLAY_TZ)
fetch: override export PM_MODE = $(value MODE)
fetch: setup ## Download logs through the Management API: make fetch PROJECT_REF=.. START=.. END=.. [OUT=..] [FLAVOUR=clickhouse] [MODE=hybrid]
	@$(BIN)/python -m analysis fetch "--project-ref=$$PM_PROJECT_REF" "--start=$$PM_START" "--end=$$PM_END" "--out=$$PM_OUT" "--flavour=$$PM_FLAVOUR" "--display-tz=$$PM_DISPLAY_TZ" "--mode=$$PM_MODE"

test: setup ## Run the test suite (unit, pipeline and notebook layers; tests marked slow excluded)
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile --no-loadscope-reorder

test-slow: setup ## Run only the tests marked slow (reduced-count simulations, data regeneration)
	$(BIN)/python -m pytest -m slow

lint: setup ## ruff on the package, the tests, the benchmarks and the notebooks
	$(BIN)/ruff check src tests notebooks benchmarks
	$(BIN)/ruff format --check src tests notebooks benchmarks

format: setup ## Format and auto-fix with ruff, and sync notebooks with their py:percent twins
	$(BIN)/ruff check --fix src tests notebooks benchmarks
	$(BIN)/ruff format src tests notebooks benchmarks
	$(BIN)/jupytext --sync notebooks/*.py

lab: setup ## Open JupyterLab on notebooks/ with the project's kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks --MappingKernelManager.default_kernel_name=$(KERNEL)

clean: ## Remove generated reports, interim/processed data and caches (keeps .venv and raw data)
	rm -rf reports data/interim data/processed .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
