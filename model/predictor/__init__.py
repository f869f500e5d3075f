"""Prefetch policies behind one interface (:class:`~model.predictor.base.Predictor`).

:data:`BASELINES` are the policies the system simulator compares by default;
:func:`make` builds one by name.
"""

from __future__ import annotations

from model.checks import check_str
from model.predictor.bandit import UcbBandit
from model.predictor.base import BlockFaults, Predictor
from model.predictor.deadblock import DeadBlockFilter
from model.predictor.decay import DistanceDecay
from model.predictor.mlp import MlpPrefetcher
from model.predictor.none import NoPrefetch
from model.predictor.oracle import FutureIndex, Oracle
from model.predictor.stride import StridePrefetcher
from model.predictor.uvm import UvmTree
from model.predictor.window import FixedWindow

BASELINES = ("none", "uvm", "window8", "window16", "window32", "oracle")
ADAPTIVE = ("decay", "stride", "mlp", "bandit", "stride+deadblock", "mlp+deadblock",
            "bandit+deadblock")
POLICIES = BASELINES + ADAPTIVE
BANDIT_ARMS = ("uvm", "window16", "window32", "decay", "stride", "mlp")

__all__ = ["ADAPTIVE", "BASELINES", "BANDIT_ARMS", "POLICIES", "BlockFaults", "FutureIndex",
           "Predictor", "make", "parse_spec"]


def parse_spec(spec: str) -> tuple[str, dict[str, int]]:
    """``NAME`` or ``NAME:key=value,...`` (integer values) as (name, parameters).

    ``windowN`` is ``window:width=N``; ``uvm:threshold=T,min_faults=M`` sets the
    tree's parameters. TypeError when ``spec`` is not a str, ValueError when malformed.
    """
    check_str("spec", spec)
    name, _, rest = spec.partition(":")
    params: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        try:
            params[key.strip()] = int(value, 0)
        except ValueError:
            eq = ""
        if not eq:
            raise ValueError(f"policy spec {spec!r}: write parameters as key=integer, e.g. "
                             "uvm:threshold=40")
    if name.startswith("window") and name[6:].isdigit():
        params = {"width": int(name[6:]), **params}
        name = "window"
    return name, params


_PARAMETERS = {"none": (), "uvm": ("threshold", "min_faults"), "window": ("width",),
               "oracle": (), "decay": ("threshold",), "stride": (), "mlp": (),
               "bandit": ("epoch",)}


def make(spec: str, *, future: FutureIndex | None = None) -> Predictor:
    """The policy named by ``spec`` (one of :data:`POLICIES`, ``windowN`` or a
    ``NAME:key=value`` form, see :func:`parse_spec`); ``oracle`` needs ``future``."""
    check_str("spec", spec)
    if spec.endswith("+deadblock"):
        return DeadBlockFilter(make(spec.removesuffix("+deadblock"), future=future))
    name, params = parse_spec(spec)
    if name not in _PARAMETERS or (name == "window" and "width" not in params):
        raise ValueError(f"unknown policy {spec!r} (a spec is NAME or NAME:key=value); "
                         f"known: {', '.join(POLICIES)} (and windowN, uvm:threshold=T)")
    unknown = sorted(set(params) - set(_PARAMETERS[name]))
    if unknown:
        raise ValueError(f"policy spec {spec!r}: {name} takes no parameter {unknown[0]!r}")
    if name == "none":
        return NoPrefetch()
    if name == "uvm":
        return UvmTree(**params)
    if name == "window":
        return FixedWindow(params["width"])
    if name == "decay":
        return DistanceDecay(**params)
    if name == "stride":
        return StridePrefetcher()
    if name == "mlp":
        return MlpPrefetcher()
    if name == "bandit":
        return UcbBandit([make(arm) for arm in BANDIT_ARMS], **params)
    if future is None:
        raise ValueError("future: the oracle policy needs the run's future index")
    return Oracle(future)
