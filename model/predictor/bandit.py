"""``bandit``: UCB1 over other policies, choosing one every EPOCH fault batches.

Every arm sees every batch (so stateful arms stay current); the chosen arm's
mask is the answer. The epoch's reward is the share of demand the prefetches
served: ``256 * useful / (useful + useless + faults)`` (Q8), from the feedback and
the faulted units of the epoch's batches. Per arm the bandit keeps the epochs
it ran (n), and the sums of useful units (U) and of useful + useless + faulted
units (D); mean = 256 * U // D. At an epoch's end it picks the first arm not
yet tried, else the arm of largest

    UCB = mean + isqrt((2 * ln_q8(N) // n) << 8)          (all Q8)

with N the epochs so far, ``ln_q8`` the table logarithm of
``model.predictor.fixed`` (below the true value by less than 0.087) and the
square root by shift and subtract; ties go to the lowest arm. When D passes
2**24, U and D are halved (the mean is kept); n and N stop at 65535, an
epoch's useful, useless and faulted counts at 2**22 - 1 (so D stays below
2**24). An epoch
closes at the first batch after EPOCH batches have run (or more, when the epoch
is shortened while it runs). State: 8 B per arm (n 16 bits,
U and D 24 bits each) + N (2 B), the chosen arm (1 B), the epoch's batch count
(1 B) and its useful / useless / faulted counts (3 x 3 B): 61 B for 6 arms.
"""

from __future__ import annotations

from model.checks import check_instance, check_int, check_sequence
from model.predictor.base import BlockFaults, Predictor, check_feedback
from model.predictor.fixed import isqrt, ln_q8

EPOCH = 8
SUM_LIMIT = 1 << 24
COUNT_MAX = (1 << 16) - 1
EPOCH_COUNT_MAX = (1 << 22) - 1  # an epoch's useful / useless / faulted counts stop here


def ucb_q8(mean_q8: int, pulls: int, total: int) -> int:
    """UCB1 score in Q8 of an arm pulled ``pulls`` times out of ``total``."""
    check_int("mean_q8", mean_q8, 0)
    check_int("pulls", pulls, 1)
    check_int("total", total, 1)
    return mean_q8 + isqrt(((2 * ln_q8(total)) // pulls) << 8)


class UcbBandit(Predictor):
    name = "bandit"
    wants_feedback = True

    def __init__(self, arms: list[Predictor], epoch: int = EPOCH):
        check_sequence("arms", arms, min_len=1,
                       item=lambda name, arm: check_instance(name, arm, Predictor))
        check_int("epoch", epoch, 1, 255)
        self.arms = list(arms)
        self.epoch = epoch
        self.pulls = [0] * len(arms)
        self.useful_sum = [0] * len(arms)
        self.demand_sum = [0] * len(arms)
        self.epochs = 0
        self.current = 0
        self.batches = 0
        self._last_batch: int | None = None
        self._useful = self._useless = self._faulted = 0
        self.choices: list[int] = [0]

    def mean_q8(self, arm: int) -> int:
        check_int("arm", arm, 0, len(self.arms) - 1)
        return 256 * self.useful_sum[arm] // self.demand_sum[arm] if self.demand_sum[arm] else 0

    def _close_epoch(self) -> None:
        arm = self.current
        self.pulls[arm] = min(self.pulls[arm] + 1, COUNT_MAX)
        self.epochs = min(self.epochs + 1, COUNT_MAX)
        self.useful_sum[arm] += self._useful
        self.demand_sum[arm] += self._useful + self._useless + self._faulted
        if self.demand_sum[arm] >= SUM_LIMIT:
            self.useful_sum[arm] >>= 1
            self.demand_sum[arm] >>= 1
        self._useful = self._useless = self._faulted = 0
        untried = [a for a, n in enumerate(self.pulls) if n == 0]
        if untried:
            self.current = untried[0]
        else:
            scores = [ucb_q8(self.mean_q8(a), self.pulls[a], self.epochs)
                      for a in range(len(self.arms))]
            self.current = scores.index(max(scores))
        self.choices.append(self.current)

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        if faults.batch != self._last_batch:
            self._last_batch = faults.batch
            if self.batches >= self.epoch:
                self._close_epoch()
                self.batches = 0
            self.batches += 1
        self._faulted = min(self._faulted + faults.faulted.bit_count(), EPOCH_COUNT_MAX)
        masks = [arm.prefetch(faults) for arm in self.arms]
        return masks[self.current]

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        check_feedback(block_start, useful, useless)
        for arm in self.arms:
            if arm.wants_feedback:
                arm.feedback(block_start, useful, useless)
        self._useful = min(self._useful + useful.bit_count(), EPOCH_COUNT_MAX)
        self._useless = min(self._useless + useless.bit_count(), EPOCH_COUNT_MAX)

    @property
    def state_bytes(self) -> int:
        """The bandit's own state (the arms' is counted by each arm)."""
        return 8 * len(self.arms) + 2 + 1 + 1 + 9
