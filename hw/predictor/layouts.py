"""Payloads of the prediction core's streams and of its pipeline, from PredictorParams."""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from model.predictor.core import ADDRESS_BITS, BLOCK_BITS, TAG_BITS, PredictorParams

TOPS = 5  # highest faulted units the stride update needs (docs/predictor.md)
ARM_BITS = 3


def unit_bits(params: PredictorParams) -> int:
    """Width of a unit index 0..units-1."""
    return (params.units - 1).bit_length()


def count_bits(params: PredictorParams) -> int:
    """Width of a unit count 0..units."""
    return params.units.bit_length()


def event_layout(params: PredictorParams) -> data.StructLayout:
    """A fault event: one block's faults in one batch."""
    return data.StructLayout({
        "faulted": unsigned(params.units), "resident": unsigned(params.units),
        "block": unsigned(BLOCK_BITS), "tag": unsigned(TAG_BITS), "new_batch": unsigned(1),
    })


def feedback_layout(params: PredictorParams) -> data.StructLayout:
    """Feedback: a block's prefetched units used and evicted unused."""
    return data.StructLayout({
        "useful": unsigned(params.units), "useless": unsigned(params.units),
        "block": unsigned(BLOCK_BITS),
    })


def prefetch_layout(params: PredictorParams) -> data.StructLayout:
    """The answer to an event: units to prefetch, and the bandit's arm (0 otherwise)."""
    return data.StructLayout({"mask": unsigned(params.units), "arm": unsigned(ARM_BITS)})


def config_layout() -> data.StructLayout:
    """A register write (``model.predictor.core.Reg`` addresses)."""
    return data.StructLayout({"address": unsigned(ADDRESS_BITS), "value": signed(32)})


def error_layout() -> data.StructLayout:
    """The sticky error register: ``model.predictor.core.ErrorCode`` and the address."""
    return data.StructLayout({"code": unsigned(2), "address": unsigned(ADDRESS_BITS)})


def item_layout(params: PredictorParams) -> data.StructLayout:
    """An event or a feedback inside the pipeline: ``first`` is the faulted (useful)
    mask, ``second`` the resident (useless) one."""
    return data.StructLayout({
        "valid": unsigned(1), "feedback": unsigned(1), "block": unsigned(BLOCK_BITS),
        "tag": unsigned(TAG_BITS), "new_batch": unsigned(1),
        "first": unsigned(params.units), "second": unsigned(params.units),
    })


def summary_layout(params: PredictorParams) -> data.StructLayout:
    """What the scan finds in an item's masks (``hw.predictor.scan``)."""
    ub, cb, groups = unit_bits(params), count_bits(params), params.groups
    return data.StructLayout({
        "low": unsigned(ub),  # lowest set unit of first
        "tops": data.ArrayLayout(unsigned(ub), TOPS),  # highest set units of first
        "top_valid": unsigned(TOPS),  # bit k: first has more than k set units
        "more": unsigned(1),  # first has more than TOPS set units
        "first_count": unsigned(cb), "second_count": unsigned(cb),
        "first_groups": data.ArrayLayout(unsigned(5), groups),  # set units per big page
        "second_groups": data.ArrayLayout(unsigned(5), groups),
        "run": unsigned(cb),  # second's units just below low (resident run)
        "stride": stride_summary_layout(params),
    })


def stride_summary_layout(params: PredictorParams) -> data.StructLayout:
    """What the stride update needs of the top units alone (``hw.predictor.tables``):
    ``gap`` = tops[0] - tops[1]; ``run``: trailing equal gaps among the tops (1..4);
    ``units``: set units, exact up to 5, 6 meaning more; ``all_equal``: every gap
    equals ``gap``; ``several``: more than one unit; ``run_confidence`` = min(100,
    50 + 20 (run - 1)); ``all_confidence`` = min(100, 50 + 20 (units - 1));
    ``gain`` = 20 units."""
    return data.StructLayout({
        "gap": signed(unit_bits(params) + 2), "run": unsigned(3), "units": unsigned(3),
        "all_equal": unsigned(1), "several": unsigned(1), "run_confidence": unsigned(7),
        "all_confidence": unsigned(7), "gain": unsigned(7),
    })
