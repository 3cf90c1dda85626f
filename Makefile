# `make demo` and `make test` do all the set-up they need on a fresh clone.
SHELL := bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test lint actionlint typecheck pytest pulumi pulumi-cli pulumi-yaml typescript pulumi-go sdk install clean chaos dist chromium dashboard-screenshot bench bench-quick bench-render

# The virtualenv with the package (editable) and its test tools, at the exact versions of
# constraints.txt (pyproject.toml holds the ranges users get).
$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "==> creating $(VENV) and installing pcc-provider with its test tools"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# The Pulumi CLI, our Python language host and the dynamic-provider plugin, into .venv/bin.
pulumi-cli: install
	@echo "==> Pulumi CLI (built from Go modules once, then cached)"
	@scripts/install-pulumi

# The YAML language host (YAML programs over the native provider); only the tests need it.
pulumi-yaml: install
	@echo "==> Pulumi YAML language host (built from Go modules once, then cached)"
	@scripts/install-pulumi-yaml

# TypeScript programs (the generated SDK's tests): our Node language host, sdk/nodejs built,
# tests/typescript/node_modules installed from its lock; only the tests need them.
typescript: install
	@echo "==> Node language host and the TypeScript SDK"
	@scripts/install-pulumi-nodejs

# Go programs (the generated Go SDK's tests): our Go language host; only the tests need it.
pulumi-go: install
	@echo "==> Go language host"
	@scripts/install-pulumi-go

# A headless Chromium for the emulator dashboard's browser tests and its screenshot: quiet when
# one is on PATH, else Debian's chromium package (apt-get, as root or through sudo).
chromium:
	@scripts/install-chromium

# docs/dashboard.png, the emulator's dashboard as docs/emulator.md shows it, made again.
dashboard-screenshot: install chromium
	$(PY) scripts/dashboard-screenshot

# Regenerate the SDKs (sdk/) and the reference pages (docs/reference/) from the schema.
sdk: install
	@scripts/generate-sdks

pulumi: pulumi-cli pulumi-yaml typescript pulumi-go

# The release into dist/ (scripts/dist.py): wheel and sdist, the frozen plugin archive for
# this machine, the npm tarball, the Go SDK as a module proxy serves it, SHA256SUMS. The
# release workflow runs the same recipe on each platform.
# Made again only when what it is made of changed (tracked files; README is the wheel's).
RELEASE_SOURCES := $(shell git ls-files pcc_provider sdk scripts/dist.py pyproject.toml README.md CHANGELOG.md 2>/dev/null)
dist: dist/SHA256SUMS
dist/SHA256SUMS: $(VENV)/.installed $(RELEASE_SOURCES)
	@echo "==> dist/: the release of pcc-provider $$($(PY) scripts/dist.py version)"
	rm -rf dist
	$(PY) scripts/dist.py all --out dist

lint: install actionlint
	@echo "==> ruff"
	ruff check .
	ruff format --check .

# The GitHub Actions workflows (CI and the release), with shellcheck on their `run:` blocks:
# the pinned one scripts/install-actionlint puts beside actionlint, whatever else is on PATH.
actionlint: install
	@scripts/install-actionlint
	@echo "==> actionlint"
	actionlint -shellcheck=$(VENV)/bin/shellcheck .github/workflows/*.yml

typecheck: install
	@echo "==> mypy"
	mypy

pytest: pulumi dist chromium
	@echo "==> pytest (unit, emulator and end-to-end tests under the real Pulumi engine)"
	@# Four workers on two cores: the engine tests mostly wait on pulumi and emulated builds.
	pytest -q -n 4

test: lint typecheck pytest

# The demo is a Python program: it does not wait for the YAML host.
demo: pulumi-cli
	@scripts/demo

clean:
	rm -rf $(VENV) .venv-floor .venv-newest .demo .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info .bench-data

# The benchmarks (benchmarks/bench.py), one at a time, into benchmarks/results.json; then the
# performance tables of the Markdown files (between <!-- bench:NAME --> markers) and the plots
# docs/bench-*.svg are written again from it. `make bench` is the full run the README quotes
# (about 25 minutes on two cores); `make bench QUICK=1` (or `make bench-quick`) measures smaller
# sizes with fewer rounds in under five minutes. ONLY="waiting upload" runs those alone: the
# others' figures are kept. `make bench-render` writes the tables and plots, measuring nothing.
bench: pulumi-cli pulumi-yaml typescript .bench-data/dist/.made
	$(PY) benchmarks/bench.py $(if $(QUICK),--quick,--full) $(if $(ONLY),--only $(ONLY))

# The release's plugin for benchmarks/plugin_start.py (scripts/dist.py plugin), in a folder of
# its own: made again when the code it freezes changed, not each time `make bench` rewrites the
# README (which `make dist` would take for a change of the wheel, and build just before the
# measures, loading the machine).
BENCH_PLUGIN_SOURCES := $(shell git ls-files pcc_provider scripts/dist.py 2>/dev/null)
.bench-data/dist/.made: $(VENV)/.installed $(BENCH_PLUGIN_SOURCES)
	@echo "==> the release's plugin, into .bench-data/dist/ for benchmarks/plugin_start.py"
	rm -rf .bench-data/dist
	$(PY) scripts/dist.py plugin --out .bench-data/dist
	@touch $@

bench-quick:
	$(MAKE) bench QUICK=1

bench-render: install
	$(PY) benchmarks/bench.py --tables-only --plots-only

# A seeded chaos run (tests/chaos/runner.py): random edits and faults against the emulator and
# the real engine, invariants checked after each step. Replays a failing seed to its step.
SEED ?= 1
STEPS ?= 50
STACKS ?= 3
chaos: pulumi
	cd tests && ../$(PY) -m chaos --seed $(SEED) --steps $(STEPS) --stacks $(STACKS) $(CHAOS_ARGS)
