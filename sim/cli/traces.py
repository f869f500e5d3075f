"""Trace commands: ``record`` (a real program under lackey), ``import-nsys`` (an Nsight
Systems report) and ``convert`` (CSV <-> NPZ). Each writes one trace file, whole or
not at all, and prints what went in and came out."""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from sim import nsys
from sim.cli import HelpFormatter, Parser, UsageError, positive_float, positive_int
from sim.record import TIMES, LackeyError, LackeyStats, parse_range, record
from sim.system.report import check_output_path, size
from sim.trace import TraceError
from sim.tracefile import open_trace, trace_format, write_trace_file


def _output(path: str, flag: str) -> Path:
    try:
        trace_format(path)
        return check_output_path(path, flag)
    except (TraceError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _range(text: str):
    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _summary(path: Path, count: int, started: float) -> str:
    return (f"wrote {path}: {count:,} accesses, {size(path.stat().st_size)}, "
            f"{time.perf_counter() - started:.1f} s")


def record_main(argv: list[str]) -> int:
    """python -m sim record [options] -- CMD ARGS..."""
    if "--" in argv:
        split = argv.index("--")
        options, command = argv[:split], argv[split + 1:]
    else:
        options, command = argv, []
    parser = Parser(prog="python -m sim record",
                    description="Record a real program's loads and stores under valgrind's "
                    "lackey tool as an access trace: python -m sim record [options] -- CMD "
                    "ARGS...", formatter_class=HelpFormatter)
    parser.add_argument("-o", "--output", help="trace file (.csv or .npz); default "
                        "build/traces/<program>.npz")
    parser.add_argument("--time", choices=TIMES, default="instructions",
                        help="cycle of an access: the index of its instruction, or its own "
                        "index among the accesses")
    parser.add_argument("--clock-mhz", type=positive_float("--clock-mhz"), default=1000.0,
                        help="clock of those cycles (1000: one instruction or access per ns)")
    parser.add_argument("--range", action="append", type=_range, default=[], metavar="LO-HI",
                        help="keep only accesses inside this address range (LO-HI or "
                        "LO+SIZE, hex or decimal); repeat for several")
    parser.add_argument("--min-size", type=positive_int("--min-size"), default=1,
                        help="keep only accesses of at least this many bytes")
    parser.add_argument("--max-accesses", type=positive_int("--max-accesses"),
                        help="stop after this many kept accesses")
    parser.add_argument("--show-output", action="store_true",
                        help="let the program print to the terminal (discarded otherwise)")
    args = parser.parse_args(options)
    if not command:
        raise UsageError("no command to record: python -m sim record [options] -- CMD ARGS...")
    out = _output(args.output or f"build/traces/{Path(command[0]).name}.npz", "--output")
    started = time.perf_counter()
    try:
        run = record(command, time=args.time, ranges=args.range, min_size=args.min_size,
                     max_accesses=args.max_accesses,
                     program_output=None if args.show_output else subprocess.DEVNULL)
        count = write_trace_file(out, run.chunks, clock_mhz=args.clock_mhz)
    except LackeyError as exc:
        raise UsageError(str(exc)) from None
    stats: LackeyStats = run.stats
    if count == 0:
        out.unlink(missing_ok=True)
        raise UsageError(f"no access of {' '.join(command)} passed the filters "
                         f"({stats.data_lines:,} data accesses seen); nothing written")
    print(f"recorded {' '.join(command)} (exit status {run.returncode}): "
          f"{stats.instructions:,} instructions, {stats.data_lines:,} data accesses "
          f"({stats.loads:,} loads, {stats.stores:,} stores, {stats.modifies:,} modifies), "
          f"{stats.kept:,} kept")
    print(_summary(out, count, started))
    return 0


def import_main(argv: list[str]) -> int:
    parser = Parser(prog="python -m sim import-nsys",
                    description="Turn an Nsight Systems report exported to SQLite (nsys "
                    "export --type sqlite) into an access trace",
                    formatter_class=HelpFormatter)
    parser.add_argument("report", help="the .sqlite export")
    parser.add_argument("-o", "--output", help="trace file (.csv or .npz); default "
                        "build/traces/<report>.npz")
    parser.add_argument("--sources", default="gpu",
                        help="comma-separated: gpu (GPU page faults), cpu (CPU page faults), "
                        "memcpy (unified-memory migrations)")
    args = parser.parse_args(argv)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [s for s in sources if s not in nsys.SOURCES]
    if unknown or not sources:
        raise UsageError(f"--sources {args.sources!r}: choose among {', '.join(nsys.SOURCES)}")
    out = _output(args.output or f"build/traces/{Path(args.report).stem}.npz", "--output")
    started = time.perf_counter()
    try:
        trace = nsys.import_report(args.report, sources)
        count = write_trace_file(out, trace.chunks(), clock_mhz=trace.clock_mhz)
    except TraceError as exc:
        raise UsageError(str(exc)) from None
    if count == 0:
        out.unlink(missing_ok=True)
        raise UsageError(f"{args.report}: the chosen tables hold no rows; nothing written")
    print(f"imported {args.report} ({', '.join(sources)})")
    print(_summary(out, count, started))
    return 0


def convert_main(argv: list[str]) -> int:
    parser = Parser(prog="python -m sim convert",
                    description="Convert a trace file between CSV and NPZ (by suffix)")
    parser.add_argument("source", help="trace file (.csv or .npz)")
    parser.add_argument("target", help="trace file to write (.csv or .npz)")
    parser.add_argument("--clock-mhz", type=positive_float("--clock-mhz"),
                        help="clock of a CSV source's cycles (default 1000); an NPZ source "
                        "records its own")
    args = parser.parse_args(argv)
    out = _output(args.target, "target")
    if Path(args.source).resolve() == out.resolve():
        raise UsageError("source and target are the same file")
    started = time.perf_counter()
    try:
        trace = open_trace(args.source, clock_mhz=args.clock_mhz)
        count = write_trace_file(out, trace.chunks(), clock_mhz=trace.clock_mhz)
    except TraceError as exc:
        raise UsageError(str(exc)) from None
    print(_summary(out, count, started))
    return 0
