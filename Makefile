# Two commands work on a fresh machine: `make demo` and `make test`.
# torch is pinned and installed first: a bare `torch` requirement would pull a multi-GB CUDA build,
# while torch==2.13.0 resolves to the CPU wheel that lies on this machine's disk.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean system-deps

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mtlgroup demo

# The tests also need two Debian packages: dataset-fashion-mnist (the images of the `fashion`
# dataset) and chromium (the report's rendering test). `system-deps` installs whichever is missing
# when apt-get is there (as root, or through passwordless sudo); when it cannot, it prints a note
# and goes on: the tests that need a package then skip. Only `test` depends on it, so `make demo`
# never needs root. Installed packages are detected, so running it again does nothing.
system-deps:
	@missing=""; \
	test -d /usr/share/datasets/fashion-mnist || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: no apt-get to install$$missing; the tests that need them will skip"; exit 0; \
	fi; \
	sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo -n"; \
	echo "installing$$missing with apt-get"; \
	if ! { $$sudo apt-get update -qq && \
	       $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }; then \
		echo "note: could not install$$missing; the tests that need them will skip"; \
	fi

test: system-deps $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
