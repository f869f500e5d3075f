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
    """Count the cocotb benches this session ran, per simulator (results.xml written since
    start; the harness leaves the simulator's name beside it)."""
    from cocotb_tools.check_results import get_results

    counts: dict[str, list[int]] = {}
    for results in (REPO / "build" / "cocotb").glob("*/*/results.xml"):
        if results.stat().st_mtime < _session_start:
            continue
        try:
            num_tests, num_failed = get_results(results)
        except RuntimeError:
            continue
        marker = results.parent / "simulator"
        simulator = marker.read_text().strip() if marker.exists() else "icarus"
        row = counts.setdefault(simulator, [0, 0, 0])
        row[0] += 1
        row[1] += num_tests
        row[2] += num_failed
    for simulator, (benches, tests, failed) in sorted(counts.items()):
        terminalreporter.write_line(
            f"cocotb under {simulator}: {benches} bench runs, {tests} cocotb tests, "
            f"{tests - failed} passed, {failed} failed"
            + (" (the harness self-test fails a deliberately wrong DUT)"
               if simulator == "icarus" else "")
        )
