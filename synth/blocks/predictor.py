"""Synthesis entry of the prediction core (hw.predictor.PredictorCore).

ulx3s (ECP5-85F) builds ``default``: 512 units per block (the driver's VA
block), every policy (none, window, decay, stride, uvm, mlp, bandit), the
dead-block filter and a 32-stream stride table. The iCE40 UP5K builds
``small``: 32 units, the fixed window, decay and stride policies only (no MLP,
no UVM engine, no bandit), a 4-stream stride table and no dead-block filter.
``p64`` is ``default``'s policy set at 64 units, for comparison.
"""

from hw.predictor.core import PredictorCore
from model.predictor.core import PolicyId, PredictorParams

CONFIGS = {
    "default": {"units": 512},
    "p64": {"units": 64},
    "small": {"units": 32, "policies": ["WINDOW", "DECAY", "STRIDE"],
              "stride_entries": 4, "deadblock": False},
}
BOARD_CONFIG = {"icebreaker": "small", "ulx3s": "default"}


def build(**params) -> PredictorCore:
    """The core for build-time ``params``; ``policies`` by name (as in report.json)."""
    if "policies" in params:
        params = params | {"policies": tuple(PolicyId[name] for name in params["policies"])}
    return PredictorCore(PredictorParams(**params))
