"""Golden model of the 128-bit aggregated DMA write record.

Bit layout, packed from bit 0 upwards in this order (``RECORD_FIELDS``):

====  ========  =====  ===========================================================
bits  field     width  meaning
====  ========  =====  ===========================================================
0     start     64     byte address of the first byte covered
64    size      32     bytes covered, ``[start, start + size)``; 1 .. 2**32 - 1
96    count     16     writes merged into the record; 1 .. 2**16 - 1
112   tag       8      VMC metadata tag (0 = untagged)
120   reason    3      why the record closed, a ``CloseReason``
123   reserved  5      written as zero; a nonzero value is malformed
====  ========  =====  ===========================================================

As bytes the record is the 128-bit integer in little-endian order (16 bytes),
so ``start`` occupies bytes 0..7.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from model.checks import check_instance, check_int

RECORD_FIELDS: tuple[tuple[str, int], ...] = (
    ("start", 64),
    ("size", 32),
    ("count", 16),
    ("tag", 8),
    ("reason", 3),
    ("reserved", 5),
)
RECORD_BITS = sum(width for _, width in RECORD_FIELDS)
RECORD_BYTES = RECORD_BITS // 8
FIELD_WIDTH = dict(RECORD_FIELDS)
FIELD_OFFSET = {
    name: sum(width for _, width in RECORD_FIELDS[:index])
    for index, (name, _) in enumerate(RECORD_FIELDS)
}

assert RECORD_BITS == 128


class CloseReason(enum.IntEnum):
    """Why a record left the correlator. Values 0, 6 and 7 are reserved."""

    WINDOW = 1  # no write joined it for ``window`` cycles (also the final drain)
    EVICT = 2  # least recently updated entry, evicted to make room for a new record
    COUNT = 3  # one more write would overflow ``count``
    SIZE = 4  # growing the range would overflow ``size``
    FLUSH = 5  # VMC flush command


MAX_SIZE = (1 << FIELD_WIDTH["size"]) - 1
MAX_COUNT = (1 << FIELD_WIDTH["count"]) - 1
MAX_START = (1 << FIELD_WIDTH["start"]) - 1
MAX_TAG = (1 << FIELD_WIDTH["tag"]) - 1


@dataclass(frozen=True)
class Record:
    """One aggregated record; construction validates every field (TypeError for a
    wrong type, ValueError for a wrong value); ``reason`` may be given as its int."""

    start: int
    size: int
    count: int
    tag: int
    reason: CloseReason

    def __post_init__(self) -> None:
        check_int("start", self.start, 0, MAX_START)
        check_int("size", self.size, 1, MAX_SIZE)
        check_int("count", self.count, 1, MAX_COUNT)
        check_int("tag", self.tag, 0, MAX_TAG)
        check_int("reason", self.reason)
        try:
            reason = CloseReason(self.reason)
        except ValueError:
            known = ", ".join(f"{r.value} {r.name}" for r in CloseReason)
            raise ValueError(
                f"reason must be a CloseReason ({known}), got {self.reason!r}"
            ) from None
        object.__setattr__(self, "reason", reason)

    @property
    def end(self) -> int:
        """One past the last byte covered."""
        return self.start + self.size

    def pack(self) -> int:
        """The record as a 128-bit integer (layout in the module docstring)."""
        value = 0
        for name, _ in RECORD_FIELDS:
            if name != "reserved":
                value |= int(getattr(self, name)) << FIELD_OFFSET[name]
        return value

    def to_bytes(self) -> bytes:
        """The record as 16 little-endian bytes."""
        return self.pack().to_bytes(RECORD_BYTES, "little")

    @classmethod
    def unpack(cls, value: int) -> Record:
        """Decode a 128-bit integer: TypeError for another type, ValueError when reserved
        bits are set or a field is malformed."""
        check_int("value", value)
        if not 0 <= value < 1 << RECORD_BITS:
            raise ValueError(
                f"value: packed record {value:#x} does not fit in {RECORD_BITS} bits"
            )
        fields = {
            name: (value >> FIELD_OFFSET[name]) & ((1 << width) - 1)
            for name, width in RECORD_FIELDS
        }
        if fields.pop("reserved"):
            raise ValueError("value: record field reserved must be zero")
        return cls(**fields)

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """Decode 16 little-endian bytes."""
        check_instance("data", data, (bytes, bytearray))
        if len(data) != RECORD_BYTES:
            raise ValueError(
                f"data: packed record must be {RECORD_BYTES} bytes, got {len(data)}"
            )
        return cls.unpack(int.from_bytes(data, "little"))
