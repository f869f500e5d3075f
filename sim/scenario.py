"""The built-in default scenario of ``make sim``: a timed mix of DMA streams."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sim.trace import DmaRequest


@dataclass(frozen=True)
class StreamSpec:
    """A sequential DMA stream: ``chunk`` bytes per request from ``base`` upwards."""

    name: str
    base: int
    chunk: int
    tag: int
    weight: float
    read_fraction: float = 0.0


DEFAULT_STREAMS = (
    StreamSpec("nic-rx", base=0x1_0000_0000, chunk=1536, tag=0, weight=4.0),
    StreamSpec("disk", base=0x2_0000_0000, chunk=4096, tag=2, weight=2.0, read_fraction=0.3),
    StreamSpec("gpu-copy", base=0x3_0000_0000, chunk=256, tag=3, weight=3.0),
    StreamSpec("log", base=0x4_0000_0000, chunk=64, tag=0, weight=1.0),
)


@dataclass
class Scenario:
    """A named, timed request trace at a stated clock."""

    name: str
    clock_mhz: float
    requests: list[DmaRequest] = field(default_factory=list)
    description: str = ""

    def cycles_to_us(self, cycles: int) -> float:
        return cycles / self.clock_mhz


def mixed_streams(
    *, requests: int, streams=DEFAULT_STREAMS, seed: int = 1, max_gap: int = 6,
    scatter_fraction: float = 0.02, burst: int = 8,
) -> list[DmaRequest]:
    """Interleave sequential streams in bursts, with random gaps and a few scattered writes."""
    if requests < 1:
        raise ValueError(f"requests must be positive, got {requests}")
    rng = random.Random(seed)
    offsets = {spec.name: 0 for spec in streams}
    weights = [spec.weight for spec in streams]
    out: list[DmaRequest] = []
    cycle = 0
    while len(out) < requests:
        spec = rng.choices(streams, weights)[0]
        for _ in range(rng.randint(1, burst)):
            if len(out) == requests:
                break
            cycle += rng.randint(0, max_gap)
            if rng.random() < scatter_fraction:
                addr = rng.randrange(0x8_0000_0000, 0x9_0000_0000, 64)
                out.append(DmaRequest(cycle, addr, 64, tag=0, write=True))
                continue
            write = rng.random() >= spec.read_fraction
            out.append(DmaRequest(cycle, spec.base + offsets[spec.name], spec.chunk,
                                  tag=spec.tag, write=write))
            offsets[spec.name] += spec.chunk
            cycle += 1
    return out


def default_scenario(*, requests: int = 20_000, seed: int = 1) -> Scenario:
    """Four interleaved DMA streams (NIC, disk, GPU copy, log) at 250 MHz."""
    return Scenario(
        name="mixed-dma",
        clock_mhz=250.0,
        requests=mixed_streams(requests=requests, seed=seed),
        description="4 interleaved sequential DMA streams (1536 B, 4 KiB with 30% reads, "
        "256 B, 64 B) in bursts of 1-8, gaps of 0-6 cycles, 2% scattered 64 B writes",
    )
