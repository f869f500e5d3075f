"""Timed access traces: the request record and its columnar form.

Two forms of the same data:

- :class:`DmaRequest`, one object per access, for the per-block stages;
- :class:`AccessChunk`, numpy columns of consecutive accesses; an
  :class:`AccessTrace` is a named, re-iterable stream of chunks, so a long
  trace never needs all of itself in memory at once.

Trace files (CSV and NPZ) are read and written by ``sim/tracefile.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

ADDRESS_BITS = 64
TAG_BITS = 8
MAX_LENGTH = (1 << 40) - 1
"""Longest access of a trace (1 TiB - 1): blocks that take less split it (``split_requests``)."""
CHUNK_ACCESSES = 1 << 16
_TOP = 1 << ADDRESS_BITS


class TraceError(ValueError):
    """A malformed trace or request."""


@dataclass(frozen=True)
class DmaRequest:
    """One access whose handshake completes at ``cycle``; ``length`` in bytes."""

    cycle: int
    addr: int
    length: int
    tag: int = 0
    write: bool = True

    def __post_init__(self) -> None:
        if self.cycle < 0:
            raise TraceError(f"cycle {self.cycle} is negative")
        if not 0 <= self.addr < _TOP:
            raise TraceError(f"addr {self.addr:#x} is outside the {ADDRESS_BITS}-bit address space")
        if not 1 <= self.length <= MAX_LENGTH:
            raise TraceError(f"length {self.length} is outside 1..{MAX_LENGTH}")
        if self.addr + self.length > _TOP:
            raise TraceError(f"request {self.addr:#x}+{self.length} runs past the address space")
        if not 0 <= self.tag < 1 << TAG_BITS:
            raise TraceError(f"tag {self.tag} is outside 0..{(1 << TAG_BITS) - 1}")

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.addr + self.length


def check_order(requests: Iterable[DmaRequest]) -> None:
    """Raise TraceError unless cycles never decrease."""
    previous = -1
    for index, request in enumerate(requests):
        if request.cycle < previous:
            raise TraceError(
                f"request {index} at cycle {request.cycle} comes before cycle {previous}"
            )
        previous = request.cycle


def split_requests(requests: Iterable[DmaRequest], max_bytes: int) -> Iterator[DmaRequest]:
    """Each request as consecutive requests of at most ``max_bytes`` (same cycle, tag, direction),
    as a DMA engine issues a long transfer."""
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    for r in requests:
        addr, left = r.addr, r.length
        while left > max_bytes:
            yield DmaRequest(r.cycle, addr, max_bytes, r.tag, r.write)
            addr += max_bytes
            left -= max_bytes
        yield r if addr == r.addr else DmaRequest(r.cycle, addr, left, r.tag, r.write)


# ---------------------------------------------------------------------------
# columnar form


@dataclass(frozen=True)
class AccessChunk:
    """Consecutive accesses as numpy columns: ``cycle`` int64, ``addr`` uint64,
    ``length`` int64 (bytes), ``tag`` uint8, ``write`` bool."""

    cycle: np.ndarray
    addr: np.ndarray
    length: np.ndarray
    tag: np.ndarray
    write: np.ndarray

    def __len__(self) -> int:
        return len(self.cycle)

    @classmethod
    def from_rows(cls, rows) -> AccessChunk:
        """A chunk from (cycle, addr, length, tag, write) tuples (checked by ``validate``)."""
        if not rows:
            return cls.empty()
        cycle, addr, length, tag, write = zip(*rows, strict=True)
        return cls(np.array(cycle, np.int64), np.array(addr, np.uint64),
                   np.array(length, np.int64), np.array(tag, np.uint8), np.array(write, bool))

    def slice(self, lo: int, hi: int) -> AccessChunk:
        """Accesses lo..hi-1 (views of the same arrays)."""
        return AccessChunk(self.cycle[lo:hi], self.addr[lo:hi], self.length[lo:hi],
                           self.tag[lo:hi], self.write[lo:hi])

    @classmethod
    def concat(cls, chunks: list[AccessChunk]) -> AccessChunk:
        """The accesses of ``chunks`` in order, as one chunk."""
        if len(chunks) == 1:
            return chunks[0]
        return cls(*(np.concatenate([getattr(c, f) for c in chunks])
                     for f in ("cycle", "addr", "length", "tag", "write")))

    @classmethod
    def from_requests(cls, requests: Iterable[DmaRequest]) -> AccessChunk:
        return cls.from_rows([(r.cycle, r.addr, r.length, r.tag, r.write) for r in requests])

    @classmethod
    def empty(cls) -> AccessChunk:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                   np.zeros(0, np.uint8), np.zeros(0, bool))

    def requests(self) -> Iterator[DmaRequest]:
        for c, a, n, t, w in zip(self.cycle.tolist(), self.addr.tolist(), self.length.tolist(),
                                 self.tag.tolist(), self.write.tolist(), strict=True):
            yield DmaRequest(c, a, n, t, w)

    def validate(self, where: str, first_index: int, previous_cycle: int,
                 noun: str = "access") -> None:
        """Raise TraceError naming ``noun`` ``first_index + i`` of ``where`` for the first
        bad one (``noun`` is "row" for a file's rows)."""
        n = len(self)
        columns = (self.addr, self.length, self.tag, self.write)
        if any(len(c) != n for c in columns):
            raise TraceError(f"{where}: columns of different lengths in one chunk")
        if not n:
            return
        problems = []
        bad = np.flatnonzero(self.cycle < 0)
        if bad.size:
            problems.append((bad[0], f"cycle {self.cycle[bad[0]]} is negative"))
        back = np.flatnonzero(np.diff(self.cycle, prepend=max(previous_cycle, 0)) < 0)
        if back.size:
            i = back[0]
            before = self.cycle[i - 1] if i else previous_cycle
            problems.append((i, f"cycle {self.cycle[i]} comes before cycle {before}"))
        bad = np.flatnonzero((self.length < 1) | (self.length > MAX_LENGTH))
        if bad.size:
            problems.append((bad[0], f"length {self.length[bad[0]]} is outside 1..{MAX_LENGTH}"))
        else:
            room = np.uint64(_TOP - 1) - self.addr  # bytes left after addr
            bad = np.flatnonzero(room < (self.length - 1).astype(np.uint64))
            if bad.size:
                problems.append((bad[0], f"access {int(self.addr[bad[0]]):#x}+"
                                 f"{self.length[bad[0]]} runs past the address space"))
        if problems:
            index, text = min(problems, key=lambda p: p[0])
            raise TraceError(f"{where}: {noun} {first_index + int(index)}: {text}")


class AccessTrace:
    """A named access trace at a stated clock: a re-iterable stream of :class:`AccessChunk`.

    ``source()`` returns a fresh iterator of chunks each time it is called (a
    file is read again, a workload regenerated from its seed); :meth:`chunks`
    checks every chunk (order across chunks included) as it streams.
    """

    def __init__(self, name: str, source: Callable[[], Iterable[AccessChunk]], *,
                 clock_mhz: float, description: str = "", checked: bool = False,
                 origin: str | None = None):
        if not isinstance(clock_mhz, int | float) or isinstance(clock_mhz, bool) or not (
                math.isfinite(clock_mhz) and clock_mhz > 0):
            raise ValueError(f"clock_mhz must be a positive finite number, got {clock_mhz!r}")
        self.name = name
        self.origin = origin or name  # what error messages name: the file, or the workload
        self.clock_mhz = float(clock_mhz)
        self.description = description
        self._source = source
        self._checked = checked

    def chunks(self) -> Iterator[AccessChunk]:
        index = 0
        previous = -1
        for chunk in self._source():
            if not len(chunk):
                continue
            if not self._checked:
                chunk.validate(self.origin, index, previous)
            elif chunk.cycle[0] < previous:
                raise TraceError(f"{self.origin}: access {index}: cycle {chunk.cycle[0]} comes "
                                 f"before cycle {previous}")
            index += len(chunk)
            previous = int(chunk.cycle[-1])
            yield chunk

    def requests(self) -> Iterator[DmaRequest]:
        for chunk in self.chunks():
            yield from chunk.requests()

    def cycles_to_us(self, cycles: float) -> float:
        return cycles / self.clock_mhz

    @classmethod
    def from_requests(cls, name: str, requests: Iterable[DmaRequest], *, clock_mhz: float,
                      description: str = "") -> AccessTrace:
        """A trace over a list of requests (kept in memory), in chunks of CHUNK_ACCESSES."""
        items = list(requests)

        def source():
            for start in range(0, len(items), CHUNK_ACCESSES):
                yield AccessChunk.from_requests(items[start:start + CHUNK_ACCESSES])

        return cls(name, source, clock_mhz=clock_mhz, description=description)
