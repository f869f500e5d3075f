"""Shared pieces of the cocotb benches: arguments, clock and reset, stream drivers.

Streams follow ``amaranth.lib.stream``: a port ``p`` becomes ``p__valid``,
``p__ready`` and ``p__payload``; a transfer happens on a rising clock edge
where valid and ready are both high. All randomness comes from ``random``,
which cocotb seeds with the run's seed.
"""

from __future__ import annotations

import json
import os
import random

from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

CLOCK_PERIOD_NS = 10


def bench_args() -> dict:
    """The ``bench_args`` given to ``run_cocotb``, plus ``params`` (the DUT's parameters)."""
    text = os.environ.get("DMAPREFETCH_BENCH_ARGS")
    if text is None:
        raise RuntimeError("DMAPREFETCH_BENCH_ARGS is unset: run this bench through "
                           "harness.run_cocotb")
    return json.loads(text)


async def start_clock_and_reset(dut, cycles: int = 2) -> None:
    """Start a 10 ns clock on ``dut.clk`` and hold the synchronous ``dut.rst`` for ``cycles``."""
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


class CycleCounter:
    """Counts rising edges of ``clk`` after reset; ``now`` is the cycle of the latest edge."""

    def __init__(self, clk):
        self.clk = clk
        self.now = 0

    async def run(self) -> None:
        while True:
            await RisingEdge(self.clk)
            self.now += 1


class StreamSource:
    """Drives ``<prefix>__valid`` / ``__payload``; holds each item until ``__ready``.

    ``idle_prob`` is the chance of inserting an idle cycle before an item.
    ``sent`` collects ``(cycle, value)`` for every completed transfer, where
    cycle counts rising edges since the source started.
    """

    def __init__(self, dut, prefix: str, clk, idle_prob: float = 0.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.idle_prob = idle_prob
        self.sent: list[tuple[int, int]] = []
        self.cycle = 0
        self.valid.value = 0

    async def idle(self, cycles: int) -> None:
        """Hold valid low for ``cycles`` clock cycles."""
        self.valid.value = 0
        for _ in range(cycles):
            await RisingEdge(self.clk)
            self.cycle += 1

    async def send(self, value: int) -> int:
        """Transfer one item; returns the cycle of its handshake."""
        while self.idle_prob and random.random() < self.idle_prob:
            await self.idle(1)
        self.valid.value = 1
        self.payload.value = value
        while True:
            await ReadOnly()
            accepted = bool(self.ready.value)
            await RisingEdge(self.clk)
            self.cycle += 1
            if accepted:
                break
        self.valid.value = 0
        self.sent.append((self.cycle, value))
        return self.cycle


class StreamSink:
    """Drives ``<prefix>__ready`` (high with ``ready_prob`` each cycle) and collects items.

    ``items`` holds ``(cycle, value)`` for every transfer.
    """

    def __init__(self, dut, prefix: str, clk, ready_prob: float = 1.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk
        self.ready_prob = ready_prob
        self.items: list[tuple[int, int]] = []
        self.cycle = 0
        self.ready.value = 0

    async def run(self) -> None:
        """Run forever; start with ``cocotb.start_soon(sink.run())``."""
        while True:
            ready = self.ready_prob >= 1.0 or random.random() < self.ready_prob
            self.ready.value = int(ready)
            await ReadOnly()
            taken = ready and bool(self.valid.value)
            value = int(self.payload.value) if taken else None
            await RisingEdge(self.clk)
            self.cycle += 1
            if taken:
                self.items.append((self.cycle, value))


class LayoutCodec:
    """Packs dicts into the integer of an ``amaranth.lib.data.StructLayout`` and back.

    Fields are plain unsigned or signed shapes (no nested layouts); a value out of
    its field's range raises ValueError rather than spilling into the next field.
    """

    def __init__(self, layout):
        from amaranth.hdl import Shape

        self.fields = []
        for name, field in layout:
            shape = Shape.cast(field.shape)
            self.fields.append((name, field.offset, shape.width, shape.signed))

    def pack(self, values: dict) -> int:
        word = 0
        for name, offset, width, signed in self.fields:
            value = values[name]
            low = -(1 << (width - 1)) if signed else 0
            if not low <= value < low + (1 << width):
                raise ValueError(f"field {name}={value} does not fit {width} bits")
            word |= (value & ((1 << width) - 1)) << offset
        return word

    def unpack(self, word: int) -> dict:
        values = {}
        for name, offset, width, signed in self.fields:
            value = (word >> offset) & ((1 << width) - 1)
            if signed and value >> (width - 1):
                value -= 1 << width
            values[name] = value
        return values


class Scoreboard:
    """Compares what the DUT did with what its golden model says, item by item.

    ``match(name, got, want)`` records the first difference of two sequences (or of
    two values); ``settle(label)`` raises AssertionError listing every difference
    recorded since the last settle (the first eight), or logs and counts the check.
    ``checked[name]`` counts the items compared under each name.
    """

    def __init__(self, log):
        self.log = log
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def match(self, name: str, got, want) -> None:
        if isinstance(want, (list, tuple)):
            got = list(got)
            want = list(want)
            self.checked[name] = self.checked.get(name, 0) + len(want)
            for i, (g, w) in enumerate(zip(got, want, strict=False)):
                if g != w:
                    self.problems.append(f"{name}[{i}]: RTL {g} != model {w}")
                    return
            if len(got) != len(want):
                self.problems.append(f"{name}: RTL has {len(got)} items, model {len(want)}")
            return
        self.checked[name] = self.checked.get(name, 0) + 1
        if got != want:
            self.problems.append(f"{name}: RTL {got} != model {want}")

    def note(self, problems) -> None:
        """Record problems found by other means (e.g. a conservation check)."""
        self.problems.extend(problems)

    def settle(self, label: str, summary: str = "") -> None:
        problems, self.problems = self.problems, []
        if problems:
            raise AssertionError(f"{label}:\n  " + "\n  ".join(problems[:8]))
        self.log.info("%s: %s match the model", label, summary or "all items")


class CoverageError(AssertionError):
    """A coverage report found required bins that stayed empty."""


class Coverage:
    """Functional coverage: named bins declared up front, counted while the bench runs.

    ``Coverage(name, required=[...], optional=[...])`` declares the bins (or
    ``declare(bin, required=...)`` one at a time); ``hit(bin, n=1)`` counts, and so
    does ``sample(bins)`` for an iterable of bin names (one count each); a bin that
    was not declared raises KeyError, so a typo cannot count into a bin of its own.
    ``report(log, directory)`` logs the table bin -> count (``*`` marks a required
    bin), writes ``coverage_<name>.json`` ({bin: count}, numbers only) into
    ``directory`` (default: the run directory of ``harness.run_cocotb``), and raises
    :class:`CoverageError` naming every required bin that stayed empty.
    """

    def __init__(self, name: str, required=(), optional=()):
        self.name = name
        self.counts: dict[str, int] = {}
        self.required: dict[str, bool] = {}
        for bin_name in required:
            self.declare(bin_name, required=True)
        for bin_name in optional:
            self.declare(bin_name, required=False)

    def declare(self, bin_name: str, *, required: bool = True) -> None:
        if not isinstance(bin_name, str) or not bin_name:
            raise TypeError(f"a bin name must be a non-empty str, got {bin_name!r}")
        if bin_name in self.counts:
            raise ValueError(f"coverage {self.name}: bin {bin_name!r} declared twice")
        self.counts[bin_name] = 0
        self.required[bin_name] = bool(required)

    def hit(self, bin_name: str, n: int = 1) -> None:
        if bin_name not in self.counts:
            raise KeyError(f"coverage {self.name}: no bin {bin_name!r}")
        if n < 0:
            raise ValueError(f"coverage {self.name}: negative count {n} for {bin_name!r}")
        self.counts[bin_name] += n

    def sample(self, bins) -> None:
        for bin_name in bins:
            self.hit(bin_name)

    def merge(self, other: Coverage) -> None:
        """Add the counts of ``other`` (same bins) into this one."""
        for bin_name, count in other.counts.items():
            self.hit(bin_name, count)

    def empty_required(self) -> list[str]:
        return [b for b, count in self.counts.items() if self.required[b] and not count]

    def table(self) -> str:
        width = max([len(b) for b in self.counts] + [3])
        lines = [f"coverage {self.name} ({sum(self.required.values())} required bins, *):"]
        for bin_name, count in self.counts.items():
            mark = "*" if self.required[bin_name] else " "
            flag = "  <-- EMPTY" if mark == "*" and not count else ""
            lines.append(f"  {mark} {bin_name:<{width}} {count:>10}{flag}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)

    def report(self, log=None, directory=None) -> dict[str, int]:
        """Log the table, write the JSON, raise CoverageError on an empty required bin."""
        if log is not None:
            log.info("%s", self.table())
        if directory is None:
            directory = os.environ.get("DMAPREFETCH_RUN_DIR")
        if directory is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
            path = os.path.join(directory, f"coverage_{safe}.json")
            with open(path, "w") as out:
                json.dump(self.counts, out, indent=1)
            if log is not None:
                log.info("coverage %s written to %s", self.name, path)
        empty = self.empty_required()
        if empty:
            raise CoverageError(
                f"coverage {self.name}: {len(empty)} required bins empty: {', '.join(empty)}"
            )
        return self.as_dict()
