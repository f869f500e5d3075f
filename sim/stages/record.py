"""``make sim`` stage: the baselines in the 128-bit record format.

Two logs the aggregator improves on: the base system's one record per DMA
write, and a page-granular dirty log (one record per distinct 4 KiB page, in
first-touch order, as Intel PML logs dirty pages: 256 records per MB written
sequentially). Every record is packed by the golden model; a slice is packed by
the RTL (``hw.record.RecordCodec`` in the Amaranth simulator) and must match
bit for bit.
"""

from __future__ import annotations

from amaranth.sim import Simulator

from hw.record import RecordCodec
from model.record import RECORD_BYTES, CloseReason, Record
from sim.system.report import number

PAGE = 4096
RTL_SLICE = 64


def write_log(requests) -> list[Record]:
    """One record per write, as the base system logs them."""
    return [Record(start=r.addr, size=r.length, count=1, tag=r.tag, reason=CloseReason.WINDOW)
            for r in requests if r.write]


def page_log(requests) -> list[Record]:
    """One record per distinct written 4 KiB page; ``count`` is the writes that touched it."""
    pages: dict[int, list[int]] = {}
    for request in requests:
        if request.write:
            for page in range(request.addr // PAGE, (request.end - 1) // PAGE + 1):
                pages.setdefault(page, [0, request.tag])[0] += 1
    return [Record(start=page * PAGE, size=PAGE, count=min(count, 0xFFFF), tag=tag,
                   reason=CloseReason.WINDOW)
            for page, (count, tag) in pages.items()]


def pack_in_rtl(records: list[Record]) -> list[int]:
    """Pack records through RecordCodec in the Amaranth simulator."""
    dut = RecordCodec()
    packed: list[int] = []

    async def testbench(ctx):
        for record in records:
            for name in ("start", "size", "count", "tag", "reason"):
                ctx.set(getattr(dut, f"pack_{name}"), int(getattr(record, name)))
            await ctx.tick()
            packed.append(ctx.get(dut.packed_word.as_value()))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return packed


def run(scenario) -> list[str]:
    per_write = write_log(scenario.requests)
    per_page = page_log(scenario.requests)
    records = per_write + per_page
    words = [r.pack() for r in records]
    if any(Record.unpack(w) != r for w, r in zip(words, records, strict=True)):
        raise AssertionError("model pack/unpack round trip failed")
    rtl_words = pack_in_rtl(records[:RTL_SLICE])
    mismatches = sum(a != b for a, b in zip(rtl_words, words, strict=False))
    if mismatches:
        raise AssertionError(f"RTL RecordCodec disagrees with the model on {mismatches} records")
    megabytes = sum(r.length for r in scenario.requests if r.write) / 2**20
    check = (f"record format: {len(words)} records packed by the model, the first "
             f"{len(rtl_words)} also by the RTL codec: 0 mismatches")
    if not per_write:
        return ["the scenario has no writes, so neither log holds a record", check]
    return [
        f"one record per write: {len(per_write)} records "
        f"({number(len(per_write) / megabytes)}/MB, {len(per_write) * RECORD_BYTES} ring bytes)",
        f"page-granular log:    {len(per_page)} records "
        f"({number(len(per_page) / megabytes)}/MB, {len(per_page) * RECORD_BYTES} ring bytes)",
        check,
    ]
