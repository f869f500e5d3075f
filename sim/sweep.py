"""Sweeps: the comparison over a grid, as independent tasks on a Dask cluster.

A task is one (workload or trace, preset, policy, oversubscription, seed); it
runs :func:`sim.system.compare.compare` for its policy (with ``none`` for the
speedup) and returns one row of numbers. :func:`expand_grid` builds the
tasks: ``uvm`` repeated for each threshold asked, a fixed window for each
width. :func:`run_sweep` writes each result to ``OUT/results/<task key>.json``
(whole or not at all) as it arrives and skips tasks whose result is already
there, so an interrupted sweep resumes where it stopped. Without a client it
runs the tasks in this process, in order.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from model import predictor
from sim import workloads
from sim.files import atomic_file

ROW_FIELDS = ("faults", "fault_batches", "prefetched_pages", "useful", "useless", "late",
              "pages_moved", "bytes_moved", "time_us", "speedup_vs_none")


@dataclass(frozen=True)
class Task:
    """One point of a sweep. ``source`` is a built-in workload name or a trace file path."""

    source: str
    preset: str
    policy: str
    oversubscription: float
    seed: int = 1

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        return (f"{Path(self.source).name} {self.preset} {self.policy} "
                f"{self.oversubscription:g}")


def expand_grid(sources: Sequence[str], presets: Sequence[str], policies: Sequence[str],
                oversubscriptions: Sequence[float], *, thresholds: Sequence[int] = (),
                windows: Sequence[int] = (), seed: int = 1) -> list[Task]:
    """Every combination; ``thresholds`` replace ``uvm`` by ``uvm:threshold=T`` for each T,
    ``windows`` add ``windowW`` for each W; ``none`` is always in (the speedup's base)."""
    names: list[str] = []
    for policy in policies:
        if policy == "uvm" and thresholds:
            names += [f"uvm:threshold={t}" for t in thresholds]
        else:
            names.append(policy)
    names += [f"window{w}" for w in windows]
    names = list(dict.fromkeys(["none", *names]))
    for name in names:
        predictor.parse_spec(name)
    return [Task(source, preset, name, float(ratio), seed)
            for source in sources for preset in presets for ratio in oversubscriptions
            for name in names]


def run_task(task: Task) -> dict:
    """Run one task; its row: the task's fields, the trace's and the policy's figures."""
    from sim.system.compare import PRESETS, compare, workload_params
    from sim.tracefile import open_trace

    preset = PRESETS[task.preset]
    if task.source in workloads.WORKLOADS:
        trace = workloads.build(task.source, seed=task.seed,
                                **workload_params(preset, task.source)).trace
    else:
        trace = open_trace(task.source)
    policies = ["none"] if task.policy == "none" else ["none", task.policy]
    c = compare(trace, preset=preset, policies=policies,
                oversubscription=task.oversubscription, workload=Path(task.source).name)
    stats = c.policies[task.policy].as_dict()
    return {**asdict(task), "workload": c.workload, "requests": c.requests,
            "pages_touched": c.pages_touched, "fault_lower_bound": c.fault_lower_bound,
            **{f: stats[f] for f in ROW_FIELDS}}


@dataclass
class SweepResult:
    rows: list[dict]
    ran: int
    reused: int


def _result_path(out: Path, task: Task) -> Path:
    return out / "results" / f"{task.key}.json"


def load_result(out: Path, task: Task) -> dict | None:
    """A task's result already written, or None (a missing or unreadable file)."""
    path = _result_path(out, task)
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and row.get("policy") == task.policy else None


def run_sweep(tasks: Sequence[Task], out: str | Path, *, client=None,
              on_result: Callable[[Task, dict], None] | None = None) -> SweepResult:
    """Run the tasks that have no result in ``out`` yet (on ``client``'s cluster, or here
    in order), writing each result as it arrives; rows come back in task order."""
    out = Path(out)
    done: dict[str, dict] = {}
    todo = []
    for task in tasks:
        row = load_result(out, task)
        if row is None:
            todo.append(task)
        else:
            done[task.key] = row
    reused = len(done)

    def keep(task: Task, row: dict) -> None:
        with atomic_file(_result_path(out, task), "w") as handle:
            json.dump(row, handle)
        done[task.key] = row
        if on_result is not None:
            on_result(task, row)

    if client is None:
        for task in todo:
            keep(task, run_task(task))
    elif todo:
        from distributed import as_completed

        futures = {client.submit(run_task, task, key=f"sim-task-{task.key}", pure=False): task
                   for task in todo}
        for future in as_completed(futures):
            keep(futures[future], future.result())
    return SweepResult([done[t.key] for t in tasks], ran=len(todo), reused=reused)


def rows_table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sweep's terminal table."""
    header = ["workload", "preset", "oversub", "policy", "faults", "useless", "time ms",
              "speedup"]
    body = [[r["workload"], r["preset"], f"{r['oversubscription']:.0%}", r["policy"],
             f"{r['faults']:,}", f"{r['useless']:,}", f"{r['time_us'] / 1000:,.2f}",
             f"{r['speedup_vs_none']:.2f}x"] for r in rows]
    return header, body


def check_ratios(values: Sequence[float]) -> list[float]:
    out = []
    for value in values:
        if not (math.isfinite(value) and value >= 1):
            raise ValueError(f"oversubscription {value!r} must be >= 1")
        out.append(float(value))
    return out
