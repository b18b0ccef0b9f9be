# toylab — every target installs what it needs into .venv by itself.
#
# TORCH picks the torch wheel. On a machine without an NVIDIA driver the default pins the
# CPU build this project is tested with; with a driver it is plain `torch` (pip's CUDA build).
# Override either way: `make test TORCH='torch==2.14.1'`.
PYTHON ?= python3
VENV   ?= .venv
ifeq ($(shell command -v nvidia-smi 2>/dev/null),)
TORCH  ?= torch==2.13.0
else
TORCH  ?= torch
endif
# One torch thread: on this 2-core shared machine a second thread gains 1.2–2.3× on the
# K = 256 sweeps when the machine is idle, and loses 3–10× when another process holds
# a core (README, Performance). Override with `make bench TOYLAB_THREADS=2`.
export TOYLAB_THREADS ?= 1

BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# every report: the claim files of claims/ by name, and the spec files under reports/
REPORTS := $(filter-out _%,$(notdir $(basename $(wildcard claims/*.py)))) $(wildcard reports/*/spec.toml)

.PHONY: install test reports reports-quick bench clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test,bench]"
	# toylab's bytecode, compiled once: where PYTHONDONTWRITEBYTECODE is set Python would compile
	# its modules on every command (≈ 0.1 CPU s); a pyc older than its source is recompiled as usual
	$(BIN)/python -m compileall -q toylab
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

reports: $(STAMP)
	$(BIN)/toylab report --jobs 2 $(REPORTS)

reports-quick: $(STAMP)
	$(BIN)/toylab report --quick --out /tmp/toylab-quick $(REPORTS)

bench: $(STAMP)
	$(BIN)/python -m toylab.bench

clean:
	rm -rf $(VENV) runs *.egg-info
