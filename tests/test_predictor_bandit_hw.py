"""hw/predictor/bandit.py against model.predictor.bandit.UcbBandit and model.predictor.fixed.

``Mirror`` drives a BanditState the way the prediction core does (an event that
opens a batch while ``close.needed`` waits for a close: stop feeding, pulse
``close.start``, wait for ``busy`` low) and a UcbBandit over dummy arms with the
same events, and checks the arm at every event and every register after every
close (and at the end of each run). The arithmetic units are checked alone.
"""

from __future__ import annotations

from amaranth.sim import Simulator

from hw.predictor.bandit import (
    ARMS,
    CLOSE_CYCLES_MAX,
    COUNT_BITS,
    EXPLORE_BITS,
    MEAN_BITS,
    SCORE_CYCLES,
    SUM_BITS,
    BanditState,
    LnQ8,
    SerialDivider,
    SerialSqrt,
    UcbScore,
)
from model.predictor.bandit import COUNT_MAX, EPOCH_COUNT_MAX, SUM_LIMIT, UcbBandit, ucb_q8
from model.predictor.base import BlockFaults, Predictor
from model.predictor.fixed import isqrt, ln_q8, log2_q8

UNITS = 512  # pages of the dummy blocks: BlockFaults masks are ints
UNIT_MAX = (1 << 10) - 1  # the widest count an event or feedback port takes


class DummyArm(Predictor):
    name = "dummy"

    def prefetch(self, faults: BlockFaults) -> int:
        return 0


def ones(count: int) -> int:
    return (1 << count) - 1


async def cycles_until_idle(ctx, dut) -> int:
    """Cycles from a ``start`` strobe (one cycle already ticked) until ``busy`` is low."""
    cycles = 1
    while ctx.get(dut.busy):
        await ctx.tick()
        cycles += 1
    return cycles


def run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


class Mirror:
    """A BanditState and a UcbBandit fed the same events, feedback, epochs and clears."""

    def __init__(self, dut: BanditState, ctx, rng, epoch: int):
        self.dut, self.ctx, self.rng = dut, ctx, rng
        self.epoch = epoch
        ctx.set(dut.epoch, epoch)
        self._fresh()
        self.events = self.ucb_closes = self.ties = self.halvings = 0
        self.busy_feedback = 0.0  # chance of a feedback in each busy cycle of a close

    def _fresh(self):
        self.model = UcbBandit([DummyArm() for _ in range(ARMS)], epoch=self.epoch)
        self.batch = 0

    async def clear(self):
        self.ctx.set(self.dut.clear, 1)
        await self.ctx.tick()
        self.ctx.set(self.dut.clear, 0)
        self._fresh()
        self.check_state()

    def set_epoch(self, epoch: int):
        self.epoch = self.model.epoch = epoch
        self.ctx.set(self.dut.epoch, epoch)

    async def feedback(self, useful: int, useless: int, cycles: int = 1):
        ctx, port = self.ctx, self.dut.feedback
        ctx.set(port.valid, 1)
        ctx.set(port.useful, useful)
        ctx.set(port.useless, useless)
        await ctx.tick().repeat(cycles)
        ctx.set(port.valid, 0)
        for _ in range(cycles):
            self.model.feedback(0, ones(useful), ones(useless))

    async def event(self, new_batch: bool, faulted: int):
        ctx, dut, model = self.ctx, self.dut, self.model
        new_batch = new_batch or model._last_batch is None  # the model's first event opens a batch
        needed = model.batches >= model.epoch
        assert ctx.get(dut.close.needed) == needed
        late_feedback = []
        closing = new_batch and needed
        if closing:
            late_feedback = await self._close()
        faulted_before = 0 if closing else model._faulted
        self.batch += new_batch
        closes = len(model.choices)
        page_count = max(faulted, 1)  # BlockFaults needs a fault; a 0 is put back below
        model.prefetch(BlockFaults(block_start=0, num_pages=UNITS, faulted=ones(page_count),
                                   faulted_region=(0, page_count), batch=self.batch))
        if not faulted:
            model._faulted = faulted_before
        assert (len(model.choices) > closes) == closing
        for useful, useless in late_feedback:
            model.feedback(0, ones(useful), ones(useless))
        if closing:
            self._after_close()
        assert ctx.get(dut.arm) == model.current, f"event {self.events}"
        ctx.set(dut.event.valid, 1)
        ctx.set(dut.event.new_batch, new_batch)
        ctx.set(dut.event.faulted, faulted)
        await ctx.tick()
        ctx.set(dut.event.valid, 0)
        self.events += 1
        if closing:
            self.check_state()

    async def _close(self) -> list[tuple[int, int]]:
        """Pulse close.start, wait for busy low (feedback may arrive meanwhile)."""
        ctx, dut, rng = self.ctx, self.dut, self.rng
        model = self.model
        self.halving = (model.demand_sum[model.current] + model._useful + model._useless
                        + model._faulted) >= SUM_LIMIT
        ctx.set(dut.close.start, 1)
        await ctx.tick()
        ctx.set(dut.close.start, 0)
        cycles, late = 0, []
        while ctx.get(dut.close.busy):
            busy_feedback = bool(self.busy_feedback) and rng.random() < self.busy_feedback
            ctx.set(dut.feedback.valid, busy_feedback)
            if busy_feedback:
                late.append((rng.randrange(UNITS + 1), rng.randrange(UNITS + 1)))
                ctx.set(dut.feedback.useful, late[-1][0])
                ctx.set(dut.feedback.useless, late[-1][1])
            await ctx.tick()
            cycles += 1
        ctx.set(dut.feedback.valid, 0)
        self.close_cycles = cycles
        return late

    def _after_close(self):
        model = self.model
        self.halvings += self.halving
        if all(model.pulls):
            self.ucb_closes += 1
            scores = [ucb_q8(model.mean_q8(a), model.pulls[a], model.epochs)
                      for a in range(ARMS)]
            self.ties += scores.count(max(scores)) > 1
            assert self.close_cycles == CLOSE_CYCLES_MAX
        else:
            assert self.close_cycles == 1

    def check_state(self):
        ctx, dut, model = self.ctx, self.dut, self.model
        stats = ctx.get(dut.stats)
        counts = ctx.get(dut.epoch_counts)
        assert [(stats[a].pulls, stats[a].useful_sum, stats[a].demand_sum)
                for a in range(ARMS)] == list(zip(model.pulls, model.useful_sum,
                                                  model.demand_sum, strict=True))
        assert ctx.get(dut.epochs) == model.epochs
        assert ctx.get(dut.batches) == model.batches
        assert (counts.useful, counts.useless, counts.faulted) == (
            model._useful, model._useless, model._faulted)
        assert ctx.get(dut.arm) == model.current
        assert not ctx.get(dut.close.busy)

    def preload(self, pulls, useful_sum, demand_sum, epochs):
        """Put the same learned state into both (to reach n, N and D limits quickly)."""
        model = self.model
        model.pulls, model.useful_sum, model.demand_sum = list(pulls), list(useful_sum), \
            list(demand_sum)
        model.epochs = epochs
        for a in range(ARMS):
            self.ctx.set(self.dut.stats[a].pulls, pulls[a])
            self.ctx.set(self.dut.stats[a].useful_sum, useful_sum[a])
            self.ctx.set(self.dut.stats[a].demand_sum, demand_sum[a])
        self.ctx.set(self.dut.epochs, epochs)


def random_units(rng) -> int:
    roll = rng.random()
    if roll < 0.1:
        return 0
    if roll < 0.2:
        return UNITS
    return rng.randrange(rng.choice((8, 64, UNITS + 1)))


def random_epoch(rng) -> int:
    return rng.choice((1, 1, 2, 2, 3, rng.randrange(1, 9), rng.randrange(1, 256)))


async def random_traffic(mirror: Mirror, rng, ops: int):
    for _ in range(ops):
        roll = rng.random()
        if roll < 0.6:
            await mirror.event(rng.random() < 0.35, random_units(rng))
        elif roll < 0.97:
            await mirror.feedback(random_units(rng), random_units(rng))
        elif roll < 0.995:
            mirror.set_epoch(random_epoch(rng))
        else:
            await mirror.clear()
    mirror.check_state()


def test_random_traffic_against_model(rng):
    dut = BanditState()
    totals = {}

    async def bench(ctx):
        mirror = Mirror(dut, ctx, rng, epoch=1)
        mirror.busy_feedback = 0.05
        for epoch in (1, 2, random_epoch(rng), rng.randrange(3, 20)):
            mirror.set_epoch(epoch)
            await random_traffic(mirror, rng, 900)
        # learning again from reset, on the epochs the core starts with
        await mirror.clear()
        mirror.set_epoch(2)
        await random_traffic(mirror, rng, 1500)
        totals.update(events=mirror.events, ucb_closes=mirror.ucb_closes, ties=mirror.ties)

    run(dut, bench)
    print(totals)
    assert totals["events"] > 2500 and totals["ucb_closes"] > 50


def test_every_arm_once_in_order_then_the_better_one():
    dut = BanditState()

    async def bench(ctx):
        mirror = Mirror(dut, ctx, rng=None, epoch=2)
        arms_seen = []
        for _ in range(2 * 60):
            await mirror.event(True, 4)
            arm = ctx.get(dut.arm)
            arms_seen.append(arm)
            useful = 18 if arm == 3 else 4
            await mirror.feedback(useful, 20 - useful)
        assert arms_seen[:12] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        pulls = [ctx.get(dut.stats)[a].pulls for a in range(ARMS)]
        assert max(pulls) == pulls[3] and pulls[3] > 2 * max(pulls[:3] + pulls[4:])
        assert mirror.ucb_closes > 40

    run(dut, bench)


def test_ties_go_to_the_lowest_arm():
    """Equal rewards: after the six first epochs every score ties, and the lowest wins."""
    dut = BanditState()

    async def bench(ctx):
        mirror = Mirror(dut, ctx, rng=None, epoch=1)
        choices = []
        for _ in range(30):
            await mirror.event(True, 10)
            choices.append(ctx.get(dut.arm))
            await mirror.feedback(5, 5)
        assert choices[:7] == [0, 1, 2, 3, 4, 5, 0]
        assert mirror.ties >= 4

    run(dut, bench)


def test_saturation_and_halving(rng):
    """Epoch counts saturate (bursts of the widest feedback, 8k events of 512 faults),
    D passes 2**24 and is halved; n and N stop at 65535 (from a preloaded state)."""
    dut = BanditState()

    async def bench(ctx):
        mirror = Mirror(dut, ctx, rng, epoch=1)
        await mirror.event(True, UNITS)
        for _ in range(EPOCH_COUNT_MAX // UNITS + 2):
            await mirror.event(False, UNITS)
        mirror.check_state()
        assert ctx.get(dut.epoch_counts).faulted == EPOCH_COUNT_MAX
        for _ in range(8):
            await mirror.feedback(UNIT_MAX, UNIT_MAX, cycles=EPOCH_COUNT_MAX // UNIT_MAX + 2)
            mirror.check_state()
            assert ctx.get(dut.epoch_counts).useful == EPOCH_COUNT_MAX
            await mirror.event(True, rng.randrange(UNITS + 1))
        assert mirror.halvings >= 2 and mirror.ucb_closes >= 2
        # n and N at their limit; sums just under SUM_LIMIT
        await mirror.clear()
        top = SUM_LIMIT - 1
        mirror.preload(pulls=[COUNT_MAX - 1, COUNT_MAX, 1, 40000, COUNT_MAX, 7],
                       useful_sum=[top, 0, 1, top // 3, 5, top - 9],
                       demand_sum=[top, top, 1, top, 0, top - 8], epochs=COUNT_MAX - 1)
        mirror.busy_feedback = 0.2
        for _ in range(40):
            await mirror.event(True, rng.randrange(UNITS + 1))
            await mirror.feedback(rng.randrange(UNIT_MAX + 1), rng.randrange(UNIT_MAX + 1))
        assert ctx.get(dut.epochs) == COUNT_MAX
        mirror.check_state()

    run(dut, bench)


def test_halving_at_exactly_sum_limit():
    """D + the epoch's demand = SUM_LIMIT - 2 .. SUM_LIMIT + 1: halved from SUM_LIMIT on."""
    dut = BanditState()

    async def bench(ctx):
        mirror = Mirror(dut, ctx, rng=None, epoch=1)
        for excess in (-2, -1, 0, 1):
            await mirror.clear()
            demand = SUM_LIMIT - 100 + excess
            mirror.preload(pulls=[1] * ARMS, useful_sum=[demand - 7] + [1] * (ARMS - 1),
                           demand_sum=[demand] + [3] * (ARMS - 1), epochs=ARMS)
            await mirror.event(True, 60)
            await mirror.feedback(25, 15)
            await mirror.event(True, 1)
        assert mirror.halvings == 2 and mirror.ucb_closes == 4

    run(dut, bench)


def test_close_cycles_max_of_three_arms():
    """The FSM's worst case for another arm count, against close_cycles_max."""
    dut = BanditState(arms=3)
    assert CLOSE_CYCLES_MAX == ARMS * (SCORE_CYCLES + 1)
    assert dut.close_cycles_max == 3 * (SCORE_CYCLES + 1)

    async def bench(ctx):
        ctx.set(dut.epoch, 1)
        for arm in range(3):
            ctx.set(dut.stats[arm].pulls, 1)
        ctx.set(dut.epochs, 3)
        ctx.set(dut.close.start, 1)
        await ctx.tick()
        ctx.set(dut.close.start, 0)
        cycles = 0
        while ctx.get(dut.close.busy):
            await ctx.tick()
            cycles += 1
        assert cycles == dut.close_cycles_max
        assert ctx.get(dut.arm) == 1  # arm 0 ran the epoch: n = 2, the others tie

    run(dut, bench)


# -- the arithmetic units alone


def test_serial_divider(rng):
    mean = SerialDivider(SUM_BITS + 8, SUM_BITS, MEAN_BITS)
    explore = SerialDivider(EXPLORE_BITS, COUNT_BITS, EXPLORE_BITS)
    top = SUM_LIMIT - 1
    two_ln_max = 2 * ln_q8(COUNT_MAX)
    mean_cases = [(0, 1), (1, 1), (top, top), (top - 1, top), (1, top), (0, top), (top >> 1, top)]
    for _ in range(300):
        demand = rng.randrange(1, SUM_LIMIT) >> rng.randrange(SUM_BITS)
        mean_cases.append((rng.randrange(max(demand, 1) + 1), max(demand, 1)))
    explore_cases = [(0, 1), (two_ln_max, 1), (two_ln_max, COUNT_MAX), (1, COUNT_MAX),
                     (two_ln_max, 2), (two_ln_max, 3)]
    explore_cases += [(rng.randrange(two_ln_max + 1), rng.randrange(1, COUNT_MAX + 1)
                       >> rng.randrange(COUNT_BITS) or 1) for _ in range(300)]
    for dut, cases, scale in ((mean, mean_cases, 8), (explore, explore_cases, 0)):

        async def bench(ctx, dut=dut, cases=cases, scale=scale):
            for numerator, divisor in cases:
                ctx.set(dut.dividend, numerator << scale)
                ctx.set(dut.divisor, divisor)
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                ctx.set(dut.divisor, rng.randrange(1 << COUNT_BITS))  # the operands are held
                ctx.set(dut.dividend, 0)
                cycles = await cycles_until_idle(ctx, dut)
                assert cycles == dut.latency
                expected = divmod(numerator << scale, divisor)
                assert (ctx.get(dut.quotient), ctx.get(dut.remainder)) == expected

        run(dut, bench)


def test_serial_sqrt(rng):
    bits = EXPLORE_BITS + 8
    dut = SerialSqrt(bits)
    top = (1 << bits) - 1
    cases = [0, 1, 2, 3, 4, top, top - 1, (2 * ln_q8(COUNT_MAX)) << 8]
    for root in (1, 2, 15, 16, 255, 1023, 1448, isqrt(top)):
        cases += [root * root - 1, root * root, root * root + 1]
    cases += [rng.randrange(1 << rng.randrange(1, bits + 1)) for _ in range(600)]

    async def bench(ctx):
        for value in cases:
            ctx.set(dut.value, value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = await cycles_until_idle(ctx, dut)
            assert cycles == dut.latency
            assert ctx.get(dut.root) == isqrt(value), value

    run(dut, bench)


def test_ln_q8_every_16_bit_value():
    dut = LnQ8(COUNT_BITS)

    async def bench(ctx):
        for value in range(1, 1 << COUNT_BITS):
            ctx.set(dut.value, value)
            assert (ctx.get(dut.log2), ctx.get(dut.ln)) == (log2_q8(value), ln_q8(value)), value

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_ln_q8_narrow_values():
    dut = LnQ8(3)  # fewer bits than the table's index: the low bits come in as zeros

    async def bench(ctx):
        for value in range(1, 8):
            ctx.set(dut.value, value)
            assert (ctx.get(dut.log2), ctx.get(dut.ln)) == (log2_q8(value), ln_q8(value))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_ucb_score(rng):
    dut = UcbScore()
    top = SUM_LIMIT - 1
    cases = [(1, 0, 0, 1), (1, top, top, COUNT_MAX), (COUNT_MAX, 0, top, COUNT_MAX),
             (1, 1, 1, 6), (COUNT_MAX, top, top, COUNT_MAX), (3, 0, 0, 200)]
    for _ in range(150):
        total = rng.randrange(ARMS, COUNT_MAX + 1) >> rng.randrange(COUNT_BITS - 2)
        total = max(total, 1)
        demand = rng.randrange(SUM_LIMIT) >> rng.randrange(SUM_BITS)
        cases.append((rng.randrange(1, total + 1), rng.randrange(demand + 1), demand, total))

    async def bench(ctx):
        for pulls, useful, demand, total in cases:
            ctx.set(dut.arm.pulls, pulls)
            ctx.set(dut.arm.useful_sum, useful)
            ctx.set(dut.arm.demand_sum, demand)
            ctx.set(dut.two_ln_total, 2 * ln_q8(total))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.arm.demand_sum, 0)  # taken at start
            cycles = await cycles_until_idle(ctx, dut)
            assert cycles == SCORE_CYCLES
            mean = 256 * useful // demand if demand else 0
            assert ctx.get(dut.score) == ucb_q8(mean, pulls, total)

    run(dut, bench)
