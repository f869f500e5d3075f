"""What a comparison shows: terminal tables with their reading, JSON, CSV and PNG plots.

Output files are written whole or not at all: each goes to a temporary file
beside its target and is renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

from sim.files import atomic_file
from sim.report import format_table
from sim.system.compare import Comparison

MIB = 1 << 20
CSV_FIELDS = ("workload", "preset", "oversubscription", "requests", "pages_touched",
              "footprint_bytes", "capacity_bytes", "policy", "faults", "fault_batches",
              "prefetched_pages", "useful", "useless", "late", "pages_moved", "bytes_moved",
              "transfers", "evicted_pages", "policy_calls", "compute_us", "service_us",
              "time_us", "speedup_vs_none")


def number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and thousands separators; never
    rounds a non-zero value to 0 (0.000244, not 0.00)."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - int(f"{magnitude:e}".split("e")[1]))
    return f"{value:,.{decimals}f}"


def size(nbytes: int) -> str:
    """Bytes in the largest binary unit that keeps the figure >= 1."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{number(nbytes / scale)} {unit}"
    return f"{nbytes} B"


def reduction(faults: int, base: int) -> float:
    """Fraction of ``base``'s faults avoided."""
    return 1 - faults / base if base else 0.0


def comparison_table(c: Comparison) -> str:
    """The policy table of one comparison, with a heading and its reading."""
    none = c.policies.get("none")
    unit = "pages" if c.preset == "gpu-uvm" else "lines"
    head = (f"{c.workload} [{c.preset}, oversubscription {c.oversubscription:.0%}]: "
            f"{c.requests:,} requests, {c.pages_touched:,} {unit} touched, footprint "
            f"{size(c.footprint_bytes)}, local memory {size(c.capacity_bytes)}, "
            f"{c.windows:,} fault windows")
    rows = []
    for name, s in c.policies.items():
        vs = "" if none is None or name == "none" else f"{-reduction(s.faults, none.faults):+.1%}"
        rows.append([name, f"{s.faults:,}", vs, f"{s.fault_batches:,}",
                     f"{s.prefetched_pages:,}", f"{s.useful:,}", f"{s.useless:,}",
                     f"{s.late:,}", number(s.bytes_moved / MIB), number(s.time_us / 1000),
                     f"{s.speedup_vs_none:.2f}x"])
    table = format_table(["policy", "faults", "vs none", "batches", "prefetched", "useful",
                          "useless", "late", "moved MiB", "time ms", "speedup"], rows)
    lines = [head, table]
    reading = comparison_reading(c)
    if reading:
        lines.append(reading)
    if c.dra:
        d = c.dra
        if d["writes"]:
            lines.append(
                f"DRA (K={d['entries']}, 1 ms window): {d['writes']:,} writes of "
                f"{size(d['bytes_written'])} -> {d['records']:,} records = "
                f"{number(d['records_per_mb'])} per MB written (offline optimum "
                f"{d['optimum_records']:,}, a page log {d['page_log_records']:,}, one record per "
                f"write {d['writes']:,})")
        else:
            lines.append("DRA: the trace has no writes, so no records")
    return "\n".join(lines)


def comparison_reading(c: Comparison) -> str:
    """One sentence on what the figures mean: reductions against none and the oracle."""
    p = c.policies
    if "none" not in p:
        return ""
    base = p["none"].faults
    parts = []
    if "uvm" in p:
        uvm = reduction(p["uvm"].faults, base)
        parts.append(f"uvm avoids {uvm:.1%} of the faults of none" if uvm >= 0 else
                     f"uvm takes {p['uvm'].faults / max(base, 1):.1f}x the faults of none")
    if "oracle" in p:
        oracle = reduction(p["oracle"].faults, base)
        parts.append(f"the oracle avoids {oracle:.1%}")
        if "uvm" in p and oracle > 0 and uvm >= 0:
            parts.append(f"so uvm reaches {uvm / oracle:.0%} of the oracle's reduction")
    if c.preset != "gpu-uvm":
        parts.append(f"no policy can take fewer than {c.fault_lower_bound:,} faults (lines "
                     "touched in their block's first fault window)")
    best = min((n for n in p if n not in ("none", "oracle")), key=lambda n: p[n].time_us,
               default=None)
    if best is not None:
        parts.append(f"fastest non-oracle policy: {best} ({p[best].speedup_vs_none:.2f}x)")
    return "; ".join(parts) + "." if parts else ""


def summary_table(comparisons: Sequence[Comparison]) -> str:
    """Faults and speedup of every policy on every workload, and where uvm is furthest
    from the oracle."""
    names = list(comparisons[0].policies)
    rows = []
    for c in comparisons:
        rows.append([c.workload, c.preset, f"{c.oversubscription:.0%}"]
                    + [f"{c.policies[n].faults:,} / {c.policies[n].speedup_vs_none:.2f}x"
                       if n in c.policies else "" for n in names])
    lines = ["faults / speedup vs none per workload:",
             format_table(["workload", "preset", "oversub"] + names, rows)]
    for preset in dict.fromkeys(c.preset for c in comparisons):
        gaps = [(c.policies["uvm"].faults - c.policies["oracle"].faults, c) for c in comparisons
                if c.preset == preset and "uvm" in c.policies and "oracle" in c.policies]
        if not gaps:
            continue
        gap, c = max(gaps, key=lambda g: g[0] / max(1, g[1].policies["none"].faults))
        base = c.policies["none"].faults
        lines.append(f"{preset}: uvm is furthest from the oracle on {c.workload} at "
                     f"{c.oversubscription:.0%}: {c.policies['uvm'].faults:,} faults against "
                     f"{c.policies['oracle'].faults:,}, a gap of {gap / max(base, 1):.1%} of "
                     f"none's {base:,} faults")
    return "\n".join(lines)


def json_document(comparisons: Sequence[Comparison]):
    """One object for one comparison, a list of objects for several."""
    objects = [c.as_json() for c in comparisons]
    return objects[0] if len(objects) == 1 else objects


def csv_text(comparisons: Sequence[Comparison]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for c in comparisons:
        for name, s in c.policies.items():
            row = {"workload": c.workload, "preset": c.preset,
                   "oversubscription": c.oversubscription, "requests": c.requests,
                   "pages_touched": c.pages_touched, "footprint_bytes": c.footprint_bytes,
                   "capacity_bytes": c.capacity_bytes, "policy": name, **s.as_dict()}
            writer.writerow([row[f] for f in CSV_FIELDS])
    return out.getvalue()


def plot_png(comparisons: Sequence[Comparison]) -> bytes:
    """Two panels: faults (relative to none) and speedup vs none, per policy per workload."""
    groups = []
    for c in comparisons:
        base = c.policies.get("none")
        groups.append((f"{c.workload}\n{c.preset} {c.oversubscription:.0%}",
                       {name: (s.faults, base.faults if base else s.faults, s.speedup_vs_none)
                        for name, s in c.policies.items()}))
    return bars_png(groups)


def bars_png(groups: Sequence[tuple[str, dict[str, tuple[int, int, float]]]]) -> bytes:
    """The comparison plot of ``(label, {policy: (faults, faults of none, speedup)})``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _ in groups]
    names = list(dict.fromkeys(name for _, values in groups for name in values))
    width = 0.8 / max(1, len(names))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(labels) + 3), 8))
    for k, name in enumerate(names):
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(groups))]
        faults = [max(v[name][0], 0.5) / max(1, v[name][1]) if name in v else 0
                  for _, v in groups]
        speedup = [v[name][2] if name in v else 0 for _, v in groups]
        axes[0].bar(xs, faults, width, label=name)
        axes[1].bar(xs, speedup, width, label=name)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("faults / faults of none (log)")
    axes[0].set_title("Faults per policy relative to no prefetching (lower is better)")
    axes[1].set_ylabel("speedup vs none")
    axes[1].set_title("Time per policy: speedup over no prefetching (higher is better)")
    axes[1].axhline(1.0, color="grey", linewidth=0.8)
    for ax in axes:
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
    handles, legend = axes[0].get_legend_handles_labels()
    fig.legend(handles, legend, loc="upper center", ncols=min(8, len(names)), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()


def check_output_path(path: str | Path, flag: str) -> Path:
    """The path of an output file, checked before any work is done: ValueError naming
    ``flag`` when it is a directory or its folder cannot be made (the folder itself is
    created only when the file is written)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file name")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: {folder} is not writable")
    return path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all (``sim.files.atomic_file``)."""
    with atomic_file(path) as out:
        out.write(data.encode() if isinstance(data, str) else data)


def write_json(path: Path, document) -> None:
    write_atomic(path, json.dumps(document, indent=2) + "\n")
