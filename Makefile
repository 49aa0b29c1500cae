# vapor.ops — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
SYSPY ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
COMPAT := .venv-compat
NEWEST := .venv-newest
# The controller Python of .venv-newest: the newest ansible-core needs >= 3.12 (requirements-newest.txt); pyenv's
# 3.13 or 3.12, else a python3.13 / python3.12 on PATH. `make test NEWEST_PY=/path/to/python3.12` picks another.
PYENV_ROOT ?= $(HOME)/.pyenv
NEWEST_PY ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3.13 $(PYENV_ROOT)/versions/3.12.*/bin/python3.12) \
	$(shell command -v python3.13 python3.12 2>/dev/null))
# The ansible-core release line a controller venv tests (its requirements file, read by scripts/matrix.py).
expect = $(or $(shell $(SYSPY) scripts/matrix.py expect $(1)),$(error scripts/matrix.py found no ansible-core release line for $(1)))
COLL := collections/ansible_collections/vapor/ops
# The integration tests run in this many pytest-xdist workers (each starts its own servers on free ports); CI has 2
# cores, and most of a test's time is ansible-playbook waiting on its module processes. `make test XDIST=0` runs them
# in one process.
XDIST ?= 2
PYTEST_INTEGRATION := -n $(XDIST) --dist worksteal
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help deps venv compat-venv newest-venv demo test unit sanity lint integration compat newest build bench clean

help:
	@echo "make demo   set up and run the main job on the embedded demo inventory"
	@echo "make test   set up and run every test (unit, ansible-test sanity with compile/import on every target"
	@echo "            Python, integration; then the compat-marked integration tests again with the oldest"
	@echo "            supported and with the newest ansible-core)"
	@echo "make bench  run the benchmarks and print the figures (see benchmarks/RESULTS.md)"

deps:
	@scripts/ensure-debian-packages.sh

# The venv is made from Debian's Python with the system site packages, so that the
# distribution's gfal2 and XRootD bindings are importable next to the pip packages.
$(VENV)/.installed: requirements.txt requirements-test.txt requirements-lint.txt
	@[ -x $(PY) ] || $(SYSPY) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=23'
	$(PY) -m pip install -q -r requirements-test.txt -r requirements-lint.txt
	@touch $@

venv: deps $(VENV)/.installed

# The oldest supported ansible-core, for the controller side of the tests marked `compat`
# (modules still run with the project's venv Python, as targets do).
$(COMPAT)/.installed: requirements-compat.txt
	@[ -x $(COMPAT)/bin/python ] || $(SYSPY) -m venv --system-site-packages $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q --upgrade 'pip>=23'
	$(COMPAT)/bin/python -m pip install -q -r requirements-compat.txt
	@touch $@

compat-venv: venv $(COMPAT)/.installed

# The newest ansible-core release, for the controller side of the tests marked `compat`, on a Python >= 3.12
# (pyenv's, without the system site packages: the controller needs only ansible-core).
$(NEWEST)/.installed: requirements-newest.txt
	@[ -n "$(NEWEST_PY)" ] || { echo "No Python 3.13 or 3.12 for $(NEWEST) (the newest ansible-core needs one):" \
		"install one with pyenv, or give NEWEST_PY=/path/to/python3.12" >&2; exit 2; }
	@[ -x $(NEWEST)/bin/python ] || $(NEWEST_PY) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install -q --upgrade 'pip>=23'
	$(NEWEST)/bin/python -m pip install -q -r requirements-newest.txt
	@touch $@

newest-venv: venv $(NEWEST)/.installed

demo: venv
	$(PY) scripts/demo.py

unit: venv
	$(PY) -m pytest -q $(COLL)/tests/unit

sanity: venv
	scripts/run-sanity.sh

lint: venv
	scripts/run-lint.sh

integration: venv
	VAPOR_ANSIBLE_EXPECT=$(call expect,$(VENV)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) tests

compat: compat-venv
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(COMPAT)/bin VAPOR_ANSIBLE_EXPECT=$(call expect,$(COMPAT)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) -m compat tests

newest: newest-venv
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(NEWEST)/bin VAPOR_ANSIBLE_EXPECT=$(call expect,$(NEWEST)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) -m compat tests

# The release matrix (scripts/matrix.py; tests/test_matrix.py checks the docs state it): sanity on the controller
# Python plus compile/import on every target Python; the integration tests with the project's ansible-core; the
# compat-marked ones again with the oldest and with the newest supported ansible-core.
test: compat-venv newest-venv
	$(PY) -m pytest -q $(COLL)/tests/unit
	scripts/run-lint.sh
	scripts/run-sanity.sh
	$(MAKE) --no-print-directory ee
	VAPOR_ANSIBLE_EXPECT=$(call expect,$(VENV)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) tests
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(COMPAT)/bin VAPOR_ANSIBLE_EXPECT=$(call expect,$(COMPAT)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) -m compat tests
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(NEWEST)/bin VAPOR_ANSIBLE_EXPECT=$(call expect,$(NEWEST)) $(PY) -m pytest -q $(PYTEST_INTEGRATION) -m compat tests

build: venv
	mkdir -p dist && cd $(COLL) && ansible-galaxy collection build --force --output-path $(CURDIR)/dist

# The sample execution environment's build context (ansible-builder create) in dist/ee/context: no image is built,
# this machine has no container engine and cannot reach a registry. tests/test_execution_environment.py checks it.
$(VENV)/.ee-installed: requirements-ee.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-ee.txt
	@touch $@

.PHONY: ee
ee: build $(VENV)/.ee-installed
	$(PY) scripts/ee-context.py --output dist/ee

bench: venv
	$(PY) benchmarks/run.py

clean:
	rm -rf dist demo-output benchmarks/work $(COLL)/tests/output $(COMPAT) $(NEWEST)
