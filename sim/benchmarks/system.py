"""System simulator: accesses per second and peak memory on 10^6-access traces.

Each trace runs through every baseline policy (gpu-uvm, 100 % oversubscription)
in a child process of its own, on one core (BLAS threads pinned to 1), so the
figures are the loop's alone: wall time of the first pass (which reads the
trace: a CSV file is parsed as it streams, 65,536 lines at a time) and of each policy,
accesses per second over all policies, and the child's peak resident memory.
Targets: under 60 s for all policies together and under 1 GiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sim.report import print_table

TARGET_SECONDS = 60.0
TARGET_BYTES = 1 << 30

TRACES = {
    # name: (workload, parameters) of about 10^6 accesses
    "random 1M": ("random", {"mib": 512, "accesses": 1_000_000}),
    "random 1M, CSV file": ("random", {"mib": 512, "accesses": 1_000_000, "csv": True}),
    "sequential 1M": ("sequential", {"mib": 256, "passes": 2}),
    "bfs 0.5M": ("bfs", {}),
}
QUICK = {
    "random 0.1M": ("random", {"mib": 64, "accesses": 100_000}),
    "random 0.1M, CSV file": ("random", {"mib": 64, "accesses": 100_000, "csv": True}),
    "sequential 0.13M": ("sequential", {"mib": 32, "passes": 2}),
}

CHILD = r"""
import json, os, resource, sys, tempfile, time
from model import predictor
from sim import workloads
from sim.system.compare import PRESETS
from sim.system.loop import run_policy
from sim.system.windows import WindowedTrace
from sim.tracefile import open_trace, write_trace_file
name, params = sys.argv[1], json.loads(sys.argv[2])
csv_file = params.pop("csv", False)
trace = workloads.build(name, **params).trace
if csv_file:
    path = os.path.join(tempfile.mkdtemp(), "trace.csv")
    write_trace_file(path, trace.chunks(), clock_mhz=trace.clock_mhz)
    trace = open_trace(path, clock_mhz=trace.clock_mhz)
preset = PRESETS["gpu-uvm"]
started = time.perf_counter()
wt = WindowedTrace(trace, window_cycles=round(preset.window_us * trace.clock_mhz))
schedule = wt.schedule(wt.footprint_blocks)
out = {"accesses": wt.accesses, "first_pass": time.perf_counter() - started, "policies": {}}
for policy_name in predictor.BASELINES:
    policy = predictor.make(policy_name, future=schedule)
    t = time.perf_counter()
    stats = run_policy(wt, policy, schedule, preset.cost, batch_faults=preset.batch_faults)
    out["policies"][policy_name] = {"seconds": time.perf_counter() - t, "faults": stats.faults,
                                    "calls": stats.policy_calls}
out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def measure(workload: str, params: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", CHILD, workload, json.dumps(params)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"benchmark child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> None:
    rows, per_policy = [], []
    for label, (workload, params) in (QUICK if quick else TRACES).items():
        r = measure(workload, params)
        policy_seconds = sum(p["seconds"] for p in r["policies"].values())
        total = r["first_pass"] + policy_seconds
        accesses = r["accesses"]
        rows.append([label, f"{accesses:,}", f"{r['first_pass']:.1f}", f"{policy_seconds:.1f}",
                     f"{total:.1f}", f"{total / TARGET_SECONDS:.2f}",
                     f"{accesses * len(r['policies']) / total:,.0f}",
                     f"{r['peak_bytes'] / 2**20:,.0f}", f"{r['peak_bytes'] / TARGET_BYTES:.2f}"])
        for name, p in r["policies"].items():
            per_policy.append([label, name, f"{p['seconds']:.2f}",
                               f"{accesses / p['seconds']:,.0f}", f"{p['calls']:,}",
                               f"{p['faults']:,}"])
    print("every baseline policy (none, uvm, window8/16/32, oracle) on one core, gpu-uvm, "
          "100 % oversubscription; ratios are against the 60 s and 1 GiB targets "
          "(below 1 meets them)")
    print_table(["trace", "accesses", "first pass s", "policies s", "total s", "x 60 s",
                 "access-policies/s", "peak MiB", "x 1 GiB"], rows)
    print()
    print_table(["trace", "policy", "seconds", "accesses/s", "policy calls", "faults"],
                per_policy)
