# vapor.ops — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
SYSPY ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
COMPAT := .venv-compat
COLL := collections/ansible_collections/vapor/ops
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help deps venv compat-venv demo test unit sanity lint integration compat build bench clean

help:
	@echo "make demo   set up and run the main job on the embedded demo inventory"
	@echo "make test   set up and run every test (unit, ansible-test sanity, integration; then the"
	@echo "            compat-marked integration tests again with the oldest supported ansible-core)"
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

demo: venv
	$(PY) scripts/demo.py

unit: venv
	$(PY) -m pytest -q $(COLL)/tests/unit

sanity: venv
	scripts/run-sanity.sh

lint: venv
	scripts/run-lint.sh

integration: venv
	VAPOR_ANSIBLE_EXPECT=2.19 $(PY) -m pytest -q tests

compat: compat-venv
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(COMPAT)/bin VAPOR_ANSIBLE_EXPECT=2.18 $(PY) -m pytest -q -m compat tests

test: compat-venv
	$(PY) -m pytest -q $(COLL)/tests/unit
	scripts/run-lint.sh
	scripts/run-sanity.sh
	$(MAKE) --no-print-directory ee
	VAPOR_ANSIBLE_EXPECT=2.19 $(PY) -m pytest -q tests
	VAPOR_ANSIBLE_BIN=$(CURDIR)/$(COMPAT)/bin VAPOR_ANSIBLE_EXPECT=2.18 $(PY) -m pytest -q -m compat tests

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
	rm -rf dist demo-output benchmarks/work $(COLL)/tests/output $(COMPAT)
