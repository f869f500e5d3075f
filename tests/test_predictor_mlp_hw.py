"""The MLP's hardware (hw/predictor/features.py, hw/predictor/mlp.py) in the Amaranth
simulator, against the golden model (model/predictor/mlp.py) and plain integer sums."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hw.predictor.features import FEATURE_LATENCY, FeatureUnit
from hw.predictor.mlp import MLP_INTERVAL, MLP_LATENCY, MlpEngine
from model.predictor.base import BlockFaults
from model.predictor.core import WEIGHT_COUNT, weight_index, weight_words
from model.predictor.mlp import (
    ACCURACY_ENTRIES,
    HIDDEN,
    INPUTS,
    OUTPUTS,
    FeatureState,
    MlpWeights,
    default_weights_path,
)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# ---------------------------------------------------------------------------
# FeatureUnit


def feature_reference(units: int, v: dict) -> list[int]:
    """The table of model.predictor.mlp's docstring, from the counts."""
    seen = v["useful"] + v["useless"]
    return [min(255, v["faulted"] * 256 // units), min(255, v["resident"] * 256 // units),
            v["first"] * 256 // units, v["last"] * 256 // units,
            v["faulted"] * 255 // (v["last"] - v["first"] + 1),
            min(255, v["run"] * 256 // units), 2 * v["confidence"],
            255 * v["useful"] // seen if seen else 128]


def random_counts(rng: random.Random, units: int) -> dict:
    first = rng.randrange(units)
    last = rng.choice([first, units - 1, rng.randrange(first, units)])
    span = last - first + 1
    return dict(faulted=rng.choice([1, span, rng.randint(1, span)]),
                resident=rng.randint(0, units - 1), first=first, last=last,
                run=rng.randint(0, first), confidence=rng.randint(0, 100),
                useful=rng.choice([0, 255, rng.randint(0, 255)]),
                useless=rng.choice([0, 255, rng.randint(0, 255)]))


def corner_counts(units: int) -> list[dict]:
    top = units - 1
    base = dict(faulted=1, resident=0, first=0, last=0, run=0, confidence=0,
                useful=0, useless=0)
    corners = [
        {},  # a single fault at unit 0, no accuracy yet (x7 = 128)
        dict(faulted=units, last=top),  # every unit faulted: x0, x4 at 255
        dict(faulted=1, first=top, last=top, run=top, resident=top),  # first = last = top
        dict(resident=units, run=units),  # counts outside the event's own range: clamped
        dict(faulted=2, first=0, last=top),  # sparse span: smallest density
        dict(faulted=units // 2, first=units // 4, last=units // 4 + units // 2 - 1),
        dict(confidence=100, useful=255, useless=0),
        dict(confidence=50, useful=0, useless=255),
        dict(confidence=70, useful=255, useless=255),
        dict(useful=1, useless=0),
        dict(useful=0, useless=1),
        dict(useful=1, useless=254),
        dict(useful=170, useless=85),
    ]
    return [{**base, **c} for c in corners]


def check_feature_unit(units: int, inputs: list[dict], expected: list[list[int]],
                       rng: random.Random):
    """Inputs at full rate, then with random bubbles; o must be i delayed by
    FEATURE_LATENCY with the expected features."""
    dut = FeatureUnit(units)
    schedule = [True] * len(inputs) + [rng.random() < 0.5 for _ in range(len(inputs))]

    async def bench(ctx):
        sent, sent_at, seen = 0, [], []
        for cycle in range(len(schedule) + FEATURE_LATENCY + 2):
            send = cycle < len(schedule) and schedule[cycle]
            ctx.set(dut.i.valid, send)
            if send:
                ctx.set(dut.i.payload, inputs[sent % len(inputs)])
                sent_at.append((cycle, sent % len(inputs)))
                sent += 1
            if ctx.get(dut.o.valid):
                seen.append((cycle, list(ctx.get(dut.o.payload))))
            await ctx.tick()
        assert [c for c, _ in seen] == [c + FEATURE_LATENCY for c, _ in sent_at]
        for (_, k), (cycle, got) in zip(sent_at, seen, strict=True):
            assert got == expected[k], (cycle, inputs[k], got, expected[k])

    run(dut, bench)


@pytest.mark.parametrize("units", [32, 512])
def test_feature_unit_corners_and_random(units, rng):
    inputs = corner_counts(units) + [random_counts(rng, units) for _ in range(150)]
    check_feature_unit(units, inputs, [feature_reference(units, v) for v in inputs], rng)


def random_block_faults(rng: random.Random, units: int) -> BlockFaults:
    first = rng.randrange(units)
    last = rng.choice([first, rng.randrange(first, units)])
    faulted = (1 << first) | (1 << last)
    faulted |= rng.getrandbits(units) & (((1 << (last + 1)) - 1) ^ ((1 << first) - 1))
    if rng.random() < 0.2:
        faulted |= ((1 << (last + 1)) - 1) ^ ((1 << first) - 1)
    resident = rng.getrandbits(units) & ~faulted
    if rng.random() < 0.5:  # a resident run just below the first fault
        resident |= ((1 << first) - 1) ^ ((1 << rng.randint(0, first)) - 1)
    return BlockFaults(block_start=rng.randrange(8) * units * 4096, num_pages=units,
                       faulted=faulted, faulted_region=(first, last + 1),
                       resident=resident, tag=rng.randrange(4))


def counts_of(state: FeatureState, faults: BlockFaults) -> dict:
    """The FeatureUnit inputs of an event, after ``state.features(faults)`` ran."""
    units = faults.num_pages
    first = (faults.faulted & -faults.faulted).bit_length() - 1
    run = 0
    while run < first and faults.resident >> (first - 1 - run) & 1:
        run += 1
    block = faults.block_start // (units * faults.unit_bytes)
    entry = state.stride[((block << 8) | faults.tag) % len(state.stride)]
    index = block % ACCURACY_ENTRIES
    return dict(faulted=faults.faulted.bit_count(), resident=faults.resident.bit_count(),
                first=first, last=faults.faulted.bit_length() - 1, run=run,
                confidence=entry.confidence, useful=state.useful[index],
                useless=state.useless[index])


@pytest.mark.parametrize("units", [32, 512])
def test_feature_unit_matches_feature_state(units, rng):
    state = FeatureState()
    for index in range(ACCURACY_ENTRIES):
        state.useful[index] = rng.choice([0, 255, rng.randint(0, 255)])
        state.useless[index] = rng.choice([0, rng.randint(0, 255)])
    inputs, expected = [], []
    for _ in range(150):
        faults = random_block_faults(rng, units)
        expected.append(state.features(faults))
        inputs.append(counts_of(state, faults))
    assert {v["confidence"] for v in inputs} > {0, 50}  # the stride table did learn
    check_feature_unit(units, inputs, expected, rng)


# ---------------------------------------------------------------------------
# MlpEngine


class EngineBench:
    """Drives an MlpEngine cycle by cycle and records every handshake and answer."""

    def __init__(self, dut: MlpEngine, ctx):
        self.dut, self.ctx, self.cycle = dut, ctx, 0
        self.ready_trace: dict[int, int] = {}  # cycle -> i.ready, while predicting

    def set_registers(self, s1: int, s2: int, conf_threshold: int):
        self.ctx.set(self.dut.s1, s1)
        self.ctx.set(self.dut.s2, s2)
        self.ctx.set(self.dut.conf_threshold, conf_threshold)

    async def load(self, words: dict[int, int]):
        for index, value in words.items():
            self.ctx.set(self.dut.load.valid, 1)
            self.ctx.set(self.dut.load.payload, {"index": index, "value": value})
            await self.tick()
        self.ctx.set(self.dut.load.valid, 0)

    async def tick(self):
        await self.ctx.tick()
        self.cycle += 1

    async def predict(self, vectors: list[list[int]], rng: random.Random | None = None):
        """Offer the vectors in order (always, or with random gaps when rng is given);
        returns [(accept cycle, answer cycle, (start, end, confident))] in order."""
        ctx, dut = self.ctx, self.dut
        accepted, answers, pending, offer = [], [], 0, False
        idle_after = None
        while idle_after is None or self.cycle < idle_after:
            # once offered, a vector stays offered until taken (stream rules)
            offer = offer or (pending < len(vectors) and (rng is None or rng.random() < 0.3))
            ctx.set(dut.i.valid, offer)
            if offer:
                ctx.set(dut.i.payload, vectors[pending])
            ready = ctx.get(dut.i.ready)
            self.ready_trace[self.cycle] = ready
            if offer and ready:
                accepted.append(self.cycle)
                pending, offer = pending + 1, False
                if pending == len(vectors):
                    idle_after = self.cycle + MLP_LATENCY + 2
            if ctx.get(dut.o.valid):
                out = ctx.get(dut.o.payload)
                answers.append((self.cycle, (out.start, out.end, out.confident)))
            await self.tick()
        ctx.set(dut.i.valid, 0)
        assert [c for c, _ in answers] == [c + MLP_LATENCY for c in accepted]
        return [(a, c, r) for a, (c, r) in zip(accepted, answers, strict=True)]


def model_answer(weights: MlpWeights, x: list[int]) -> tuple[int, int, int]:
    start, end, logit, _ = weights.forward(x)
    return start, end, int(logit >= weights.conf_threshold)


def check_ready_pattern(trace: dict[int, int], accepts: list[int]):
    """i.ready: low for MLP_INTERVAL - 1 cycles after each accept, high otherwise."""
    busy = {a + d for a in accepts for d in range(1, MLP_INTERVAL)}
    for cycle, ready in trace.items():
        assert ready == (cycle not in busy), cycle


def run_engine(weights: MlpWeights, script):
    dut = MlpEngine(weights)

    async def bench(ctx):
        await script(EngineBench(dut, ctx))

    run(dut, bench)


def plain_mlp(w1, b1, w2, b2, s1, s2, x):
    """acc1, hidden, acc2 and the offsets by plain integer sums (model doc's formulas)."""
    acc1 = [b1[j] + sum(x[i] * w1[i][j] for i in range(INPUTS)) for j in range(HIDDEN)]
    hidden = [min(max(a, 0) >> s1, 65535) for a in acc1]
    acc2 = [b2[k] + sum(hidden[j] * w2[j][k] for j in range(HIDDEN)) for k in range(OUTPUTS)]
    offsets = [max(-2048, min(2047, a >> s2)) for a in acc2[:2]]
    return acc1, hidden, acc2, offsets


def tiny_weights() -> MlpWeights:
    """Mostly zero weights that reach every corner of the arithmetic (test below)."""
    w1 = [[0] * HIDDEN for _ in range(INPUTS)]
    w2 = [[0] * OUTPUTS for _ in range(HIDDEN)]
    b1, b2 = [0] * HIDDEN, [0] * OUTPUTS
    w1[0][0], b1[0] = 127, 5  # h0 = (127 x0 + 5) >> 2
    w1[1][1], b1[1] = -128, 1000  # h1 = ReLU(1000 - 128 x1) >> 2
    w1[7][2], b1[2] = 127, INT32_MAX  # acc1 beyond int32; h2 saturates at 65535
    for i in range(INPUTS):
        w1[i][3] = -128  # acc1 below int32: -2**31 - 128 * sum(x); h3 = 0
    b1[3] = INT32_MIN
    b1[4] = 4 * 65535 + 3  # h4 = 65535 exactly
    b1[5] = 4 * 65536  # h5 = 65536 saturates to 65535
    w2[0][0], w2[1][0], w2[3][0], b2[0] = 127, -128, 127, -300
    w2[0][1], w2[1][1], w2[2][1] = -128, -128, -1
    w2[1][2], w2[3][2], w2[4][2], w2[5][2] = -1, 127, 1, -1  # logit = h4 - h5 - h1
    return MlpWeights(w1=tuple(map(tuple, w1)), b1=tuple(b1), w2=tuple(map(tuple, w2)),
                      b2=tuple(b2), s1=2, s2=6, conf_threshold=0, logit_shift=0)


# x, the hidden values 0..5 and (start, end, confident), worked out by hand
TINY_CASES = [
    # h0 = 32390 >> 2; acc2[0] = -300 + 127 * 8097 = 1028019 >> 6 = 16062 -> 2047;
    # acc2[1] = -65535 - 128 * 8097 = -1101951 -> -2048; logit 0 >= 0
    ([255, 8, 0, 0, 0, 0, 0, 255], [8097, 0, 65535, 0, 65535, 65535], (2047, -2048, 1)),
    # h0 = 5 >> 2 = 1, h1 = 1000 >> 2; acc2[0] = -300 + 127 - 32000 = -32173 >> 6 = -503
    # (rounding down); acc2[1] = -65535 - 32000 - 128 = -97663 >> 6 = -1526; logit -250
    ([0] * 8, [1, 250, 65535, 0, 65535, 65535], (-503, -1526, 0)),
    # h0 = 386 >> 2 = 96, h1 = 104 >> 2 = 26; acc2[0] = -300 + 12192 - 3328 = 8564 >> 6
    # = 133; acc2[1] = -65535 - 3328 - 12288 = -81151 >> 6 = -1268; logit -26
    ([3, 7, 9, 9, 9, 9, 9, 9], [96, 26, 65535, 0, 65535, 65535], (133, -1268, 0)),
    # h1 = 0 from x1 = 8 on; acc2[1] = -65535 - 128 * 1 = -65663 >> 6 = -1026; logit 0
    ([0, 200, 255, 255, 255, 255, 255, 255], [1, 0, 65535, 0, 65535, 65535],
     (-3, -1026, 1)),
]


def test_mlp_engine_tiny_weights_by_hand():
    weights = tiny_weights()
    extremes = []
    for x, hidden, (start, end, confident) in TINY_CASES:
        acc1, h, acc2, offsets = plain_mlp(weights.w1, weights.b1, weights.w2, weights.b2,
                                           weights.s1, weights.s2, x)
        assert h[:6] == hidden and offsets == [start, end]
        assert (acc2[2] >= weights.conf_threshold) == confident
        assert model_answer(weights, x) == (start, end, confident)
        extremes += [max(acc1), min(acc1)]
    assert max(extremes) > INT32_MAX and min(extremes) < INT32_MIN  # beyond 32 bits

    async def script(bench):
        bench.set_registers(weights.s1, weights.s2, weights.conf_threshold)
        results = await bench.predict([x for x, _, _ in TINY_CASES])
        assert [r for _, _, r in results] == [expected for _, _, expected in TINY_CASES]
        # the threshold register's extremes (MlpWeights refuses -2**31, the register not)
        for threshold, confident in ((INT32_MIN, 1), (INT32_MAX, 0), (1, 0)):
            bench.set_registers(weights.s1, weights.s2, threshold)
            results = await bench.predict([x for x, _, _ in TINY_CASES])
            assert [r[2] for _, _, r in results] == [confident] * len(TINY_CASES)

    run_engine(weights, script)


def random_weights(rng: random.Random, mild: bool = False) -> MlpWeights:
    """Random int8 weights and int32 biases; ``mild``: small biases and middle shifts,
    so that most hidden values and offsets are neither 0 nor saturated (every word
    shows), else extremes too (biases of +-2**31, shifts 0 and 31)."""
    def bias():
        if mild:
            return rng.randint(-(1 << 14), 1 << 14)
        return rng.choice([rng.randint(INT32_MIN, INT32_MAX), rng.randint(-(1 << 18), 1 << 18),
                           INT32_MIN, INT32_MAX, 0])

    def weight():
        return rng.randint(-128, 127) if mild else rng.choice([rng.randint(-128, 127), -128,
                                                               127, 0])

    if mild:
        s1, s2 = rng.randint(4, 8), rng.randint(8, 12)
    else:
        s1, s2 = rng.choice([0, 31, rng.randint(0, 12)]), rng.choice([0, 31, rng.randint(4, 20)])
    return MlpWeights(
        w1=tuple(tuple(weight() for _ in range(HIDDEN)) for _ in range(INPUTS)),
        b1=tuple(bias() for _ in range(HIDDEN)),
        w2=tuple(tuple(weight() for _ in range(OUTPUTS)) for _ in range(HIDDEN)),
        b2=tuple(bias() for _ in range(OUTPUTS)),
        s1=s1, s2=s2, conf_threshold=0, logit_shift=0)


def random_features(rng: random.Random, count: int) -> list[list[int]]:
    return [[rng.choice([0, 255, rng.randrange(256)]) for _ in range(INPUTS)]
            for _ in range(count)]


def with_threshold(weights: MlpWeights, vectors) -> MlpWeights:
    """The weights with the median of the vectors' logits as threshold (so both
    answers occur, and one logit equals it)."""
    logit = sorted(weights.forward(x)[2] for x in vectors)[len(vectors) // 2]
    threshold = max(INT32_MIN + 1, min(INT32_MAX, logit))  # MlpWeights refuses -2**31
    return MlpWeights(w1=weights.w1, b1=weights.b1, w2=weights.w2, b2=weights.b2,
                      s1=weights.s1, s2=weights.s2, conf_threshold=threshold, logit_shift=0)


def check_answers(weights: MlpWeights, vectors, results):
    for x, (accepted, answered, got) in zip(vectors, results, strict=True):
        assert answered - accepted == MLP_LATENCY
        assert got == model_answer(weights, x), (x, got, weights.forward(x))


@pytest.mark.parametrize("mild", [False, True], ids=["extreme", "mild"])
@pytest.mark.parametrize("round_", range(4))
def test_mlp_engine_random_weights_back_to_back(round_, mild, rng):
    vectors = random_features(rng, 40)
    weights = with_threshold(random_weights(rng, mild), vectors)

    async def script(bench):
        bench.set_registers(weights.s1, weights.s2, weights.conf_threshold)
        results = await bench.predict(vectors)
        accepts = [a for a, _, _ in results]
        assert accepts == [MLP_INTERVAL * n for n in range(len(vectors))]  # II = 8 from reset
        check_answers(weights, vectors, results)
        gapped = await bench.predict(vectors, rng)  # and with random gaps
        check_answers(weights, vectors, gapped)
        check_ready_pattern(bench.ready_trace, [a for a, _, _ in results + gapped])

    run_engine(weights, script)


def test_mlp_engine_load_new_weights(rng):
    old = random_weights(rng)
    vectors = random_features(rng, 24)
    new = with_threshold(random_weights(rng, mild=True), vectors)

    async def script(bench):
        bench.set_registers(old.s1, old.s2, old.conf_threshold)
        check_answers(old, vectors, await bench.predict(vectors))
        words = weight_words(new)
        order = list(range(WEIGHT_COUNT))
        rng.shuffle(order)
        await bench.load({index: words[index] for index in order})
        await bench.load({WEIGHT_COUNT: 12345, 255: -1})  # no such word: ignored
        bench.set_registers(new.s1, new.s2, new.conf_threshold)
        check_answers(new, vectors, await bench.predict(vectors))
        # one word at a time: the newest bias of hidden unit 0, then of output 2
        changed = MlpWeights(w1=new.w1, b1=(INT32_MAX,) + new.b1[1:], w2=new.w2,
                             b2=new.b2[:2] + (INT32_MIN,), s1=new.s1, s2=new.s2,
                             conf_threshold=new.conf_threshold, logit_shift=0)
        await bench.load({weight_index("b1", 0): INT32_MAX, weight_index("b2", 2): INT32_MIN})
        check_answers(changed, vectors, await bench.predict(vectors))

    run_engine(old, script)


def test_mlp_engine_shipped_weights(rng):
    weights = MlpWeights.load(default_weights_path())
    vectors = random_features(rng, 40)

    async def script(bench):
        bench.set_registers(weights.s1, weights.s2, weights.conf_threshold)
        check_answers(weights, vectors, await bench.predict(vectors, rng))

    run_engine(weights, script)
