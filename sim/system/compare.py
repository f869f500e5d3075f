"""Policy comparisons: one trace, one preset, one oversubscription, several policies.

:data:`PRESETS` hold every rule of a preset (unit size, fault window, batch
size, host cost, local memory); :func:`compare` runs the first pass once and
every policy over it, and returns a :class:`Comparison` whose
:meth:`~Comparison.as_json` is the documented JSON object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model import dra as dra_model
from model import predictor
from model.predictor.uvm import UvmTree
from sim.system.cost import HostCost
from sim.system.device import BufferFuture, DeviceParams, DeviceRun, run_device
from sim.system.loop import PolicyStats, run_policy
from sim.system.windows import WindowedTrace
from sim.trace import AccessTrace, split_requests

MB = 1 << 20


@dataclass(frozen=True)
class Preset:
    """Everything that differs between the two systems.

    ``window_us``: length of a fault window (faults raised in it are serviced
    together at its end); ``batch_faults``: faults per batch at most;
    ``unit_bytes`` / ``units_per_block``: local-memory unit and policy block;
    ``cost``: the host cost model; ``device``: the prefetch buffer (dma-device) or
    None (gpu-uvm: 2 MiB frames); ``workload_params``: overrides for the built-in
    workloads' sizes and rates.
    """

    name: str
    description: str
    window_us: float
    batch_faults: int
    unit_bytes: int
    units_per_block: int
    cost: HostCost
    device: DeviceParams | None = None
    workload_params: dict = field(default_factory=dict)


DEVICE_WORKLOADS = {
    # the built-in workloads at a size a device buffer of about 1 MiB serves
    "sequential": {"mib": 1, "passes": 8},
    "strided": {"mib": 1, "passes": 8},
    "random": {"mib": 2, "accesses": 40_000},
    "dnn": {"layers": 4, "width": 256, "batch": 64, "iterations": 4},
    "bfs": {"ring": 8},
    "pagerank": {"ring": 8},
    "spmv": {"band": 1, "iterations": 8},
    "dma-mix": {"requests": 40_000, "region_scale": 1 / 128},
}

PRESETS = {
    "gpu-uvm": Preset(
        "gpu-uvm", "GPU with unified memory: 4 KiB pages, 2 MiB blocks in 2 MiB frames, "
        "45 us fault batches of <= 256 faults, PCIe 3.0 x16", window_us=45.0, batch_faults=256,
        unit_bytes=4096, units_per_block=512, cost=HostCost()),
    "dma-device": Preset(
        "dma-device", "DMA device: prefetch buffer of 1 KiB lines (true LRU, 16 fills in "
        "flight, 250 MHz, 64 B words), 0.55 us DMA reads, the DRA on the writes",
        window_us=1.0, batch_faults=256, unit_bytes=1024, units_per_block=512,
        cost=HostCost(batch_us=0.55), device=DeviceParams(),
        workload_params={"ns_per_access": 160, **DEVICE_WORKLOADS}),
}


def workload_params(preset: Preset, workload: str) -> dict:
    """Size/rate overrides a preset applies to a built-in workload."""
    params = {k: v for k, v in preset.workload_params.items() if not isinstance(v, dict)}
    params.update(preset.workload_params.get(workload, {}))
    return params


@dataclass
class Comparison:
    """The result of :func:`compare` (fields as in the JSON object)."""

    workload: str
    description: str
    preset: str
    oversubscription: float
    requests: int
    pages_touched: int
    footprint_bytes: int
    capacity_bytes: int
    windows: int
    fault_lower_bound: int
    policies: dict[str, PolicyStats]
    dra: dict | None = None
    uvm_calls: list | None = None
    device_runs: dict[str, DeviceRun] = field(default_factory=dict)

    def as_json(self) -> dict:
        out = {
            "workload": self.workload, "preset": self.preset, "requests": self.requests,
            "pages_touched": self.pages_touched, "oversubscription": self.oversubscription,
            "footprint_bytes": self.footprint_bytes, "capacity_bytes": self.capacity_bytes,
            "fault_windows": self.windows, "fault_lower_bound": self.fault_lower_bound,
            "policies": {name: stats.as_dict() for name, stats in self.policies.items()},
        }
        if self.dra is not None:
            out["dra"] = self.dra
        return out


def _check_oversubscription(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"oversubscription must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and 1.0 <= value <= 100.0):
        raise ValueError(f"oversubscription must be in 1..100 (1.25 = footprint is 125 % of "
                         f"local memory), got {value!r}")
    return float(value)


def check_policies(names: Sequence[str]) -> list[str]:
    """The policy names, checked (unknown, badly parameterised or repeated ones raise
    ValueError); any ``model.predictor.make`` spec is accepted."""
    names = list(names)
    if not names:
        raise ValueError("no policy given")
    for name in names:
        predictor.make(name, future=_NO_FUTURE)
    if len(set(names)) != len(names):
        raise ValueError("a policy is named twice")
    return names


class _NoFuture:
    """Stands in for a run's future index when a policy name is only being checked."""

    def mask(self, block_start: int, window: int) -> int:
        return 0


_NO_FUTURE = _NoFuture()


def compare(trace: AccessTrace, *, preset: Preset, policies: Sequence[str] = predictor.BASELINES,
            oversubscription: float = 1.0, workload: str | None = None,
            footprint_bytes: int | None = None, record_uvm_calls: bool = False,
            record_windows: int = 0,
            progress: Callable[[str, int], Callable | None] | None = None) -> Comparison:
    """Run every policy on ``trace`` under ``preset`` (see the module doc).

    ``progress(label, total)`` may return a callable that is given the number of
    accesses done (of ``total``) as each policy's run advances, or None.
    ``record_uvm_calls`` keeps the ``uvm`` policy's ``prefetch_hint`` calls (for the
    RTL check); ``record_windows`` keeps the buffer inputs of that many first windows
    of each dma-device run.
    """
    oversubscription = _check_oversubscription(oversubscription)
    names = check_policies(policies)
    window_cycles = max(1, round(preset.window_us * trace.clock_mhz))
    wt = WindowedTrace(trace, window_cycles=window_cycles, unit_bytes=preset.unit_bytes,
                       units_per_block=preset.units_per_block)
    order = ["none"] + [n for n in names if n != "none"]
    results: dict[str, PolicyStats] = {}
    uvm_calls = None
    device_runs: dict[str, DeviceRun] = {}
    block_bytes = preset.unit_bytes * preset.units_per_block
    if preset.device is None:
        capacity = max(1, math.floor(wt.footprint_blocks / oversubscription))
        schedule = wt.schedule(capacity)
        future = schedule
        capacity_bytes = capacity * block_bytes
        footprint = wt.footprint_blocks * block_bytes
    else:
        capacity_lines = max(1, math.floor(wt.units_touched / oversubscription))
        _, sets_log2, ways = preset.device.geometry(capacity_lines)
        capacity_bytes = (1 << sets_log2) * ways * preset.unit_bytes
        future = BufferFuture(wt, sets_log2, ways)
        footprint = wt.units_touched * preset.unit_bytes
    for name in order:
        policy = predictor.make(name, future=future)
        if record_uvm_calls and isinstance(policy, UvmTree):
            policy.record_calls()
        tick = progress(name, wt.accesses) if progress else None
        if preset.device is None:
            stats = run_policy(wt, policy, schedule, preset.cost,
                               batch_faults=preset.batch_faults, progress=tick)
        else:
            run = run_device(trace, policy, window_cycles=window_cycles,
                             capacity_lines=capacity_lines, cost=preset.cost,
                             device=preset.device, batch_faults=preset.batch_faults,
                             record_windows=record_windows, progress=tick)
            device_runs[name] = run
            stats = run.stats
        if isinstance(policy, UvmTree) and policy.calls is not None:
            uvm_calls = policy.calls
        results[name] = stats
    base = results["none"].time_us
    for stats in results.values():
        stats.speedup_vs_none = base / stats.time_us if stats.time_us else 0.0
    comparison = Comparison(
        workload=workload or trace.name, description=trace.description, preset=preset.name,
        oversubscription=oversubscription, requests=wt.accesses,
        pages_touched=wt.units_touched,
        footprint_bytes=footprint_bytes if footprint_bytes is not None else footprint,
        capacity_bytes=capacity_bytes, windows=len(wt.windows),
        fault_lower_bound=schedule.epochs if preset.device is None else wt.first_window_units,
        policies={name: results[name] for name in names}, uvm_calls=uvm_calls,
        device_runs={name: device_runs[name] for name in names if name in device_runs})
    if preset.device is not None:
        comparison.dra = dra_summary(trace, preset.device.clock_mhz)
    return comparison


DRA_ENTRIES = 8
DRA_MAX_REQUEST = 1 << 20


def dra_requests(trace: AccessTrace, clock_mhz: float) -> list[dra_model.Request]:
    """The trace's accesses as DRA requests at the device clock (long ones split into
    requests of at most 1 MiB, as a DMA engine issues them)."""
    ratio = clock_mhz / trace.clock_mhz
    requests = []
    t0 = None
    for r in split_requests(trace.requests(), DRA_MAX_REQUEST):
        if t0 is None:
            t0 = r.cycle
        requests.append(dra_model.Request(int((r.cycle - t0) * ratio), r.addr, r.length,
                                          r.tag, r.write))
    return requests


def dra_summary(trace: AccessTrace, clock_mhz: float) -> dict:
    """The DRA (K = 8, 1 ms window, proximity 0, tags matched) on the trace's writes:
    records, records per MB written, the offline optimum and a page log."""
    requests = dra_requests(trace, clock_mhz)
    writes = [r for r in requests if r.write]
    window = min(round(1000 * clock_mhz), (1 << 24) - 1)
    config = dra_model.DraParams(entries=DRA_ENTRIES, window=window, proximity=0,
                                 tag_match=True, addr_width=64)
    result = dra_model.run(requests, config) if writes else None
    written = sum(r.length for r in writes)
    pages = set()
    for r in writes:
        pages.update(range(r.addr >> 12, (r.addr + r.length - 1 >> 12) + 1))
    records = len(result.records) if result else 0
    optimum = dra_model.offline_optimum(requests, config) if writes else 0
    per_mb = written / MB
    return {
        "writes": len(writes), "bytes_written": written, "records": records,
        "records_per_mb": records / per_mb if written else 0.0,
        "optimum_records": optimum, "page_log_records": len(pages),
        "merges": result.counters["merges"] if result else 0,
        "window_cycles": window, "entries": DRA_ENTRIES,
    }
