"""``make sim``: run a scenario through every block that exists and print a summary.

    python -m sim [--requests N] [--seed S] [--trace FILE.csv] [--stages a,b] [--json OUT]

Stages live in ``sim/stages/<block>.py`` (``run(scenario) -> list[str]``) and
run in pipeline order: the record format, the aggregator, the prefetch path.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time

import sim.stages
from sim.scenario import Scenario, default_scenario
from sim.trace import TraceError, read_trace

PIPELINE_ORDER = ("record", "dra", "uvm_tree", "prefetch_buffer")


def stage_names() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(sim.stages.__path__)}
    ordered = [name for name in PIPELINE_ORDER if name in found]
    return ordered + sorted(found - set(ordered))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="default scenario size")
    parser.add_argument("--seed", type=int, default=1, help="default scenario seed")
    parser.add_argument("--trace", help="CSV trace instead of the default scenario")
    parser.add_argument("--clock-mhz", type=float, default=250.0, help="clock of a --trace")
    parser.add_argument("--stages", help="comma-separated subset of: " + ",".join(stage_names()))
    parser.add_argument("--json", help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    if args.trace:
        try:
            scenario = Scenario(args.trace, args.clock_mhz, read_trace(args.trace),
                                f"trace file {args.trace}")
        except (OSError, TraceError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        if args.requests < 1:
            parser.error("--requests must be positive")
        scenario = default_scenario(requests=args.requests, seed=args.seed)

    names = stage_names()
    if args.stages:
        wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in wanted]

    requests = scenario.requests
    writes = sum(r.write for r in requests)
    span = requests[-1].cycle - requests[0].cycle + 1 if requests else 0
    print(f"scenario {scenario.name}: {scenario.description}")
    print(f"  {len(requests)} requests ({writes} writes) over {span} cycles "
          f"= {scenario.cycles_to_us(span):.1f} us at {scenario.clock_mhz:g} MHz")
    summary = {"scenario": scenario.name, "requests": len(requests), "stages": {}}
    for name in names:
        started = time.monotonic()
        lines = importlib.import_module(f"sim.stages.{name}").run(scenario)
        seconds = time.monotonic() - started
        print(f"\n[{name}] ({seconds:.1f} s)")
        for line in lines:
            print(f"  {line}")
        summary["stages"][name] = {"lines": lines, "seconds": round(seconds, 2)}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
        print(f"\nsummary written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
