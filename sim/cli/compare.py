"""``python -m sim compare``: prefetch policies against each other on workloads or a trace.

    python -m sim compare [--workload NAME ... | --trace FILE [--clock-mhz F]]
        [--policies a,b,...] [--preset gpu-uvm|dma-device] [--oversubscription R[,R]]
        [--json OUT] [--csv OUT] [--plot OUT.png] [--check-rtl]

Prints a table per workload (faults, batches, prefetches, useful / useless /
late, bytes moved, time, speedup over no prefetching) with its reading, then a
summary, and writes the same figures as JSON, CSV and a PNG plot
(``build/sim/compare.*`` by default). ``python -m sim`` alone (``make sim``)
runs this on every standard workload under gpu-uvm, and on dma-mix under
dma-device, with the RTL checks, and ends with PASS or FAIL.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from model import predictor
from sim import workloads
from sim.cli import HelpFormatter, Parser, UsageError, positive_float, positive_int
from sim.system import report
from sim.system.compare import PRESETS, check_policies, compare, workload_params
from sim.trace import TraceError
from sim.tracefile import open_trace

DEFAULT_TRACE_CLOCK_MHZ = workloads.CLOCK_MHZ
DEFAULT_OVERSUBSCRIPTION = "1"
MAIN_JOB_OVERSUBSCRIPTION = "1,1.25"
DEVICE_WORKLOAD = "dma-mix"
RTL_WORKLOAD = "sequential"


def _oversubscriptions(text: str) -> list[float]:
    values = []
    for part in text.split(","):
        part = part.strip().rstrip("%")
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--oversubscription {text!r}: {part!r} is not a number") from None
        if value > 10:  # given in percent
            value /= 100
        if not 1 <= value <= 100:
            raise argparse.ArgumentTypeError(
                f"--oversubscription {text!r}: each ratio must be >= 1 (1.25 or 125%: the "
                "footprint is 125 % of local memory)")
        values.append(value)
    return values


def build_parser(main_job: bool) -> Parser:
    prog = "python -m sim" if main_job else "python -m sim compare"
    parser = Parser(prog=prog, description=__doc__.splitlines()[0],
                    formatter_class=HelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--workload", action="append", metavar="NAME",
                        help="built-in workload (repeat or comma-separate; default: all of "
                        f"{', '.join(workloads.STANDARD)})")
    source.add_argument("--trace", metavar="FILE", help="CSV trace (cycle,addr,length,tag,write)")
    parser.add_argument("--clock-mhz", type=positive_float("--clock-mhz"),
                        help=f"clock of the --trace cycles (default {DEFAULT_TRACE_CLOCK_MHZ:g})")
    parser.add_argument("--policies", default=",".join(predictor.BASELINES),
                        help="comma-separated policies")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="system to simulate (default gpu-uvm" + (
                            "; the main job runs gpu-uvm on every workload and dma-device on "
                            f"{DEVICE_WORKLOAD})" if main_job else ")"))
    parser.add_argument("--oversubscription", type=_oversubscriptions,
                        default=MAIN_JOB_OVERSUBSCRIPTION if main_job
                        else DEFAULT_OVERSUBSCRIPTION,
                        help="footprint / local memory, one or a comma-separated list")
    parser.add_argument("--seed", type=int, default=1, help="seed of the built-in workloads")
    parser.add_argument("--ns-per-access", type=positive_int("--ns-per-access"),
                        help="time per access of the built-in workloads (ns; default: the "
                        "preset's)")
    parser.add_argument("--window-us", type=positive_float("--window-us"),
                        help="fault window (us; default: the preset's, 45 for gpu-uvm)")
    parser.add_argument("--batch-faults", type=positive_int("--batch-faults"),
                        help="faults per batch at most (default 256)")
    parser.add_argument("--batch-us", type=positive_float("--batch-us"),
                        help="service latency of one batch (us; default: the preset's, 45 for "
                        "gpu-uvm)")
    parser.add_argument("--pcie-a", type=positive_float("--pcie-a"),
                        help="PCIe curve: bandwidth (2a/pi) atan(b KiB) GiB/s (default a = 12)")
    parser.add_argument("--pcie-b", type=positive_float("--pcie-b"),
                        help="PCIe curve constant b (default 0.07292)")
    parser.add_argument("--json", default="build/sim/compare.json", help="JSON output")
    parser.add_argument("--csv", default="build/sim/compare.csv", help="CSV output")
    parser.add_argument("--plot", default="build/sim/compare.png", help="PNG plot output")
    if main_job:
        parser.add_argument("--no-rtl-check", action="store_true",
                            help="skip the RTL checks")
    else:
        parser.add_argument("--check-rtl", action="store_true",
                            help="also replay slices through the RTL (as make sim does)")
    return parser


def _preset(args, name: str):
    preset = PRESETS[name]
    changes = {}
    if args.window_us is not None:
        changes["window_us"] = args.window_us
    if args.batch_faults is not None:
        changes["batch_faults"] = args.batch_faults
    cost = {name: value for name, value in (("batch_us", args.batch_us),
                                            ("pcie_a", args.pcie_a), ("pcie_b", args.pcie_b))
            if value is not None}
    if cost:
        changes["cost"] = dataclasses.replace(preset.cost, **cost)
    return dataclasses.replace(preset, **changes) if changes else preset


def _workload_names(args) -> list[str]:
    if not args.workload:
        return list(workloads.STANDARD)
    names = [n.strip() for item in args.workload for n in item.split(",") if n.strip()]
    if not names:
        raise UsageError("--workload names no workload")
    unknown = [n for n in names if n not in workloads.WORKLOADS]
    if unknown:
        raise UsageError(f"unknown workload {unknown[0]!r} in --workload; known: "
                         f"{', '.join(workloads.WORKLOADS)}")
    return list(dict.fromkeys(names))


def _progress():
    from tqdm import tqdm

    def start(label: str, total: int):
        bar = tqdm(total=total, desc=label, unit="acc", unit_scale=True, leave=False,
                   disable=None, file=sys.stderr)

        def tick(n: int):
            bar.update(n)
            if bar.n >= total:
                bar.close()
        return tick
    return start


def _outputs(args) -> dict:
    out = {}
    for flag, attr in (("--json", "json"), ("--csv", "csv"), ("--plot", "plot")):
        try:
            out[attr] = report.check_output_path(getattr(args, attr), flag)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return out


def main(argv: list[str], *, main_job: bool = False) -> int:
    args = build_parser(main_job).parse_args(argv)
    if args.clock_mhz is not None and not args.trace:
        raise UsageError("--clock-mhz sets the clock of a --trace; the built-in workloads run "
                         f"at {workloads.CLOCK_MHZ:g} MHz (use --ns-per-access to change "
                         "their rate)")
    try:
        policies = check_policies([p.strip() for p in args.policies.split(",") if p.strip()])
    except ValueError as exc:
        raise UsageError(f"--policies {args.policies!r}: {exc}") from None
    outputs = _outputs(args)
    check_rtl = not args.no_rtl_check if main_job else args.check_rtl
    jobs = []  # (preset name, workload name or None for the trace)
    if args.trace:
        jobs = [(args.preset or "gpu-uvm", None)]
        try:
            trace = open_trace(args.trace, clock_mhz=args.clock_mhz or DEFAULT_TRACE_CLOCK_MHZ)
        except TraceError as exc:
            raise UsageError(str(exc)) from None
    else:
        names = _workload_names(args)
        presets = [args.preset] if args.preset else (
            ["gpu-uvm", "dma-device"] if main_job else ["gpu-uvm"])
        for preset in presets:
            chosen = [DEVICE_WORKLOAD] if main_job and preset == "dma-device" else names
            jobs += [(preset, name) for name in chosen]
    started = time.perf_counter()
    comparisons = []
    rtl_sources = {}
    progress = _progress()
    for ratio in args.oversubscription:
        for preset_name, name in jobs:
            preset = _preset(args, preset_name)
            if name is not None:
                params = workload_params(preset, name)
                if args.ns_per_access is not None:
                    params["ns_per_access"] = args.ns_per_access
                built = workloads.build(name, seed=args.seed, **params)
                source, label = built.trace, name
            else:
                source, label = trace, trace.name
            record_uvm = check_rtl and preset.device is None and "uvm" in policies and (
                "uvm_calls" not in rtl_sources and (name in (RTL_WORKLOAD, None)))
            record_windows = 40 if check_rtl and preset.device is not None and (
                "device" not in rtl_sources and name in (DEVICE_WORKLOAD, None)) else 0
            try:
                c = compare(source, preset=preset, policies=policies, oversubscription=ratio,
                            workload=label, record_uvm_calls=record_uvm,
                            record_windows=record_windows, progress=progress)
            except TraceError as exc:
                raise UsageError(str(exc)) from None
            comparisons.append(c)
            if record_uvm and c.uvm_calls:
                rtl_sources["uvm_calls"] = (c.uvm_calls, f" on {label}")
            if record_windows and c.device_runs:
                policy = "uvm" if "uvm" in c.device_runs else next(iter(c.device_runs))
                rtl_sources["device"] = (c.device_runs[policy], f" {policy} on {label}",
                                         source, preset.device.clock_mhz)
            print(report.comparison_table(c))
            print()
    if len(comparisons) > 1:
        print(report.summary_table(comparisons))
        print()
    report.write_json(outputs["json"], report.json_document(comparisons))
    report.write_atomic(outputs["csv"], report.csv_text(comparisons))
    report.write_atomic(outputs["plot"], report.plot_png(comparisons))
    print(f"written: {outputs['json']} (JSON), {outputs['csv']} (CSV), {outputs['plot']} "
          f"(plot of faults and speedup per policy per workload); "
          f"{time.perf_counter() - started:.0f} s")
    if not check_rtl:
        return 0
    return _rtl_checks(rtl_sources, policies)


def _rtl_checks(sources: dict, policies: list[str]) -> int:
    from sim.system import rtl_check
    from sim.system.compare import dra_requests

    print("\nRTL checks (Amaranth simulator against the golden models):")
    checks = []
    if "uvm_calls" in sources:
        calls, label = sources["uvm_calls"]
        checks.append(rtl_check.check_uvm_engine(calls, label=label))
    else:
        print("  uvm_tree engine: not checked (no uvm run of "
              f"{RTL_WORKLOAD} or of the trace under gpu-uvm)")
    if "device" in sources:
        run, label, trace, clock = sources["device"]
        checks.append(rtl_check.check_prefetch_buffer(run, label=label))
        checks.append(rtl_check.check_dra(dra_requests(trace, clock), label=f" {trace.name}"))
    else:
        print("  prefetch_buffer, dra: not checked (no dma-device run)")
    for check in checks:
        print("  " + check.line())
    passed = sum(c.passed for c in checks)
    verdict = "PASS" if checks and passed == len(checks) else "FAIL"
    print(f"{verdict}: {passed} of {len(checks)} RTL checks agree with the golden models")
    return 0 if verdict == "PASS" else 1

