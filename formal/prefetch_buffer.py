"""Bounded proof on the prefetch buffer (``hw/prefetch_buffer.py``), through its ports only.

The harness builds a small buffer (:data:`PARAMS`: 2 sets x 2 ways of 64-byte lines,
64-byte words so a fill is one beat, 2 fills in flight, 9-bit addresses: 8 lines of
host memory, four per set) so that every mechanism (allocation, eviction, LATE, a
write cancelling a fill, re-configuration) is reached within a few cycles; the beat
count only repeats the fill's last step. Lookups, prefetch requests, configuration
writes and the host's handshakes are free in every cycle.

Host memory is watched at one byte, ``watched`` (free, then held): its content starts
free, and every write lookup that covers it updates it at the lookup handshake, as
``model.prefetch_buffer.HostMemory`` does. A fill beat holding the watched byte may
carry it as it was when the fill was requested, or as it is when the beat is taken
(before or after a write of the same cycle): the buffer must be right whichever a
host returns. Every other byte of every beat is free.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In

from formal.run import Proof, out_of_reset, track_one
from hw import prefetch_buffer
from model.prefetch_buffer import PrefetchBufferParams

PARAMS = PrefetchBufferParams(addr_width=9, line_bytes=64, sets=2, ways=2, word_bytes=64,
                              max_fills=2, counter_width=4)


class HitMatchesHost(wiring.Component):
    """A read hit returns the watched byte exactly as host memory holds it at the read's
    handshake (every write before it applied, none after).

    The harness tracks one read of the word holding the watched byte, the first one
    handshaken while the free ``mark`` is high, and checks the result delivered for it;
    since any read and any byte can be the tracked ones, the claim holds for all of
    them. Every result also has a lookup.
    """

    def __init__(self, params: PrefetchBufferParams = PARAMS):
        self.params = params
        p = params
        word_bits = 8 * p.word_bytes
        super().__init__({
            "watched": In(p.addr_width),
            "initial": In(8),
            "lookup_valid": In(1), "lookup_addr": In(p.addr_width),
            "lookup_length": In(p.length_width), "lookup_write": In(1),
            "lookup_data": In(word_bits),
            "result_ready": In(1),
            "prefetch_valid": In(1), "prefetch_addr": In(p.addr_width),
            "config_valid": In(1), "config_sets_log2": In(max(1, p.set_bits.bit_length())),
            "config_ways": In(p.ways.bit_length()),
            "request_ready": In(1),
            "beat_valid": In(1), "beat_data": In(word_bits),
            "beat_choice": In(2),
            "mark": In(1),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.dut = dut = prefetch_buffer.PrefetchBuffer(p)
        out_of_reset(m)

        started = Signal()
        watched = Signal.like(self.watched)
        m.d.sync += [started.eq(1), watched.eq(self.watched)]
        m.d.comb += Assume(~started | (self.watched == watched))
        word = self.watched[p.word_log2:]
        lane = self.watched[:p.word_log2]

        # host memory at the watched byte: before and after this cycle's write
        stored = Signal(8)
        host = Signal(8)
        m.d.comb += host.eq(Mux(started, stored, self.initial))
        lookup = dut.lookup
        first = lookup.payload.addr[:p.word_log2]
        m.d.comb += [
            Assume(self.lookup_length >= 1),
            Assume(first + self.lookup_length <= p.word_bytes),
            lookup.valid.eq(self.lookup_valid),
            lookup.payload.addr.eq(self.lookup_addr),
            lookup.payload.length.eq(self.lookup_length),
            lookup.payload.write.eq(self.lookup_write),
            lookup.payload.data.eq(self.lookup_data),
        ]
        took = lookup.valid & lookup.ready
        same_word = lookup.payload.addr[p.word_log2:] == word
        covers = same_word & (lane >= first) & (lane < first + lookup.payload.length)
        after = Signal(8)
        m.d.comb += after.eq(Mux(took & lookup.payload.write & covers,
                                 lookup.payload.data.word_select(lane, 8), host))
        m.d.sync += stored.eq(after)

        # one tracked read of the watched word: the first read while ``mark`` is high;
        # its result is the one delivered after as many results as lookups before it
        result = dut.result
        given = result.valid & result.ready
        chosen = same_word & ~lookup.payload.write & self.mark
        due, kept = track_one(m, took, given, chosen, {"expected": host})
        hit = result.payload.kind == prefetch_buffer.LookupKindShape.HIT
        m.d.comb += [
            result.ready.eq(self.result_ready),
            Assert(~(due & hit) | (result.payload.data.word_select(lane, 8) == kept["expected"])),
        ]

        m.d.comb += [
            dut.prefetch.valid.eq(self.prefetch_valid),
            dut.prefetch.payload.addr.eq(self.prefetch_addr),
            dut.config.valid.eq(self.config_valid),
            dut.config.payload.sets_log2.eq(self.config_sets_log2),
            dut.config.payload.ways.eq(self.config_ways),
        ]
        self._host(m, dut, word, lane, host, after)
        return m

    def _host(self, m: Module, dut, word, lane, host: Signal, after: Signal) -> None:
        """The host side: fills requested in order, beats of each line word 0 first."""
        p = self.params
        word_bits = p.addr_width - p.word_log2
        m.submodules.fills = fills = SyncFIFO(width=word_bits + 8, depth=p.max_fills + 2)
        request = dut.fill_req
        m.d.comb += [
            request.ready.eq(self.request_ready & fills.w_rdy),
            fills.w_en.eq(request.valid & request.ready),
            fills.w_data.eq(Cat(request.payload.addr[p.word_log2:], host)),
        ]
        beat = Signal(range(p.beats))
        response = dut.fill_resp
        first_word = fills.r_data[:word_bits]
        snapshot = fills.r_data[word_bits:]
        carried = self.beat_data.word_select(lane, 8)
        is_watched = (first_word + beat) == word
        m.d.comb += [
            response.valid.eq(self.beat_valid & fills.r_rdy),
            response.payload.data.eq(self.beat_data),
            Assume(~is_watched | (self.beat_choice != 0) | (carried == snapshot)),
            Assume(~is_watched | (self.beat_choice != 1) | (carried == host)),
            Assume(~is_watched | (self.beat_choice < 2) | (carried == after)),
        ]
        taken = response.valid & response.ready
        last = beat == p.beats - 1
        with m.If(taken):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
        m.d.comb += fills.r_en.eq(taken & last)


PROOFS = [
    Proof("buffer_hit_matches_host", HitMatchesHost, depth=10,
          why_depth="a prefetch accepted at cycle 0 is decided at 1, its fill request "
                    "leaves at 2 and its one beat is taken at 3; a lookup at 3 hits and its "
                    "result (Stage.RESULT = 4 cycles) is on the port at 7; 10 cycles leave "
                    "room for a write hit or a cancelling write LATE before two further "
                    "reads whose results are checked (each further cycle costs the solver "
                    "about 4x the last: 10 takes 2 minutes, 12 about 8)",
          claim="a read hit's data equals host memory's"),
]
