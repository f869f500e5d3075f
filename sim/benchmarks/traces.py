"""Traces in and sweeps out: lackey conversion speed, NPZ against CSV, sweep scaling.

1. A real program of about 10^7 data accesses (GNU sort on 15,000 shuffled
   numbers): lackey alone (log to /dev/null), the conversion alone (of the same
   run's log read back from a file) and ``python -m sim record`` end to end
   (lackey's log through a pipe into the converter, the NPZ written).
2. The same trace and two built-in ones as CSV and NPZ: file size and the time
   to read every chunk back, with their ratios.
3. A sweep grid on a local Dask cluster of 1 and of 2 workers: wall time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim import workloads
from sim.record import LackeyStats, convert_lackey, read_blocks
from sim.report import print_table
from sim.sweep import expand_grid, run_sweep
from sim.tracefile import open_trace, write_trace_file


def _timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def _read_all(path: Path) -> int:
    return sum(len(c) for c in open_trace(path).chunks())


def lackey(work: Path, lines: int) -> Path:
    numbers = work / "numbers.txt"
    numbers.write_text("".join(f"{(i * 7919) % lines}\n" for i in range(lines)))
    command = ["sort", "-n", str(numbers)]
    valgrind = ["valgrind", "--tool=lackey", "--trace-mem=yes"]
    _, alone = _timed(lambda: subprocess.run(valgrind + ["--log-file=/dev/null", *command],
                                             stdout=subprocess.DEVNULL, check=True))
    log = work / "lackey.log"
    subprocess.run(valgrind + [f"--log-file={log}", *command], stdout=subprocess.DEVNULL,
                   check=True)
    stats = LackeyStats()

    def convert():
        with log.open("rb") as handle:
            return sum(len(c) for c in convert_lackey(read_blocks(handle), stats=stats))
    accesses, converting = _timed(convert)
    out = work / "sort.npz"
    _, recording = _timed(lambda: subprocess.run(
        [sys.executable, "-m", "sim", "record", "-o", str(out), "--", *command],
        stdout=subprocess.DEVNULL, check=True))
    log.unlink()
    print(f"GNU sort on {lines:,} numbers: {stats.instructions:,} instructions, "
          f"{accesses:,} data accesses")
    print_table(["step", "seconds", "accesses/s", "x lackey alone"], [
        ["lackey alone (log to /dev/null)", f"{alone:.1f}", f"{accesses / alone:,.0f}", "1.00"],
        ["conversion alone (log from a file)", f"{converting:.1f}",
         f"{accesses / converting:,.0f}", f"{converting / alone:.2f}"],
        ["record: lackey -> pipe -> converter -> NPZ", f"{recording:.1f}",
         f"{accesses / recording:,.0f}", f"{recording / alone:.2f}"],
    ])
    return out


def formats(work: Path, traces: dict[str, Path]) -> None:
    rows = []
    for label, npz in traces.items():
        csv = work / f"{npz.stem}.csv"
        write_trace_file(csv, open_trace(npz).chunks())
        count, csv_s = _timed(lambda csv=csv: _read_all(csv))
        _, npz_s = _timed(lambda npz=npz: _read_all(npz))
        csv_b, npz_b = csv.stat().st_size, npz.stat().st_size
        rows.append([label, f"{count:,}", f"{csv_b / 2**20:,.1f}", f"{npz_b / 2**20:,.2f}",
                     f"{csv_b / npz_b:.1f}", f"{csv_s:.2f}", f"{npz_s:.3f}",
                     f"{csv_s / npz_s:.1f}"])
        csv.unlink()
    print("\nCSV against NPZ (read = every chunk back as numpy columns, checked):")
    print_table(["trace", "accesses", "CSV MiB", "NPZ MiB", "x smaller", "CSV read s",
                 "NPZ read s", "x faster"], rows)


def sweeps(work: Path, quick: bool) -> None:
    from distributed import Client, LocalCluster

    sources = ["pagerank", "strided", "bfs"] if quick else [
        "pagerank", "strided", "bfs", "spmv", "sequential", "random"]
    tasks = expand_grid(sources, ["gpu-uvm"], ["none", "uvm", "window16", "oracle"], [1.0, 1.25])
    rows = []
    results = []
    for workers in (1, 2):
        out = work / f"sweep{workers}"
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            result, seconds = _timed(lambda out=out, client=client: run_sweep(
                tasks, out, client=client))
        results.append(result.rows)
        rows.append([workers, len(tasks), f"{seconds:.1f}"])
    base = float(rows[0][2])
    for row in rows:
        row.append(f"{base / float(row[2]):.2f}")
    same = "equal" if results[0] == results[1] else "DIFFERENT"
    print(f"\nsweep of {len(tasks)} tasks ({len(sources)} workloads x 4 policies x 2 ratios) on "
          f"a local cluster; the two runs' rows are {same}:")
    print_table(["workers", "tasks", "wall s", "x one worker"], rows)


def run(quick: bool = False) -> None:
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is missing: make setup installs it")
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        recorded = lackey(work, 2_000 if quick else 15_000)
        built = {}
        for label, workload, params in (
                ("random 1M" if not quick else "random 0.1M", "random",
                 {"mib": 512, "accesses": 100_000 if quick else 1_000_000}),
                ("sequential 1M" if not quick else "sequential 0.13M", "sequential",
                 {"mib": 32 if quick else 256})):
            path = work / f"{workload}.npz"
            trace = workloads.build(workload, **params).trace
            write_trace_file(path, trace.chunks(), clock_mhz=trace.clock_mhz)
            built[label] = path
        formats(work, {"sort (lackey)": recorded, **built})
        sweeps(work, quick)
