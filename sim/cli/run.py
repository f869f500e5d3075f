"""``python -m sim run``: a scenario through every block's stage, with a summary.

    python -m sim run [--requests N] [--seed S] [--trace FILE.csv [--clock-mhz F]]
                      [--stages a,b] [--json OUT]

Stages live in ``sim/stages/<block>.py`` (``run(scenario) -> list[str]``) and
run in pipeline order: the record format, the aggregator, the prefetch path.
Requests longer than 1 MiB are split into 1 MiB requests, as a DMA engine
issues them.
"""

from __future__ import annotations

import importlib
import pkgutil
import time

import sim.stages
from sim.cli import Parser, UsageError, positive_float, positive_int
from sim.scenario import Scenario, default_scenario
from sim.system.report import check_output_path, number, write_json
from sim.trace import TraceError, split_requests
from sim.tracefile import read_trace

PIPELINE_ORDER = ("record", "dra", "uvm_tree", "prefetch_buffer")
DEFAULT_TRACE_CLOCK_MHZ = 250.0
MAX_REQUEST = 1 << 20


def stage_names() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(sim.stages.__path__)}
    ordered = [name for name in PIPELINE_ORDER if name in found]
    return ordered + sorted(found - set(ordered))


def main(argv: list[str]) -> int:
    names = stage_names()
    parser = Parser(prog="python -m sim run", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=positive_int("--requests"), default=20_000,
                        help="size of the default scenario (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="default scenario seed (default 1)")
    parser.add_argument("--trace", help="CSV trace instead of the default scenario")
    parser.add_argument("--clock-mhz", type=positive_float("--clock-mhz"),
                        help=f"clock of the --trace cycles (default {DEFAULT_TRACE_CLOCK_MHZ:g})")
    parser.add_argument("--stages", help="comma-separated subset of: " + ",".join(names))
    parser.add_argument("--json", help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    if args.clock_mhz is not None and not args.trace:
        raise UsageError("--clock-mhz sets the clock of a --trace; the default scenario runs "
                         "at 250 MHz")
    wanted = names
    if args.stages is not None:
        wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
        if not wanted:
            raise UsageError(f"--stages {args.stages!r} names no stage; known: {', '.join(names)}")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise UsageError(f"unknown stage(s) {', '.join(unknown)} in --stages; known: "
                             f"{', '.join(names)}")
        wanted = [n for n in names if n in wanted]
    out_json = None
    if args.json:
        try:
            out_json = check_output_path(args.json, "--json")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.trace:
        clock = args.clock_mhz or DEFAULT_TRACE_CLOCK_MHZ
        try:
            requests = list(split_requests(read_trace(args.trace), MAX_REQUEST))
        except TraceError as exc:
            raise UsageError(str(exc)) from None
        if not requests:
            raise UsageError(f"{args.trace}: the trace has no accesses (only a header)")
        scenario = Scenario(args.trace, clock, requests, f"trace file {args.trace}")
    else:
        scenario = default_scenario(requests=args.requests, seed=args.seed)

    requests = scenario.requests
    writes = sum(r.write for r in requests)
    span = requests[-1].cycle - requests[0].cycle + 1
    print(f"scenario {scenario.name}: {scenario.description}")
    print(f"  {len(requests)} requests ({writes} writes) over {span} cycles "
          f"= {number(scenario.cycles_to_us(span))} us at {scenario.clock_mhz:g} MHz")
    summary = {"scenario": scenario.name, "requests": len(requests), "stages": {}}
    for name in wanted:
        started = time.monotonic()
        lines = importlib.import_module(f"sim.stages.{name}").run(scenario)
        seconds = time.monotonic() - started
        print(f"\n[{name}] ({seconds:.1f} s)")
        for line in lines:
            print(f"  {line}")
        summary["stages"][name] = {"lines": lines, "seconds": round(seconds, 2)}
    if out_json:
        write_json(out_json, summary)
        print(f"\nsummary written to {out_json}")
    return 0
