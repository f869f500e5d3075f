"""Timed access traces: the request record, a columnar form, and the CSV file format.

A trace file is CSV with the header ``cycle,addr,length,tag,write``: one
access per line, cycles non-decreasing, addresses and lengths as decimal or
``0x`` hex, ``write`` as 1/0. Blank lines and lines starting with ``#`` are
ignored. Any malformed line raises ``TraceError`` naming file, line and field;
nothing is read past it.

Two forms of the same data:

- :class:`DmaRequest`, one object per access, for the per-block stages;
- :class:`AccessChunk`, numpy columns of consecutive accesses; an
  :class:`AccessTrace` is a named, re-iterable stream of chunks, so a long
  trace never needs all of itself in memory at once.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ADDRESS_BITS = 64
TAG_BITS = 8
MAX_LENGTH = (1 << 40) - 1
"""Longest access of a trace (1 TiB - 1): blocks that take less split it (``split_requests``)."""
HEADER = ("cycle", "addr", "length", "tag", "write")
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
    def from_columns(cls, cycle, addr, length, tag=0, write=False) -> AccessChunk:
        """A chunk from array-likes (scalars broadcast); values are checked by ``validate``."""
        cycle = np.asarray(cycle, dtype=np.int64)
        n = len(cycle)
        return cls(
            cycle=cycle,
            addr=np.asarray(addr, dtype=np.uint64).reshape(-1) if np.ndim(addr) else
            np.full(n, addr, dtype=np.uint64),
            length=np.broadcast_to(np.asarray(length, dtype=np.int64), (n,)).copy(),
            tag=np.broadcast_to(np.asarray(tag, dtype=np.uint8), (n,)).copy(),
            write=np.broadcast_to(np.asarray(write, dtype=bool), (n,)).copy(),
        )

    @classmethod
    def from_requests(cls, requests: Iterable[DmaRequest]) -> AccessChunk:
        rows = [(r.cycle, r.addr, r.length, r.tag, r.write) for r in requests]
        if not rows:
            return cls.empty()
        cycle, addr, length, tag, write = zip(*rows, strict=True)
        return cls(np.array(cycle, np.int64), np.array(addr, np.uint64),
                   np.array(length, np.int64), np.array(tag, np.uint8), np.array(write, bool))

    @classmethod
    def empty(cls) -> AccessChunk:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                   np.zeros(0, np.uint8), np.zeros(0, bool))

    def requests(self) -> Iterator[DmaRequest]:
        for c, a, n, t, w in zip(self.cycle.tolist(), self.addr.tolist(), self.length.tolist(),
                                 self.tag.tolist(), self.write.tolist(), strict=True):
            yield DmaRequest(c, a, n, t, w)

    def validate(self, where: str, first_index: int, previous_cycle: int) -> None:
        """Raise TraceError naming access ``first_index + i`` of ``where`` for the first bad one."""
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
            raise TraceError(f"{where}: access {first_index + int(index)}: {text}")


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


# ---------------------------------------------------------------------------
# CSV files


def _parse_int(text: str, field: str, where: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise TraceError(f"{where}: field {field!r} = {text!r} is not an integer") from None


def _csv_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank, non-comment lines; TraceError on binary data."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if "\x00" in line:
                    raise TraceError(f"{path}:{number}: binary data (a NUL byte): "
                                     "not a CSV trace")
                if line.strip() and not line.startswith("#"):
                    yield number, line
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: byte {exc.start} is not UTF-8 text: not a CSV trace") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None


def _csv_chunks(path: Path, chunk_lines: int) -> Iterator[AccessChunk]:
    lines = _csv_lines(path)
    first = next(lines, None)
    if first is None or tuple(h.strip() for h in next(csv.reader([first[1]]))) != HEADER:
        raise TraceError(f"{path}: first line must be the header {','.join(HEADER)}")
    rows: list[tuple[int, int, int, int, bool]] = []
    previous = -1
    for line_number, line in lines:
        fields = line.rstrip("\r\n").split(",")
        where = f"{path}:{line_number}"
        if len(fields) != len(HEADER):
            fields = next(csv.reader([line]))
            if len(fields) != len(HEADER):
                raise TraceError(f"{where}: {len(fields)} fields, expected {len(HEADER)}")
        cycle, addr, length, tag, write = (
            _parse_int(text, field, where) for field, text in zip(HEADER, fields, strict=True))
        if write not in (0, 1):
            raise TraceError(f"{where}: field 'write' must be 0 or 1")
        try:
            DmaRequest(cycle, addr, length, tag, bool(write))
        except TraceError as exc:
            raise TraceError(f"{where}: {exc}") from None
        if cycle < previous:
            raise TraceError(f"{where}: cycle {cycle} is before the previous line's")
        previous = cycle
        rows.append((cycle, addr, length, tag, bool(write)))
        if len(rows) == chunk_lines:
            yield _rows_to_chunk(rows)
            rows = []
    if rows:
        yield _rows_to_chunk(rows)


def _rows_to_chunk(rows) -> AccessChunk:
    cycle, addr, length, tag, write = zip(*rows, strict=True)
    return AccessChunk(np.array(cycle, np.int64), np.array(addr, np.uint64),
                       np.array(length, np.int64), np.array(tag, np.uint8),
                       np.array(write, bool))


def open_trace(path: str | Path, *, clock_mhz: float,
               chunk_lines: int = CHUNK_ACCESSES) -> AccessTrace:
    """A CSV trace file as an :class:`AccessTrace`, read in chunks as it is consumed.

    Raises TraceError at once if the file cannot be opened or its header is wrong;
    any later malformed line raises TraceError naming the file and line.
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a trace file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise TraceError(f"{path}: cannot be read ({exc.strerror})") from None
    trace = AccessTrace(path.stem, lambda: _csv_chunks(path, chunk_lines), clock_mhz=clock_mhz,
                        description=f"trace file {path}", checked=True, origin=str(path))
    next(iter(_csv_chunks(path, 1)), None)  # the header and first line, checked now
    return trace


def read_trace(path: str | Path) -> list[DmaRequest]:
    """Requests of a CSV trace file (format in the module docstring)."""
    return list(open_trace(path, clock_mhz=1.0).requests())


def write_trace(path: str | Path, requests: Iterable[DmaRequest]) -> None:
    """Write requests as a CSV trace file."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for r in requests:
            writer.writerow((r.cycle, hex(r.addr), r.length, r.tag, int(r.write)))


def write_trace_chunks(path: str | Path, chunks: Iterable[AccessChunk]) -> int:
    """Write chunks as a CSV trace file; returns the number of accesses written."""
    count = 0
    with Path(path).open("w", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        for chunk in chunks:
            for c, a, n, t, w in zip(chunk.cycle.tolist(), chunk.addr.tolist(),
                                     chunk.length.tolist(), chunk.tag.tolist(),
                                     chunk.write.tolist(), strict=True):
                handle.write(f"{c},{a:#x},{n},{t},{int(w)}\n")
            count += len(chunk)
    return count
