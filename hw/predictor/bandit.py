"""UCB1 bandit state of the prediction core: the statistics and the arm choice.

Bit-exact with ``model.predictor.bandit.UcbBandit`` (the arms' masks are the
enclosing core's: it selects the chosen arm's by ``arm``). Registers: per arm
the epochs it ran n (16 bits, stops at 65535), the useful sum U and the demand
sum D (24 bits each); the epochs N (16 bits, stops at 65535); the current arm
(3 bits); the epoch's batch count (8 bits) and its useful / useless / faulted
counts (22 bits each, stop at 2**22 - 1).

Ports of :class:`BanditState` (the arm's width is 3 bits for 6 arms):

- ``clear``: synchronous reset of all of the above (and of a running close) to
  the state of a freshly built ``UcbBandit``.
- ``epoch``: the epoch length register (1..255).
- ``event``: ``valid``, ``new_batch``, ``faulted`` (10 bits): a fault event at
  the core's state stage: ``new_batch`` counts a batch, ``faulted`` adds to the
  epoch's faulted count. ``arm`` (out): the current arm, the one the event uses.
  The model's first event (after reset or ``clear``) always opens a batch: the
  core sets ``new_batch`` on it. The batch count stays within 8 bits as a close
  runs before it passes the epoch register.
- ``feedback``: ``valid``, ``useful``, ``useless`` (10 bits each): popcounts
  of a feedback's masks, added to the epoch's counts. At most one of event and
  feedback per cycle.
- ``close``: ``needed`` (out) = batches >= epoch: an event with ``new_batch``
  must then wait for a close. ``start`` (in): a one-cycle strobe while neither
  an event nor a feedback is presented. ``busy`` (out): high from the cycle
  after ``start`` until ``arm`` holds the new choice; no event may be presented
  while it is high (``arm`` passes through the running best), a feedback may
  (it counts in the new epoch, as in the model, where it follows the event
  whose batch closed the epoch).

The close (``UcbBandit._close_epoch``) updates the current arm in the cycle of
``start``, then picks the first untried arm (busy for 1 cycle) or, with every
arm tried, scores the arms in turn with one shared :class:`UcbScore` (restoring
dividers and a shift-and-subtract square root, one result bit per cycle) and
keeps the first of the highest: busy for :data:`CLOSE_CYCLES_MAX` cycles. With
``start`` in cycle c, the next event may be presented in cycle
c + 1 + (1 or CLOSE_CYCLES_MAX).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.bits import times
from model.predictor.bandit import COUNT_MAX, EPOCH_COUNT_MAX, SUM_LIMIT
from model.predictor.fixed import LN2_Q8, LOG2_FRACTION_BITS, LOG2_TABLE, isqrt, ln_q8, log2_q8

ARMS = 6
COUNT_BITS = COUNT_MAX.bit_length()  # n and N
SUM_BITS = (SUM_LIMIT - 1).bit_length()  # U and D
EPOCH_COUNT_BITS = EPOCH_COUNT_MAX.bit_length()  # the epoch's useful / useless / faulted
BATCH_BITS = 8  # the epoch's batch count, and the epoch register
UNIT_BITS = 10  # units of one event or feedback (0..512)
MEAN_BITS = 9  # 256 * U // D <= 256, as U <= D
EXPLORE_BITS = (2 * ln_q8(COUNT_MAX)).bit_length()  # 2 * ln_q8(N)
SCORE_BITS = (256 + isqrt((2 * ln_q8(COUNT_MAX)) << 8)).bit_length()

#: per arm: n, U, D
ArmStats = data.StructLayout({
    "pulls": COUNT_BITS, "useful_sum": SUM_BITS, "demand_sum": SUM_BITS,
})
#: the running epoch's counts
EpochCounts = data.StructLayout({
    "useful": EPOCH_COUNT_BITS, "useless": EPOCH_COUNT_BITS, "faulted": EPOCH_COUNT_BITS,
})

EventSignature = wiring.Signature({
    "valid": Out(1), "new_batch": Out(1), "faulted": Out(UNIT_BITS),
})
FeedbackSignature = wiring.Signature({
    "valid": Out(1), "useful": Out(UNIT_BITS), "useless": Out(UNIT_BITS),
})
CloseSignature = wiring.Signature({
    "needed": Out(1), "start": In(1), "busy": Out(1),
})


class SerialDivider(wiring.Component):
    """``dividend // divisor`` by restoring division, one quotient bit per cycle.

    Needs ``dividend < divisor << quotient_bits`` (the quotient fits), so the
    partial remainder stays below the divisor. ``start`` loads the operands;
    ``busy`` is high for the ``quotient_bits`` cycles after it; from the cycle it
    falls (:attr:`latency` cycles after ``start``) ``quotient`` and ``remainder``
    hold the result until the next ``start``.
    """

    def __init__(self, dividend_bits: int, divisor_bits: int, quotient_bits: int):
        self.quotient_bits = quotient_bits
        self.latency = quotient_bits + 1
        super().__init__({
            "start": In(1), "dividend": In(dividend_bits), "divisor": In(divisor_bits),
            "busy": Out(1), "quotient": Out(quotient_bits), "remainder": Out(divisor_bits),
        })

    def elaborate(self, platform):
        m = Module()
        bits = self.quotient_bits
        divisor = Signal.like(self.divisor)
        steps = Signal(range(bits + 1))
        # `quotient` holds the dividend bits still to bring down above the quotient bits made
        trial = Cat(self.quotient[-1], self.remainder)
        fits = trial >= divisor
        m.d.comb += self.busy.eq(steps != 0)
        with m.If(self.start):
            m.d.sync += [
                divisor.eq(self.divisor),
                self.remainder.eq(self.dividend >> bits),
                self.quotient.eq(self.dividend[:bits]),
                steps.eq(bits),
            ]
        with m.Elif(self.busy):
            m.d.sync += [
                self.remainder.eq(Mux(fits, trial - divisor, trial)),
                self.quotient.eq(Cat(fits, self.quotient[:-1])),
                steps.eq(steps - 1),
            ]
        return m


class SerialSqrt(wiring.Component):
    """``isqrt(value)`` digit by digit (shift and subtract), one root bit per cycle.

    ``start`` loads ``value``; ``busy`` is high for the ``root_bits`` =
    ceil(value_bits / 2) cycles after it; from the cycle it falls (:attr:`latency`
    cycles after ``start``) ``root`` holds the result until the next ``start``.
    """

    def __init__(self, value_bits: int):
        self.root_bits = (value_bits + 1) // 2
        self.latency = self.root_bits + 1
        super().__init__({
            "start": In(1), "value": In(value_bits), "busy": Out(1), "root": Out(self.root_bits),
        })

    def elaborate(self, platform):
        m = Module()
        bits = self.root_bits
        pending = Signal(2 * bits)  # the value's bits not yet brought down, from the top
        remainder = Signal(bits + 1)  # value so far - root**2 <= 2 * root
        steps = Signal(range(bits + 1))
        trial_remainder = Cat(pending[-2:], remainder)  # remainder * 4 + next two bits
        trial = Cat(Const(1, 2), self.root)  # root * 4 + 1
        fits = trial_remainder >= trial
        m.d.comb += self.busy.eq(steps != 0)
        with m.If(self.start):
            m.d.sync += [pending.eq(self.value), remainder.eq(0), self.root.eq(0), steps.eq(bits)]
        with m.Elif(self.busy):
            m.d.sync += [
                pending.eq(pending << 2),
                remainder.eq(Mux(fits, trial_remainder - trial, trial_remainder)),
                self.root.eq(Cat(fits, self.root[:-1])),
                steps.eq(steps - 1),
            ]
        return m


class LnQ8(wiring.Component):
    """Combinational ``log2_q8(value)`` and ``ln_q8(value)`` of model.predictor.fixed
    (for value >= 1; 0 gives 0): the leading one's position, LOG2_TABLE of the next
    LOG2_FRACTION_BITS bits, times LN2_Q8."""

    def __init__(self, value_bits: int = COUNT_BITS):
        self.value_bits = value_bits
        top = (1 << value_bits) - 1
        super().__init__({
            "value": In(value_bits),
            "log2": Out(log2_q8(top).bit_length()),
            "ln": Out(ln_q8(top).bit_length()),
        })

    def elaborate(self, platform):
        m = Module()
        width = max(self.value_bits, LOG2_FRACTION_BITS + 1)
        msb = Signal(range(self.value_bits))
        shift = Signal(range(width))
        for bit in range(self.value_bits):
            with m.If(self.value[bit]):
                m.d.comb += [msb.eq(bit), shift.eq(width - 1 - bit)]
        normalized = Signal(width)  # the leading one at the top
        table = Array(Const(entry, 8) for entry in LOG2_TABLE)
        m.d.comb += [
            normalized.eq(self.value << shift),
            self.log2.eq(Cat(table[normalized[-1 - LOG2_FRACTION_BITS:-1]], msb)),
            self.ln.eq(times(self.log2, LN2_Q8) >> 8),
        ]
        return m


class UcbScore(wiring.Component):
    """``ucb_q8(mean, n, N)`` of one arm: mean + isqrt(((2 * ln_q8(N)) // n) << 8).

    Inputs: ``arm`` (its n, U, D; n >= 1, U <= D) and ``two_ln_total`` =
    2 * ln_q8(N), taken at ``start``. The two divisions (mean = 256 * U // D, 0
    when D is 0; and 2 * ln_q8(N) // n) run side by side, then the square root;
    ``busy`` is high from the cycle after ``start``, and ``score`` holds the
    result from the cycle it falls, :data:`SCORE_CYCLES` cycles after ``start``.
    """

    def __init__(self):
        super().__init__({
            "start": In(1), "arm": In(ArmStats), "two_ln_total": In(EXPLORE_BITS),
            "busy": Out(1), "score": Out(SCORE_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        mean = m.submodules.mean = SerialDivider(SUM_BITS + 8, SUM_BITS, MEAN_BITS)
        explore = m.submodules.explore = SerialDivider(EXPLORE_BITS, COUNT_BITS, EXPLORE_BITS)
        root = m.submodules.root = SerialSqrt(EXPLORE_BITS + 8)
        no_demand = Signal()
        m.d.comb += [
            mean.dividend.eq(self.arm.useful_sum << 8),
            mean.divisor.eq(self.arm.demand_sum),
            explore.dividend.eq(self.two_ln_total),
            explore.divisor.eq(self.arm.pulls),
            root.value.eq(explore.quotient << 8),
            self.score.eq(Mux(no_demand, 0, mean.quotient) + root.root),
        ]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += [mean.start.eq(1), explore.start.eq(1)]
                    m.d.sync += no_demand.eq(self.arm.demand_sum == 0)
                    m.next = "DIVIDE"
            with m.State("DIVIDE"):
                m.d.comb += self.busy.eq(1)
                with m.If(~mean.busy & ~explore.busy):
                    m.d.comb += root.start.eq(1)
                    m.next = "ROOT"
            with m.State("ROOT"):
                m.d.comb += self.busy.eq(1)
                with m.If(~root.busy):
                    m.next = "IDLE"
        return m


#: UcbScore, from ``start`` to ``busy`` low: the longer divider's latency, the square
#: root's, and the cycle back to IDLE
SCORE_CYCLES = (max(MEAN_BITS, EXPLORE_BITS) + 1) + ((EXPLORE_BITS + 8 + 1) // 2 + 1) + 1


def close_cycles_max(arms: int) -> int:
    """Cycles ``busy`` is high in a close that scores every arm (the longest close):
    per arm one in START (the score starts) and SCORE_CYCLES in SCORE. The update
    itself happens in the cycle of ``close.start``, before ``busy`` rises."""
    return arms * (1 + SCORE_CYCLES)


CLOSE_CYCLES_MAX = close_cycles_max(ARMS)


class BanditState(wiring.Component):
    """The bandit's statistics and arm choice; see the module docstring for the contract.

    ``stats`` (ArrayLayout of :data:`ArmStats`), ``epochs`` (N), ``batches`` and
    ``epoch_counts`` (:data:`EpochCounts`) are the registers, readable in simulation.
    """

    def __init__(self, arms: int = ARMS):
        if not 1 <= arms <= 8:
            raise ValueError(f"arms must be in 1..8, got {arms!r}")
        self.arms = arms
        self.close_cycles_max = close_cycles_max(arms)
        self.stats = Signal(data.ArrayLayout(ArmStats, arms))
        self.epochs = Signal(COUNT_BITS)
        self.batches = Signal(BATCH_BITS)
        self.epoch_counts = Signal(EpochCounts)
        super().__init__({
            "clear": In(1),
            "epoch": In(BATCH_BITS),
            "event": In(EventSignature),
            "feedback": In(FeedbackSignature),
            "close": Out(CloseSignature),
            "arm": Out(3),
        })

    def elaborate(self, platform):
        m = Module()
        counts = self.epoch_counts
        ln_total = m.submodules.ln_total = LnQ8(COUNT_BITS)
        score = m.submodules.score = UcbScore()
        scoring = Signal(range(self.arms))  # the arm whose score runs

        def add_to_epoch(count, units):
            total = count + units
            return count.eq(Mux(total > EPOCH_COUNT_MAX, EPOCH_COUNT_MAX, total))

        def add_to_count(count):
            return count.eq(Mux(count == COUNT_MAX, COUNT_MAX, count + 1))

        m.d.comb += self.close.needed.eq(self.batches >= self.epoch)
        with m.If(self.event.valid):
            with m.If(self.event.new_batch):
                m.d.sync += self.batches.eq(self.batches + 1)
            m.d.sync += add_to_epoch(counts.faulted, self.event.faulted)
        with m.If(self.feedback.valid):
            m.d.sync += [add_to_epoch(counts.useful, self.feedback.useful),
                         add_to_epoch(counts.useless, self.feedback.useless)]

        # the epoch's result into the current arm: U += useful, D += all, halved at SUM_LIMIT
        current = self.stats[self.arm]
        useful_sum = current.useful_sum + counts.useful
        demand_sum = current.demand_sum + counts.useful + counts.useless + counts.faulted
        halve = demand_sum >= SUM_LIMIT

        untried = Signal(self.arms)
        first_untried = Signal.like(self.arm)
        for arm in reversed(range(self.arms)):
            m.d.comb += untried[arm].eq(self.stats[arm].pulls == 0)
            with m.If(untried[arm]):
                m.d.comb += first_untried.eq(arm)
        best_score = Signal(SCORE_BITS)
        wins = (scoring == 0) | (score.score > best_score)  # ties go to the lower arm
        m.d.comb += [
            ln_total.value.eq(self.epochs),
            score.two_ln_total.eq(ln_total.ln << 1),
            score.arm.eq(self.stats[scoring]),
        ]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.close.start):
                    m.d.sync += [
                        add_to_count(current.pulls),
                        add_to_count(self.epochs),
                        current.useful_sum.eq(Mux(halve, useful_sum >> 1, useful_sum)),
                        current.demand_sum.eq(Mux(halve, demand_sum >> 1, demand_sum)),
                        counts.eq(0),
                        self.batches.eq(0),
                        scoring.eq(0),
                    ]
                    m.next = "START"
            with m.State("START"):
                # entered once per arm; the untried arms do not change while scoring
                with m.If(untried.any()):
                    m.d.sync += self.arm.eq(first_untried)
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += score.start.eq(1)
                    m.next = "SCORE"
            with m.State("SCORE"):
                with m.If(~score.busy):
                    with m.If(wins):
                        m.d.sync += [best_score.eq(score.score), self.arm.eq(scoring)]
                    with m.If(scoring == self.arms - 1):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += scoring.eq(scoring + 1)
                        m.next = "START"
        m.d.comb += self.close.busy.eq(~fsm.ongoing("IDLE"))
        return ResetInserter(self.clear)(m)
