"""Host cost model: what a fault batch and a transfer cost, in microseconds.

Sources (docs/system.md gives the detail):

- ``batch_us`` 45: UVMSmart (Ganguly et al., ISCA'19; gpgpu-sim_UVMSmart
  ``configs/GeForceGTX1080Ti/gpgpusim.config``: ``-page_fault_latency 66645``
  core cycles at 1481 MHz = 45.0 us), the far-fault service latency of one batch.
- PCIe transfer: UVMSmart's fitted curve (``gpu-sim.cc``: bandwidth
  ``(2a/pi) * atan(b * size_KiB)`` GiB/s with a = 12.0 for a 16 GB/s x16 link,
  b = 0.07292; time = bytes / bandwidth): 1.76 us for 4 KiB, 5.88 us for
  64 KiB, 82.1 us for 1 MiB.
- ``dma-device`` preset: ``batch_us`` 0.55, the median 64 B DMA read latency
  measured on a Xeon E5-2630 v4 host by pcie-bench (Neugebauer et al.,
  SIGCOMM'18; dataset ``lat_dma_sizes.txt``: 546 ns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1 << 30


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class HostCost:
    """Cost of one fault batch (``batch_us``) and of moving ``n`` contiguous bytes.

    ``pcie_a`` and ``pcie_b`` are the constants of the transfer curve: bandwidth
    ``(2 * pcie_a / pi) * atan(pcie_b * n / 1024)`` GiB/s for a transfer of ``n`` bytes.
    """

    batch_us: float = 45.0
    pcie_a: float = 12.0
    pcie_b: float = 0.07292

    def __post_init__(self):
        _positive_float("batch_us", self.batch_us)
        _positive_float("pcie_a", self.pcie_a)
        _positive_float("pcie_b", self.pcie_b)

    def bandwidth_gib_s(self, nbytes: int) -> float:
        """Effective bandwidth of one transfer of ``nbytes`` (GiB/s)."""
        if nbytes <= 0:
            raise ValueError(f"nbytes must be positive, got {nbytes}")
        return 2.0 * self.pcie_a / math.pi * math.atan(self.pcie_b * nbytes / 1024.0)

    def transfer_us(self, nbytes: int) -> float:
        """Time of one transfer of ``nbytes`` contiguous bytes (us)."""
        return nbytes / (self.bandwidth_gib_s(nbytes) * GIB) * 1e6

    def runs_us(self, mask: int, unit_bytes: int) -> tuple[float, int]:
        """Transfer time of the set bits of ``mask`` (units of ``unit_bytes``), each run of
        contiguous units coalesced into one transfer; returns (us, number of transfers)."""
        total = 0.0
        runs = 0
        while mask:
            low = mask & -mask
            start = low.bit_length() - 1
            length = ((mask >> start) + 1 & ~(mask >> start)).bit_length() - 1
            total += self.transfer_us(length * unit_bytes)
            runs += 1
            mask &= ~(((1 << length) - 1) << start)
        return total, runs
