"""``make bench``: every block's benchmark, each printing its figures as a table.

    python -m sim.bench [--only block[,block]] [--quick]

Benchmarks live in ``sim/benchmarks/<block>.py`` with ``run(quick: bool) -> None``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import sim.benchmarks


def benchmark_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(sim.benchmarks.__path__))


def main(argv: list[str] | None = None) -> int:
    names = benchmark_names()
    parser = argparse.ArgumentParser(
        prog="python -m sim.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(names))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = wanted
    for name in names:
        print(f"\n=== {name} ===")
        started = time.monotonic()
        importlib.import_module(f"sim.benchmarks.{name}").run(quick=args.quick)
        print(f"({name}: {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
