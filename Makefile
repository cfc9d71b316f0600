# tfladder task runner. `make test` is what CI runs (.ci/run); `make check` is the fast subset.
# Every target sets up .venv first if it is missing or out of date, and puts .venv/bin on PATH
# for everything it runs (nbgrader shells out to `alembic`).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.installed
export PATH := $(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help setup check test demo release explorations lab hub lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# System packages: installed with apt-get when missing and run as root; otherwise make stops and
# says what to install. $(call apt-install,PACKAGES,WHAT NEEDS THEM)
define apt-install
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(1) for $(2)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	else \
	  echo "error: $(1) is needed for $(2): run 'sudo apt-get install $(1)' (or your system's equivalent)"; exit 1; \
	fi
endef

# The grading sandbox (`tfladder grade`) needs bubblewrap; prlimit and setpriv come with util-linux.
SANDBOX_TOOLS := /usr/bin/bwrap
$(SANDBOX_TOOLS):
	$(call apt-install,bubblewrap util-linux,the grading sandbox)

# The browser tests (tests/cli/test_browser.py) drive Debian's Chromium with Playwright's Python client
# (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(call apt-install,chromium,the browser tests)

# The tests grade one batch into a gradebook on PostgreSQL, on a server of their own in a temporary
# folder (tests/postgres_server.py): Debian's postgresql, run as its `postgres` user.
POSTGRES := /usr/bin/pg_ctlcluster
$(POSTGRES):
	$(call apt-install,postgresql,the tests' PostgreSQL gradebook)

# A class on this machine (`make hub`; tests/hub/test_hub.py): JupyterHub's proxy from the npm
# registry, pinned by hub-proxy/package-lock.json, run with the machine's Node.js (20 or newer).
NPM := /usr/bin/npm
$(NPM):
	$(call apt-install,nodejs npm,JupyterHub's proxy)
HUB_PROXY := hub-proxy/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY): hub-proxy/package-lock.json | $(NPM)
	cd hub-proxy && npm ci --no-audit --no-fund --silent
	@touch $@

$(STAMP): requirements.lock pyproject.toml | $(SANDBOX_TOOLS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	@# jsonschema (under nbformat, so under every nbgrader and tfladder command and every grading
	@# worker) imports rfc3987-syntax when it is there, which builds ~35 Lark parsers: 1.1 s of CPU
	@# per process, for IRI formats no Jupyter schema uses. Without it jsonschema skips that check.
	$(VENV)/bin/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# The notebook library apart (what a graded kernel and a student get): .venv/tfladder-notebook.
	@# Grading rebuilds it whenever one of its modules changed.
	$(VENV)/bin/python -m tfladder.course.notebook_lib >/dev/null
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned environment
	@echo "environment ready: $(VENV)"

# pytest's temporary folders: /tmp/tfladder-pytest/<checkout>/<target>, made afresh by each run,
# not /tmp/pytest-of-<user>: pytest refuses a /tmp/pytest-of-root that another uid created (a
# sandbox test, a command run as another user), and then every test that grades a notebook fails.
# Outside the checkout, so that "not inside a course" stays true; one per target, so that check and
# test can run at once.
PYTEST_TMP := /tmp/tfladder-pytest/$(shell echo '$(CURDIR)' | md5sum | cut -c1-12)
PYTEST = mkdir -p $(PYTEST_TMP) && python -m pytest --basetemp=$(PYTEST_TMP)/$@

check: $(STAMP) ## fast checks: lint, format, types, the tests that execute no notebook (under 45 s)
	ruff check .
	ruff format --check .
	@# mypy (about 11 s without its cache) runs beside the fast tests; either failing fails the target
	mypy & types=$$!; $(PYTEST) -m "not slow" -q; tests=$$?; wait $$types && exit $$tests

test: $(STAMP) | $(CHROMIUM) $(POSTGRES) $(HUB_PROXY) ## everything CI runs: lint, format, types, every test (every fixture graded, the sandbox, the browser, PostgreSQL, the hub)
	ruff check .
	ruff format --check .
	mypy
	$(PYTEST) -q

demo: $(STAMP) ## regenerate the release, grade a small demo class, print the score table
	tfladder demo

release: $(STAMP) ## regenerate release/ from source/ with nbgrader
	tfladder release

explorations: $(STAMP) ## recompute the explorations' reference runs (source/<assignment>/exploration.json)
	python -m tfladder.course.exploration_data
	make release

lab: $(STAMP) ## JupyterLab + nbgrader on the course: students in release/, formgrader (loopback, token)
	tfladder lab

hub: $(STAMP) | $(HUB_PROXY) ## a class on this machine: JupyterHub on 127.0.0.1:8000, system accounts (as root; docs/hub.md)
	tfladder hub

lock: $(STAMP) ## re-pin requirements.lock from what .venv holds
	{ echo "# Every package of the grading environment, pinned (Python 3.11). Regenerate with \`make lock\`."; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^tfladder'; \
	  { grep '^rfc3987-syntax==' requirements.lock || true; }; } > requirements.lock.new   # kept: setup uninstalls it
	mv requirements.lock.new requirements.lock
