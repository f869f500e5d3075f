"""``python -m sim workloads``: the built-in workloads, their sizes and what they are."""

from __future__ import annotations

import time

from sim import workloads
from sim.cli import Parser
from sim.report import format_table
from sim.system.report import size


def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m sim workloads", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    args = parser.parse_args(argv)
    rows = []
    descriptions = []
    for name in workloads.STANDARD:
        started = time.perf_counter()
        w = workloads.build(name, seed=args.seed)
        rows.append([name, f"{w.accesses:,}", size(w.footprint), len(w.arrays),
                     f"{time.perf_counter() - started:.1f}"])
        descriptions.append(f"{name}: {w.trace.description}")
    print(format_table(["workload", "accesses", "footprint", "arrays", "build s"], rows))
    print()
    for line in descriptions:
        print(line)
    return 0
