"""The 128-bit aggregated-record format in hardware, and a pack/unpack block.

The layout is the one of ``model.record`` (field order and widths come from
``RECORD_FIELDS``; an assertion at import keeps the two in step).
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from model.record import FIELD_OFFSET, FIELD_WIDTH, RECORD_BITS, RECORD_FIELDS
from model.record import CloseReason as ModelCloseReason

__all__ = ["CloseReasonShape", "AggregatedRecord", "RecordCodec"]


class CloseReasonShape(enum.Enum, shape=unsigned(FIELD_WIDTH["reason"])):
    """Why a record closed; the values of ``model.record.CloseReason``."""

    WINDOW = ModelCloseReason.WINDOW.value
    EVICT = ModelCloseReason.EVICT.value
    COUNT = ModelCloseReason.COUNT.value
    SIZE = ModelCloseReason.SIZE.value
    FLUSH = ModelCloseReason.FLUSH.value


class AggregatedRecord(data.Struct):
    """One record, 128 bits, fields from bit 0: start, size, count, tag, reason, reserved."""

    start: unsigned(FIELD_WIDTH["start"])
    size: unsigned(FIELD_WIDTH["size"])
    count: unsigned(FIELD_WIDTH["count"])
    tag: unsigned(FIELD_WIDTH["tag"])
    reason: CloseReasonShape
    reserved: unsigned(FIELD_WIDTH["reserved"])


_LAYOUT = AggregatedRecord.as_shape()
assert _LAYOUT.size == RECORD_BITS
assert [(name, field.offset) for name, field in _LAYOUT] == [
    (name, FIELD_OFFSET[name]) for name, _ in RECORD_FIELDS
]

_DATA_FIELDS = [(name, width) for name, width in RECORD_FIELDS if name != "reserved"]


class RecordCodec(wiring.Component):
    """Packs separate fields into a record and unpacks a record into fields.

    Both directions are registered: outputs follow inputs by one clock cycle.
    ``unpack_malformed`` is high exactly when ``model.record.Record.unpack``
    refuses the word: reserved bits set, a reason ``CloseReason`` does not
    define, a size of 0 or a count of 0.

    Ports: ``pack_<field>`` in, ``packed_word`` out (128 bits); ``unpack_word`` in,
    ``unpack_<field>`` and ``unpack_malformed`` out.
    """

    def __init__(self):
        members = {}
        for name, width in _DATA_FIELDS:
            members[f"pack_{name}"] = In(width)
        members["packed_word"] = Out(AggregatedRecord)
        members["unpack_word"] = In(RECORD_BITS)
        for name, width in _DATA_FIELDS:
            members[f"unpack_{name}"] = Out(width)
        members["unpack_malformed"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for name, _ in _DATA_FIELDS:
            m.d.sync += self.packed_word[name].eq(getattr(self, f"pack_{name}"))
        m.d.sync += self.packed_word.reserved.eq(0)

        word = Signal(AggregatedRecord)
        m.d.comb += word.eq(self.unpack_word)
        for name, _ in _DATA_FIELDS:
            m.d.sync += getattr(self, f"unpack_{name}").eq(word[name])
        reason_known = word.reason.as_value().matches(*[r.value for r in CloseReasonShape])
        m.d.sync += self.unpack_malformed.eq(
            (word.reserved != 0) | ~reason_known | (word.size == 0) | (word.count == 0)
        )
        return m
