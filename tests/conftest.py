"""pytest setup: import paths for the benches and a summary of the cocotb runs."""

import random
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
for directory in (str(REPO), str(TESTS)):
    if directory not in sys.path:
        sys.path.insert(0, directory)

_session_start = time.time()


@pytest.fixture
def seed() -> int:
    """A random seed for this test, $DMAPREFETCH_SEED when set; printed for replay."""
    from harness import SEED_ENV, choose_seed

    value = choose_seed()
    print(f"seed={value} (replay: {SEED_ENV}={value})")
    return value


@pytest.fixture
def rng(seed) -> random.Random:
    """A ``random.Random`` seeded by the ``seed`` fixture."""
    return random.Random(seed)


def pytest_terminal_summary(terminalreporter):
    """The cocotb runs of this session (results.xml written since its start), per bench and
    simulator: runs, cocotb tests passed, random transactions compared with the golden
    model and simulator seconds (from the bench.json the harness leaves beside them)."""
    import json

    from cocotb_tools.check_results import get_results

    rows: dict[tuple[str, str], list] = {}
    for results in (REPO / "build" / "cocotb").glob("*/*/results.xml"):
        summary = results.parent / "bench.json"
        if results.stat().st_mtime < _session_start or not summary.exists():
            continue
        try:
            num_tests, num_failed = get_results(results)
        except RuntimeError:
            continue
        bench = json.loads(summary.read_text())
        row = rows.setdefault((bench["test_module"], bench["simulator"]),
                              [0, 0, 0, 0, bench["unit"], 0.0])
        row[0] += 1
        row[1] += num_tests
        row[2] += num_failed
        row[3] += bench["transactions"]
        row[4] = row[4] or bench["unit"]
        row[5] += bench["seconds"]
    if not rows:
        return
    write = terminalreporter.write_line
    write("cocotb benches of this session (random transactions compared with the golden model; "
          "seconds of simulation, build excluded, summed over parallel workers):")
    write(f"  {'bench':<24}{'simulator':<11}{'runs':>5}{'tests':>7}{'failed':>7}"
          f"{'transactions':>14}  {'unit':<9}{'seconds':>9}")
    for (module, simulator), (runs, tests, failed, count, unit, seconds) in sorted(rows.items()):
        write(f"  {module:<24}{simulator:<11}{runs:>5}{tests:>7}{failed:>7}{count:>14,}  "
              f"{unit:<9}{seconds:>9.1f}")
    if any(module == "cocotb_record" and simulator == "icarus" and failed
           for (module, simulator), (_, _, failed, *_) in rows.items()):
        write("  (the failures under Icarus on cocotb_record include the harness self-test, "
              "which fails a deliberately wrong DUT)")
