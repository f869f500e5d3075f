# amaranth: UnusedElaboratable=no
"""Every public constructor and function of model/ (but model/dra.py), and the components
taking its parameters, refuse a wrong type with TypeError and a wrong value with
ValueError, and the message names the argument.

Each :class:`Target` is one callable with valid keyword arguments (``good``, checked to
be taken) and, per argument, a value of the wrong type and a value of the right type that
is not allowed (``NO`` when the type has no wrong value: a flag, a class instance).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from hw.predictor.core import PredictorCore as HwPredictorCore
from hw.prefetch_buffer import PrefetchBuffer as HwPrefetchBuffer
from hw.uvm_tree import UvmTreeEngine
from model import predictor
from model.predictor.bandit import UcbBandit, ucb_q8
from model.predictor.base import BlockFaults, Predictor
from model.predictor.core import (
    PredictorCore,
    PredictorParams,
    Reg,
    Registers,
    weight_index,
    weight_words,
    weights_from_words,
)
from model.predictor.deadblock import DeadBlockFilter, dead
from model.predictor.decay import DistanceDecay, decay_scores
from model.predictor.fixed import group_counts, group_mask, isqrt, ln_q8, log2_q8, saturate
from model.predictor.mlp import FeatureState, MlpPrefetcher, MlpWeights, decide
from model.predictor.mlp import default_weights_path as mlp_weights_path
from model.predictor.none import NoPrefetch
from model.predictor.oracle import Oracle
from model.predictor.stride import StrideEntry, StridePrefetcher, check_entries, update
from model.predictor.uvm import UvmTree
from model.predictor.window import FixedWindow, window_mask
from model.prefetch_buffer import (
    ConfigChange,
    Counters,
    HostMemory,
    Lookup,
    PrefetchBuffer,
    PrefetchBufferParams,
    PrefetchRequest,
    hash_word,
)
from model.record import CloseReason, Record
from model.train import Example, agreement, fit, labels, quantize
from model.uvm_tree import (
    VA_BLOCK_SIZE,
    HintResult,
    UvmTreeParams,
    directed_batches,
    directed_hmm_batches,
    engine_directed_batches,
    engine_random_batch,
    engine_reference,
    full_node_thresholds,
    pack_request,
    prefetch_hint,
    random_batch,
    reciprocal_of_100,
    request_fields,
    request_values,
    response_fields,
    unpack_response,
)

NO = object()  # the argument's type has no wrong value


@dataclass
class Target:
    name: str
    call: Callable[..., object]
    good: dict
    bad: dict[str, tuple]


class Future:
    def mask(self, block_start: int, window: int) -> int:
        return 0


def _buffer() -> PrefetchBuffer:
    params = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=4, ways=2)
    return PrefetchBuffer(params, HostMemory(8, latencies=(2,)))


def _offering_host() -> HostMemory:
    """A host whose one-beat fill is offered from cycle 1 on."""
    host = HostMemory(8, latencies=(1,))
    host.request(0, 0, 1)
    return host


WEIGHTS = MlpWeights.load(mlp_weights_path())
FAULTS = BlockFaults(block_start=0, num_pages=512, faulted=1 << 5, faulted_region=(5, 6))
EXAMPLES = [Example([10, 0, 3, 3, 255, 0, 0, 128], FAULTS, 0b1111 << 6),
            Example([20, 9, 3, 9, 40, 0, 100, 200], FAULTS, 0)]
FLOAT = fit(EXAMPLES, epochs=1, snapped_epochs=0)
BASE = 3 * VA_BLOCK_SIZE
BATCH = dict(block_start=BASE, num_pages=512, faulted=1 << 5, faulted_region=(5, 6))
HINT_BAD = dict(
    block_start=("0", BASE + 1), num_pages=(512.0, 513), faulted=(None, 1 << 512),
    faulted_region=([5, 6], (5, 5)), resident=("0", -1), thrashing=(1.0, 1 << 512),
    max_region=([0, 512], (20, 10)), first_touch=("no", NO), preferred=(1, "gpu"),
    dest_cpu=(1, NO), cpu_mapped=(None, -1), threshold=("51", 0), min_faults=(1.0, 21),
    migrations_before=(None, 1 << 16), same_dest=(0, NO), enabled=("no", NO),
)
FAULTS_GOOD = dict(faults=FAULTS)
FEEDBACK_BAD = dict(block_start=("0", -1), useful=(None, -1), useless=(1.0, -1))
CORE_EVENT = dict(block=0, tag=0, new_batch=True, faulted=1, resident=0)
CORE_EVENT_BAD = dict(block=("0", 1 << 32), tag=(None, 256), new_batch=(1, NO),
                      faulted=(1.0, 1 << 512), resident=("0", 1 << 512))


def _policies() -> list[Predictor]:
    return [NoPrefetch(), FixedWindow(16), DistanceDecay(), StridePrefetcher(), UvmTree(),
            MlpPrefetcher(WEIGHTS), UcbBandit([NoPrefetch(), FixedWindow(8)]),
            DeadBlockFilter(FixedWindow(8)), Oracle(Future())]


TARGETS = [
    # -- model/prefetch_buffer.py
    Target("PrefetchBufferParams", PrefetchBufferParams, {}, dict(
        addr_width=("32", 6), line_bytes=(256.0, 96), sets=(None, 3), ways=(None, 64),
        word_bytes=("8", 3), max_fills=(1.5, 0), counter_width=(None, 0))),
    Target("Lookup", Lookup, dict(cycle=0, addr=0), dict(
        cycle=("0", -1), addr=(None, -1), length=(1.0, 0), write=("no", NO),
        data=(b"\0", -1))),
    Target("PrefetchRequest", PrefetchRequest, dict(cycle=0, addr=0), dict(
        cycle=(0.0, -1), addr=("0", -1))),
    Target("ConfigChange", ConfigChange, dict(cycle=0, sets_log2=0, ways=1), dict(
        cycle=(None, -1), sets_log2=(None, -1), ways=("1", 0))),
    Target("Counters", Counters, {}, dict(requested=("0", -1), misses=(1.0, -1))),
    Target("HostMemory", HostMemory, dict(word_bytes=8), dict(
        word_bytes=("8", 3), init=(5, NO), latencies=([1.5], [0]), gaps=((None,), (-1,)),
        request_ready=((1,), (False,)))),
    Target("HostMemory.read_word", lambda **kw: HostMemory(8).read_word(**kw), dict(index=0),
           dict(index=("0", -1))),
    Target("HostMemory.read_bytes", lambda **kw: HostMemory(8).read_bytes(**kw),
           dict(addr=0, length=1), dict(addr=("0", -1), length=(1.0, -1))),
    Target("HostMemory.write", lambda **kw: HostMemory(8).write(**kw),
           dict(addr=0, length=1, data=0),
           dict(addr=(None, -1), length=("1", 9), data=(1.5, 1 << 64))),
    Target("HostMemory.ready_for_request", lambda **kw: HostMemory(8).ready_for_request(**kw),
           dict(cycle=0), dict(cycle=("0", -1))),
    Target("HostMemory.request", lambda **kw: HostMemory(8).request(**kw),
           dict(cycle=0, line_addr=0, beats=8),
           dict(cycle=("0", -1), line_addr=(None, -1), beats=(8.0, 0))),
    Target("HostMemory.present", lambda **kw: HostMemory(8).present(**kw), dict(cycle=0),
           dict(cycle=("0", -1))),
    Target("HostMemory.accept", lambda **kw: _offering_host().accept(**kw), dict(cycle=1),
           dict(cycle=("1", 0))),
    Target("PrefetchBuffer", PrefetchBuffer,
           dict(params=PrefetchBufferParams(), host=HostMemory(8)),
           dict(params=({}, NO), host=(None, HostMemory(16)))),
    Target("PrefetchBuffer.run", lambda **kw: _buffer().run(**kw), {}, dict(
        lookups=((lk for lk in [Lookup(0, 0)]), [Lookup(5, 0), Lookup(5, 8)]),
        prefetches=([Lookup(0, 0)], [PrefetchRequest(0, 1 << 16)]),
        configs=([None], [ConfigChange(0, 0, 3)]), until=("5", -1))),
    Target("PrefetchBuffer.present", lambda **kw: _buffer().present(**kw), dict(line=0),
           dict(line=("0", -1))),
    Target("PrefetchBuffer.present_mask", lambda **kw: _buffer().present_mask(**kw),
           dict(first_line=0, count=4), dict(first_line=(None, -1), count=(2.0, -1))),
    Target("hash_word", hash_word, dict(index=0), dict(index=("0", -1))),
    # -- model/uvm_tree.py
    Target("prefetch_hint", prefetch_hint, BATCH, HINT_BAD),
    Target("engine_reference", engine_reference, BATCH,
           dict(HINT_BAD, max_pages=("512", 48))),
    Target("UvmTreeParams", UvmTreeParams, {}, dict(
        max_pages=("512", 48), pipelined=(1, NO), hmm=(None, NO))),
    Target("HintResult", HintResult, dict(prefetch=0, hint=False, migrations_after=0), dict(
        prefetch=("0", -1), hint=(0, NO), migrations_after=(1.0, 1 << 16))),
    Target("random_batch", random_batch, dict(rng=random.Random(1)), dict(
        rng=(1, NO), max_pages=("64", 48), hmm=(1, NO))),
    Target("request_fields", request_fields, dict(params=UvmTreeParams()),
           dict(params=(512, NO))),
    Target("response_fields", response_fields, dict(params=UvmTreeParams()),
           dict(params=(512, NO))),
    Target("request_values", request_values, dict(batch=BATCH, params=UvmTreeParams()),
           dict(batch=(list(BATCH.items()), NO), params=(512, NO))),
    Target("pack_request", pack_request, dict(batch=BATCH, params=UvmTreeParams()),
           dict(batch=(None, NO), params=(512, NO))),
    Target("unpack_response", unpack_response, dict(word=0, params=UvmTreeParams()),
           dict(word=("0", -1), params=(None, NO))),
    Target("full_node_thresholds", full_node_thresholds, dict(levels=10),
           dict(levels=("10", 0))),
    Target("reciprocal_of_100", reciprocal_of_100, dict(max_value=254),
           dict(max_value=(1.5, -1))),
    Target("directed_batches", directed_batches, dict(max_pages=64),
           dict(max_pages=("64", 48))),
    Target("directed_hmm_batches", directed_hmm_batches, dict(max_pages=64),
           dict(max_pages=("64", 48))),
    Target("engine_directed_batches", engine_directed_batches, dict(params=UvmTreeParams(64)),
           dict(params=(64, NO))),
    Target("engine_random_batch", engine_random_batch,
           dict(rng=random.Random(1), params=UvmTreeParams()),
           dict(rng=(None, NO), params=(64, NO))),
    # -- model/record.py
    Target("Record", Record, dict(start=0, size=1, count=1, tag=0, reason=CloseReason.WINDOW),
           dict(start=("0", -1), size=(1.0, 0), count=(None, 0), tag=(True, 256),
                reason=("WINDOW", 6))),
    Target("Record.unpack", Record.unpack, dict(value=Record(0, 1, 1, 0, 1).pack()),
           dict(value=("0", 1 << 128))),
    Target("Record.from_bytes", Record.from_bytes, dict(data=Record(0, 1, 1, 0, 1).to_bytes()),
           dict(data=("\0" * 16, b"\0" * 15))),
    # -- model/predictor/
    Target("BlockFaults", BlockFaults,
           dict(block_start=0, num_pages=512, faulted=1, faulted_region=(0, 1)), dict(
               block_start=("0", -1), num_pages=(512.0, 0), faulted=(None, 0),
               faulted_region=([0, 1], (0, 0)), resident=("0", 1), tag=(1.0, -1),
               window=("0", -1), batch=(None, -1), cycle=(0.0, -1), unit_bytes=("4096", 0))),
    Target("predictor.parse_spec", predictor.parse_spec, dict(spec="uvm:threshold=40"),
           dict(spec=(5, "uvm:threshold"))),
    Target("predictor.make", predictor.make, dict(spec="uvm"), dict(spec=(None, "nope"))),
    Target("predictor.make(oracle)", predictor.make, dict(spec="oracle", future=Future()),
           dict(future=(5, None))),
    Target("UcbBandit", UcbBandit, dict(arms=[NoPrefetch()]), dict(
        arms=([1], []), epoch=("8", 0))),
    Target("ucb_q8", ucb_q8, dict(mean_q8=128, pulls=1, total=2), dict(
        mean_q8=(1.0, -1), pulls=("1", 0), total=(None, 0))),
    Target("DeadBlockFilter", DeadBlockFilter, dict(inner=NoPrefetch()), dict(inner=(5, NO))),
    Target("dead", dead, dict(live=1, dead_count=1), dict(live=("1", -1),
                                                          dead_count=(1.0, -1))),
    Target("DistanceDecay", DistanceDecay, {}, dict(threshold=("256", 0))),
    Target("decay_scores", decay_scores, dict(counts=[1, 0]), dict(
        counts=("10", [-1]), reach=(1.5, -1), shift=("8", -1))),
    Target("FixedWindow", FixedWindow, dict(width=16), dict(width=("16", 0))),
    Target("window_mask", window_mask, dict(faulted=1, width=16, num_pages=512), dict(
        faulted=(None, 1 << 512), width=(1.0, -1), num_pages=("512", 0))),
    Target("StridePrefetcher", StridePrefetcher, {}, dict(entries=("32", 3))),
    Target("check_entries", check_entries, dict(entries=32), dict(entries=(32.0, 512))),
    Target("StrideEntry", StrideEntry, {}, dict(
        key=("0", -2), last=(None, -1), stride=(1.5, NO), confidence=(50.0, 101))),
    Target("stride.update", update, dict(entry=StrideEntry(), key=0, unit=0), dict(
        entry=(None, NO), key=("0", -1), unit=(1.0, -1))),
    Target("UvmTree", UvmTree, {}, dict(
        threshold=("51", 101), min_faults=(None, 0), counter_entries=("32", 0))),
    Target("Oracle", Oracle, dict(future=Future()), dict(future=(5, NO))),
    *[Target(f"{type(p).__name__}.prefetch", p.prefetch, FAULTS_GOOD, dict(faults=({}, NO)))
      for p in _policies()],
    *[Target(f"{type(p).__name__}.feedback", p.feedback,
             dict(block_start=0, useful=0, useless=0), FEEDBACK_BAD)
      for p in _policies()],
    Target("log2_q8", log2_q8, dict(value=1), dict(value=("1", 0))),
    Target("ln_q8", ln_q8, dict(value=1), dict(value=(1.0, 0))),
    Target("isqrt", isqrt, dict(value=4), dict(value=("4", -1))),
    Target("saturate", saturate, dict(value=5, bits=8), dict(value=(1.0, NO),
                                                            bits=("8", 0))),
    Target("group_counts", group_counts, dict(mask=1, pages=512), dict(
        mask=(None, -1), pages=("512", -1), group=(16.0, 0))),
    Target("group_mask", group_mask, dict(groups=[True], pages=16), dict(
        groups=([1], NO), pages=("1", -1), group=(None, 0))),
    Target("MlpWeights", lambda **kw: replace(WEIGHTS, **kw), {}, dict(
        w1=(list(WEIGHTS.w1), WEIGHTS.w1[:-1]), b1=(list(WEIGHTS.b1), WEIGHTS.b1[:-1]),
        w2=(list(WEIGHTS.w2), ((200,) * 3,) * 16), b2=(list(WEIGHTS.b2), WEIGHTS.b2[:-1]),
        s1=("0", 32), s2=(1.0, -1), conf_threshold=(None, 1 << 31), logit_shift=(True, 32),
        meta=([], NO))),
    Target("MlpWeights.save", WEIGHTS.save, dict(path=os.devnull), dict(path=(5, NO))),
    Target("MlpWeights.load", MlpWeights.load, dict(path=mlp_weights_path()),
           dict(path=(5, NO))),
    Target("MlpWeights.forward", WEIGHTS.forward, dict(x=[0] * 8), dict(
        x=("x" * 8, [0] * 7))),
    Target("MlpPrefetcher", MlpPrefetcher, dict(weights=WEIGHTS), dict(
        weights=("w", NO), stride_entries=("32", 3))),
    Target("FeatureState", FeatureState, {}, dict(stride_entries=("32", 0))),
    Target("FeatureState.features", FeatureState().features, FAULTS_GOOD,
           dict(faults=({}, NO))),
    Target("FeatureState.feedback", FeatureState().feedback,
           dict(block_start=0, useful=0, useless=0, block_bytes=4096),
           dict(FEEDBACK_BAD, block_bytes=("1", 0))),
    Target("decide", decide, dict(faults=FAULTS, start=0, end=0, confident=True), dict(
        faults=(None, NO), start=(0.5, NO), end=("0", NO), confident=(1, NO))),
    Target("PredictorParams", PredictorParams, {}, dict(
        units=("512", 48), policies=((3,), ()), deadblock=(1, NO),
        stride_entries=("32", 3), weights=("w", NO))),
    Target("Registers", Registers, {}, dict(
        policy=(3, NO), deadblock=(0, NO), window=("16", 12), decay_threshold=(1.0, 0),
        uvm_threshold=(None, 101), uvm_min_faults=("1", 21), bandit_epoch=(8.0, 256),
        s1=("0", 32), s2=(None, -1), conf_threshold=(0.5, 1 << 31), logit_shift=("0", 32),
        weights=("w", [0]), error_code=(1, NO), error_address=("0", 1 << 9))),
    Target("PredictorCore", PredictorCore, {}, dict(params=({}, NO))),
    Target("PredictorCore.write", PredictorCore().write, dict(address=Reg.WINDOW, value=16),
           dict(address=("2", 1 << 9), value=(16.0, 1 << 32))),
    Target("PredictorCore.faults", PredictorCore().faults, CORE_EVENT, CORE_EVENT_BAD),
    Target("PredictorCore.event", PredictorCore().event, CORE_EVENT, CORE_EVENT_BAD),
    Target("PredictorCore.feedback", PredictorCore().feedback,
           dict(block=0, useful=0, useless=0),
           dict(block=("0", -1), useful=(None, 1 << 512), useless=(1.0, -1))),
    Target("weight_index", lambda kind, index: weight_index(kind, *index),
           dict(kind="w1", index=(0, 0)), dict(kind=(1, "w3"), index=((0, "0"), (8, 0)))),
    Target("weight_words", weight_words, dict(weights=WEIGHTS), dict(weights=(None, NO))),
    Target("weights_from_words", weights_from_words,
           dict(words=weight_words(WEIGHTS), s1=WEIGHTS.s1, s2=WEIGHTS.s2,
                conf_threshold=WEIGHTS.conf_threshold, logit_shift=WEIGHTS.logit_shift),
           dict(words=("x", [0]), s1=("0", 32))),
    # -- model/train.py
    Target("Example", Example, dict(features=[0] * 8, faults=FAULTS, future=0), dict(
        features=("x", [0] * 7), faults=(None, NO), future=("0", -1))),
    Target("labels", labels, dict(example=EXAMPLES[0]), dict(example=(None, NO))),
    Target("FloatMlp", lambda **kw: replace(FLOAT, **kw), {}, dict(
        w1=(FLOAT.w1.tolist(), np.zeros((8, 15))), b2=(None, np.zeros(4)))),
    Target("FloatMlp.outputs", FLOAT.outputs, dict(x=np.zeros((1, 8))), dict(
        x=([[0] * 8], np.zeros((1, 7))))),
    Target("FloatMlp.answer", FLOAT.answer, dict(features=[0] * 8), dict(
        features=("x", [0] * 9))),
    Target("fit", fit, dict(examples=EXAMPLES, epochs=1, snapped_epochs=0), dict(
        examples=((e for e in EXAMPLES), []), seed=("1", -1), epochs=(1.0, -1),
        snapped_epochs=(None, -1), batch=("256", 0), rate=("0.1", 0.0))),
    Target("quantize", quantize, dict(model=FLOAT, examples=EXAMPLES), dict(
        model=(None, NO), examples=([None], []), meta=([], NO))),
    Target("agreement", agreement, dict(model=FLOAT, weights=WEIGHTS, examples=EXAMPLES), dict(
        model=(None, NO), weights=(None, NO), examples=("x", NO))),
]


# -- the components take their parameters from the model, checked the same way (they are
# built, never elaborated: line 1 of this file silences Amaranth's UnusedElaboratable)
TARGETS += [
    Target("hw PrefetchBuffer", HwPrefetchBuffer, {}, dict(params=({}, NO))),
    Target("hw UvmTreeEngine", UvmTreeEngine, {}, dict(params=(dict(max_pages=64), NO))),
    Target("hw PredictorCore", HwPredictorCore, dict(params=PredictorParams(units=32)),
           dict(params=(32, NO))),
]


def _cases():
    for target in TARGETS:
        for arg, (wrong_type, wrong_value) in target.bad.items():
            yield pytest.param(target, arg, wrong_type, TypeError,
                               id=f"{target.name}-{arg}-type")
            if wrong_value is not NO:
                yield pytest.param(target, arg, wrong_value, ValueError,
                                   id=f"{target.name}-{arg}-value")


def names(arg: str) -> str:
    """The argument's name as a word of the message (``addr`` is not ``addr_width``)."""
    return rf"(?<!\w){re.escape(arg)}(?!\w)"


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_good_arguments_are_taken(target):
    target.call(**target.good)


@pytest.mark.parametrize(("target", "arg", "value", "error"), list(_cases()))
def test_bad_argument_raises_naming_it(target, arg, value, error):
    with pytest.raises(error, match=names(arg)) as info:
        target.call(**{**target.good, arg: value})
    assert type(info.value) is error  # not a subclass standing in for the other kind


# -- the cases of the issue, spelled out --------------------------------------------------


def test_enabled_must_be_a_bool():
    """``enabled='no'`` was truthy and the hint still prefetched."""
    with pytest.raises(TypeError, match="enabled must be a bool, got str 'no'"):
        prefetch_hint(**BATCH, enabled="no")
    assert prefetch_hint(**BATCH, enabled=False) == HintResult(0, False, 0)


def test_ways_none_raises_a_named_type_error():
    with pytest.raises(TypeError, match="ways must be an int, got NoneType None"):
        PrefetchBufferParams(ways=None)


def test_write_must_be_a_bool():
    """``write='no'`` was truthy and counted as a write."""
    with pytest.raises(TypeError, match="write must be a bool, got str 'no'"):
        Lookup(0, 0, write="no")
    with pytest.raises(TypeError, match="write must be a bool, got int 1"):
        Lookup(0, 0, write=1)


def test_run_until_before_the_current_cycle_is_refused():
    """``run(until=-1)`` returned an empty result instead of refusing."""
    buffer = _buffer()
    with pytest.raises(ValueError, match="until must be >= 0, got -1"):
        buffer.run(until=-1)
    buffer.run([Lookup(3, 0)], until=10)
    with pytest.raises(ValueError, match="until must be >= 10, got 9"):
        buffer.run(until=9)
    assert buffer.run(until=10).results == []  # a zero-cycle run is allowed


def test_policies_are_not_coerced():
    with pytest.raises(TypeError, match=r"policies\[0\] must be a PolicyId, got int 3"):
        PredictorParams(policies=(3,))
