"""PredictorCore (hw/predictor) against model.predictor.core in the Amaranth simulator.

Every policy, with and without the dead-block filter, on random events and
feedback with idle input and output backpressure; the model sees the
operations in the order the core took them. Also illegal register writes.
"""

import pytest

from hw.predictor_sim import replay_model, run_core
from model.predictor.core import ErrorCode, PolicyId, PredictorParams, Reg
from sim.system import core_traffic

UNITS = 64


def random_event(rng):
    return core_traffic.random_event(rng, UNITS)


def random_feedback(rng):
    return core_traffic.random_feedback(rng, UNITS)


@pytest.mark.parametrize("deadblock", [0, 1])
@pytest.mark.parametrize("policy", list(PolicyId))
def test_core_matches_model(policy, deadblock, rng, seed):
    params = PredictorParams(units=UNITS)
    count = 120 if policy in (PolicyId.MLP, PolicyId.BANDIT) else 250
    events = [random_event(rng) for _ in range(count)]
    feedbacks = [random_feedback(rng) for _ in range(count // 2)]
    configs = [(Reg.POLICY, int(policy)), (Reg.DEADBLOCK, deadblock), (Reg.WINDOW, 8),
               (Reg.BANDIT_EPOCH, 2)]
    run = run_core(params, configs, events, feedbacks, seed=seed, idle=0.2, ready=0.7,
                   max_cycles=400 * count)
    want, error = replay_model(params, run.order)
    assert len(run.answers) == len(want) == count
    bad = [i for i, (got, exp) in enumerate(zip(run.answers, want, strict=True)) if got != exp]
    assert not bad, (f"{len(bad)} answers differ, first #{bad[0]}: core {run.answers[bad[0]]}, "
                     f"model {want[bad[0]]}")
    assert run.error == error == (0, 0)


def test_illegal_writes_change_nothing_and_latch_the_first_error(rng, seed):
    params = PredictorParams(units=UNITS, policies=(PolicyId.WINDOW, PolicyId.STRIDE),
                             deadblock=False)
    configs = [(Reg.POLICY, int(PolicyId.STRIDE)), (Reg.WINDOW, 12), (Reg.POLICY, 9),
               (Reg.POLICY, int(PolicyId.MLP)), (Reg.DEADBLOCK, 1), (0x1F0, 0)]
    events = [random_event(rng) for _ in range(60)]
    run = run_core(params, configs, events, [], seed=seed)
    want, error = replay_model(params, run.order)
    assert run.answers == want
    assert run.error == error == (ErrorCode.VALUE, Reg.WINDOW)
