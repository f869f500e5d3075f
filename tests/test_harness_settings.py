"""The harness's run-time settings: which simulator, how much traffic, wrong values refused."""

import pytest
from harness import (
    DEFAULT_SIMULATOR,
    SIM_ENV,
    VOLUME_ENV,
    bench_volume,
    choose_simulator,
    shards,
)


def test_simulator_defaults_to_verilator_and_follows_sim(monkeypatch):
    monkeypatch.delenv(SIM_ENV, raising=False)
    assert DEFAULT_SIMULATOR == "verilator"
    assert choose_simulator() == "verilator"
    monkeypatch.setenv(SIM_ENV, "icarus")
    assert choose_simulator() == "icarus"
    assert choose_simulator("verilator") == "verilator"  # a bench's own choice wins


@pytest.mark.parametrize("requested, env", [("vcs", None), (None, "questa"), (None, "Icarus")])
def test_unknown_simulator_is_refused(monkeypatch, requested, env):
    if env is None:
        monkeypatch.delenv(SIM_ENV, raising=False)
    else:
        monkeypatch.setenv(SIM_ENV, env)
    with pytest.raises(ValueError, match="is not one of icarus, verilator"):
        choose_simulator(requested)


def test_volume_full_by_default_quick_on_request(monkeypatch):
    monkeypatch.delenv(VOLUME_ENV, raising=False)
    assert bench_volume() == "full"
    assert shards(1000, 4, 7) == [250, 250, 250, 250]
    monkeypatch.setenv(VOLUME_ENV, "quick")
    assert bench_volume() == "quick"
    assert shards(1000, 4, 7) == [7]


def test_unknown_volume_and_uneven_shards_are_refused(monkeypatch):
    monkeypatch.setenv(VOLUME_ENV, "fast")
    with pytest.raises(ValueError, match=r"\$DMAPREFETCH_BENCH='fast' is not one of full, quick"):
        bench_volume()
    monkeypatch.delenv(VOLUME_ENV)
    with pytest.raises(ValueError, match="do not split into 3 equal shards"):
        shards(1000, 3, 10)


@pytest.mark.parametrize("module", ["dra", "prefetch_buffer", "uvm_tree", "record", "predictor"])
def test_every_bench_compares_a_million_transactions_in_ci(monkeypatch, module):
    """The CI volume each bench declares is what its cases run (at least 10^6 each)."""
    import importlib
    import sys

    monkeypatch.delenv(VOLUME_ENV, raising=False)
    name = f"test_{module}_cocotb"
    sys.modules.pop(name, None)
    bench = importlib.import_module(name)
    assert bench.TRANSACTIONS >= 1_000_000
