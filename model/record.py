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


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"record field {name!r} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"record field {name!r} = {value} is outside {low}..{high}")


@dataclass(frozen=True)
class Record:
    """One aggregated record; construction validates every field."""

    start: int
    size: int
    count: int
    tag: int
    reason: CloseReason

    def __post_init__(self) -> None:
        _check_range("start", self.start, 0, MAX_START)
        _check_range("size", self.size, 1, MAX_SIZE)
        _check_range("count", self.count, 1, MAX_COUNT)
        _check_range("tag", self.tag, 0, MAX_TAG)
        try:
            reason = CloseReason(self.reason)
        except ValueError:
            raise ValueError(
                f"record field 'reason' = {self.reason!r} is not a CloseReason"
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
        """Decode a 128-bit integer; reserved bits set or a bad field raise ValueError."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"packed record must be an int, got {type(value).__name__}")
        if not 0 <= value < 1 << RECORD_BITS:
            raise ValueError(f"packed record {value:#x} does not fit in {RECORD_BITS} bits")
        fields = {
            name: (value >> FIELD_OFFSET[name]) & ((1 << width) - 1)
            for name, width in RECORD_FIELDS
        }
        if fields.pop("reserved"):
            raise ValueError("record field 'reserved' must be zero")
        return cls(**fields)

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """Decode 16 little-endian bytes."""
        if len(data) != RECORD_BYTES:
            raise ValueError(f"packed record must be {RECORD_BYTES} bytes, got {len(data)}")
        return cls.unpack(int.from_bytes(data, "little"))
