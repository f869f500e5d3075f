"""Timed DMA request traces: the record type and a CSV file format.

A trace file is CSV with the header ``cycle,addr,length,tag,write``: one
request per line, cycles non-decreasing, addresses and lengths as decimal or
``0x`` hex, ``write`` as 1/0. Blank lines and lines starting with ``#`` are
ignored. Any malformed line raises ``TraceError`` naming file, line and field;
nothing is read past it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ADDRESS_BITS = 64
TAG_BITS = 8
MAX_LENGTH = (1 << 32) - 1
HEADER = ("cycle", "addr", "length", "tag", "write")


class TraceError(ValueError):
    """A malformed trace or request."""


@dataclass(frozen=True)
class DmaRequest:
    """One DMA request whose handshake completes at ``cycle``; ``length`` in bytes."""

    cycle: int
    addr: int
    length: int
    tag: int = 0
    write: bool = True

    def __post_init__(self) -> None:
        if self.cycle < 0:
            raise TraceError(f"cycle {self.cycle} is negative")
        if not 0 <= self.addr < 1 << ADDRESS_BITS:
            raise TraceError(f"addr {self.addr:#x} is outside the {ADDRESS_BITS}-bit address space")
        if not 1 <= self.length <= MAX_LENGTH:
            raise TraceError(f"length {self.length} is outside 1..{MAX_LENGTH}")
        if self.addr + self.length > 1 << ADDRESS_BITS:
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


def _parse_int(text: str, field: str, where: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise TraceError(f"{where}: field {field!r} = {text!r} is not an integer") from None


def read_trace(path: str | Path) -> list[DmaRequest]:
    """Requests of a CSV trace file (format in the module docstring)."""
    path = Path(path)
    requests: list[DmaRequest] = []
    with path.open(newline="") as handle:
        lines = [
            (number, line)
            for number, line in enumerate(handle, start=1)
            if line.strip() and not line.startswith("#")
        ]
    if not lines or tuple(h.strip() for h in next(csv.reader([lines[0][1]]))) != HEADER:
        raise TraceError(f"{path}: first line must be the header {','.join(HEADER)}")
    for line_number, line in lines[1:]:
        row = next(csv.reader([line]))
        where = f"{path}:{line_number}"
        if len(row) != len(HEADER):
            raise TraceError(f"{where}: {len(row)} fields, expected {len(HEADER)}")
        values = {
            field: _parse_int(text, field, where)
            for field, text in zip(HEADER, row, strict=True)
        }
        if values["write"] not in (0, 1):
            raise TraceError(f"{where}: field 'write' must be 0 or 1")
        try:
            request = DmaRequest(**{**values, "write": bool(values["write"])})
        except TraceError as exc:
            raise TraceError(f"{where}: {exc}") from None
        if requests and request.cycle < requests[-1].cycle:
            raise TraceError(f"{where}: cycle {request.cycle} is before the previous line's")
        requests.append(request)
    return requests


def write_trace(path: str | Path, requests: Iterable[DmaRequest]) -> None:
    """Write requests as a CSV trace file."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for r in requests:
            writer.writerow((r.cycle, hex(r.addr), r.length, r.tag, int(r.write)))
