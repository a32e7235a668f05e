# EventLive postmortem: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
KERNEL := eventlive-postmortem

# Report parameters (validated by the package before anything runs).
WEBINAR ?= f257ce42-723a-4fad-a9a5-1bd8c154d7ce
DATA ?= data/raw/2026-02-06-eventlive
LANG ?= ko
FORMATS ?= html,pdf

.PHONY: help setup report reports data check bench fetch test lint format lab clean

help: ## List the targets with a one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-9s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Create .venv, install the package with its dev extra, register the Jupyter kernel

$(STAMP): pyproject.toml
	bash scripts/install-system-deps.sh || true  # Chromium, Hangul font, pdftotext; one line if not root
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "EventLive postmortem (.venv)"
	touch $@

# Report parameters reach the program as environment variables set by make itself, so no value
# typed on the command line is ever parsed by the shell; the package validates each one.
# LANG is also the shell's locale variable: only a LANG given on make's command line counts.
report reports: export PM_WEBINAR = $(WEBINAR)
report reports: export PM_DATA = $(DATA)
report reports: export PM_LANG = $(if $(filter command line,$(origin LANG)),$(LANG),ko)
report reports: export PM_FORMATS = $(FORMATS)

report: setup ## Postmortem of one webinar: make report WEBINAR=<id> [DATA=dir] [LANG=ko|en] [FORMATS=html,pdf]
	$(BIN)/python -m analysis report "--webinar=$$PM_WEBINAR" "--data=$$PM_DATA" "--lang=$$PM_LANG" "--formats=$$PM_FORMATS"

reports: setup ## Postmortems of every webinar of an incident: make reports [DATA=dir] [LANG=ko|en]
	$(BIN)/python -m analysis reports "--data=$$PM_DATA" "--lang=$$PM_LANG" "--formats=$$PM_FORMATS"

data: setup ## Regenerate the shipped incident's raw data and verify it against its checksum manifest
	$(BIN)/python -m analysis data

check: setup ## Ingest and validate an incident directory: make check DATA=<dir>
	@$(BIN)/python -m analysis check --data $(DATA)

bench: setup ## Benchmarks and full-count simulations, printed as ratios against in-run baselines
	@ls benchmarks/bench_*.py >/dev/null 2>&1 || { echo "make bench: no benchmark built yet; nothing was run." >&2; exit 2; }
	@set -e; for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

fetch: setup ## Download logs through the Management API: make fetch PROJECT_REF=.. START=.. END=.. [OUT=..] [FLAVOUR=clickhouse]
	@test -n "$(PROJECT_REF)" -a -n "$(START)" -a -n "$(END)" || { echo "make fetch: PROJECT_REF, START and END are required, e.g. make fetch PROJECT_REF=<ref> START=2026-02-06T05:00Z END=2026-02-06T06:00Z (token in SUPABASE_ACCESS_TOKEN)" >&2; exit 2; }
	$(BIN)/python -m analysis fetch --project-ref '$(PROJECT_REF)' --start '$(START)' --end '$(END)' $(if $(OUT),--out '$(OUT)') $(if $(FLAVOUR),--flavour '$(FLAVOUR)') $(if $(DISPLAY_TZ),--display-tz '$(DISPLAY_TZ)')

test: setup ## Run the test suite (unit, pipeline and notebook layers; slow simulations excluded)
	$(BIN)/python -m pytest -m "not slow"

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
