"""Training examples for the MLP, from the system simulator's runs of the workloads.

A :class:`Recorder` wraps a behaviour policy (``window16`` by default, the MLP's
own fallback) in a gpu-uvm run. At every call it keeps the MLP's features, the
batch, and the units of the block that the trace uses from this window until
the block's eviction (the oracle's future index): what the prediction should
have covered.
"""

from __future__ import annotations

from model import predictor
from model.predictor.base import BlockFaults, Predictor
from model.predictor.mlp import FeatureState
from model.train import Example
from sim import workloads
from sim.system.compare import PRESETS, workload_params
from sim.system.loop import run_policy
from sim.system.windows import WindowedTrace


class Recorder(Predictor):
    """``behavior`` answering, every call recorded as an :class:`Example`."""

    wants_feedback = True

    def __init__(self, behavior: Predictor, future):
        self.behavior = behavior
        self.future = future
        self.state = FeatureState()
        self.examples: list[Example] = []
        self._block_bytes = 512 * 4096

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"recorder({self.behavior.name})"

    def prefetch(self, faults: BlockFaults) -> int:
        self._block_bytes = faults.num_pages * faults.unit_bytes
        features = self.state.features(faults)
        self.examples.append(Example(features, faults,
                                     self.future.mask(faults.block_start, faults.window)))
        return self.behavior.prefetch(faults)

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        self.state.feedback(block_start, useful, useless, self._block_bytes)
        if self.behavior.wants_feedback:
            self.behavior.feedback(block_start, useful, useless)


def collect(names, *, oversubscriptions=(1.0, 1.25), behavior: str = "window16",
            seed: int = 1) -> list[Example]:
    """Examples of the named built-in workloads under gpu-uvm at each oversubscription."""
    preset = PRESETS["gpu-uvm"]
    examples: list[Example] = []
    for name in names:
        trace = workloads.build(name, seed=seed, **workload_params(preset, name)).trace
        wt = WindowedTrace(trace, window_cycles=round(preset.window_us * trace.clock_mhz))
        for ratio in oversubscriptions:
            schedule = wt.schedule(max(1, int(wt.footprint_blocks / ratio)))
            recorder = Recorder(predictor.make(behavior, future=schedule), schedule)
            run_policy(wt, recorder, schedule, preset.cost, batch_faults=preset.batch_faults)
            examples += recorder.examples
    return examples
