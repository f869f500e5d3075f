"""model.record by hand, and RecordCodec against it in the Amaranth simulator."""

import pytest
from amaranth.sim import Simulator

from hw.record import AggregatedRecord, CloseReasonShape, RecordCodec
from model.record import (
    MAX_COUNT,
    MAX_SIZE,
    MAX_START,
    MAX_TAG,
    RECORD_BITS,
    CloseReason,
    Record,
)


def test_field_positions_by_hand():
    record = Record(start=0x1122334455667788, size=0x99AABBCC, count=0xDDEE, tag=0x5A,
                    reason=CloseReason.FLUSH)
    expected = (
        0x1122334455667788
        | 0x99AABBCC << 64
        | 0xDDEE << 96
        | 0x5A << 112
        | 5 << 120
    )
    assert record.pack() == expected
    assert record.to_bytes() == bytes.fromhex("8877665544332211ccbbaa99eedd5a05")
    assert Record.unpack(expected) == record
    assert Record.from_bytes(record.to_bytes()) == record


def test_reason_codes_are_fixed():
    assert [(r.name, r.value) for r in CloseReason] == [
        ("WINDOW", 1), ("EVICT", 2), ("COUNT", 3), ("SIZE", 4), ("FLUSH", 5)]
    assert {r.name: r.value for r in CloseReasonShape} == {r.name: r.value for r in CloseReason}


def test_amaranth_layout_matches_model():
    layout = AggregatedRecord.as_shape()
    assert layout.size == 128
    assert [(name, field.offset, field.width) for name, field in layout] == [
        ("start", 0, 64), ("size", 64, 32), ("count", 96, 16), ("tag", 112, 8),
        ("reason", 120, 3), ("reserved", 123, 5)]


@pytest.mark.parametrize(("field", "value", "error"), [
    ("start", -1, ValueError), ("start", MAX_START + 1, ValueError), ("size", 0, ValueError),
    ("size", MAX_SIZE + 1, ValueError), ("count", 0, ValueError),
    ("count", MAX_COUNT + 1, ValueError), ("tag", -1, ValueError),
    ("tag", MAX_TAG + 1, ValueError), ("reason", 0, ValueError), ("reason", 6, ValueError),
    ("start", 1.5, TypeError), ("tag", True, TypeError), ("reason", True, TypeError),
    ("reason", "WINDOW", TypeError),
])
def test_bad_field_names_the_field(field, value, error):
    fields = dict(start=0, size=1, count=1, tag=0, reason=CloseReason.WINDOW)
    fields[field] = value
    with pytest.raises(error, match=rf"^{field} must"):
        Record(**fields)


def test_malformed_words_are_refused():
    good = Record(start=1, size=2, count=3, tag=4, reason=CloseReason.EVICT).pack()
    with pytest.raises(ValueError, match="reserved"):
        Record.unpack(good | 1 << 127)
    with pytest.raises(ValueError, match="reason"):
        Record.unpack(good & ~(7 << 120) | 7 << 120)
    with pytest.raises(ValueError, match="128 bits"):
        Record.unpack(1 << 128)
    with pytest.raises(ValueError, match="16 bytes"):
        Record.from_bytes(b"\0" * 15)


def test_extremes_round_trip():
    for reason in CloseReason:
        for record in (
            Record(start=0, size=1, count=1, tag=0, reason=reason),
            Record(start=MAX_START, size=MAX_SIZE, count=MAX_COUNT, tag=MAX_TAG, reason=reason),
        ):
            assert Record.unpack(record.pack()) == record
            assert record.pack() < 1 << 123


def test_codec_in_amaranth_simulator(seed, rng):
    dut = RecordCodec()
    records = [
        Record(start=rng.getrandbits(64), size=rng.randint(1, MAX_SIZE),
               count=rng.randint(1, MAX_COUNT), tag=rng.getrandbits(8),
               reason=rng.choice(list(CloseReason)))
        for _ in range(60)
    ]
    words = [r.pack() for r in records[::3]] + [rng.getrandbits(RECORD_BITS) for _ in range(36)]
    words += [records[0].pack() & ~(0xFFFFFFFF << 64), records[1].pack() & ~(0xFFFF << 96)]
    words += [records[2].pack() | 1 << 124, records[3].pack() | 6 << 120]

    async def testbench(ctx):
        for record, word in zip(records, words, strict=True):
            for name in ("start", "size", "count", "tag", "reason"):
                ctx.set(getattr(dut, f"pack_{name}"), int(getattr(record, name)))
            ctx.set(dut.unpack_word, word)
            await ctx.tick()
            assert ctx.get(dut.packed_word.as_value()) == record.pack(), f"seed={seed}"
            try:
                expected = Record.unpack(word)
            except ValueError:
                assert ctx.get(dut.unpack_malformed) == 1, f"seed={seed} word={word:#x}"
            else:
                assert ctx.get(dut.unpack_malformed) == 0
                got = Record(**{name: ctx.get(getattr(dut, f"unpack_{name}"))
                                for name in ("start", "size", "count", "tag", "reason")})
                assert got == expected, f"seed={seed}"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
