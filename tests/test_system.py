"""The system simulator: hand-worked traces, the oracle's bound, workloads, cost, CLI."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

from model import predictor
from model.predictor.base import BlockFaults, Predictor
from sim import workloads
from sim.cli import main as sim_main
from sim.system.compare import PRESETS, compare
from sim.system.cost import HostCost
from sim.system.loop import run_policy
from sim.system.windows import WindowedTrace, units_to_mask
from sim.trace import AccessTrace, DmaRequest, TraceError

MHZ = 1000.0
WINDOW = 45_000  # 45 us at 1 GHz
BLOCK = 0x4000_0000
PAGE = 4096


def trace_of(requests, name="t") -> AccessTrace:
    return AccessTrace.from_requests(name, requests, clock_mhz=MHZ)


def transfer_us(nbytes: int) -> float:
    """UVMSmart's curve, written out: bytes / ((2 * 12 / pi) * atan(0.07292 * KiB) GiB/s)."""
    return nbytes / (24 / math.pi * math.atan(0.07292 * nbytes / 1024) * 2**30) * 1e6


def run(requests, policy_name, *, capacity=None, batch=4):
    wt = WindowedTrace(trace_of(requests), window_cycles=WINDOW)
    schedule = wt.schedule(capacity or wt.footprint_blocks)
    policy = predictor.make(policy_name, future=schedule)
    return run_policy(wt, policy, schedule, HostCost(), batch_faults=batch)


def two_windows():
    """Pages 0..9 of a block in window 0, pages 10..19 in window 1 (64 B reads)."""
    first = [DmaRequest(i, BLOCK + i * PAGE, 64, 0, False) for i in range(10)]
    second = [DmaRequest(WINDOW + i, BLOCK + (10 + i) * PAGE, 64, 0, False) for i in range(10)]
    return first + second


# ---------------------------------------------------------------------------
# hand-worked traces


def test_cost_model_by_hand():
    cost = HostCost()
    # (2*12/pi)*atan(0.07292*4) = 2.1681 GiB/s -> 4096 B in 1.7594 us, and so on
    assert cost.transfer_us(4096) == pytest.approx(1.7594, rel=1e-4)
    assert cost.transfer_us(64 << 10) == pytest.approx(5.8759, rel=1e-4)
    assert cost.transfer_us(1 << 20) == pytest.approx(82.080, rel=1e-4)
    # two runs of three pages: two transfers of 12 KiB
    us, runs = cost.runs_us(0b1110111, 4096)
    assert runs == 2 and us == pytest.approx(2 * transfer_us(12 << 10))
    assert cost.runs_us(0, 4096) == (0.0, 0)
    with pytest.raises(ValueError, match="batch_us"):
        HostCost(batch_us=0)
    with pytest.raises(ValueError, match="pcie_b"):
        HostCost(pcie_b=float("nan"))
    with pytest.raises(TypeError, match="pcie_a"):
        HostCost(pcie_a="12")


def test_no_prefetch_faults_batches_and_time_by_hand():
    s = run(two_windows(), "none")
    assert (s.faults, s.fault_batches, s.prefetched_pages, s.late) == (20, 6, 0, 0)
    assert (s.pages_moved, s.bytes_moved, s.transfers) == (20, 20 * PAGE, 6)
    # batches of 4, 4, 2 contiguous pages in each window
    service = 6 * 45 + 4 * transfer_us(4 * PAGE) + 2 * transfer_us(2 * PAGE)
    assert s.compute_us == pytest.approx((WINDOW + 9 + 1) / MHZ)
    assert s.service_us == pytest.approx(service)
    assert s.time_us == pytest.approx(s.compute_us + service)


def test_fixed_window_by_hand():
    s = run(two_windows(), "window8")
    # window 0: batch [0..3] -> window [0, 11) prefetches 4..10; faults 4..9 then late.
    # window 1: page 10 hits; batch [11..14] -> [3, 22) prefetches 15..21; 15..19 late.
    assert (s.faults, s.fault_batches, s.prefetched_pages) == (8, 2, 14)
    assert (s.late, s.useful, s.useless) == (11, 12, 2)
    assert s.pages_moved == 8 + 14


def test_oracle_by_hand():
    s = run(two_windows(), "oracle")
    # the first batch prefetches everything the block will use: 4..19
    assert (s.faults, s.fault_batches, s.prefetched_pages) == (4, 1, 16)
    assert (s.late, s.useful, s.useless) == (6, 16, 0)


def test_uvm_policy_gets_the_driver_call_and_keeps_its_counter():
    s = run(two_windows(), "uvm")
    # batch [0..3]: big-page growth fills pages 0..15 in the tree, the 16-page node
    # passes (16 * 100 > 16 * 51), its 32-page parent does not: prefetch 4..15.
    # window 1: 10..15 hit; batch [16..19] with 0..15 resident: the 32-page node
    # passes, prefetch 20..31.
    assert (s.faults, s.fault_batches, s.prefetched_pages) == (8, 2, 24)
    assert (s.late, s.useful, s.useless) == (6, 12, 12)
    wt = WindowedTrace(trace_of(two_windows()), window_cycles=WINDOW)
    policy = predictor.make("uvm")
    policy.record_calls()
    run_policy(wt, policy, wt.schedule(1), HostCost(), batch_faults=4)
    (first, r1), (second, r2) = policy.calls
    assert first["faulted"] == 0b1111 and first["resident"] is None
    assert first["migrations_before"] == 0 and r1.migrations_after == 4
    assert second["faulted"] == 0b1111 << 16 and second["resident"] == (1 << 16) - 1
    assert second["migrations_before"] == 4 and r2.migrations_after == 8


def test_eviction_least_recently_used_block_by_hand():
    a, b = BLOCK, BLOCK + (2 << 20)
    requests = [DmaRequest(0, a, 64, 0, False), DmaRequest(1, a + PAGE, 64, 0, False),
                DmaRequest(WINDOW, b, 64, 0, False), DmaRequest(2 * WINDOW, a, 64, 0, False)]
    wt = WindowedTrace(trace_of(requests), window_cycles=WINDOW)
    schedule = wt.schedule(1)
    # end of window 1: A (last used at access 1) goes; end of window 2: B goes
    assert [e.tolist() for e in schedule.evictions] == [[], [0], [1]]
    s = run(requests, "none", capacity=1)
    assert (s.faults, s.evicted_pages) == (4, 3)
    assert run(requests, "none").faults == 3  # room for both: A's page 0 stays
    assert run(requests, "oracle", capacity=1).faults == 4  # nothing of A's next epoch helps


def test_duplicates_in_a_window_fault_once_and_reuse_hits():
    requests = [DmaRequest(0, BLOCK, 64, 0, False), DmaRequest(1, BLOCK + 8, 8, 0, True),
                DmaRequest(WINDOW, BLOCK + 100, 4, 0, False)]
    s = run(requests, "none")
    assert (s.faults, s.fault_batches) == (1, 1)


def test_an_access_over_pages_touches_each_page():
    requests = [DmaRequest(0, BLOCK + PAGE - 1, 2 * PAGE + 2, 0, True)]  # pages 0..3
    assert run(requests, "none").faults == 4


def test_policy_masks_outside_the_block_are_refused():
    class Wild(Predictor):
        name = "wild"

        def prefetch(self, faults):
            return 1 << 600

    wt = WindowedTrace(trace_of(two_windows()), window_cycles=WINDOW)
    with pytest.raises(ValueError, match="wild"):
        run_policy(wt, Wild(), wt.schedule(1), HostCost())


# ---------------------------------------------------------------------------
# the oracle's bound


class RandomPolicy(Predictor):
    """Prefetches a random subset of the block (a policy the theorem must cover)."""

    name = "random-policy"

    def __init__(self, rng: random.Random, density: float):
        self.rng, self.density = rng, density

    def prefetch(self, faults: BlockFaults) -> int:
        mask = 0
        for i in range(faults.num_pages):
            if self.rng.random() < self.density:
                mask |= 1 << i
        return mask


def random_trace(rng: random.Random) -> list[DmaRequest]:
    blocks = rng.randint(1, 4)
    pages = rng.choice((8, 32, 512))
    requests = []
    cycle = 0
    for _ in range(rng.randint(1, 120)):
        cycle += rng.choice((0, 1, 5, WINDOW // 3, WINDOW))
        block = BLOCK + rng.randrange(blocks) * (2 << 20)
        page = rng.randrange(pages)
        length = rng.choice((1, 64, PAGE, 3 * PAGE))
        requests.append(DmaRequest(cycle, block + page * PAGE, length, 0, rng.random() < 0.3))
    return requests


def test_oracle_is_a_lower_bound_for_random_policies_on_random_traces(rng):
    for _ in range(150):
        requests = random_trace(rng)
        wt = WindowedTrace(trace_of(requests), window_cycles=WINDOW)
        capacity = rng.randint(1, wt.footprint_blocks)
        batch = rng.choice((1, 2, 3, 8, 256))
        schedule = wt.schedule(capacity)

        def faults(policy, wt=wt, schedule=schedule, batch=batch):
            return run_policy(wt, policy, schedule, HostCost(), batch_faults=batch).faults

        oracle = faults(predictor.make("oracle", future=schedule))
        none = faults(predictor.make("none"))
        for density in (0.05, 0.5, 1.0):
            other = faults(RandomPolicy(random.Random(rng.random()), density))
            assert oracle <= other <= none, (requests, capacity, batch, density)
        assert schedule.epochs <= oracle


@pytest.mark.parametrize("oversubscription", [1.0, 1.25])
@pytest.mark.parametrize("name", workloads.STANDARD)
def test_oracle_bound_on_every_standard_workload(name, oversubscription):
    built = workloads.build(name)
    c = compare(built.trace, preset=PRESETS["gpu-uvm"], oversubscription=oversubscription)
    oracle = c.policies["oracle"].faults
    for policy, stats in c.policies.items():
        assert oracle <= stats.faults <= c.policies["none"].faults, policy
    assert 0 < c.fault_lower_bound <= oracle
    assert c.policies["oracle"].useless == 0


def test_dma_device_lower_bound_holds_for_every_policy():
    preset = PRESETS["dma-device"]
    for name, params in (("dma-mix", {"requests": 6000, "region_scale": 1 / 128}),
                         ("sequential", {"mib": 1, "passes": 2}),
                         ("bfs", {"ring": 2})):
        built = workloads.build(name, ns_per_access=160, **params)
        c = compare(built.trace, preset=preset, oversubscription=1.25)
        for policy, stats in c.policies.items():
            assert c.fault_lower_bound <= stats.faults, (name, policy)
            assert stats.useful + stats.useless <= stats.prefetched_pages, (name, policy)
        assert c.dra["writes"] == sum(r.write for r in built.trace.requests())


# ---------------------------------------------------------------------------
# workloads


SMALL = {
    "sequential": {"mib": 2}, "strided": {"mib": 2}, "random": {"mib": 4, "accesses": 5000},
    "dnn": {"layers": 2, "width": 256, "batch": 32, "iterations": 1}, "bfs": {"ring": 2},
    "pagerank": {"ring": 2, "iterations": 1}, "spmv": {"band": 1, "iterations": 1},
    "dma-mix": {"requests": 5000, "region_scale": 1 / 64},
}


def columns(trace):
    chunks = list(trace.chunks())
    return {f: np.concatenate([getattr(c, f) for c in chunks])
            for f in ("cycle", "addr", "length", "tag", "write")}


@pytest.mark.parametrize("name", workloads.STANDARD)
def test_workloads_are_deterministic_and_stay_in_their_arrays(name):
    a = workloads.build(name, seed=3, **SMALL[name])
    b = workloads.build(name, seed=3, **SMALL[name])
    ca, cb = columns(a.trace), columns(b.trace)
    for field in ca:
        assert np.array_equal(ca[field], cb[field]), field
    assert len(ca["cycle"]) == a.accesses > 0
    assert np.all(np.diff(ca["cycle"]) >= 0)
    starts = np.array(sorted(base for base, _ in a.arrays.values()), dtype=np.uint64)
    ends = {base: base + size for base, size in a.arrays.values()}
    owner = starts[np.searchsorted(starts, ca["addr"], side="right") - 1]
    last = ca["addr"] + (ca["length"] - 1).astype(np.uint64)
    assert np.all(last < np.array([ends[int(o)] for o in owner], dtype=np.uint64))
    assert a.footprint == sum(-(-size // (2 << 20)) * (2 << 20) for _, size in a.arrays.values())
    if name in ("random", "dma-mix"):
        other = columns(workloads.build(name, seed=4, **SMALL[name]).trace)
        assert not np.array_equal(other["addr"], ca["addr"])


def test_workload_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown workload"):
        workloads.build("nope")
    with pytest.raises(TypeError, match="mib"):
        workloads.build("sequential", mib="64")
    with pytest.raises(ValueError, match="write_fraction"):
        workloads.build("random", write_fraction=1.5)
    with pytest.raises(ValueError, match="region_scale"):
        workloads.build("dma-mix", region_scale=0)


def test_real_structures_say_how_they_were_scaled():
    text = workloads.build("bfs", ring=2).trace.description
    assert "Minnesota road network" in text and "scaled x 2" in text
    assert "pyamg" in workloads.build("spmv", band=1, iterations=1).trace.description


# ---------------------------------------------------------------------------
# JSON, CLI and bad input


def test_compare_json_is_numbers_with_the_documented_fields(tmp_path):
    out = tmp_path / "deep" / "c.json"
    assert sim_main(["compare", "--workload", "strided", "--json", str(out), "--csv",
                     str(tmp_path / "c.csv"), "--plot", str(tmp_path / "c.png")]) == 0
    doc = json.loads(out.read_text())
    assert {"workload", "preset", "requests", "pages_touched", "policies"} <= set(doc)
    assert doc["workload"] == "strided" and doc["preset"] == "gpu-uvm"
    assert list(doc["policies"]) == list(predictor.BASELINES)
    fields = {"faults", "fault_batches", "prefetched_pages", "useful", "useless", "late",
              "pages_moved", "bytes_moved", "time_us", "speedup_vs_none"}
    for stats in doc["policies"].values():
        assert fields <= set(stats)
        assert all(isinstance(v, int | float) and not isinstance(v, bool)
                   for v in stats.values())
    assert doc["policies"]["none"]["speedup_vs_none"] == 1.0
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert len(rows) == 1 + len(predictor.BASELINES)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_flags_change_the_time_only(tmp_path):
    def time_of(*flags):
        assert sim_main(["compare", "--workload", "pagerank", "--policies", "none", *flags,
                         *outputs(tmp_path)]) == 0
        stats = json.loads((tmp_path / "o.json").read_text())["policies"]["none"]
        return stats["faults"], stats["fault_batches"], stats["service_us"]

    faults, batches, service = time_of()
    assert time_of("--batch-us", "90")[:2] == (faults, batches)
    assert time_of("--batch-us", "90")[2] == pytest.approx(service + 45 * batches)
    assert time_of("--pcie-a", "24")[2] < service


def test_several_workloads_give_one_object_each(tmp_path):
    out = tmp_path / "c.json"
    assert sim_main(["compare", "--workload", "strided,sequential", "--policies", "none,uvm",
                     "--json", str(out), "--csv", str(tmp_path / "c.csv"), "--plot",
                     str(tmp_path / "c.png")]) == 0
    doc = json.loads(out.read_text())
    assert [d["workload"] for d in doc] == ["strided", "sequential"]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def outputs(tmp_path):
    return ["--json", str(tmp_path / "o.json"), "--csv", str(tmp_path / "o.csv"), "--plot",
            str(tmp_path / "o.png")]


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


HEADER = "cycle,addr,length,tag,write\n"


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "--clock-mhz", "0"], "--clock-mhz"),
    (["compare", "--clock-mhz", "-3"], "--clock-mhz"),
    (["compare", "--clock-mhz", "nan"], "--clock-mhz"),
    (["compare", "--clock-mhz", "inf"], "--clock-mhz"),
    (["compare", "--clock-mhz", "100"], "--clock-mhz sets the clock of a --trace"),
    (["run", "--clock-mhz", "100"], "--clock-mhz sets the clock of a --trace"),
    (["run", "--stages", ","], "--stages"),
    (["run", "--stages", "nope"], "unknown stage"),
    (["compare", "--policies", "uvm,nope"], "unknown policy 'nope'"),
    (["compare", "--policies", ","], "no policy"),
    (["compare", "--workload", "nope"], "unknown workload 'nope'"),
    (["compare", "--oversubscription", "0.5"], "--oversubscription"),
    (["compare", "--bogus"], "unrecognized arguments"),
    (["frobnicate"], "unknown command"),
])
def test_bad_flags_give_one_error_line(capsys, tmp_path, args, message):
    files = outputs(tmp_path) if args[0] == "compare" else ["--json", str(tmp_path / "o.json")]
    assert sim_main(args + files) == 2
    assert message in one_error(capsys)
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_traces_give_one_error_line(capsys, tmp_path):
    cases = [
        (write(tmp_path, "empty.csv", HEADER), "no accesses"),
        (write(tmp_path, "bad.csv", HEADER + "0,0x10,8,0,1\n5,zz,8,0,1\n"), "bad.csv:3"),
        (write(tmp_path, "back.csv", HEADER + "9,0x10,8,0,1\n5,0x10,8,0,1\n"), "back.csv:3"),
    ]
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    cases.append((str(binary), "not UTF-8"))
    cases.append((str(tmp_path), "is a directory"))
    for path, message in cases:
        out = tmp_path / "out"
        assert sim_main(["compare", "--trace", path] + outputs(out)) == 2
        assert message in one_error(capsys), path
        assert not out.exists()
        assert sim_main(["run", "--trace", path]) == 2
        assert message in one_error(capsys), path


def test_json_onto_a_directory_is_refused_and_a_missing_folder_is_made(capsys, tmp_path):
    trace = write(tmp_path, "t.csv", HEADER + "0,0x10000,64,0,0\n")
    (tmp_path / "adir").mkdir()
    args = ["compare", "--trace", trace, "--csv", str(tmp_path / "o.csv"), "--plot",
            str(tmp_path / "o.png")]
    assert sim_main(args + ["--json", str(tmp_path / "adir")]) == 2
    assert "is a directory" in one_error(capsys)
    assert not (tmp_path / "o.csv").exists()
    assert sim_main(args + ["--json", str(tmp_path / "new" / "sub" / "o.json")]) == 0
    assert json.loads((tmp_path / "new" / "sub" / "o.json").read_text())["requests"] == 1
    assert sim_main(["run", "--trace", trace, "--json", str(tmp_path / "adir")]) == 2
    assert "is a directory" in one_error(capsys)


@pytest.mark.parametrize("preset", ["gpu-uvm", "dma-device"])
def test_a_trace_of_reads_only_runs(capsys, tmp_path, preset):
    lines = "".join(f"{i * 10},{0x100000 + i * 4096:#x},256,0,0\n" for i in range(40))
    trace = write(tmp_path, "reads.csv", HEADER + lines)
    assert sim_main(["compare", "--trace", trace, "--preset", preset] + outputs(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "none" in out and "oracle" in out
    if preset == "dma-device":
        assert "no writes" in out


def test_a_4_gib_write_is_reported_not_rounded_away(capsys, tmp_path):
    trace = write(tmp_path, "big.csv", HEADER + f"0,0x100000000,{4 << 30},7,1\n")
    assert sim_main(["compare", "--trace", trace, "--policies", "none,window8,oracle"]
                    + outputs(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "1,048,576 pages touched" in out and "footprint 4.00 GiB" in out
    assert sim_main(["run", "--trace", trace, "--stages", "record,dra"]) == 0
    out = capsys.readouterr().out
    assert "0.00/MB" not in out and "0.00 " not in out


def test_a_sparse_trace_runs_the_rtl_checks_without_stepping_the_gap(capsys, tmp_path):
    lines = f"0,0x200000,64,1,1\n{10**6},0x201000,64,1,0\n{2 * 10**6},0x200040,64,1,0\n"
    trace = write(tmp_path, "sparse.csv", HEADER + lines)
    for preset in ("gpu-uvm", "dma-device"):
        assert sim_main(["compare", "--trace", trace, "--preset", preset, "--check-rtl"]
                        + outputs(tmp_path)) == 0
        out = capsys.readouterr().out
        assert "PASS" in out and "DISAGREES" not in out


def test_python_m_sim_compare_end_to_end(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "compare", "--workload", "pagerank", "--policies",
         "none,uvm,oracle", "--oversubscription", "1.25"] + outputs(tmp_path),
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "pagerank [gpu-uvm, oversubscription 125%]" in done.stdout
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["oversubscription"] == 1.25
    assert doc["policies"]["oracle"]["faults"] <= doc["policies"]["uvm"]["faults"]


def test_units_to_mask_round_trip():
    assert units_to_mask(np.array([0, 3, 511])) == 1 | 8 | 1 << 511
    assert units_to_mask(np.array([], dtype=np.int64)) == 0


def test_trace_streams_in_chunks_and_checks_order_across_them(tmp_path):
    lines = "".join(f"{i},{i * 64:#x},64,0,0\n" for i in range(10)) + "3,0x0,64,0,0\n"
    path = write(tmp_path, "t.csv", HEADER + lines)
    from sim.tracefile import open_trace
    trace = open_trace(path, clock_mhz=1, chunk_lines=4)
    with pytest.raises(TraceError, match=r"t.csv:12: cycle 3"):
        list(trace.chunks())
