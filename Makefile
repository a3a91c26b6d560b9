# sciops.datasync: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON313 ?= $(lastword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3) $(shell PYENV_VERSION=3.13 command -v python3.13 2>/dev/null | grep -v shims))
VENV := $(CURDIR)/.venv
VPY := $(VENV)/bin/python
COLLECTIONS := $(CURDIR)/.collections
LAB := $(VPY) -m tests.lab.supervisor
APT_PACKAGES := rsync openssh-server openssh-client cron prometheus prometheus-node-exporter slapd gosa-schema
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help demo test bench lab-up lab-services-up lab-down lab-status system-deps venv build lock clean

help:
	@echo "make demo    run every job on the lab (installs what is missing)"
	@echo "make test    lint, sanity, unit, integration, molecule; ends 'N passed, N failed'"
	@echo "make bench   benchmarks, printed as ratios against baselines"
	@echo "make lab-up | lab-down | lab-status   the whole lab: CA, bridge, booted hosts, services"
	@echo "make lab-services-up                   the services alone, on 127.0.0.1 (no hosts)"

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Missing system packages:$$missing. As root run:"; \
	    echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VPY):
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "CPython 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; fi
	$(PYTHON313) -m venv $(VENV)

$(VENV)/.installed: requirements-dev.txt requirements.txt | $(VPY)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(COLLECTIONS)/ansible_collections/sciops/datasync:
	mkdir -p $(COLLECTIONS)/ansible_collections/sciops
	ln -sfn $(CURDIR) $@

venv: system-deps $(VENV)/.installed $(COLLECTIONS)/ansible_collections/sciops/datasync

lock: | $(VPY)
	$(VPY) -m pip install -q -r requirements-dev.in
	{ echo '# Pinned from requirements-dev.in by `make lock`; CPython 3.13.'; $(VPY) -m pip freeze; } > requirements-dev.txt

# lab-up: the lab CA, then the bridge and the booted hosts, then every service (on 127.0.0.1 and the
# bridge address); lab-down removes services, hosts, mounts and bridge. DATASYNC_LAB_HOSTS=0 skips the hosts.
lab-up: venv
	$(LAB) up
lab-services-up: venv
	$(LAB) up --no-hosts
lab-down: | $(VPY)
	$(LAB) down
lab-status: | $(VPY)
	$(LAB) status

demo: venv
	$(VPY) -m tests.demo

test: venv
	$(VPY) -m tests.checks

bench: venv
	$(VPY) -m tests.perf

build: venv
	ansible-galaxy collection build --force --output-path $(CURDIR)/.cache/dist .

clean: lab-down
	rm -rf .lab .cache .collections .ansible tests/output

# Lab hosts: the inventory's hosts booted as systemd-nspawn containers (tests/lab/hosts/; needs root).
LAB_HOSTS := $(VPY) -m tests.lab.hosts
.PHONY: lab-hosts-deps lab-hosts-up lab-hosts-down lab-hosts-status
lab-hosts-deps: | $(VPY)
	$(LAB_HOSTS) deps
lab-hosts-up: | $(VPY)
	$(LAB_HOSTS) up
lab-hosts-down: | $(VPY)
	$(LAB_HOSTS) down
lab-hosts-status: | $(VPY)
	$(LAB_HOSTS) status
