"""pytest setup: import paths for the benches and a summary of the cocotb runs."""

import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
for directory in (str(REPO), str(TESTS)):
    if directory not in sys.path:
        sys.path.insert(0, directory)

_session_start = time.time()


def pytest_terminal_summary(terminalreporter):
    """Count the cocotb benches this session ran under Icarus (results.xml written since start)."""
    from cocotb_tools.check_results import get_results

    benches = tests = failed = 0
    for results in (REPO / "build" / "cocotb").glob("*/*/results.xml"):
        if results.stat().st_mtime < _session_start:
            continue
        try:
            num_tests, num_failed = get_results(results)
        except RuntimeError:
            continue
        benches += 1
        tests += num_tests
        failed += num_failed
    if benches:
        terminalreporter.write_line(
            f"cocotb under Icarus: {benches} bench runs, {tests} cocotb tests, "
            f"{tests - failed} passed, {failed} failed "
            "(the harness self-test fails a deliberately wrong DUT)"
        )
