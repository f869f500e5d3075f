"""``python -m sim sweep``: the comparison over a grid, as tasks on a Dask cluster.

    python -m sim sweep [--workload NAME ...] [--trace FILE ...] [--preset P[,P]]
        [--policies a,b] [--oversubscription R,R] [--threshold T,T] [--window W,W]
        [--out DIR] [--workers N | --scheduler ADDRESS | --jobqueue slurm|pbs|lsf
        [--jobqueue-option key=value ...] [--jobs N] [--print-job-script]] [--serial]

Each (workload, preset, policy, oversubscription) is one task. Results go to
DIR/results/ one file per task as they arrive; a sweep run again with the same
grid and DIR runs only what is missing. At the end DIR/sweep.json, .csv and .png
hold every row. A local cluster of --workers processes is the default.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

from sim import workloads
from sim.cli import HelpFormatter, Parser, UsageError, positive_int
from sim.cli.compare import _oversubscriptions
from sim.report import format_table
from sim.sweep import ROW_FIELDS, expand_grid, load_result, rows_table, run_sweep
from sim.system import report
from sim.system.compare import PRESETS, check_policies

JOBQUEUES = ("slurm", "pbs", "lsf")


def _ints(flag: str):
    def parse(text: str) -> list[int]:
        try:
            values = [int(v, 0) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: integers, comma-separated") \
                from None
        if not values:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} names no value")
        return values
    return parse


def build_parser() -> Parser:
    parser = Parser(prog="python -m sim sweep", description=__doc__.splitlines()[0],
                    formatter_class=HelpFormatter)
    parser.add_argument("--workload", action="append", metavar="NAME",
                        help="built-in workloads (repeat or comma-separate; default: all "
                        "standard ones unless --trace is given)")
    parser.add_argument("--trace", action="append", default=[], metavar="FILE",
                        help="trace files (.csv at 1000 MHz, or .npz) to add to the grid")
    parser.add_argument("--preset", default="gpu-uvm", help="presets, comma-separated")
    parser.add_argument("--policies", default="none,uvm,window16,oracle",
                        help="policies (any compare name, e.g. uvm:threshold=40, window24)")
    parser.add_argument("--oversubscription", type=_oversubscriptions,
                        default="1,1.25,1.5", help="ratios")
    parser.add_argument("--threshold", type=_ints("--threshold"), default=[],
                        help="uvm thresholds to sweep (replaces uvm by uvm:threshold=T)")
    parser.add_argument("--window", type=_ints("--window"), default=[],
                        help="fixed-window widths to add (windowW)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the built-in workloads")
    parser.add_argument("--out", default="build/sweep", help="results folder")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=positive_int("--workers"), default=2,
                         help="processes of the local Dask cluster")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    cluster.add_argument("--jobqueue", choices=JOBQUEUES,
                         help="a dask-jobqueue cluster on this batch system")
    cluster.add_argument("--serial", action="store_true", help="no cluster: run in order here")
    parser.add_argument("--jobqueue-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the jobqueue cluster (cores, memory, queue, "
                        "walltime, account, ...); repeat")
    parser.add_argument("--jobs", type=positive_int("--jobs"), default=1,
                        help="batch jobs to start (jobqueue)")
    parser.add_argument("--print-job-script", action="store_true",
                        help="print the batch job script the jobqueue cluster submits, and stop")
    return parser


def _jobqueue_cluster(kind: str, options: list[str]):
    import dask_jobqueue

    values = {}
    for item in options:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--jobqueue-option {item!r}: write KEY=VALUE, e.g. cores=4")
        value = value.strip()
        values[key.strip()] = int(value) if value.isdigit() else value
    for needed in ("cores", "memory"):
        if needed not in values:
            raise UsageError(f"--jobqueue {kind} needs --jobqueue-option {needed}=...")
    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster,
           "lsf": dask_jobqueue.LSFCluster}[kind]
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--jobqueue {kind}: {exc}") from None


def _client(args):
    """(client, cluster to close) for the chosen cluster, or (None, None) for --serial."""
    if args.serial:
        return None, None
    from distributed import Client, LocalCluster

    if args.scheduler:
        try:
            return Client(args.scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"--scheduler {args.scheduler}: cannot connect ({exc})") from None
    if args.jobqueue:
        cluster = _jobqueue_cluster(args.jobqueue, args.jobqueue_option)
        cluster.scale(jobs=args.jobs)
        return Client(cluster), cluster
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.print_job_script:
        if not args.jobqueue:
            raise UsageError("--print-job-script needs --jobqueue slurm|pbs|lsf")
        cluster = _jobqueue_cluster(args.jobqueue, args.jobqueue_option)
        try:
            print(cluster.job_script())
        finally:
            cluster.close()
        return 0
    presets = [p.strip() for p in args.preset.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or not presets:
        raise UsageError(f"--preset {args.preset!r}: choose among {', '.join(PRESETS)}")
    sources = []
    if args.workload or not args.trace:
        names = [n.strip() for item in (args.workload or [",".join(workloads.STANDARD)])
                 for n in item.split(",") if n.strip()]
        bad = [n for n in names if n not in workloads.WORKLOADS]
        if bad or not names:
            raise UsageError(f"unknown workload {bad[0] if bad else ''!r} in --workload; "
                             f"known: {', '.join(workloads.WORKLOADS)}")
        sources += names
    for trace in args.trace:
        if not Path(trace).is_file():
            raise UsageError(f"--trace {trace}: no such file")
        sources.append(str(Path(trace).resolve()))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    try:
        check_policies(policies)
        tasks = expand_grid(sources, presets, policies, args.oversubscription,
                            thresholds=args.threshold, windows=args.window, seed=args.seed)
        if any(t < 1 or t > 100 for t in args.threshold):
            raise ValueError("--threshold values must be in 1..100")
        if any(w < 1 or w > 512 for w in args.window):
            raise ValueError("--window values must be in 1..512")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")
    started = time.perf_counter()
    missing = [task for task in tasks if load_result(out, task) is None]
    client, cluster = _client(args) if missing else (None, None)
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="sweep", unit="task", disable=None, leave=False)
    try:
        where = "here, in order" if args.serial else "(all done before)" if not missing else (
            f"on {args.scheduler}" if args.scheduler else
            f"on a {args.jobqueue} cluster" if args.jobqueue else
            f"on a local cluster of {args.workers} workers")
        policies_run = len({t.policy for t in tasks})
        print(f"sweep: {len(tasks)} tasks ({len(sources)} workloads or traces x {len(presets)} "
              f"presets x {len(args.oversubscription)} ratios x {policies_run} policies) "
              f"{where}; results in {out}/results")
        result = run_sweep(tasks, out, client=client, on_result=lambda task, row: bar.update())
    finally:
        bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    header, body = rows_table(result.rows)
    print(format_table(header, body))
    rows = result.rows
    report.write_json(out / "sweep.json", rows)
    text = io.StringIO()
    fields = ["workload", "source", "preset", "oversubscription", "policy", "seed", "requests",
              "pages_touched", "fault_lower_bound", *ROW_FIELDS]
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([row[f] for f in fields] for row in rows)
    report.write_atomic(out / "sweep.csv", text.getvalue())
    groups: dict[tuple, dict] = {}
    for row in rows:
        groups.setdefault((row["workload"], row["preset"], row["oversubscription"]), {})
    for row in rows:
        key = (row["workload"], row["preset"], row["oversubscription"])
        none = next(r for r in rows if r["policy"] == "none" and
                    (r["workload"], r["preset"], r["oversubscription"]) == key)
        groups[key][row["policy"]] = (row["faults"], none["faults"], row["speedup_vs_none"])
    report.write_atomic(out / "sweep.png", report.bars_png(
        [(f"{w}\n{p} {r:.0%}", values) for (w, p, r), values in groups.items()]))
    print(f"{result.ran} tasks run, {result.reused} taken from earlier results; "
          f"{time.perf_counter() - started:.1f} s; written {out}/sweep.json, sweep.csv, "
          "sweep.png")
    return 0
