"""Injected bugs: each proof must fail on the design with its mutant.

A mutant replaces one component class where the design under proof looks it up (the
module attribute the enclosing block instantiates), for the duration of one proof. A
mutant subclasses the real component and, after the real ``elaborate``, overrides one
assignment (the last assignment to a signal in a module wins) or wraps the real
component and corrupts one output.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring

import hw.dra
import hw.prefetch_buffer
import hw.uvm_tree
from hw.dra_stages import RecordRing
from hw.prefetch_buffer import PrefetchBuffer
from hw.uvm_tree import UvmTreeEngine


@dataclass(frozen=True)
class Mutant:
    """``proof`` (a :class:`formal.run.Proof` name) must fail while ``patch`` is active."""

    name: str
    proof: str
    bug: str
    patch: Callable[[], contextlib.AbstractContextManager]


class RingWithoutRoomCheck(RecordRing):
    """``room`` always high: a record may be written over a slot not yet acknowledged."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.room.eq(1)
        return m


class RingIgnoringAck(RecordRing):
    """The read pointer ignores the acknowledgement: the VMC reads one slot forever."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += self.vmc.consumer.eq(self.vmc.consumer)
        return m


class RingLosingSimultaneousWrite(RecordRing):
    """A record written in the cycle the VMC acknowledges another is not counted as
    visible (occupancy only decrements): it is never read."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        vmc = self.vmc
        acked = vmc.ack & (vmc.occupancy != 0)
        m.d.sync += vmc.occupancy.eq(Mux(acked, vmc.occupancy - 1,
                                         vmc.occupancy + self.written))
        return m


class _Corrupted(wiring.Component):
    """A real component inside a wrapper of the same signature: every port passes
    through, then :meth:`corrupt` overrides one output (the last assignment wins)."""

    real: type

    def __init__(self, params):
        self.inner = self.real(params)
        self.params = params
        super().__init__(self.inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        for name, member in self.signature.members.items():
            port, inner_port = getattr(self, name), getattr(inner, name)
            if member.is_signature:
                wiring.connect(m, inner_port, wiring.flipped(port))
            else:
                m.d.comb += (inner_port.eq(port) if member.flow == wiring.In
                             else port.eq(inner_port))
        self.corrupt(m, inner)
        return m

    def corrupt(self, m: Module, inner) -> None:
        raise NotImplementedError


class EngineShiftingMask(_Corrupted):
    """The UVM engine with its prefetch mask one page too high (an offset bug)."""

    real = UvmTreeEngine

    def corrupt(self, m, inner):
        m.d.comb += self.o.payload.prefetch.eq(inner.o.payload.prefetch << 1)


class BufferWithStaleHits(_Corrupted):
    """The prefetch buffer answering a read hit with the data of the read before it
    (a forwarding bug: the word a write hit has just changed is read stale)."""

    real = PrefetchBuffer

    def corrupt(self, m, inner):
        previous = Signal.like(inner.result.payload.data)
        with m.If(inner.result.valid & inner.result.ready):
            m.d.sync += previous.eq(inner.result.payload.data)
        m.d.comb += self.result.payload.data.eq(previous)


def _patch(module, name: str, replacement) -> Callable[[], contextlib.AbstractContextManager]:
    """A fresh context manager, on every call, that puts ``replacement`` in place."""
    return functools.partial(mock.patch.object, module, name, replacement)


MUTANTS = [
    Mutant("ring_without_room_check", "dra_ring_integrity",
           "the ring reports room while every slot is reserved",
           _patch(hw.dra, "RecordRing", RingWithoutRoomCheck)),
    Mutant("ring_ignoring_ack", "dra_no_lost_write",
           "the ring's read pointer ignores the VMC's acknowledgement",
           _patch(hw.dra, "RecordRing", RingIgnoringAck)),
    Mutant("ring_losing_simultaneous_write", "dra_no_lost_write",
           "a record written while another is acknowledged never becomes visible",
           _patch(hw.dra, "RecordRing", RingLosingSimultaneousWrite)),
    Mutant("engine_shifting_mask", "uvm_mask_in_block",
           "the prefetch mask comes out one page too high",
           _patch(hw.uvm_tree, "UvmTreeEngine", EngineShiftingMask)),
    Mutant("engine_shifting_mask_streaming", "uvm_mask_in_block_streaming",
           "the same, with the consumer always ready",
           _patch(hw.uvm_tree, "UvmTreeEngine", EngineShiftingMask)),
    Mutant("buffer_with_stale_hits", "buffer_hit_matches_host",
           "a read hit returns the previous result's data",
           _patch(hw.prefetch_buffer, "PrefetchBuffer", BufferWithStaleHits)),
]
