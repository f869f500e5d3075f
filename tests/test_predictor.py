"""The prediction-core policies (golden models): hand-worked sequences and arithmetic."""

from __future__ import annotations

import math

import pytest

from model import predictor
from model.predictor.bandit import UcbBandit, ucb_q8
from model.predictor.base import BlockFaults, Predictor
from model.predictor.deadblock import DeadBlockFilter, dead
from model.predictor.decay import DistanceDecay, decay_scores
from model.predictor.fixed import isqrt, ln_q8, log2_q8, saturate
from model.predictor.mlp import HIDDEN, INPUTS, OUTPUTS, FeatureState, MlpPrefetcher, MlpWeights
from model.predictor.stride import StrideEntry, StridePrefetcher, update

BLOCK = 7 << 21


def batch(faulted: int, resident: int = 0, tag: int = 0, block: int = BLOCK, index: int = 0):
    low = (faulted & -faulted).bit_length() - 1
    return BlockFaults(block_start=block, num_pages=512, faulted=faulted,
                       faulted_region=(low, faulted.bit_length()), resident=resident, tag=tag,
                       batch=index)


def pages(*numbers) -> int:
    return sum(1 << n for n in numbers)


def span(lo: int, hi: int) -> int:
    return ((1 << (hi - lo)) - 1) << lo


# -- fixed point


def test_fixed_point_functions_against_math():
    for value in range(1, 70_000):
        assert 0 <= math.log2(value) - log2_q8(value) / 256 < 0.088
        assert 0 <= math.log(value) - ln_q8(value) / 256 < 0.09
    for value in range(0, 300_000):
        assert isqrt(value) == math.isqrt(value)
    assert isqrt(1 << 60) == 1 << 30
    assert saturate(5000, 12) == 2047 and saturate(-5000, 12) == -2048 and saturate(7, 12) == 7


# -- decay


def test_decay_by_hand():
    # one fault: its own 16-page big page only (score 256 there, 128 next door)
    assert decay_scores([1, 0, 0, 0])[:3] == [256, 128, 64]
    p = DistanceDecay()
    assert p.prefetch(batch(pages(20))) == span(16, 32) & ~pages(20)
    # two faults in big page 1: the neighbours reach 2 << 7 = 256 too
    assert p.prefetch(batch(pages(20, 21))) == span(0, 48) & ~pages(20, 21)
    # four faults: two big pages on each side
    assert p.prefetch(batch(span(40, 44))) == span(0, 80) & ~span(40, 44)
    # resident pages are never asked for
    assert p.prefetch(batch(pages(20), resident=span(16, 20))) == span(21, 32)


# -- stride


def test_stride_confidence_rises_and_resets():
    entry = StrideEntry()
    update(entry, 5, 10)  # a new stream
    assert (entry.stride, entry.confidence) == (0, 0)
    trail = []
    for unit in (14, 18, 22, 26, 30, 31):
        update(entry, 5, unit)
        trail.append((entry.stride, entry.confidence))
    # a new stride resets to 50, each repeat adds 20 up to 100, another stride resets
    assert trail == [(4, 50), (4, 70), (4, 90), (4, 100), (4, 100), (1, 50)]


def test_stride_prefetches_ahead_when_confident_else_the_window():
    p = StridePrefetcher()
    first = p.prefetch(batch(pages(8)))  # nothing learned: the 16-page window
    assert first == span(0, 24) & ~pages(8)
    low = p.prefetch(batch(pages(12, 16)))  # stride 4, confidence 50 then 70: the window
    assert low == span(0, 32) & ~pages(12, 16)
    confident = p.prefetch(batch(pages(20, 24)))  # 90, 100 > 80: +-4 around 28, 32, ..., 56
    assert confident == span(24, 60) & ~pages(24)


# -- deadblock


class Fixed(Predictor):
    name = "fixed"

    def __init__(self, mask):
        self.mask = mask

    def prefetch(self, faults):
        return self.mask


def test_deadblock_drops_a_dead_region_and_keeps_live_and_unknown_ones():
    assert not dead(3, 0) and dead(0, 4) and dead(7, 3) and not dead(8, 2)
    inner = Fixed(span(16, 32) | span(32, 48))
    f = DeadBlockFilter(inner)
    assert f.prefetch(batch(pages(0))) == span(16, 48)  # nothing known: all kept
    f.feedback(BLOCK, 0, span(16, 21))  # 5 dead in big page 1
    f.feedback(BLOCK, span(32, 40), pages(40))  # 8 live, 1 dead in big page 2
    assert f.prefetch(batch(pages(0))) == span(32, 48)
    region = 7 * 32 + 1  # block 7's big page 1
    assert (f.live[region], f.dead[region]) == (0, 5)
    f.feedback(BLOCK, span(16, 32), 0)  # 16 live: at 15 both halve (7, 2), then 8
    assert (f.live[region], f.dead[region]) == (8, 2)
    assert f.prefetch(batch(pages(0))) == span(16, 48)
    assert f.name == "fixed+deadblock" and f.state_bytes == 512


# -- bandit


class Arm(Predictor):
    """Prefetches one page; the test says whether it proved useful."""

    def __init__(self, name):
        self.name = name
        self.calls = 0

    def prefetch(self, faults):
        self.calls += 1
        return pages(100)


def test_bandit_tries_every_arm_then_prefers_the_better_one():
    arms = [Arm("poor"), Arm("good"), Arm("middling")]
    bandit = UcbBandit(arms, epoch=2)
    quality = {0: 0.1, 1: 0.9, 2: 0.5}
    chosen = []
    for index in range(2 * 60):
        bandit.prefetch(batch(pages(1), index=index))
        arm = bandit.current
        if index % 2 == 0:
            chosen.append(arm)
        useful = int(quality[arm] * 10)
        bandit.feedback(BLOCK, span(0, useful), span(10, 20 - useful))
    assert chosen[:3] == [0, 1, 2]  # each arm once, in order
    assert all(a.calls == 120 for a in arms)  # every arm sees every batch
    assert chosen[-20:].count(1) >= 15
    assert bandit.pulls[1] > bandit.pulls[2] > bandit.pulls[0]
    assert bandit.state_bytes == 8 * 3 + 13 < 100


def test_ucb_arithmetic_by_hand():
    # mean 0.5 (128), pulled 2 of 10 epochs: sqrt(2 ln 10 / 2) = 1.517 -> about 388 in Q8
    assert ucb_q8(128, 2, 10) == 128 + isqrt((2 * ln_q8(10) // 2) << 8)
    assert abs(ucb_q8(128, 2, 10) / 256 - (0.5 + math.sqrt(math.log(10)))) < 0.05


# -- mlp


def weights(**changes) -> MlpWeights:
    w1 = [[0] * HIDDEN for _ in range(INPUTS)]
    w2 = [[0] * OUTPUTS for _ in range(HIDDEN)]
    w1[0][0], w1[1][1] = 2, -3
    w2[0][0], w2[1][1], w2[0][2] = 5, 7, 1
    args = dict(w1=tuple(map(tuple, w1)), b1=(10,) + (0,) * (HIDDEN - 1),
                w2=tuple(map(tuple, w2)), b2=(0, 1000, -50), s1=1, s2=2, conf_threshold=40,
                logit_shift=6)
    args.update(changes)
    return MlpWeights(**args)


def test_mlp_arithmetic_on_chosen_weights():
    w = weights()
    x = [100, 50, 0, 0, 0, 0, 0, 0]
    start, end, logit, hidden = w.forward(x)
    # acc1[0] = 10 + 100 * 2 = 210 -> h0 = 105; acc1[1] = -150 -> ReLU 0
    assert hidden[:2] == [105, 0]
    assert start == (105 * 5) >> 2 == 131
    assert end == 1000 >> 2 == 250
    assert logit == 105 - 50 == 55
    # saturation: a huge accumulator saturates the offset to 12 bits, the hidden to 16
    big = weights(b1=(1 << 20,) + (0,) * (HIDDEN - 1), s1=0)
    start, _, _, hidden = big.forward([0] * 8)
    assert hidden[0] == 65535 and start == 2047
    # negative offsets shift down (floor)
    # with no input h0 = 10 >> 1 = 5; a negative sum shifts down (floor)
    assert weights(b2=(-30, 0, 0)).forward([0] * 8)[0] == (5 * 5 - 30) >> 2 == -2


def test_mlp_gate_and_region():
    f = batch(span(100, 104))
    bold = MlpPrefetcher(weights(conf_threshold=-1000))
    x = FeatureState().features(f)
    start, end, logit, _ = bold.weights.forward(x)
    assert logit >= -1000 and (start, end) == ((((10 + 2 * x[0]) >> 1) * 5) >> 2, 250)
    assert bold.prefetch(f) == span(100 + start, min(512, 104 + end)) & ~span(100, 104)
    shy = MlpPrefetcher(weights(conf_threshold=1 << 30))
    assert shy.prefetch(f) == span(84, 119) & ~span(100, 104)  # the 16-page window


def test_mlp_features_by_hand():
    state = FeatureState()
    f = batch(pages(100, 101, 103), resident=span(90, 100))
    x = state.features(f)
    assert x == [3 * 256 // 512, 10 * 256 // 512, 100 * 256 // 512, 103 * 256 // 512,
                 3 * 255 // 4, 10 * 256 // 512, 2 * 50, 128]
    state.feedback(BLOCK, span(0, 6), span(6, 8), 512 * 4096)
    assert state.features(batch(pages(200)))[7] == 255 * 6 // 8


def test_weights_file_round_trip_and_refusals(tmp_path):
    w = weights()
    path = tmp_path / "w.json"
    w.save(path)
    assert MlpWeights.load(path) == w
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a dmaprefetch-mlp"):
        MlpWeights.load(path)
    with pytest.raises(ValueError, match=r"w1\[0\]\[0\] must be in -128..127, got 200"):
        weights(w1=((200,) * HIDDEN,) + ((0,) * HIDDEN,) * (INPUTS - 1))
    with pytest.raises(ValueError, match="s2"):
        weights(s2=40)


def test_every_policy_builds_and_answers_inside_the_block():
    for name in predictor.POLICIES:
        if name == "oracle":
            continue
        p = predictor.make(name)
        mask = p.prefetch(batch(span(0, 8)))
        assert 0 <= mask < 1 << 512 and not mask & span(0, 8), name
    assert predictor.make("mlp+deadblock").name == "mlp+deadblock"
    assert predictor.make("bandit:epoch=4").epoch == 4


def test_state_budgets():
    sizes = {name: predictor.make(name).state_bytes for name in ("stride", "mlp", "bandit")}
    assert sizes["bandit"] < 100
    assert sizes["mlp"] + 512 < 2560  # mlp+deadblock within the Berti budget


def test_shipped_weights_are_what_training_makes():
    """model/predictor/mlp_weights.json is python -m sim train --install at seed 1."""
    from model.predictor.mlp import default_weights_path
    from model.train import agreement
    from sim.cli.train import TRAIN, train

    model, fresh, examples = train(TRAIN, seed=1)
    assert fresh == MlpWeights.load(default_weights_path())
    assert agreement(model, fresh, examples)["decision"] >= 0.99
