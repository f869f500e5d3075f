"""cocotb bench: RecordCodec (pack and unpack, latency 1) against model.record."""

import random

import cocotb
from benchlib import Scoreboard, bench_args, start_clock_and_reset
from cocotb.triggers import FallingEdge, RisingEdge

from model.record import (
    FIELD_WIDTH,
    MAX_COUNT,
    MAX_SIZE,
    MAX_START,
    MAX_TAG,
    RECORD_BITS,
    CloseReason,
    Record,
)

DATA_FIELDS = ("start", "size", "count", "tag", "reason")


def random_record(rng: random.Random) -> Record:
    """A valid record; each field is a boundary value a quarter of the time."""

    def pick(low, high):
        return rng.choice((low, high, low + 1, high - 1)) if rng.random() < 0.25 else rng.randint(
            low, high
        )

    return Record(
        start=pick(0, MAX_START),
        size=pick(1, MAX_SIZE),
        count=pick(1, MAX_COUNT),
        tag=pick(0, MAX_TAG),
        reason=rng.choice(list(CloseReason)),
    )


def model_unpack(word: int) -> tuple[dict, bool]:
    """Fields and malformed flag the codec must report for an arbitrary 128-bit word."""
    fields = {}
    offset = 0
    for name in DATA_FIELDS:
        fields[name] = (word >> offset) & ((1 << FIELD_WIDTH[name]) - 1)
        offset += FIELD_WIDTH[name]
    try:
        record = Record.unpack(word)
    except ValueError:
        return fields, True
    assert fields == {name: int(getattr(record, name)) for name in DATA_FIELDS}
    return fields, False


class RecordCodecTB:
    """Drives both halves of the codec each cycle and checks them one cycle later."""

    def __init__(self, dut):
        self.dut = dut
        self.scoreboard = Scoreboard(dut._log)

    async def check_stream(self, records: list[Record], words: list[int]) -> None:
        dut = self.dut
        pending = None
        for record, word in zip(records, words, strict=True):
            await FallingEdge(dut.clk)
            if pending is not None:
                self.compare(*pending)
            for name in DATA_FIELDS:
                getattr(dut, f"pack_{name}").value = int(getattr(record, name))
            dut.unpack_word.value = word
            await RisingEdge(dut.clk)
            pending = (record, word)
        await FallingEdge(dut.clk)
        self.compare(*pending)
        self.scoreboard.settle("record codec", f"{len(words)} packs and unpacks")

    def compare(self, record: Record, word: int) -> None:
        board = self.scoreboard
        packed = int(self.dut.packed_word.value)
        board.match(f"pack {record}", hex(packed), hex(record.pack()))
        fields, malformed = model_unpack(word)
        got = {name: int(getattr(self.dut, f"unpack_{name}").value) for name in DATA_FIELDS}
        board.match(f"unpack {word:#034x}", got, fields)
        board.match(f"malformed flag of {word:#034x}", int(self.dut.unpack_malformed.value),
                    int(malformed))


@cocotb.test()
async def random_and_boundary_records(dut):
    """Random records (boundary-biased) packed; random and packed words unpacked."""
    rng = random.Random(random.getrandbits(64))
    count = bench_args()["transactions"]
    await start_clock_and_reset(dut)
    records = [random_record(rng) for _ in range(count)]
    words = []
    for _ in records:
        kind = rng.random()
        if kind < 0.5:
            words.append(random_record(rng).pack())
        elif kind < 0.6:
            words.append(random_record(rng).pack() | rng.randint(1, 31) << 123)
        elif kind < 0.65:
            zero_field = rng.choice(((64, 32), (96, 16)))  # size or count zero
            words.append(random_record(rng).pack() & ~(((1 << zero_field[1]) - 1) << zero_field[0]))
        else:
            words.append(rng.getrandbits(RECORD_BITS))
    tb = RecordCodecTB(dut)
    await tb.check_stream(records, words)
    compared = sum(tb.scoreboard.checked.values())
    assert compared == 3 * count, f"{compared} comparisons for {count} records"


@cocotb.test()
async def directed_extremes(dut):
    """All-zero and all-one fields, every reason, reserved bits one at a time."""
    await start_clock_and_reset(dut)
    records = []
    words = []
    for reason in CloseReason:
        records.append(Record(start=0, size=1, count=1, tag=0, reason=reason))
        records.append(
            Record(start=MAX_START, size=MAX_SIZE, count=MAX_COUNT, tag=MAX_TAG, reason=reason)
        )
    for bit in range(RECORD_BITS):
        words.append(1 << bit)
    words.append((1 << RECORD_BITS) - 1)
    for raw_reason in range(8):
        words.append(raw_reason << 120)
    records = (records * (len(words) // len(records) + 1))[: len(words)]
    tb = RecordCodecTB(dut)
    await tb.check_stream(records, words)
